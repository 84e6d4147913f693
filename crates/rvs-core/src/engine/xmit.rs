//! Rewriting a packet of a connection for its forwarding method (the kernel's
//! `ip_vs_*_xmit` and `handle_response`).

use super::config::EngineConfig;
use super::{mtu, tunnel};
use crate::conn::{Conn, ConnFlags, ConnView, Endpoint};
use crate::model::ForwardMethod;
use crate::verdict::{DropReason, Egress, Frame, Verdict};
use rvs_wire::flow::NatPlan;
use rvs_wire::packet::{IpInfo, Transport};
use rvs_wire::rewrite::{rewrite, NatRewrite};
use rvs_wire::{ipv4, ipv6, packet};

/// Whether a packet of a connection may have its transport header rewritten.
///
/// The kernel rewrites TCP and UDP checksums incrementally without verifying them
/// (`tcp_dnat_handler`, `udp_snat_handler`...: only an application helper checks
/// first), so a corrupted segment keeps its error through the rewrite and its receiver
/// drops it. A rewritten SCTP packet gets its CRC32c computed afresh, which would make a
/// corrupted one look sound: rvs verifies SCTP first, where the kernel does not.
fn may_rewrite(frame: &Frame<'_>, ip: &IpInfo) -> bool {
    match ip.transport {
        Transport::Sctp { .. } => {
            frame.checksum_verified() || packet::verify_checksums(frame.bytes(), ip)
        }
        _ => true,
    }
}

/// The IPv4 header checksum (IP input checks it for every packet).
#[inline]
pub(crate) fn header_ok(frame: &Frame<'_>, ip: &IpInfo) -> bool {
    if frame.checksum_verified() || ip.is_ipv6() {
        return true;
    }
    // `parse_frame` checked the header's length fields: the header is `offset..l4`, a
    // multiple of four bytes.
    frame
        .bytes()
        .get(ip.offset..ip.l4)
        .is_some_and(packet::ipv4_header_ok)
}

/// Decrement the TTL / hop limit of the IP header; false (nothing changed) at 0 or 1.
fn decrement_ttl(frame: &mut Frame<'_>, ip: &IpInfo) -> bool {
    let Some(b) = frame.bytes_mut().get_mut(ip.offset..ip.end) else {
        return false;
    };
    if ip.is_ipv6() {
        ipv6::Packet::new_checked(b).is_ok_and(|mut p| p.decrement_hop_limit())
    } else {
        ipv4::Packet::new_checked(b).is_ok_and(|mut p| p.decrement_ttl())
    }
}

pub(crate) fn forward(next_hop: core::net::IpAddr, on_link: bool) -> Verdict {
    Verdict::Forward(Egress { next_hop, on_link })
}

/// What forwarding a client → virtual packet reads of its connection: built from a
/// copied [`Conn`] or, on the fast path, from the entry in place ([`ConnView`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct InRoute {
    pub flags: ConnFlags,
    pub dest: Endpoint,
    /// FULLNAT only.
    pub local: Option<Endpoint>,
}

impl InRoute {
    pub fn of(conn: &Conn) -> InRoute {
        InRoute {
            flags: conn.flags,
            dest: conn.dest,
            local: conn.local,
        }
    }

    #[inline]
    pub fn of_view(c: &ConnView<'_>) -> InRoute {
        InRoute {
            flags: c.flags(),
            dest: c.dest(),
            local: c.local(),
        }
    }
}

/// What forwarding a reply reads of its connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutRoute {
    pub flags: ConnFlags,
    pub virt: Endpoint,
    pub client: Endpoint,
}

impl OutRoute {
    #[inline]
    pub fn of_view(c: &ConnView<'_>) -> OutRoute {
        OutRoute {
            flags: c.flags(),
            virt: c.virt(),
            client: c.client(),
        }
    }
}

/// What became of a client packet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sent {
    pub verdict: Verdict,
    /// The frame is the client's packet on its way to the real server (what the flow
    /// cache may learn to forward), not an answer to the client.
    pub to_dest: bool,
}

/// A client → virtual packet of a connection (`conn`), to its real server. `method` is
/// the real server's current configuration (for the tunnel parameters); the
/// connection's own method bits decide how it is forwarded.
///
/// In the kernel's order: the IPv4 header was checked on input (by the caller, before
/// the table: [`header_ok`]); the route to the real server then costs the packet one
/// TTL (`__ip_vs_get_out_rt`: a packet with none left is answered with "time
/// exceeded"); NAT rewrites the transport checksum without verifying it
/// ([`may_rewrite`]).
#[inline]
pub(crate) fn inbound(
    cfg: &EngineConfig,
    frame: &mut Frame<'_>,
    ip: &IpInfo,
    conn: &InRoute,
    method: ForwardMethod,
) -> Sent {
    let to_dest = |verdict| Sent {
        verdict,
        to_dest: true,
    };
    let fwd = match forwarding_method(conn) {
        Ok(fwd) => fwd,
        Err(verdict) => return to_dest(verdict),
    };
    if !decrement_ttl(frame, ip) {
        return time_exceeded(frame, ip);
    }
    if fwd == ConnFlags::TUNNEL {
        return tunnel_in(cfg, frame, ip, conn, method);
    }
    to_dest(rewrite_in(frame, ip, conn))
}

/// The method bits of `conn` when it sends packets on to a real server; otherwise the
/// verdict at once: the director is the real server (its stack takes the packet), or
/// a FULLNAT entry has no local endpoint.
#[inline]
fn forwarding_method(conn: &InRoute) -> Result<u32, Verdict> {
    match conn.flags.0 & ConnFlags::FWD_MASK {
        fwd @ (ConnFlags::MASQ | ConnFlags::DROUTE | ConnFlags::TUNNEL) => Ok(fwd),
        ConnFlags::FULLNAT if conn.local.is_some() => Ok(ConnFlags::FULLNAT),
        ConnFlags::FULLNAT => Err(Verdict::Drop(DropReason::NoConnection)),
        _ => Err(Verdict::Pass),
    }
}

/// The client's packet has no TTL left: answer it (the answer goes back to the
/// client, not on to the real server).
#[cold]
pub(crate) fn time_exceeded(frame: &mut Frame<'_>, ip: &IpInfo) -> Sent {
    match mtu::answer_time_exceeded(frame, ip) {
        Some(verdict) => Sent {
            verdict,
            to_dest: false,
        },
        None => Sent {
            verdict: Verdict::Drop(DropReason::TtlExceeded),
            to_dest: true,
        },
    }
}

/// TUN: encapsulate towards the real server, or answer the client when the result
/// would not fit the egress MTU.
pub(crate) fn tunnel_in(
    cfg: &EngineConfig,
    frame: &mut Frame<'_>,
    ip: &IpInfo,
    conn: &InRoute,
    method: ForwardMethod,
) -> Sent {
    let rip = conn.dest.addr;
    let to_dest = |verdict| Sent {
        verdict,
        to_dest: true,
    };
    let tun = match method {
        ForwardMethod::Tunnel(t) => t,
        _ => Default::default(),
    };
    match tunnel::encapsulate(cfg, frame, ip, rip, &tun) {
        Ok(()) => to_dest(forward(rip, false)),
        Err(DropReason::TooBig) => match mtu::answer_too_big(cfg, frame, ip, rip, &tun) {
            Some(verdict) => Sent {
                verdict,
                to_dest: false,
            },
            None => to_dest(Verdict::Drop(DropReason::TooBig)),
        },
        Err(r) => to_dest(Verdict::Drop(r)),
    }
}

/// NAT, FULLNAT and DR, once the header and TTL are done.
#[inline]
fn rewrite_in(frame: &mut Frame<'_>, ip: &IpInfo, conn: &InRoute) -> Verdict {
    let rip = conn.dest.addr;
    match conn.flags.0 & ConnFlags::FWD_MASK {
        ConnFlags::MASQ => {
            if !may_rewrite(frame, ip) {
                return Verdict::Drop(DropReason::BadChecksum);
            }
            let rw = NatRewrite::dst(rip, conn.dest.port);
            match rewrite(frame.bytes_mut(), ip, &rw) {
                Ok(()) => forward(rip, false),
                Err(_) => Verdict::Drop(DropReason::Malformed),
            }
        }
        ConnFlags::FULLNAT => {
            let Some(local) = conn.local else {
                return Verdict::Drop(DropReason::NoConnection);
            };
            if !may_rewrite(frame, ip) {
                return Verdict::Drop(DropReason::BadChecksum);
            }
            let rw = NatRewrite::both((local.addr, local.port), (rip, conn.dest.port));
            match rewrite(frame.bytes_mut(), ip, &rw) {
                Ok(()) => forward(rip, false),
                Err(_) => Verdict::Drop(DropReason::Malformed),
            }
        }
        ConnFlags::DROUTE => forward(rip, true),
        _ => Verdict::Pass,
    }
}

/// A real server → client reply of a connection (NAT, FULLNAT), back to the client as
/// if it came from the virtual service.
#[inline]
pub(crate) fn outbound(
    _cfg: &EngineConfig,
    frame: &mut Frame<'_>,
    ip: &IpInfo,
    conn: &OutRoute,
) -> Verdict {
    let fwd = conn.flags.0 & ConnFlags::FWD_MASK;
    if fwd != ConnFlags::MASQ && fwd != ConnFlags::FULLNAT {
        return Verdict::Pass;
    }
    if !may_rewrite(frame, ip) {
        return Verdict::Drop(DropReason::BadChecksum);
    }
    // Replies are forwarded (the kernel's ip_forward runs before IPVS sees them): the
    // TTL drops by one, and a packet that cannot go on is left to the kernel, which
    // answers the real server with ICMP time exceeded.
    if !decrement_ttl(frame, ip) {
        return Verdict::Pass;
    }
    let rw = if fwd == ConnFlags::FULLNAT {
        NatRewrite::both(
            (conn.virt.addr, conn.virt.port),
            (conn.client.addr, conn.client.port),
        )
    } else {
        NatRewrite::src(conn.virt.addr, conn.virt.port)
    };
    match rewrite(frame.bytes_mut(), ip, &rw) {
        Ok(()) => forward(conn.client.addr, false),
        Err(_) => Verdict::Drop(DropReason::Malformed),
    }
}

/// The rewrite of a client packet of `conn` (NAT, FULLNAT), prepared for the flow
/// cache; `None` for other methods or when the endpoints' families differ.
pub(crate) fn plan_in(conn: &InRoute) -> Option<NatPlan> {
    let dst = Some((conn.dest.addr, conn.dest.port));
    match conn.flags.0 & ConnFlags::FWD_MASK {
        ConnFlags::MASQ => NatPlan::new(None, dst),
        ConnFlags::FULLNAT => NatPlan::new(Some((conn.local?.addr, conn.local?.port)), dst),
        _ => None,
    }
}

/// The rewrite of a reply of `conn`, prepared for the flow cache.
pub(crate) fn plan_out(conn: &OutRoute) -> Option<NatPlan> {
    let virt = Some((conn.virt.addr, conn.virt.port));
    match conn.flags.0 & ConnFlags::FWD_MASK {
        ConnFlags::MASQ => NatPlan::new(virt, None),
        ConnFlags::FULLNAT => NatPlan::new(virt, Some((conn.client.addr, conn.client.port))),
        _ => None,
    }
}
