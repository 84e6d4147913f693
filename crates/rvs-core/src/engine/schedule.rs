//! New connections: persistence templates, the scheduler, one-packet scheduling and
//! the FULLNAT local port (the kernel's `ip_vs_schedule` / `ip_vs_sched_persist`).

use super::pe_sip;
use super::registry::{Dest, Service};
use super::worker::{Worker, L4};
use super::xmit;
use crate::conn::ConnId;
use crate::conn::{Direction, Endpoint, InsertError, NewConn};
use crate::model::Family;
use crate::model::{ForwardMethod, Protocol, ServiceKey};
use crate::persist::{self, PacketTuple};
use crate::sched::SchedInput;
use crate::time::Instant;
use crate::verdict::{DropReason, Frame, Verdict};
use rvs_wire::packet::IpInfo;

impl Worker {
    pub(crate) fn new_connection(
        &self,
        frame: &mut Frame<'_>,
        ip: &IpInfo,
        l4: &L4,
        svc: &Service,
        now: Instant,
    ) -> Verdict {
        let fwmark = match svc.config.key {
            ServiceKey::Fwmark { mark, .. } => mark,
            ServiceKey::Addr { port, .. } => {
                // A port-zero service only works with persistence (the kernel refuses
                // to schedule it otherwise).
                if port == 0 && svc.config.persistence.is_none() {
                    return Verdict::Drop(DropReason::NoDestination);
                }
                0
            }
        };
        // Only a packet whose checksums verify may create state: a flood of corrupted
        // SYNs costs a checksum each, never a table entry.
        if !frame.checksum_verified() {
            if !rvs_wire::packet::verify_checksums(frame.bytes(), ip) {
                return Verdict::Drop(DropReason::BadChecksum);
            }
            frame.set_checksum_verified(true);
        }
        let (dest, control) = match self.pick_dest(frame.bytes(), ip, l4, svc, fwmark, now) {
            Ok(picked) => picked,
            Err(reason) => return Verdict::Drop(reason),
        };
        let method = dest.config.method;
        let client_family = Family::of(&l4.src.addr);
        let dest_family = Family::of(&dest.config.addr);
        // Only tunnels may cross address families (as ipvsadm enforces).
        if client_family != dest_family && !matches!(method, ForwardMethod::Tunnel(_)) {
            return Verdict::Drop(DropReason::NoDestination);
        }
        let dport = if dest.config.port == 0 || method.keeps_port() {
            l4.dst.port
        } else {
            dest.config.port
        };
        let mut new = NewConn::scheduled(
            l4.proto.ip_proto(),
            l4.src,
            l4.dst,
            Endpoint::new(dest.config.addr, dport),
            method,
        );
        new.fwmark = fwmark;
        new.service = svc.rt.id;
        new.dest_id = dest.rt.id;
        new.counters = Some(dest.rt.counters.clone());
        new.control = control;
        if method == ForwardMethod::FullNat {
            let shard = self.sh.conns.shard_of(l4.src.addr, l4.src.port);
            match self.sh.pool.alloc(dest_family, shard) {
                Some(local) => new.local = Some(local),
                None => return Verdict::Drop(DropReason::TableFull),
            }
        }
        let one_packet = svc.config.one_packet && l4.proto == Protocol::Udp;
        dest.rt.stats.conn(self.index);
        svc.rt.stats.conn(self.index);
        if one_packet {
            // Forward this datagram only; no entry is kept (the next one is scheduled
            // again), but it counts as a connection. Its template's timer restarts, as
            // the kernel's put of the template after linking the one-packet entry does.
            if let Some(ctl) = control {
                self.sh.conns.touch(ctl, now);
                if self
                    .sh
                    .sync_master
                    .load(core::sync::atomic::Ordering::Relaxed)
                {
                    super::sync::one_packet_template(self, ctl);
                }
            }
            let local = new.local;
            let route = xmit::InRoute {
                flags: crate::conn::ConnFlags::for_new(method, false, true),
                dest: new.dest,
                local,
            };
            // Counted before it is transmitted, as every packet of a connection.
            let bytes = frame.counted_ip_len(ip.offset, ip.len());
            dest.rt.stats.inbound(self.index, bytes);
            svc.rt.stats.inbound(self.index, bytes);
            let sent = xmit::inbound(&self.sh.cfg, frame, ip, &route, method);
            if let Some(l) = local {
                self.sh.pool.free(l);
            }
            return sent.verdict;
        }
        let local = new.local;
        let id = match self.sh.conns.insert(new, now) {
            Ok(c) => {
                // A fresh count for the sync threshold (the slot may be a reused one).
                self.pkt_counts[super::sync::count_slot(c.id)].set(0);
                c.id
            }
            // Another worker created it a moment ago: use that one.
            Err(InsertError::Exists(id)) => {
                if let Some(l) = local {
                    self.sh.pool.free(l);
                }
                id
            }
            Err(_) => {
                if let Some(l) = local {
                    self.sh.pool.free(l);
                }
                return Verdict::Drop(DropReason::TableFull);
            }
        };
        let step = self
            .sh
            .conns
            .on_packet_with(id, Direction::In, l4.event, now, |c, t| {
                self.forward_in_place(frame, ip, &c, t)
            });
        match step {
            Some(step) => self.after_in(step, now),
            None => Verdict::Drop(DropReason::NoConnection),
        }
    }

    /// Choose the real server, through the persistence template when the service has
    /// one. Returns it with the template that now controls the connection, or why the
    /// packet is dropped.
    fn pick_dest<'a>(
        &self,
        bytes: &[u8],
        ip: &IpInfo,
        l4: &L4,
        svc: &'a Service,
        fwmark: u32,
        now: Instant,
    ) -> Result<(&'a Dest, Option<ConnId>), DropReason> {
        let input = SchedInput {
            src: l4.src.addr,
            src_port: l4.src.port,
            dst: l4.dst.addr,
            dst_port: l4.dst.port,
        };
        let no_dest = DropReason::NoDestination;
        let Some(p) = svc.config.persistence else {
            return svc
                .rt
                .schedule(&svc.dests, &input, now)
                .map(|d| (d, None))
                .ok_or(no_dest);
        };
        let tuple = PacketTuple {
            proto: l4.proto.ip_proto(),
            src: l4.src.addr,
            dst: l4.dst.addr,
            dst_port: l4.dst.port,
        };
        let key = persist::template_key(&svc.config.key, &p, &tuple);
        if pe_sip::is_sip(&svc.config) {
            // `ip_vs_sip_fill_param` failing (not UDP, no Call-ID) makes the kernel
            // drop the packet (`*ignored = -1`), not schedule it unpersisted.
            let call_id = match l4.proto {
                Protocol::Udp => pe_sip::udp_payload(bytes, ip).and_then(pe_sip::call_id),
                _ => None,
            };
            let Some(call_id) = call_id else {
                return Err(DropReason::Malformed);
            };
            let sk = pe_sip::SipKey {
                key,
                call_id,
                persistence: p,
                fwmark,
            };
            return self.pick_dest_sip(&sk, &input, svc, now).ok_or(no_dest);
        }
        if let Some(t) = self.sh.conns.lookup_template(&key, now) {
            let dest = svc.dest_by_id(t.dest_id);
            let status = dest.map(|d| d.rt.status());
            if persist::template_usable(status, self.sh.cfg.sysctls.expire_quiescent_template) {
                if let Some(d) = dest {
                    return Ok((d, Some(t.id)));
                }
            }
            self.sh.conns.invalidate_template(t.id);
        }
        let dest = svc.rt.schedule(&svc.dests, &input, now).ok_or(no_dest)?;
        let tport = persist::template_dest_port(&svc.config.key, l4.dst.port, dest.config.port);
        let mut tmpl = persist::new_template(
            &key,
            Endpoint::new(dest.config.addr, tport),
            dest.config.method,
            &p,
            fwmark,
        );
        tmpl.service = svc.rt.id;
        tmpl.dest_id = dest.rt.id;
        tmpl.counters = Some(dest.rt.counters.clone());
        Ok(match self.sh.conns.insert(tmpl, now) {
            Ok(t) => (dest, Some(t.id)),
            // Raced with another worker: follow its template.
            Err(InsertError::Exists(id)) => {
                let d = self
                    .sh
                    .conns
                    .get(id)
                    .and_then(|t| svc.dest_by_id(t.dest_id))
                    .unwrap_or(dest);
                (d, Some(id))
            }
            // No room for a template: the connection still goes, unpersisted.
            Err(_) => (dest, None),
        })
    }
}
