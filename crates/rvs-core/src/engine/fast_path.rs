//! The flow cache's fast path: a packet of a cached flow (see `flow_cache.rs`), from
//! its lean parse to its verdict, without the connection table's lock; and what the
//! locked path offers the cache to make a flow's next packets take it.

use super::flow_cache::{FlowAction, FlowFill, FlowRoute, InAction, TCP_STATE_FLAGS};
use super::worker::Worker;
use super::{sync, xmit};
use crate::conn::{ConnView, Direction};
use crate::time::Instant;
use crate::verdict::{DropReason, Frame, Verdict};
use core::sync::atomic::Ordering;
use rvs_wire::flow::{self, FlowPacket, FlowTuple};

/// What the fast path made of a packet.
pub(super) enum Fast {
    Done(Verdict),
    /// For the locked path, untouched; with the flow's key when the lean view read the
    /// packet, for the cache to learn the flow from what the locked path does.
    Miss(Option<FlowTuple>),
}

impl Worker {
    /// Forward `frame` if it is a packet of a cached flow that changes nothing but the
    /// connection's timer.
    #[inline]
    pub(super) fn fast(&mut self, frame: &mut Frame<'_>, now: Instant) -> Fast {
        if !self.cache.enabled() {
            return Fast::Miss(None);
        }
        let Some(fp) = flow::parse(frame.bytes()) else {
            return Fast::Miss(None);
        };
        if fp.tcp_flags & TCP_STATE_FLAGS == 0 {
            if let Some(v) = self.hit(frame, &fp, now) {
                return Fast::Done(v);
            }
        }
        Fast::Miss(Some(fp.tuple))
    }

    /// The packet `fp` of a flow the cache may hold: `None` leaves it to the locked
    /// path, untouched.
    #[inline]
    fn hit(&mut self, frame: &mut Frame<'_>, fp: &FlowPacket, now: Instant) -> Option<Verdict> {
        let key = &fp.tuple;
        // Borrowed, not copied: a hit reads a few of its fields.
        let flow = self.cache.get(key)?;
        // The sync master counts inbound packets; the one that makes the connection
        // due is left to the locked path, which counts it and queues the connection.
        let mut count = None;
        if let Some(counter) = flow.sync {
            if self.sh.sync_master.load(Ordering::Relaxed) {
                let cell = self.pkt_counts.get(usize::from(counter.slot))?;
                let pkts = cell.get().wrapping_add(1);
                if counter.syncable && sync::periodic_due(&self.sh.cfg.sysctls, pkts) {
                    return None;
                }
                count = Some((cell, pkts));
            }
        }
        // IP input's header check comes before anything IPVS does (the locked path
        // tells the kernel's packets from rvs's).
        if !fp.header_ok && !frame.checksum_verified() {
            return None;
        }
        if !self.sh.conns.fast_touch(&flow.ticket, now) {
            self.cache.remove(key);
            return None;
        }
        // A new configuration empties the cache: the real server is there.
        let (svc, dest) = self.reg.dest(flow.dest_id)?;
        let bytes = frame.counted_ip_len(fp.l3, fp.ip_len());
        let action = match &flow.action {
            FlowAction::In(action) => action,
            FlowAction::Out { to, rewrite } => {
                // Replies are forwarded by the kernel before IPVS sees them: one with
                // no TTL left is the kernel's to answer.
                if !flow::decrement_ttl(frame.bytes_mut(), fp) {
                    return Some(Verdict::Pass);
                }
                if !rewrite.apply(frame.bytes_mut(), fp) {
                    return Some(Verdict::Drop(DropReason::Malformed));
                }
                dest.rt.stats.outbound(self.index, bytes);
                svc.rt.stats.outbound(self.index, bytes);
                return Some(xmit::forward(*to, false));
            }
        };
        // A client packet is counted whatever becomes of it, as the locked path counts.
        dest.rt.stats.inbound(self.index, bytes);
        svc.rt.stats.inbound(self.index, bytes);
        if let Some((cell, pkts)) = count {
            cell.set(pkts);
        }
        // The route to the real server costs one TTL (the IPv4 header was checked).
        if !flow::decrement_ttl(frame.bytes_mut(), fp) {
            let ip = fp.ip_info(frame.bytes());
            return Some(xmit::time_exceeded(frame, &ip).verdict);
        }
        Some(match action {
            InAction::Route { to } => xmit::forward(*to, true),
            InAction::Nat { to, rewrite } => {
                if rewrite.apply(frame.bytes_mut(), fp) {
                    xmit::forward(*to, false)
                } else {
                    Verdict::Drop(DropReason::Malformed)
                }
            }
            InAction::Tunnel(route) => {
                let ip = fp.ip_info(frame.bytes());
                xmit::tunnel_in(&self.sh.cfg, frame, &ip, route, dest.config.method).verdict
            }
        })
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
