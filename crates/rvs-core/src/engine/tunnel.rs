//! TUN forwarding: wrap the client's IP packet in an outer IPv4/IPv6 header from the
//! director to the real server (IPIP, 6in4, 4in6, 6in6), optionally with GUE (UDP) or
//! GRE between the two. The headers themselves are rvs-wire's
//! ([`rvs_wire::tunnel::encapsulate`], which documents every field against the
//! kernel); this adapter picks the parameters from the real server's configuration,
//! makes room in the frame and moves the Ethernet header in front of the new outer
//! header (the data plane then sets its addresses).

use super::config::EngineConfig;
use crate::model::{Tunnel, TunnelCsum, TunnelType};
use crate::verdict::{DropReason, Frame};
use core::cell::Cell;
use core::net::IpAddr;
use core::sync::atomic::{AtomicU32, Ordering};
use rvs_wire::packet::IpInfo;
use rvs_wire::tunnel::{self, Encap, Ipip4Header, Outer};

/// The rvs-wire encapsulation of `t`, GUE from UDP port `src_port`.
fn encap_of(t: &Tunnel, src_port: u16) -> Encap {
    match t.kind {
        TunnelType::Ipip => Encap::Ipip,
        // The kernel's ipvs_gue_encap checksums with csum and remcsum alike. It adds the
        // remote checksum option only for a packet whose checksum is still partial,
        // i.e. one generated on the director; forwarded packets never are.
        TunnelType::Gue => Encap::Gue {
            src_port,
            dst_port: t.port,
            udp_checksum: t.csum != TunnelCsum::NoCsum,
            remote_checksum: None,
        },
        TunnelType::Gre => Encap::Gre {
            checksum: t.csum == TunnelCsum::Csum,
        },
    }
}

/// Bytes a tunnel to `rip` adds in front of the inner packet (outer IP header and
/// GUE/GRE header).
pub(crate) fn overhead(rip: IpAddr, t: &Tunnel) -> usize {
    tunnel::header_len(rip.is_ipv6(), &encap_of(t, 0))
}

std::thread_local! {
    /// Next IPv4 identification of this thread's outer headers without DF.
    static NEXT_IDENT: Cell<u16> = Cell::new(first_ident());
}

/// Where a thread's identifications start: apart from the other threads', so that two
/// workers tunnelling to one real server rarely reuse a value at the same time.
fn first_ident() -> u16 {
    static THREADS: AtomicU32 = AtomicU32::new(0);
    (THREADS
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_mul(0x9e37_79b9)
        >> 16) as u16
}

/// A fresh identification, as the kernel's `ip_select_ident` gives an outer header
/// without DF (a per-destination counter there; one per thread here, no lock).
fn next_ident() -> u16 {
    NEXT_IDENT.with(|n| {
        let id = n.get();
        n.set(id.wrapping_add(1));
        id
    })
}

/// The longest outer packet a tunnel may send: the configured MTU, and 64 KiB.
pub(crate) fn outer_limit(cfg: &EngineConfig) -> usize {
    match cfg.mtu {
        0 => usize::from(u16::MAX),
        mtu => usize::from(mtu),
    }
}

/// IPIP, IPv4 in IPv4, for a flow whose outer header is prepared ([`Ipip4Header`]):
/// what [`encapsulate`] does in the common case, the inner packet (IPv4, its IP header
/// at `l3`, `inner_len` bytes, TTL already taken) left in place. False, the frame
/// unchanged, when the packet needs [`encapsulate`]: longer than `limit`
/// ([`outer_limit`]) with its outer header, no headroom, an unusual link header.
#[inline(always)]
pub(crate) fn ipip4(
    limit: usize,
    frame: &mut Frame<'_>,
    l3: usize,
    inner_len: usize,
    outer: &Ipip4Header,
) -> bool {
    const GROW: usize = 20;
    if GROW + inner_len > limit {
        return false;
    }
    // An untagged Ethernet header (a tagged one takes the general path).
    const L3: usize = 14;
    if l3 != L3 || L3 + inner_len > frame.len() {
        return false;
    }
    // The outer frame in one slice: the new front, then the frame up to the end of
    // its IP packet (Ethernet padding left behind).
    let (buf, start) = frame.raw_mut();
    let Some(front) = start.checked_sub(GROW) else {
        return false;
    };
    let Some(pkt) = buf.get_mut(front..start + L3 + inner_len) else {
        return false;
    };
    let Some(inner) = pkt
        .get(GROW + L3..GROW + L3 + GROW)
        .and_then(|h| <[u8; GROW]>::try_from(h).ok())
    else {
        return false;
    };
    let header = outer.header(&inner, inner_len as u16, next_ident);
    // The link header moves to the new front; the outer header goes between it and
    // the inner packet.
    move_link_header(pkt, GROW, L3, 0x0800);
    pkt[L3..L3 + GROW].copy_from_slice(&header);
    // Both fit: checked above.
    frame.set_len(L3 + inner_len) && frame.push_front(GROW)
}

/// Move the link header (`eth_len` bytes at `grow`) to the front of `buf` and give it
/// `ethertype`: the room left between is the outer header's. The two places do not
/// overlap (`eth_len <= grow`); the usual untagged header is copied without a call.
#[inline(always)]
fn move_link_header(buf: &mut [u8], grow: usize, eth_len: usize, ethertype: u16) {
    let (front, rest) = buf.split_at_mut(grow);
    match eth_len {
        14 => front[..14].copy_from_slice(&rest[..14]),
        n => front[..n].copy_from_slice(&rest[..n]),
    }
    front[eth_len - 2..eth_len].copy_from_slice(&ethertype.to_be_bytes());
}

/// Encapsulate the packet of `frame` (parsed as `ip`) towards `rip`.
///
/// `TooBig` (frame unchanged, so that the caller may answer the sender, see
/// `super::mtu`) when the result would exceed the MTU or 64 KiB; `NoDestination`
/// without an outer source address of `rip`'s family.
pub(crate) fn encapsulate(
    cfg: &EngineConfig,
    frame: &mut Frame<'_>,
    ip: &IpInfo,
    rip: IpAddr,
    tun: &Tunnel,
) -> Result<(), DropReason> {
    let encap = match tun.kind {
        TunnelType::Gue => encap_of(tun, tunnel::gue_src_port(tunnel::flow_hash(ip))),
        _ => encap_of(tun, 0),
    };
    let grow = tunnel::header_len(rip.is_ipv6(), &encap);
    let inner_len = ip.len();
    let total = grow + inner_len;
    if total > outer_limit(cfg) {
        return Err(DropReason::TooBig);
    }
    let src = match rip {
        IpAddr::V4(_) => cfg.tunnel_src_v4.map(IpAddr::V4),
        IpAddr::V6(_) => cfg.tunnel_src_v6.map(IpAddr::V6),
    }
    .ok_or(DropReason::NoDestination)?;
    let mut outer = Outer::from_inner(
        src,
        rip,
        frame.bytes().get(ip.offset..ip.end).unwrap_or(&[]),
    )
    .map_err(|_| DropReason::Malformed)?;
    if outer.needs_ident() {
        outer.ident = next_ident();
    }
    // Trim Ethernet padding, then grow at the front and move the Ethernet header there.
    let eth_len = ip.offset;
    if !(2..=grow).contains(&eth_len)
        || !frame.set_len(eth_len + inner_len)
        || !frame.push_front(grow)
    {
        return Err(DropReason::NoHeadroom);
    }
    let buf = frame.bytes_mut();
    let ethertype: u16 = if rip.is_ipv6() { 0x86dd } else { 0x0800 };
    move_link_header(buf, grow, eth_len, ethertype);
    // Cannot fail: the room is there, the inner packet parsed, `src` and `rip` are of
    // one family and the length was checked.
    tunnel::encapsulate(buf, eth_len + grow, inner_len, &outer, &encap)
        .map(|_| ())
        .map_err(|_| DropReason::Malformed)
}

#[cfg(test)]
mod tests;
