//! ICMP errors about tracked connections (the kernel's `ip_vs_in_icmp` and
//! `ip_vs_out_icmp`): translated with their connection so that path-MTU discovery
//! and unreachable reports keep working through NAT and FULLNAT.

use super::tunnel;
use super::worker::Worker;
use crate::conn::{ConnFlags, Endpoint, InKey, OutKey};
use crate::model::ForwardMethod;
use crate::time::Instant;
use crate::verdict::{DropReason, Egress, Frame, Verdict};
use rvs_wire::packet::{self, IpInfo, Quoted};
use rvs_wire::rewrite::{rewrite_icmp_error, NatRewrite};

impl Worker {
    pub(crate) fn icmp_error(
        &self,
        frame: &mut Frame<'_>,
        ip: &IpInfo,
        q: &Quoted,
        now: Instant,
    ) -> Verdict {
        let Some((qs, qd)) = q.ports else {
            return Verdict::Pass;
        };
        let proto = q.protocol.0;
        if !matches!(proto, 6 | 17 | 132) {
            return Verdict::Pass;
        }
        // An error about a reply we sent to the client: the quote is VIP → client.
        let in_key = InKey {
            proto,
            client: Endpoint::new(q.dst, qd),
            virt: Endpoint::new(q.src, qs),
        };
        if let Some(conn) = self.sh.conns.lookup_in(&in_key, now) {
            if !frame.checksum_verified() && !packet::verify_checksums(frame.bytes(), ip) {
                return Verdict::Drop(DropReason::BadChecksum);
            }
            let Some((svc, dest)) = self.reg.dest(conn.dest_id) else {
                return Verdict::Drop(DropReason::DestRemoved);
            };
            let rip = conn.dest.addr;
            let (outer, quoted, on_link) = match conn.flags.0 & ConnFlags::FWD_MASK {
                ConnFlags::MASQ => (
                    NatRewrite {
                        dst_addr: Some(rip),
                        ..NatRewrite::NONE
                    },
                    NatRewrite::src(rip, conn.dest.port),
                    false,
                ),
                ConnFlags::FULLNAT => {
                    let Some(local) = conn.local else {
                        return Verdict::Drop(DropReason::NoConnection);
                    };
                    (
                        NatRewrite {
                            src_addr: Some(local.addr),
                            dst_addr: Some(rip),
                            ..NatRewrite::NONE
                        },
                        NatRewrite::both((rip, conn.dest.port), (local.addr, local.port)),
                        false,
                    )
                }
                ConnFlags::DROUTE => (NatRewrite::NONE, NatRewrite::NONE, true),
                ConnFlags::TUNNEL => {
                    let tun = match dest.config.method {
                        ForwardMethod::Tunnel(t) => t,
                        _ => Default::default(),
                    };
                    return match tunnel::encapsulate(&self.sh.cfg, frame, ip, rip, &tun) {
                        Ok(()) => {
                            svc.rt.stats.inbound(self.index, ip.len() as u64);
                            Verdict::Forward(Egress {
                                next_hop: rip,
                                on_link: false,
                            })
                        }
                        Err(r) => Verdict::Drop(r),
                    };
                }
                _ => return Verdict::Pass,
            };
            if (outer != NatRewrite::NONE || quoted != NatRewrite::NONE)
                && rewrite_icmp_error(frame.bytes_mut(), ip, &outer, &quoted).is_err()
            {
                return Verdict::Drop(DropReason::Malformed);
            }
            dest.rt.stats.inbound(self.index, ip.len() as u64);
            svc.rt.stats.inbound(self.index, ip.len() as u64);
            return Verdict::Forward(Egress {
                next_hop: rip,
                on_link,
            });
        }
        // An error from the real server's side about a packet we forwarded to it: the
        // quote is client (or FULLNAT local) → real server.
        let out_key = OutKey {
            proto,
            server: Endpoint::new(q.dst, qd),
            client: Endpoint::new(q.src, qs),
        };
        let Some(conn) = self.sh.conns.lookup_out(&out_key, now) else {
            return Verdict::Pass;
        };
        if !frame.checksum_verified() && !packet::verify_checksums(frame.bytes(), ip) {
            return Verdict::Drop(DropReason::BadChecksum);
        }
        let fwd = conn.flags.0 & ConnFlags::FWD_MASK;
        let (outer, quoted) = match fwd {
            ConnFlags::MASQ => (
                NatRewrite {
                    src_addr: Some(conn.virt.addr),
                    ..NatRewrite::NONE
                },
                NatRewrite {
                    dst_addr: Some(conn.virt.addr),
                    dst_port: Some(conn.virt.port),
                    ..NatRewrite::NONE
                },
            ),
            ConnFlags::FULLNAT => (
                NatRewrite {
                    src_addr: Some(conn.virt.addr),
                    dst_addr: Some(conn.client.addr),
                    ..NatRewrite::NONE
                },
                NatRewrite::both(
                    (conn.client.addr, conn.client.port),
                    (conn.virt.addr, conn.virt.port),
                ),
            ),
            _ => return Verdict::Pass,
        };
        if rewrite_icmp_error(frame.bytes_mut(), ip, &outer, &quoted).is_err() {
            return Verdict::Drop(DropReason::Malformed);
        }
        if let Some((svc, dest)) = self.reg.dest(conn.dest_id) {
            dest.rt.stats.outbound(self.index, ip.len() as u64);
            svc.rt.stats.outbound(self.index, ip.len() as u64);
        }
        Verdict::Forward(Egress {
            next_hop: conn.client.addr,
            on_link: false,
        })
    }
}
