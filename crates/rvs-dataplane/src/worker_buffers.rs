//! The worker's preallocated buffers: where received frames, fallback segments and
//! whole super-frames live, and the queue of frames waiting for a neighbour.

use std::time::Instant as StdInstant;

use super::{WorkerTuning, GSO_SLOTS, WHOLE_FRAME, WHOLE_SLOTS};
use crate::gso::KeepWhole;
use crate::io::TxDesc;
use crate::neigh::Key;

pub(super) struct Waiting {
    pub(super) slot: usize,
    pub(super) key: Key,
    pub(super) len: usize,
    pub(super) since: StdInstant,
}

/// Frames waiting for a neighbour, in preallocated slots.
pub(super) struct PendingQueue {
    pub(super) buf: Vec<u8>,
    pub(super) slot_size: usize,
    pub(super) free: Vec<usize>,
    pub(super) waiting: Vec<Waiting>,
    pub(super) descs: Vec<TxDesc>,
}

impl PendingQueue {
    pub(super) fn new(capacity: usize, slot_size: usize) -> PendingQueue {
        PendingQueue {
            buf: vec![0; capacity * slot_size],
            slot_size,
            free: (0..capacity).rev().collect(),
            waiting: Vec::with_capacity(capacity),
            descs: Vec::with_capacity(capacity),
        }
    }

    pub(super) fn push(&mut self, key: Key, frame: &[u8], now: StdInstant) -> bool {
        if frame.len() > self.slot_size {
            return false;
        }
        let Some(slot) = self.free.pop() else {
            return false;
        };
        let at = slot * self.slot_size;
        self.buf[at..at + frame.len()].copy_from_slice(frame);
        self.waiting.push(Waiting {
            slot,
            key,
            len: frame.len(),
            since: now,
        });
        true
    }
}

/// A received TCP super-frame waiting whole in a slot of its own, while the engine
/// sees its first segment (see [`crate::gso::keep_whole`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct Whole {
    pub(super) slot: usize,
    pub(super) keep: KeepWhole,
}

/// Where a worker's buffer keeps what: received frames (a batch and the segments
/// of one super-frame), the segments of a super-frame that could not stay whole,
/// and the super-frames kept whole.
#[derive(Debug, Clone, Copy)]
pub(super) struct BufLayout {
    pub(super) slot_size: usize,
    pub(super) headroom: usize,
    /// Start of the fallback segments.
    pub(super) fallback: usize,
    /// Start of the whole super-frames.
    pub(super) whole: usize,
    pub(super) whole_size: usize,
}

impl BufLayout {
    pub(super) fn new(t: &WorkerTuning) -> BufLayout {
        let slot_size = t.headroom + t.max_frame;
        let fallback = (t.batch + GSO_SLOTS) * slot_size;
        let whole = fallback + GSO_SLOTS * slot_size;
        BufLayout {
            slot_size,
            headroom: t.headroom,
            fallback,
            whole,
            whole_size: t.headroom + WHOLE_FRAME,
        }
    }

    pub(super) fn total(&self) -> usize {
        self.whole + WHOLE_SLOTS * self.whole_size
    }

    /// Offset of whole super-frame slot `i`'s frame.
    pub(super) fn whole_frame(&self, i: usize) -> usize {
        self.whole + i * self.whole_size + self.headroom
    }
}
