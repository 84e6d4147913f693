//! The part of each slot that workers read and write without the shard lock, for their
//! flow caches (the engine's fast path for packets that change nothing but the timer).
//!
//! A worker that forwarded a packet of a connection under the lock may keep a
//! [`FastTicket`]: a copy of what it needs to forward the next packets of that flow, and
//! the slot's version word as it was then. The version changes (under the lock) with
//! every change to the entry that matters to forwarding or to the state machine, so a
//! ticket whose version still matches describes the entry exactly. The word's low bits
//! say in which directions a packet without SYN, FIN or RST leaves the entry as it is
//! (same state, same accounting, same flags): only those packets may skip the lock.
//!
//! What such a packet still changes is the timer, which the kernel restarts on every
//! packet. The fast path records the packet's time in `touched`; every reader of the
//! deadline (lookups, the sweep, listings) takes the later of the entry's own deadline
//! and `touched` plus the entry's timeout. A fast-path packet racing with a state change
//! can at worst store a time as recent as the change itself, so the timeout that counts
//! is always the state's.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Version-word bit: packets from the client side may take the fast path.
pub(super) const STEADY_IN: u32 = 1;
/// Version-word bit: replies (NAT, FULLNAT) may take the fast path.
pub(super) const STEADY_OUT: u32 = 2;
const BITS: u32 = STEADY_IN | STEADY_OUT;

#[derive(Debug, Default)]
#[repr(C, align(16))]
pub(super) struct HotSlot {
    /// Change counter << 2 | STEADY_* bits. Written only under the shard lock.
    word: AtomicU32,
    /// Time of the latest fast-path packet (ms of the injected clock), 0 if none.
    touched: AtomicU64,
}

const _: () = assert!(core::mem::size_of::<HotSlot>() == 16);

impl HotSlot {
    /// Publish a change of the entry (under the lock): every ticket taken before is
    /// void from now on.
    pub(super) fn publish(&self, steady: u32) {
        let v = self.word.load(Ordering::Relaxed) >> 2;
        self.word
            .store(v.wrapping_add(1) << 2 | (steady & BITS), Ordering::Release);
    }

    /// A new entry in this slot: no fast-path packet seen yet.
    pub(super) fn reset(&self, steady: u32) {
        self.touched.store(0, Ordering::Relaxed);
        self.publish(steady);
    }

    pub(super) fn word(&self) -> u32 {
        self.word.load(Ordering::Relaxed)
    }

    /// The deadline of an entry whose own timer says `expires` and whose timeout is
    /// `timeout_ms`, given the fast path's packets.
    #[inline]
    pub(super) fn deadline(&self, expires: u64, timeout_ms: u32) -> u64 {
        match self.touched.load(Ordering::Relaxed) {
            0 => expires,
            t => expires.max(t.saturating_add(u64::from(timeout_ms))),
        }
    }

    /// The fast path: if the entry is still as `ticket` saw it and has not expired by
    /// `now_ms`, record the packet and return true.
    #[inline]
    pub(super) fn touch(&self, ticket: &FastTicket, now_ms: u64) -> bool {
        if self.word.load(Ordering::Acquire) != ticket.word {
            return false;
        }
        let touched = self.touched.load(Ordering::Relaxed);
        if now_ms >= self.deadline(ticket.expires, ticket.timeout_ms) {
            // Expired: the locked path removes it.
            return false;
        }
        // Stored only when the millisecond changed: at high packet rates the line
        // the other direction's worker reads stays clean.
        if touched < now_ms {
            self.touched.store(now_ms, Ordering::Relaxed);
        }
        true
    }
}

/// What a worker keeps to recognise an entry without the lock (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FastTicket {
    pub(super) shard: u32,
    pub(super) local: u32,
    /// The version word with this ticket's direction bit set.
    pub(super) word: u32,
    pub(super) timeout_ms: u32,
    /// The entry's own deadline when the ticket was taken.
    pub(super) expires: u64,
}
