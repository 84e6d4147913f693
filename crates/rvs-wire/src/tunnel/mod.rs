//! Tunnels for the TUN forwarding method: put an outer header in front of an IP packet
//! (IPIP, IPv6-in-IPv4, IPv4-in-IPv6, IPv6-in-IPv6, GUE, GRE), and find the inner packet of
//! a tunnelled one.
//!
//! # Encapsulating
//!
//! The inner packet lies in a buffer with headroom in front of it (see `Frame` in
//! `rvs-core`). [`encapsulate`] writes the outer headers into the
//! [`header_len`] bytes just before it and returns where the outer packet starts; the inner
//! packet is not moved or copied. The outer protocol follows the inner packet's version:
//! protocol/next header 4 for IPv4 inside, 41 for IPv6 inside, or UDP (17) for GUE and
//! GRE (47) carrying the same.
//!
//! [`Outer::from_inner`] derives the outer TTL, DSCP, ECN (RFC 6040 normal mode) and DF
//! from the inner packet as IPVS does.
//!
//! # Decapsulating
//!
//! [`decapsulate`] takes a parsed outer packet and returns the offsets of the inner one;
//! parse it with [`crate::packet::parse_ip`] on `&buf[..d.end]`.

pub mod gre;
pub mod gue;

use core::net::IpAddr;

use crate::checksum;
use crate::error::{Error, Result};
use crate::ethernet::EtherType;
use crate::ip::{IpProtocol, IpVersion};
use crate::packet::{IpInfo, Transport};
use crate::{ipv4, ipv6, udp};

pub use gue::RemoteChecksum;

/// The encapsulation to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encap {
    /// IP directly in IP (protocol 4 or 41).
    Ipip,
    /// UDP to `dst_port`, a variant-0 GUE header, then the inner packet.
    Gue {
        src_port: u16,
        dst_port: u16,
        /// Compute the outer UDP checksum. Without it the checksum is 0 ("none"), which
        /// an IPv6 receiver accepts only for tunnels configured for it (RFC 6935).
        udp_checksum: bool,
        /// Remote checksum offload data for the receiver (`--tun-remcsum`). The inner
        /// transport checksum must then hold its pseudo-header sum (a partial checksum).
        remote_checksum: Option<RemoteChecksum>,
    },
    /// GRE (protocol 47) with an optional checksum.
    Gre { checksum: bool },
}

/// The outer IP header's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Outer {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// TTL or hop limit.
    pub ttl: u8,
    /// DSCP and ECN (IPv4 TOS, IPv6 traffic class).
    pub tos: u8,
    /// IPv4 outer only: the DF bit.
    pub dont_frag: bool,
    /// IPv4 outer only: the identification.
    pub ident: u16,
    /// IPv6 outer only.
    pub flow_label: u32,
}

impl Outer {
    /// Outer fields from the inner packet: its TTL (hop limit), its DSCP, its ECN unless it
    /// is CE (then ECT(0)), and its DF bit (IPv4 inside; 0 for IPv6 inside).
    pub fn from_inner(src: IpAddr, dst: IpAddr, inner: &[u8]) -> Result<Outer> {
        let (ttl, tos, df) = match inner.first().and_then(|b| IpVersion::of(*b)) {
            Some(IpVersion::V4) => {
                let p = ipv4::Packet::new_checked_header(inner)?;
                (p.ttl(), p.tos(), p.dont_frag())
            }
            Some(IpVersion::V6) => {
                let p = ipv6::Packet::new_checked_header(inner)?;
                (p.hop_limit(), p.traffic_class(), false)
            }
            None if inner.is_empty() => return Err(Error::Truncated),
            None => return Err(Error::Malformed),
        };
        const ECN_MASK: u8 = 3;
        const ECN_CE: u8 = 3;
        const ECN_ECT0: u8 = 2;
        let ecn = if tos & ECN_MASK == ECN_CE {
            ECN_ECT0
        } else {
            tos & ECN_MASK
        };
        Ok(Outer {
            src,
            dst,
            ttl,
            tos: (tos & !ECN_MASK) | ecn,
            dont_frag: df,
            ident: 0,
            flow_label: 0,
        })
    }
}

/// Bytes of headroom [`encapsulate`] needs for an outer header of this family and kind.
pub fn header_len(outer_ipv6: bool, encap: &Encap) -> usize {
    let ip = if outer_ipv6 {
        ipv6::HEADER_LEN
    } else {
        ipv4::HEADER_LEN
    };
    ip + match encap {
        Encap::Ipip => 0,
        Encap::Gue {
            remote_checksum, ..
        } => {
            udp::HEADER_LEN
                + gue::Repr {
                    protocol: IpProtocol::IPV4,
                    remote_checksum: *remote_checksum,
                }
                .header_len()
        }
        Encap::Gre { checksum } => gre::Repr {
            protocol: EtherType::IPV4,
            checksum: *checksum,
        }
        .header_len(),
    }
}

/// The UDP source port for a GUE packet of a flow, spread over 32768..=60999 (Linux's
/// default local port range) from a hash of the inner flow, for ECMP entropy.
pub fn gue_src_port(flow_hash: u32) -> u16 {
    const MIN: u64 = 32768;
    const MAX: u64 = 61000;
    ((u64::from(flow_hash) * (MAX - MIN)) >> 32) as u16 + MIN as u16
}

/// Write the outer headers in front of the inner IP packet at
/// `buf[inner_start..inner_start + inner_len]` and return the start of the outer packet.
///
/// [`Error::NoRoom`] without enough headroom, [`Error::Malformed`] if the inner bytes are
/// not IPv4/IPv6 or the result would exceed 65535 bytes, [`Error::Unsupported`] if the
/// outer addresses are of different families. Nothing is written on error.
pub fn encapsulate(
    buf: &mut [u8],
    inner_start: usize,
    inner_len: usize,
    outer: &Outer,
    encap: &Encap,
) -> Result<usize> {
    let inner_end = inner_start
        .checked_add(inner_len)
        .filter(|&e| e <= buf.len())
        .ok_or(Error::Malformed)?;
    let inner_version = buf
        .get(inner_start)
        .and_then(|b| IpVersion::of(*b))
        .ok_or(Error::Malformed)?;
    if inner_end == inner_start {
        return Err(Error::Malformed);
    }
    let v6 = match (outer.src, outer.dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => false,
        (IpAddr::V6(_), IpAddr::V6(_)) => true,
        _ => return Err(Error::Unsupported),
    };
    let hlen = header_len(v6, encap);
    let start = inner_start.checked_sub(hlen).ok_or(Error::NoRoom)?;
    let ip_hlen = if v6 {
        ipv6::HEADER_LEN
    } else {
        ipv4::HEADER_LEN
    };
    // Length after the outer IP header (IPv6 payload length, UDP length...).
    let after_ip = hlen - ip_hlen + inner_len;
    let total = if v6 { after_ip } else { hlen + inner_len };
    let total = u16::try_from(total).map_err(|_| Error::Malformed)?;
    let inner_proto = match inner_version {
        IpVersion::V4 => IpProtocol::IPV4,
        IpVersion::V6 => IpProtocol::IPV6,
    };
    let protocol = match encap {
        Encap::Ipip => inner_proto,
        Encap::Gue { .. } => IpProtocol::UDP,
        Encap::Gre { .. } => IpProtocol::GRE,
    };

    // The tunnel header, between the outer IP header and the inner packet.
    let l4 = start + ip_hlen;
    match *encap {
        Encap::Ipip => {}
        Encap::Gue {
            src_port,
            dst_port,
            udp_checksum,
            remote_checksum,
        } => {
            let g = gue::Repr {
                protocol: inner_proto,
                remote_checksum,
            };
            g.emit(&mut buf[l4 + udp::HEADER_LEN..inner_start])?;
            udp::Repr {
                src_port,
                dst_port,
                payload_len: (after_ip - udp::HEADER_LEN) as u16,
            }
            .emit(&mut buf[l4..])?;
            if udp_checksum {
                let pseudo = match (outer.src, outer.dst) {
                    (IpAddr::V4(s), IpAddr::V4(d)) => {
                        checksum::pseudo_header_v4(s, d, IpProtocol::UDP, after_ip as u16)
                    }
                    (IpAddr::V6(s), IpAddr::V6(d)) => {
                        checksum::pseudo_header_v6(&s, &d, IpProtocol::UDP, after_ip as u32)
                    }
                    _ => return Err(Error::Unsupported),
                };
                udp::Packet::new_unchecked(&mut buf[l4..inner_end]).fill_checksum(pseudo);
            }
        }
        Encap::Gre { checksum } => {
            let ethertype = match inner_version {
                IpVersion::V4 => EtherType::IPV4,
                IpVersion::V6 => EtherType::IPV6,
            };
            gre::Repr {
                protocol: ethertype,
                checksum,
            }
            .emit(&mut buf[l4..inner_end])?;
        }
    }

    if v6 {
        let (IpAddr::V6(src), IpAddr::V6(dst)) = (outer.src, outer.dst) else {
            return Err(Error::Unsupported);
        };
        ipv6::Repr {
            src,
            dst,
            next_header: protocol,
            payload_len: total,
            hop_limit: outer.ttl,
            traffic_class: outer.tos,
            flow_label: outer.flow_label,
        }
        .emit(&mut buf[start..])?;
    } else {
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (outer.src, outer.dst) else {
            return Err(Error::Unsupported);
        };
        ipv4::Repr {
            src,
            dst,
            protocol,
            payload_len: total - ipv4::HEADER_LEN as u16,
            ttl: outer.ttl,
            tos: outer.tos,
            ident: outer.ident,
            dont_frag: outer.dont_frag,
        }
        .emit(&mut buf[start..])?;
    }
    Ok(start)
}

/// The kind of tunnel a packet came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunnelKind {
    /// IPv4 or IPv6 directly inside IPv4 or IPv6.
    Ipip,
    /// GUE variant 0.
    Gue,
    /// GUE variant 1: the UDP payload is the IP packet.
    GueDirect,
    Gre,
}

/// Where the inner packet of a tunnelled one is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decap {
    pub kind: TunnelKind,
    /// Offset of the inner IP header in the buffer.
    pub inner: usize,
    /// End of the inner packet (the end of the outer one).
    pub end: usize,
    /// GUE remote checksum offload: finish the inner checksum with
    /// `checksum::finish_partial(&mut buf[inner..end], rc.start, rc.field - rc.start)`.
    pub remote_checksum: Option<RemoteChecksum>,
}

/// Find the inner packet of a tunnelled packet parsed as `outer` in `buf`. UDP counts as
/// GUE only to `gue_port`. [`Error::Unsupported`] for anything that is not a tunnel to
/// us (other protocols, GUE control messages, GRE with another payload or version),
/// `Malformed` when the inner bytes are not an IP packet of the announced version.
/// Checksums are not verified here (see [`crate::packet::verify_checksums`] and
/// [`gre::Packet::verify_checksum`]).
pub fn decapsulate(buf: &[u8], outer: &IpInfo, gue_port: Option<u16>) -> Result<Decap> {
    let seg = buf.get(outer.l4..outer.end).ok_or(Error::Malformed)?;
    if outer.fragment != crate::packet::Fragment::None {
        return Err(Error::Unsupported);
    }
    let (kind, rel, want, remote_checksum) = match outer.protocol {
        IpProtocol::IPV4 => (TunnelKind::Ipip, 0, Some(IpVersion::V4), None),
        IpProtocol::IPV6 => (TunnelKind::Ipip, 0, Some(IpVersion::V6), None),
        IpProtocol::UDP => {
            let Transport::Udp { dst_port, .. } = outer.transport else {
                return Err(Error::Unsupported);
            };
            if gue_port != Some(dst_port) {
                return Err(Error::Unsupported);
            }
            let u = udp::Packet::new_checked(seg)?;
            let g = gue::Header::new_checked(u.payload())?;
            match g.variant() {
                0 if g.is_control() => return Err(Error::Unsupported),
                0 => {
                    let want = match g.protocol() {
                        IpProtocol::IPV4 => IpVersion::V4,
                        IpProtocol::IPV6 => IpVersion::V6,
                        _ => return Err(Error::Unsupported),
                    };
                    (
                        TunnelKind::Gue,
                        udp::HEADER_LEN + g.header_len(),
                        Some(want),
                        g.remote_checksum(),
                    )
                }
                1 => (TunnelKind::GueDirect, udp::HEADER_LEN, None, None),
                _ => return Err(Error::Unsupported),
            }
        }
        IpProtocol::GRE => {
            let g = gre::Packet::new_checked(seg)?;
            let want = match g.protocol() {
                EtherType::IPV4 => IpVersion::V4,
                EtherType::IPV6 => IpVersion::V6,
                _ => return Err(Error::Unsupported),
            };
            (TunnelKind::Gre, g.header_len(), Some(want), None)
        }
        _ => return Err(Error::Unsupported),
    };
    let inner = outer.l4 + rel;
    let version = buf[..outer.end]
        .get(inner)
        .and_then(|b| IpVersion::of(*b))
        .ok_or(Error::Malformed)?;
    if want.is_some_and(|w| w != version) {
        return Err(Error::Malformed);
    }
    Ok(Decap {
        kind,
        inner,
        end: outer.end,
        remote_checksum,
    })
}

#[cfg(test)]
mod tests;
