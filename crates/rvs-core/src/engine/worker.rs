//! The per-packet path of one data-plane worker.

use super::fast_path::Fast;
use super::flow_cache::{CachedFlow, FlowCache, FlowFill, FlowRoute};
use super::registry::{Registry, Service};
use super::{xmit, Shared};
use crate::conn::reuse::{self, ReuseDecision, ReusePolicy};
use crate::conn::sctp::SctpEvent;
use crate::conn::tcp::TcpFlags;
use crate::conn::{
    Conn, ConnId, ConnView, Direction, Endpoint, InKey, OutKey, PacketEvent, Transition,
};
use crate::model::Protocol;
use crate::time::Instant;
use crate::verdict::{DropReason, Frame, Verdict};
use core::cell::Cell;
use core::hash::BuildHasher;
use core::sync::atomic::Ordering;
use rvs_wire::packet::{parse_frame, Fragment, IpInfo, Transport};
use std::sync::Arc;

/// The transport facts of a TCP/UDP/SCTP packet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct L4 {
    pub proto: Protocol,
    pub src: Endpoint,
    pub dst: Endpoint,
    pub event: PacketEvent,
}

impl L4 {
    #[inline]
    fn of(ip: &IpInfo) -> Option<L4> {
        let (proto, sp, dp, event) = match ip.transport {
            Transport::Tcp {
                src_port,
                dst_port,
                flags,
                ..
            } => (
                Protocol::Tcp,
                src_port,
                dst_port,
                PacketEvent::Tcp(TcpFlags::from_bits(flags.0 as u8)),
            ),
            Transport::Udp { src_port, dst_port } => {
                (Protocol::Udp, src_port, dst_port, PacketEvent::Udp)
            }
            Transport::Sctp {
                src_port,
                dst_port,
                first_chunk,
                ..
            } => (
                Protocol::Sctp,
                src_port,
                dst_port,
                PacketEvent::Sctp(SctpEvent::from_chunks(first_chunk.map_or(0, |c| c.0), None)),
            ),
            _ => return None,
        };
        Some(L4 {
            proto,
            src: Endpoint::new(ip.src, sp),
            dst: Endpoint::new(ip.dst, dp),
            event,
        })
    }

    /// A packet the kernel would schedule a new connection for: a TCP SYN (without
    /// RST), an SCTP INIT, any UDP datagram.
    pub fn may_open(&self) -> bool {
        match self.event {
            PacketEvent::Tcp(f) => f.syn && !f.rst,
            PacketEvent::Sctp(e) => e == SctpEvent::Init,
            PacketEvent::Udp => true,
        }
    }

    #[inline]
    pub fn in_key(&self) -> InKey {
        InKey {
            proto: self.proto.ip_proto(),
            client: self.src,
            virt: self.dst,
        }
    }

    #[inline]
    pub fn out_key(&self) -> OutKey {
        OutKey {
            proto: self.proto.ip_proto(),
            server: self.src,
            client: self.dst,
        }
    }
}

/// What is left to do about a forwarded client packet once its connection's shard
/// lock is released (the table must not be re-entered under it).
pub(crate) enum AfterIn {
    Done(Verdict),
    /// The real server is gone.
    DestGone(ConnId),
    /// Forwarded while sync is on: the connection may be due for a sync message (it is
    /// read again after the lock, so that the common case moves no copy of it around).
    Sync(Verdict, ConnId, Transition),
}

/// One data-plane worker's handle on the engine. Not shared between threads: each
/// thread owns its own (from [`super::Engine::worker`]).
#[derive(Debug)]
pub struct Worker {
    pub(crate) sh: Arc<Shared>,
    pub(crate) index: usize,
    pub(crate) reg: Arc<Registry>,
    generation: u64,
    /// Approximate input packet counts per connection, for the sync threshold.
    pub(crate) pkt_counts: Box<[Cell<u16>]>,
    pub(super) cache: FlowCache,
    /// What the locked path offers the cache for the packet being processed.
    pub(super) pending: Cell<Option<FlowFill>>,
    /// Packets the flow cache forwarded (or dropped) without the locked path.
    cache_hits: u64,
    /// The longest outer packet a tunnel may send (the configuration's, fixed).
    pub(super) tunnel_limit: usize,
}

impl Worker {
    pub(crate) fn new(sh: Arc<Shared>, index: usize) -> Worker {
        let generation = sh.generation.load(Ordering::Acquire);
        let reg = sh.registry.load_full();
        // A key of its own, unknown outside: flows cannot be chosen to collide.
        let seed = std::collections::hash_map::RandomState::new().hash_one(index);
        let cache = FlowCache::new(sh.cfg.flow_cache, seed);
        let tunnel_limit = super::tunnel::outer_limit(&sh.cfg);
        Worker {
            sh,
            index,
            reg,
            generation,
            pkt_counts: (0..super::sync::PKT_SLOTS).map(|_| Cell::new(0)).collect(),
            cache,
            pending: Cell::new(None),
            cache_hits: 0,
            tunnel_limit,
        }
    }

    pub fn index(&self) -> usize {
        self.index
    }

    /// Packets decided by the flow cache's fast path so far (the rest took the
    /// locked path).
    pub fn flow_cache_hits(&self) -> u64 {
        self.cache_hits
    }

    /// Pick up a newly published configuration (one relaxed load when none is).
    fn refresh(&mut self) {
        let g = self.sh.generation.load(Ordering::Acquire);
        if g != self.generation {
            self.reg = self.sh.registry.load_full();
            self.generation = g;
            // Real servers, tunnel parameters or timeouts may have changed.
            self.cache.clear();
        }
    }

    /// Classify, track and rewrite one Ethernet frame in place. See [`Verdict`].
    ///
    /// Checksums are verified where the kernel verifies them (IPv4 headers, ICMP
    /// errors), and also for every packet that would open a connection and every SCTP
    /// packet NAT rewrites, unless the data plane marked the frame as verified
    /// ([`Frame::set_checksum_verified`]). TCP and UDP checksums of established
    /// connections are updated incrementally, unverified, as the kernel updates them: a
    /// corrupted segment reaches its receiver still corrupted.
    /// `CHECKSUM_PARTIAL` frames must be finished first
    /// (`rvs_wire::checksum::finish_partial`).
    pub fn process(&mut self, frame: &mut Frame<'_>, now: Instant) -> Verdict {
        self.refresh();
        let mut verdict = Verdict::Pass;
        let key = match self.fast(frame, now, &mut verdict) {
            Fast::Done => {
                self.cache_hits += 1;
                return verdict;
            }
            Fast::Miss(key) => key,
        };
        let v = self.locked_path(frame, now);
        if let (Some(fill), Some(key)) = (self.pending.take(), key) {
            if let Some(flow) = CachedFlow::of(&key, &fill, &self.reg, &self.sh.cfg) {
                self.cache.insert(key, flow);
            }
        }
        v
    }

    /// Everything but the flow cache's hits: the full parse, the table under its
    /// shard's lock, scheduling. Kept out of line so that the fast path's frame stays
    /// small.
    #[inline(never)]
    fn locked_path(&mut self, frame: &mut Frame<'_>, now: Instant) -> Verdict {
        let info = match parse_frame(frame.bytes()) {
            Ok(i) => i,
            // Not IP (ARP, LLDP...): the kernel's business.
            Err(rvs_wire::Error::Unsupported) => return Verdict::Pass,
            Err(_) => return Verdict::Drop(DropReason::Malformed),
        };
        let ip = &info.ip;
        if ip.fragment != Fragment::None {
            // The kernel reassembles before IPVS sees a packet; rvs does not, so
            // fragments meant for a service are refused and others left alone.
            return if self.reg.is_vip(&ip.dst) {
                Verdict::Drop(DropReason::Fragment)
            } else {
                Verdict::Pass
            };
        }
        if let Some(l4) = L4::of(ip) {
            return self.transport(frame, ip, &l4, now);
        }
        if let Transport::IcmpError {
            quoted: Some(q), ..
        } = ip.transport
        {
            return self.icmp_error(frame, ip, &q, now);
        }
        Verdict::Pass
    }

    fn transport(&mut self, frame: &mut Frame<'_>, ip: &IpInfo, l4: &L4, now: Instant) -> Verdict {
        // Packets to a virtual address are client packets; anything else may be a reply
        // from a real server (NAT, FULLNAT) or a packet of a firewall-mark service.
        let to_vip = self.reg.is_vip(&l4.dst.addr);
        // IP input drops a packet whose IPv4 header does not verify before IPVS sees it:
        // no state change, no count. Others' packets are left to the kernel to drop.
        if !xmit::header_ok(frame, ip) {
            return if to_vip {
                Verdict::Drop(DropReason::BadChecksum)
            } else {
                Verdict::Pass
            };
        }
        // Established connections are forwarded with their entry in place, under its
        // shard's lock (no copy of the entry).
        if !to_vip {
            let out = self
                .sh
                .conns
                .process_out_with(&l4.out_key(), l4.event, now, |c, _| {
                    self.forward_out(frame, ip, &c)
                });
            if let Some(v) = out {
                return v;
            }
        }
        if l4.event.is_new_conn() {
            if let Some((conn, t)) = self.existing_for_new(l4, now) {
                return self.forward_in(frame, ip, &conn, &t, now);
            }
        } else {
            let step = self
                .sh
                .conns
                .process_in_with(&l4.in_key(), l4.event, now, |c, t| {
                    self.forward_in_place(frame, ip, &c, t)
                });
            if let Some(step) = step {
                return self.after_in(step, now);
            }
        }
        let Some(svc) = self.classify(l4) else {
            // A SIP real server may start a call towards a client (the kernel's
            // conn_out): its template, found by Call-ID, makes the connection.
            if !to_vip {
                if let Some(v) = self.sip_conn_out(frame, ip, l4, now) {
                    return v;
                }
            }
            return Verdict::Pass;
        };
        if !l4.may_open() {
            return Verdict::Drop(DropReason::NoConnection);
        }
        self.new_connection(frame, ip, l4, svc, now)
    }

    /// A packet that may open a connection hit an entry: decide whether to keep it or
    /// schedule anew (`conn_reuse_mode`, `expire_nodest_conn`) before moving its state.
    fn existing_for_new(&self, l4: &L4, now: Instant) -> Option<(Conn, Transition)> {
        let conn = self.sh.conns.lookup_in(&l4.in_key(), now)?;
        let dest = self.reg.dest(conn.dest_id).map(|(_, d)| d.rt.status());
        let dest = Some(dest.unwrap_or(reuse::DestStatus {
            available: false,
            weight: 0,
        }));
        let s = self.sh.cfg.sysctls;
        let policy = ReusePolicy {
            conn_reuse_mode: u32::from(s.conn_reuse_mode),
            expire_nodest_conn: s.expire_nodest_conn,
        };
        match reuse::decide(&conn, l4.event, dest, policy) {
            ReuseDecision::Keep => {
                self.sh
                    .conns
                    .on_packet(conn.id, crate::conn::Direction::In, l4.event, now)
            }
            ReuseDecision::Reschedule => {
                self.sh.conns.expire_now(conn.id);
                None
            }
            // Forwarding will find the real server gone and drop.
            ReuseDecision::Drop => Some((
                conn.clone(),
                Transition {
                    from: conn.state,
                    to: conn.state,
                    cleared_no_output: false,
                    activity: None,
                },
            )),
        }
    }

    /// The service of a packet without a connection: a firewall-mark rule first (the
    /// mangle table runs before IPVS), then (proto, VIP, port), then a port-zero service.
    fn classify(&self, l4: &L4) -> Option<&Service> {
        let reg = &self.reg;
        if !reg.rules.is_empty() {
            let input = super::fwmark::MarkInput {
                proto: l4.proto,
                src: l4.src.addr,
                dst: l4.dst.addr,
                dst_port: l4.dst.port,
            };
            if let Some((mark, family)) = super::fwmark::classify(&reg.rules, &input) {
                if let Some(s) = reg.by_mark(mark, family) {
                    return Some(s);
                }
            }
        }
        reg.find_addr(l4.proto, l4.dst.addr, l4.dst.port)
            .map(|s| &**s)
    }

    /// Rewrite and count a client → virtual packet for the real server `dest_id`;
    /// `None` when that real server is gone.
    #[inline]
    fn send_in(
        &self,
        frame: &mut Frame<'_>,
        ip: &IpInfo,
        dest_id: u32,
        route: &xmit::InRoute,
    ) -> Option<xmit::Sent> {
        let (svc, dest) = self.reg.dest(dest_id)?;
        // The kernel counts a packet of a connection before transmitting it
        // (`ip_vs_in_stats`), whatever becomes of it: a bad transport checksum, no TTL
        // left, too big for the tunnel.
        let bytes = frame.counted_ip_len(ip.offset, ip.len());
        dest.rt.stats.inbound(self.index, bytes);
        svc.rt.stats.inbound(self.index, bytes);
        Some(xmit::inbound(
            &self.sh.cfg,
            frame,
            ip,
            route,
            dest.config.method,
        ))
    }

    /// The real server of a connection is gone: drop, and with expire_nodest_conn
    /// forget the connection so the client's next attempt is scheduled afresh.
    fn dest_gone(&self, id: ConnId) -> Verdict {
        if self.sh.cfg.sysctls.expire_nodest_conn {
            self.sh.conns.expire_now(id);
        }
        Verdict::Drop(DropReason::DestRemoved)
    }

    /// Forward a client → virtual packet of the entry `c`, in place under its shard's
    /// lock; what needs the table again is left to [`Worker::after_in`].
    #[inline]
    pub(crate) fn forward_in_place(
        &self,
        frame: &mut Frame<'_>,
        ip: &IpInfo,
        c: &ConnView<'_>,
        t: &Transition,
    ) -> AfterIn {
        let route = xmit::InRoute::of_view(c);
        let sent = self.send_in(frame, ip, c.dest_id(), &route);
        if let Some(xmit::Sent {
            verdict: Verdict::Forward(_),
            to_dest: true,
        }) = sent
        {
            self.offer(c, Direction::In, FlowRoute::In(route));
        }
        match sent {
            None => AfterIn::DestGone(c.id()),
            // Every packet of the connection counts towards the sync threshold.
            Some(sent) if self.sh.sync_master.load(Ordering::Relaxed) => {
                AfterIn::Sync(sent.verdict, c.id(), *t)
            }
            Some(sent) => AfterIn::Done(sent.verdict),
        }
    }

    /// Finish [`Worker::forward_in_place`] once the shard lock is released.
    #[inline]
    pub(crate) fn after_in(&self, step: AfterIn, now: Instant) -> Verdict {
        match step {
            AfterIn::Done(v) => v,
            AfterIn::DestGone(id) => self.dest_gone(id),
            AfterIn::Sync(v, id, t) => {
                if let Some(conn) = self.sh.conns.get(id) {
                    super::sync::maybe_queue(self, &conn, &t, now);
                }
                v
            }
        }
    }

    /// Forward a client → virtual packet of `conn`.
    pub(crate) fn forward_in(
        &self,
        frame: &mut Frame<'_>,
        ip: &IpInfo,
        conn: &Conn,
        t: &Transition,
        now: Instant,
    ) -> Verdict {
        match self.send_in(frame, ip, conn.dest_id, &xmit::InRoute::of(conn)) {
            None => self.dest_gone(conn.id),
            Some(sent) => {
                if self.sh.sync_master.load(Ordering::Relaxed) {
                    super::sync::maybe_queue(self, conn, t, now);
                }
                sent.verdict
            }
        }
    }

    /// Forward a real server → client reply of the entry `c` (NAT, FULLNAT), in place
    /// under its shard's lock.
    #[inline]
    fn forward_out(&self, frame: &mut Frame<'_>, ip: &IpInfo, c: &ConnView<'_>) -> Verdict {
        let route = xmit::OutRoute::of_view(c);
        let v = self.send_out(frame, ip, c.dest_id(), &route);
        if let Verdict::Forward(_) = v {
            self.offer(c, Direction::Out, FlowRoute::Out(route));
        }
        v
    }

    /// Rewrite and count a real server → client reply of a connection to `dest_id`.
    #[inline]
    fn send_out(
        &self,
        frame: &mut Frame<'_>,
        ip: &IpInfo,
        dest_id: u32,
        route: &xmit::OutRoute,
    ) -> Verdict {
        let v = xmit::outbound(&self.sh.cfg, frame, ip, route);
        if let Verdict::Forward(_) = v {
            let bytes = frame.counted_ip_len(ip.offset, ip.len());
            if let Some((svc, dest)) = self.reg.dest(dest_id) {
                dest.rt.stats.outbound(self.index, bytes);
                svc.rt.stats.outbound(self.index, bytes);
            }
        }
        v
    }
}
