//! TUN forwarding: wrap the client's IP packet in an outer IPv4/IPv6 header from the
//! director to the real server (IPIP, 6in4, 4in6, 6in6), optionally with GUE (UDP) or
//! GRE between the two, as the kernel's `ip_vs_tunnel_xmit` does. The Ethernet header
//! moves into the headroom in front of the new outer header; the data plane then sets
//! its addresses.

use super::config::EngineConfig;
use crate::model::{Tunnel, TunnelCsum, TunnelType};
use crate::verdict::{DropReason, Frame};
use core::net::IpAddr;
use rvs_wire::checksum;
use rvs_wire::packet::IpInfo;
use rvs_wire::{ipv4, ipv6, IpProtocol};

const GUE_HDR: usize = 4;
const UDP_HDR: usize = 8;

/// Bytes between the outer IP header and the inner packet.
fn encap_len(t: &Tunnel) -> usize {
    match t.kind {
        TunnelType::Ipip => 0,
        TunnelType::Gue => UDP_HDR + GUE_HDR,
        TunnelType::Gre if t.csum == TunnelCsum::Csum => 8,
        TunnelType::Gre => 4,
    }
}

/// Bytes a tunnel to `rip` adds in front of the inner packet (outer IP header and
/// GUE/GRE header).
pub(crate) fn overhead(rip: IpAddr, t: &Tunnel) -> usize {
    let outer_ip_len = if rip.is_ipv6() { 40 } else { 20 };
    outer_ip_len + encap_len(t)
}

/// A stable UDP source port for the inner flow (receivers spread GUE by it).
fn flow_port(buf: &[u8], ip: &IpInfo) -> u16 {
    let mut h: u32 = 0x9e37_79b9;
    for &b in buf.get(ip.offset + 12..ip.l4.min(ip.end)).unwrap_or(&[]) {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    for &b in buf.get(ip.l4..(ip.l4 + 4).min(ip.end)).unwrap_or(&[]) {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    49152 + (h % 16384) as u16
}

/// Encapsulate the packet of `frame` (parsed as `ip`) towards `rip`.
pub(crate) fn encapsulate(
    cfg: &EngineConfig,
    frame: &mut Frame<'_>,
    ip: &IpInfo,
    rip: IpAddr,
    tun: &Tunnel,
) -> Result<(), DropReason> {
    let inner_v6 = ip.is_ipv6();
    let inner_len = ip.len();
    let eth_len = ip.offset;
    let outer_ip_len = if rip.is_ipv6() { 40 } else { 20 };
    let extra = encap_len(tun);
    // Checked before anything changes: a refused packet is left as it came, so that
    // the caller may answer its sender (`super::mtu`).
    let grow = outer_ip_len + extra;
    let total = outer_ip_len + extra + inner_len;
    if total > usize::from(u16::MAX) || (cfg.mtu != 0 && total > usize::from(cfg.mtu)) {
        return Err(DropReason::TooBig);
    }
    let has_src = match rip {
        IpAddr::V4(_) => cfg.tunnel_src_v4.is_some(),
        IpAddr::V6(_) => cfg.tunnel_src_v6.is_some(),
    };
    if !has_src {
        return Err(DropReason::NoDestination);
    }
    // Facts of the inner header the outer one inherits (TOS/TTL, DF).
    let (tos, ttl, df, flow) = {
        let b = frame.bytes();
        let flow = if tun.kind == TunnelType::Gue {
            flow_port(b, ip)
        } else {
            0
        };
        if inner_v6 {
            let p = ipv6::Packet::new_unchecked(&b[ip.offset..]);
            (p.traffic_class(), p.hop_limit(), false, flow)
        } else {
            let p = ipv4::Packet::new_unchecked(&b[ip.offset..]);
            (p.tos(), p.ttl(), p.dont_frag(), flow)
        }
    };
    let inner_proto = if inner_v6 {
        IpProtocol(41)
    } else {
        IpProtocol(4)
    };
    let outer_proto = match tun.kind {
        TunnelType::Ipip => inner_proto,
        TunnelType::Gue => IpProtocol::UDP,
        TunnelType::Gre => IpProtocol(47),
    };
    // Trim Ethernet padding, then grow at the front.
    if !frame.set_len(eth_len + inner_len) || !frame.push_front(grow) {
        return Err(DropReason::NoHeadroom);
    }
    let buf = frame.bytes_mut();
    buf.copy_within(grow..grow + eth_len, 0);
    let ethertype: u16 = if rip.is_ipv6() { 0x86dd } else { 0x0800 };
    buf[eth_len - 2..eth_len].copy_from_slice(&ethertype.to_be_bytes());
    let o = eth_len;
    let payload_len = (extra + inner_len) as u16;
    let pseudo = match rip {
        IpAddr::V4(dst) => {
            let src = cfg.tunnel_src_v4.ok_or(DropReason::NoDestination)?;
            let repr = ipv4::Repr {
                src,
                dst,
                protocol: outer_proto,
                payload_len,
                ttl,
                tos,
                ident: 0,
                dont_frag: df,
            };
            repr.emit(&mut buf[o..])
                .map_err(|_| DropReason::NoHeadroom)?;
            checksum::pseudo_header_v4(src, dst, outer_proto, payload_len)
        }
        IpAddr::V6(dst) => {
            let src = cfg.tunnel_src_v6.ok_or(DropReason::NoDestination)?;
            let repr = ipv6::Repr {
                src,
                dst,
                next_header: outer_proto,
                payload_len,
                hop_limit: ttl,
                traffic_class: tos,
                flow_label: 0,
            };
            repr.emit(&mut buf[o..])
                .map_err(|_| DropReason::NoHeadroom)?;
            checksum::pseudo_header_v6(&src, &dst, outer_proto, u32::from(payload_len))
        }
    };
    let e = o + outer_ip_len;
    match tun.kind {
        TunnelType::Ipip => {}
        TunnelType::Gue => {
            buf[e..e + 2].copy_from_slice(&flow.to_be_bytes());
            buf[e + 2..e + 4].copy_from_slice(&tun.port.to_be_bytes());
            buf[e + 4..e + 6].copy_from_slice(&payload_len.to_be_bytes());
            buf[e + 6..e + 8].copy_from_slice(&[0, 0]);
            // GUE variant 0, no options: version/C/hlen = 0, then the inner protocol.
            buf[e + 8..e + 12].copy_from_slice(&[0, inner_proto.0, 0, 0]);
            // IPv6 needs a UDP checksum; IPv4 only when asked (`--tun-csum`).
            if rip.is_ipv6() || tun.csum == TunnelCsum::Csum {
                let seg = &buf[e..e + usize::from(payload_len)];
                let c = match checksum::transport(pseudo, seg) {
                    0 => 0xffff,
                    c => c,
                };
                buf[e + 6..e + 8].copy_from_slice(&c.to_be_bytes());
            }
        }
        TunnelType::Gre => {
            let ptype: u16 = if inner_v6 { 0x86dd } else { 0x0800 };
            if tun.csum == TunnelCsum::Csum {
                buf[e..e + 2].copy_from_slice(&0x8000u16.to_be_bytes());
                buf[e + 2..e + 4].copy_from_slice(&ptype.to_be_bytes());
                buf[e + 4..e + 8].copy_from_slice(&[0; 4]);
                let c = checksum::checksum(&buf[e..e + usize::from(payload_len)]);
                buf[e + 4..e + 6].copy_from_slice(&c.to_be_bytes());
            } else {
                buf[e..e + 2].copy_from_slice(&[0, 0]);
                buf[e + 2..e + 4].copy_from_slice(&ptype.to_be_bytes());
            }
        }
    }
    Ok(())
}
