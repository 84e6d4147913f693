//! One worker thread: receive a batch, let the engine decide, resolve the egress,
//! send the batch. Frames whose neighbour is being resolved wait in a small queue.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use rvs_core::time::Instant;
use rvs_core::verdict::{Frame, Verdict};

use crate::checksum::finish_l4_checksum;
use crate::counters::{IoDrop, WorkerCounters};
use crate::gso::KeepWhole;
use crate::io::{PacketIo, TxDesc};
use crate::neigh::{NeighCache, NextHop, Resolution, RESOLVE_TIMEOUT};
use crate::processor::WorkerProcessor;

#[path = "worker_buffers.rs"]
mod buffers;
use buffers::{BufLayout, PendingQueue, Whole};

const ETH_HLEN: usize = 14;
/// Extra slots beyond a batch for the segments of one GSO super-frame (64 KiB at
/// an MSS of 1024 or more).
const GSO_SLOTS: usize = 64;
/// TCP super-frames kept whole per batch (each waits in a slot of its own).
const WHOLE_SLOTS: usize = 4;
/// The largest super-frame: Ethernet, IPv6 header and a 64 KiB payload.
const WHOLE_FRAME: usize = ETH_HLEN + 40 + 65535;

/// Tuning of a worker's loop and buffers.
#[derive(Debug, Clone, Copy)]
pub struct WorkerTuning {
    /// Frames per receive batch.
    pub batch: usize,
    /// Bytes kept free in front of each frame for encapsulation.
    pub headroom: usize,
    /// Largest frame accepted (Ethernet header included).
    pub max_frame: usize,
    /// Empty polls spent spinning before sleeping in poll().
    pub spin_rounds: u32,
    /// Longest sleep in poll() (bounds shutdown and housekeeping latency).
    pub poll_timeout: Duration,
    /// Frames that may wait for neighbour resolution.
    pub pending_capacity: usize,
    /// Interval of `WorkerProcessor::housekeeping`.
    pub housekeeping_interval: Duration,
}

pub(crate) struct Worker<P: WorkerProcessor, I: PacketIo> {
    pub processor: P,
    pub io: I,
    pub neigh: NeighCache,
    pub counters: Arc<WorkerCounters>,
    pub stop: Arc<AtomicBool>,
    pub tuning: WorkerTuning,
    pub clock_origin: StdInstant,
}

fn set_macs(frame: &mut [u8], nh: &NextHop) {
    frame[0..6].copy_from_slice(&nh.dst_mac);
    frame[6..12].copy_from_slice(&nh.src_mac);
}

impl<P: WorkerProcessor, I: PacketIo> Worker<P, I> {
    fn engine_now(&self, now: StdInstant) -> Instant {
        Instant::from_millis(now.saturating_duration_since(self.clock_origin).as_millis() as u64)
    }

    pub fn run(mut self) {
        let t = self.tuning;
        let lay = BufLayout::new(&t);
        let slot_size = lay.slot_size;
        let slots = t.batch + GSO_SLOTS;
        let mut buf = vec![0u8; lay.total()];
        let mut lens = vec![0usize; slots];
        // Checksums known good: verified by the kernel, or just computed by us.
        let mut verified = vec![false; slots];
        let mut wholes: Vec<Option<Whole>> = vec![None; slots];
        let mut descs: Vec<TxDesc> = Vec::with_capacity(slots + GSO_SLOTS);
        let mut pending = PendingQueue::new(t.pending_capacity, slot_size);
        let mut idle_rounds = 0u32;
        let mut last_housekeeping = StdInstant::now();
        let mut last_retry = StdInstant::now();

        while !self.stop.load(Ordering::Relaxed) {
            let now_std = StdInstant::now();
            let now = self.engine_now(now_std);
            let changed = self.neigh.refresh();
            if !pending.waiting.is_empty()
                && (changed || now_std.duration_since(last_retry) >= Duration::from_millis(100))
            {
                self.retry_pending(&mut pending, now_std);
                last_retry = now_std;
            }
            if now_std.duration_since(last_housekeeping) >= t.housekeeping_interval {
                self.processor.housekeeping(now);
                last_housekeeping = now_std;
            }

            // Receive: copy each frame behind the headroom of its slot.
            let mut n = 0;
            let mut whole_used = 0;
            {
                let counters = &self.counters;
                let buf = &mut buf;
                let lens = &mut lens;
                let verified = &mut verified;
                let wholes = &mut wholes;
                self.io.receive(t.batch, &mut |data, meta| {
                    counters.rx(meta.wire_len);
                    if meta.vlan_stripped {
                        // The tag is gone from the bytes; such frames belong to the
                        // VLAN device, which rvs does not own here.
                        counters.pass();
                        return n < t.batch;
                    }
                    if meta.wire_len > data.len() {
                        counters.io_drop(IoDrop::Oversize);
                        return n < t.batch;
                    }
                    if let Some(g) = meta.gso {
                        // A TCP super-frame waits whole while the engine sees its
                        // first segment; the kernel will cut it on output.
                        let keep = crate::gso::keep_whole(data, g)
                            .filter(|_| whole_used < WHOLE_SLOTS && data.len() <= WHOLE_FRAME);
                        if let Some(keep) = keep {
                            let slot = &mut buf[n * slot_size..(n + 1) * slot_size];
                            if let Ok(len) = crate::gso::first_segment(data, g, slot, t.headroom) {
                                let at = lay.whole_frame(whole_used);
                                buf[at..at + data.len()].copy_from_slice(data);
                                wholes[n] = Some(Whole {
                                    slot: whole_used,
                                    keep,
                                });
                                whole_used += 1;
                                verified[n] = true;
                                lens[n] = len;
                                n += 1;
                                return n < t.batch && whole_used < WHOLE_SLOTS;
                            }
                        }
                        // Otherwise cut it into the spare slots after the batch.
                        let out = &mut buf[n * slot_size..lay.fallback];
                        match crate::gso::segment(
                            data,
                            g,
                            out,
                            slot_size,
                            t.headroom,
                            &mut lens[n..],
                        ) {
                            Ok(k) => {
                                verified[n..n + k].fill(true);
                                wholes[n..n + k].fill(None);
                                counters.gso_split();
                                n += k;
                            }
                            Err(_) => counters.io_drop(IoDrop::Oversize),
                        }
                        return n < t.batch;
                    }
                    if data.len() > t.max_frame {
                        counters.io_drop(IoDrop::Oversize);
                        return n < t.batch;
                    }
                    let at = n * slot_size + t.headroom;
                    let dst = &mut buf[at..at + data.len()];
                    dst.copy_from_slice(data);
                    let mut ok = meta.csum_valid;
                    if meta.csum_partial && finish_l4_checksum(dst) {
                        counters.csum_finished();
                        ok = true;
                    }
                    verified[n] = ok;
                    wholes[n] = None;
                    lens[n] = data.len();
                    n += 1;
                    n < t.batch
                });
            }

            if n == 0 {
                idle_rounds += 1;
                if idle_rounds <= t.spin_rounds {
                    // A few microseconds of spinning catch the next block under load
                    // without a syscall; past that, sleeping in poll() is cheaper.
                    for _ in 0..64 {
                        std::hint::spin_loop();
                    }
                } else {
                    let timeout = if pending.waiting.is_empty() {
                        t.poll_timeout
                    } else {
                        t.poll_timeout.min(Duration::from_millis(5))
                    };
                    let _ = self.io.wait(timeout);
                    idle_rounds = 0;
                }
                continue;
            }
            idle_rounds = 0;

            descs.clear();
            for i in 0..n {
                let whole = wholes[i].take();
                let (received, rest) = buf.split_at_mut(lay.fallback);
                let slot = &mut received[i * slot_size..(i + 1) * slot_size];
                let mut frame = Frame::new(slot, t.headroom, lens[i]);
                frame.set_checksum_verified(verified[i]);
                if let Some(w) = &whole {
                    frame.set_super_frame_len(w.keep.frame_len());
                }
                let verdict = self.processor.process(&mut frame, now);
                if let (Some(w), Verdict::Forward(egress)) = (whole, verdict) {
                    let at = lay.whole_frame(w.slot);
                    let whole_frame = &mut rest[at - lay.fallback..][..w.keep.frame_len()];
                    if frame.start() == t.headroom && frame.len() == lens[i] {
                        let key = (egress.next_hop, egress.on_link);
                        if let Resolution::Ready(nh) = self.neigh.lookup(key, now_std) {
                            if let Some(gso) = w.keep.apply(whole_frame, frame.bytes()) {
                                set_macs(whole_frame, &nh);
                                self.counters.gso_kept();
                                descs.push(TxDesc {
                                    ifindex: nh.ifindex,
                                    offset: at,
                                    len: whole_frame.len(),
                                    gso: Some(gso),
                                });
                                continue;
                            }
                        }
                    }
                }
                self.dispose(
                    &mut frame,
                    verdict,
                    i * slot_size,
                    &mut descs,
                    &mut pending,
                    now_std,
                );
                if let Some(w) = whole {
                    // The engine did more than rewrite headers: the rest of the
                    // super-frame goes through it segment by segment.
                    let (front, back) = buf.split_at_mut(lay.whole);
                    let at = lay.whole_frame(w.slot) - lay.whole;
                    let whole_frame = &back[at..at + w.keep.frame_len()];
                    self.fallback(
                        whole_frame,
                        w.keep,
                        front,
                        &lay,
                        &mut descs,
                        &mut pending,
                        (now, now_std),
                    );
                    // The fallback slots are reused by the next super-frame: send now.
                    self.send(&buf, &descs);
                    descs.clear();
                }
            }
            self.send(&buf, &descs);
        }
    }

    fn send(&mut self, buf: &[u8], descs: &[TxDesc]) {
        if !descs.is_empty() {
            let out = self.io.transmit(buf, descs);
            self.counters.tx(out.sent, out.sent_bytes);
            self.counters.io_drops(IoDrop::TxError, out.failed);
        }
    }

    /// Count a `Pass` or `Drop`, or queue a forwarded frame (whose slot starts at
    /// `slot_offset` in the worker's buffer) for sending or for its neighbour.
    fn dispose(
        &mut self,
        frame: &mut Frame<'_>,
        verdict: Verdict,
        slot_offset: usize,
        descs: &mut Vec<TxDesc>,
        pending: &mut PendingQueue,
        now_std: StdInstant,
    ) {
        match verdict {
            Verdict::Pass => self.counters.pass(),
            Verdict::Drop(reason) => self.counters.engine_drop(reason),
            Verdict::Forward(egress) => {
                if frame.len() < ETH_HLEN {
                    self.counters.io_drop(IoDrop::Runt);
                    return;
                }
                let key = (egress.next_hop, egress.on_link);
                match self.neigh.lookup(key, now_std) {
                    Resolution::Ready(nh) => {
                        set_macs(frame.bytes_mut(), &nh);
                        descs.push(TxDesc {
                            ifindex: nh.ifindex,
                            offset: slot_offset + frame.start(),
                            len: frame.len(),
                            gso: None,
                        });
                    }
                    Resolution::Pending => {
                        if !pending.push(key, frame.bytes(), now_std) {
                            self.counters.io_drop(IoDrop::QueueFull);
                        }
                    }
                    Resolution::Failed(reason) => self.counters.io_drop(reason),
                }
            }
        }
    }

    /// Cut `whole` (untouched) into the fallback slots of `front` and pass all its
    /// segments but the first (already processed) through the engine.
    #[allow(clippy::too_many_arguments)]
    fn fallback(
        &mut self,
        whole: &[u8],
        keep: KeepWhole,
        front: &mut [u8],
        lay: &BufLayout,
        descs: &mut Vec<TxDesc>,
        pending: &mut PendingQueue,
        (now, now_std): (Instant, StdInstant),
    ) {
        let mut lens = [0usize; GSO_SLOTS];
        let out = &mut front[lay.fallback..];
        let Ok(k) = crate::gso::segment(
            whole,
            keep.gso(),
            out,
            lay.slot_size,
            lay.headroom,
            &mut lens,
        ) else {
            self.counters.io_drop(IoDrop::Oversize);
            return;
        };
        self.counters.gso_split();
        for (j, len) in lens.iter().enumerate().take(k).skip(1) {
            let slot_offset = lay.fallback + j * lay.slot_size;
            let slot = &mut front[slot_offset..slot_offset + lay.slot_size];
            let mut frame = Frame::new(slot, lay.headroom, *len);
            frame.set_checksum_verified(true);
            let verdict = self.processor.process(&mut frame, now);
            self.dispose(&mut frame, verdict, slot_offset, descs, pending, now_std);
        }
    }

    /// Send the waiting frames whose neighbour resolved; drop those that failed or
    /// waited too long.
    fn retry_pending(&mut self, q: &mut PendingQueue, now: StdInstant) {
        let PendingQueue {
            buf,
            slot_size,
            free,
            waiting,
            descs,
        } = q;
        descs.clear();
        let neigh = &mut self.neigh;
        let counters = &self.counters;
        // retain_mut keeps the arrival order of the frames that still wait.
        waiting.retain_mut(|w| {
            let done = match neigh.lookup(w.key, now) {
                Resolution::Ready(nh) => {
                    let at = w.slot * *slot_size;
                    set_macs(&mut buf[at..at + w.len], &nh);
                    descs.push(TxDesc {
                        ifindex: nh.ifindex,
                        offset: at,
                        len: w.len,
                        gso: None,
                    });
                    true
                }
                Resolution::Failed(reason) => {
                    counters.io_drop(reason);
                    true
                }
                Resolution::Pending => {
                    let expired =
                        now.duration_since(w.since) > RESOLVE_TIMEOUT + Duration::from_secs(1);
                    if expired {
                        counters.io_drop(IoDrop::Unresolved);
                    }
                    expired
                }
            };
            if done {
                free.push(w.slot);
            }
            !done
        });
        if !descs.is_empty() {
            // The slots just freed are not reused before this send completes.
            let out = self.io.transmit(buf, descs);
            self.counters.tx(out.sent, out.sent_bytes);
            self.counters.io_drops(IoDrop::TxError, out.failed);
            for _ in 0..out.sent {
                self.counters.resolved_later();
            }
        }
    }
}

#[cfg(test)]
#[path = "worker_tests.rs"]
mod tests;
