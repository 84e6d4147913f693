//! The flow cache's fast path: a packet of a cached flow (see `flow_cache.rs`), from
//! its lean parse to its verdict, without the connection table's lock; and what the
//! locked path offers the cache to make a flow's next packets take it.

use super::flow_cache::{CachedFlow, FlowAction, FlowFill, FlowRoute, InAction, TCP_STATE_FLAGS};
use super::sync;
use super::worker::Worker;
use super::{tunnel, xmit};
use crate::conn::{ConnView, Direction};
use crate::time::Instant;
use crate::verdict::{counted_ip_len, DropReason, Frame, Verdict};
use core::sync::atomic::Ordering;
use rvs_wire::flow::{self, FlowPacket, FlowTuple};
use rvs_wire::tunnel::Ipip4Header;

/// What the fast path made of a packet.
pub(super) enum Fast {
    /// Decided: the verdict was written.
    Done,
    /// For the locked path, untouched; with the flow's key when the lean view read the
    /// packet, for the cache to learn the flow from what the locked path does.
    Miss(Option<FlowTuple>),
}

/// What became of a packet the cache knows, decided on its bytes alone.
enum Hit {
    /// Decided: the verdict was written.
    Done,
    /// Not for the fast path after all: untouched.
    Miss,
    /// A client packet with no TTL left (counted): to be answered.
    NoTtl,
    /// A client packet of an IPIP flow (counted, TTL taken, verdict written): to be
    /// encapsulated with this outer header.
    Ipip(Ipip4Header),
    /// A client packet of another TUN flow (counted, TTL taken): to be encapsulated.
    Tunnel,
}

impl Worker {
    /// Forward `frame` if it is a packet of a cached flow that changes nothing but the
    /// connection's timer, writing the verdict to `verdict` (written only then: the
    /// common path moves it once, from the cache to the caller).
    #[inline]
    pub(super) fn fast(
        &mut self,
        frame: &mut Frame<'_>,
        now: Instant,
        verdict: &mut Verdict,
    ) -> Fast {
        if !self.cache.enabled() {
            return Fast::Miss(None);
        }
        let verified = frame.checksum_verified();
        let super_len = frame.super_frame_len();
        let bytes = frame.bytes_mut();
        let Some(fp) = flow::parse(bytes) else {
            return Fast::Miss(None);
        };
        if fp.tcp_flags & TCP_STATE_FLAGS != 0 {
            return Fast::Miss(Some(fp.tuple));
        }
        // IP input's header check comes before anything IPVS does (the locked path
        // tells the kernel's packets from rvs's).
        if !fp.header_ok && !verified {
            return Fast::Miss(Some(fp.tuple));
        }
        let counted = counted_ip_len(super_len, fp.l3, fp.ip_len());
        match self.hit(bytes, &fp, counted, now, verdict) {
            Hit::Done => {}
            Hit::Miss => return Fast::Miss(Some(fp.tuple)),
            // Rare: the cold paths parse the packet again rather than keep its view
            // out of registers on the common one.
            Hit::NoTtl => *verdict = time_exceeded(frame),
            Hit::Ipip(outer) => {
                if !tunnel::ipip4(self.tunnel_limit, frame, fp.l3, fp.ip_len(), &outer) {
                    *verdict = self.tunnel(frame);
                }
            }
            Hit::Tunnel => *verdict = self.tunnel(frame),
        }
        Fast::Done
    }

    /// The packet `fp` (in `bytes`) of a flow the cache may hold; `counted` is what
    /// the counters count for it.
    #[inline(always)]
    fn hit(
        &mut self,
        bytes: &mut [u8],
        fp: &FlowPacket,
        counted: u64,
        now: Instant,
        verdict: &mut Verdict,
    ) -> Hit {
        let key = &fp.tuple;
        // Borrowed, not copied: a hit reads a few of its fields.
        let Some(flow) = self.cache.get(key) else {
            return Hit::Miss;
        };
        // The sync master counts inbound packets; the one that makes the connection
        // due is left to the locked path, which counts it and queues the connection.
        let mut count = None;
        if let Some(counter) = flow.sync {
            if self.sh.sync_master.load(Ordering::Relaxed) {
                let Some(cell) = self.pkt_counts.get(usize::from(counter.slot)) else {
                    return Hit::Miss;
                };
                let pkts = cell.get().wrapping_add(1);
                if counter.templated
                    || counter.syncable && sync::periodic_due(&self.sh.cfg.sysctls, pkts)
                {
                    return Hit::Miss;
                }
                count = Some((cell, pkts));
            }
        }
        if !self.sh.conns.fast_touch(&flow.ticket, now) {
            self.forget(*key);
            return Hit::Miss;
        }
        let action = match &flow.action {
            FlowAction::In(action) => action,
            FlowAction::Out { forward, rewrite } => {
                // Replies are forwarded by the kernel before IPVS sees them: one with
                // no TTL left is the kernel's to answer.
                *verdict = if !flow::decrement_ttl(bytes, fp) {
                    Verdict::Pass
                } else if rewrite.apply(bytes, fp) {
                    self.count_out(flow, counted);
                    *forward
                } else {
                    Verdict::Drop(DropReason::Malformed)
                };
                return Hit::Done;
            }
        };
        // A client packet is counted whatever becomes of it, as the locked path counts.
        flow.dest.stats.inbound(self.index, counted);
        flow.svc.stats.inbound(self.index, counted);
        if let Some((cell, pkts)) = count {
            cell.set(pkts);
        }
        // The route to the real server costs one TTL (the IPv4 header was checked).
        if !flow::decrement_ttl(bytes, fp) {
            return Hit::NoTtl;
        }
        match action {
            InAction::Route { forward } => *verdict = *forward,
            InAction::Nat { forward, rewrite } => {
                *verdict = if rewrite.apply(bytes, fp) {
                    *forward
                } else {
                    Verdict::Drop(DropReason::Malformed)
                };
            }
            InAction::Tunnel {
                forward,
                ipip: Some(outer),
                ..
            } => {
                *verdict = *forward;
                return Hit::Ipip(*outer);
            }
            InAction::Tunnel { ipip: None, .. } => return Hit::Tunnel,
        }
        Hit::Done
    }

    /// Drop a flow whose ticket is void. Takes the key by value, out of line: a
    /// reference would keep the packet's view in memory on the common path.
    #[cold]
    #[inline(never)]
    fn forget(&mut self, key: FlowTuple) {
        self.cache.remove(&key);
    }

    #[inline(always)]
    fn count_out(&self, flow: &CachedFlow, counted: u64) {
        flow.dest.stats.outbound(self.index, counted);
        flow.svc.stats.outbound(self.index, counted);
    }

    /// TUN: the locked path's encapsulation, on the packet the fast path counted
    /// (its flow found again: the hit itself stays small).
    #[inline(never)]
    fn tunnel(&self, frame: &mut Frame<'_>) -> Verdict {
        let Some(fp) = flow::parse(frame.bytes()) else {
            return Verdict::Drop(DropReason::Malformed);
        };
        let Some(CachedFlow {
            action: FlowAction::In(InAction::Tunnel { route, method, .. }),
            ..
        }) = self.cache.get(&fp.tuple)
        else {
            return Verdict::Drop(DropReason::Malformed);
        };
        let ip = fp.ip_info(frame.bytes());
        xmit::tunnel_in(&self.sh.cfg, frame, &ip, route, *method).verdict
    }

    /// Offer the cache what it needs to forward the next packets of `c` in `dir`
    /// without the lock, if such packets leave the entry as it is.
    #[inline]
    pub(super) fn offer(&self, c: &ConnView<'_>, dir: Direction, route: FlowRoute) {
        if !self.cache.enabled() {
            return;
        }
        let Some(ticket) = c.fast_ticket(dir) else {
            return;
        };
        let (sync, plan) = match &route {
            FlowRoute::In(r) => (sync::counter_of(c), xmit::plan_in(r)),
            FlowRoute::Out(r) => (None, xmit::plan_out(r)),
        };
        self.pending.set(Some(FlowFill {
            ticket,
            dest_id: c.dest_id(),
            route,
            sync,
            plan,
        }));
    }
}

/// A client packet with no TTL left: answered as the locked path answers it.
#[cold]
fn time_exceeded(frame: &mut Frame<'_>) -> Verdict {
    match flow::parse(frame.bytes()) {
        Some(fp) => {
            let ip = fp.ip_info(frame.bytes());
            xmit::time_exceeded(frame, &ip).verdict
        }
        None => Verdict::Drop(DropReason::Malformed),
    }
}
