//! Writing the outer headers of a tunnelled packet, field for field as the kernel's
//! `ip_vs_tunnel_xmit` / `ip_vs_tunnel_xmit_v6` do (see the module documentation of
//! [`super`] for each field and where the kernel sets it).

use core::net::IpAddr;

use super::gue::RemoteChecksum;
use super::{gre, gue};
use crate::checksum;
use crate::error::{Error, Result};
use crate::ethernet::EtherType;
use crate::ip::{IpProtocol, IpVersion};
use crate::packet::IpInfo;
use crate::{ipv4, ipv6, udp};

/// The encapsulation to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encap {
    /// IP directly in IP (protocol 4 or 41).
    Ipip,
    /// UDP to `dst_port`, a variant-0 GUE header, then the inner packet.
    Gue {
        src_port: u16,
        dst_port: u16,
        /// Compute the outer UDP checksum (IPVS: `--tun-csum` or `--tun-remcsum`).
        /// Without it the checksum is 0, over IPv4 and IPv6 alike, as the kernel sends
        /// it; an IPv6 receiver then needs zero checksums allowed (RFC 6935).
        udp_checksum: bool,
        /// Remote checksum offload data for the receiver. The kernel adds it only for
        /// a packet whose inner checksum is still partial (generated on the director
        /// itself); the inner transport checksum must then hold its pseudo-header sum.
        remote_checksum: Option<RemoteChecksum>,
    },
    /// GRE (protocol 47) with an optional checksum, no key, no sequence number.
    Gre { checksum: bool },
}

/// The outer IP header's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Outer {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// TTL or hop limit.
    pub ttl: u8,
    /// DS field: DSCP and ECN (IPv4 TOS, IPv6 traffic class).
    pub tos: u8,
    /// IPv4 outer only: the DF bit (MF and the fragment offset are always 0).
    pub dont_frag: bool,
    /// IPv4 outer only: the identification. See [`Outer::needs_ident`].
    pub ident: u16,
    /// IPv6 outer only.
    pub flow_label: u32,
}

/// ECN codepoints (RFC 3168) in the low two bits of the DS field.
const ECN_MASK: u8 = 0b11;
const ECN_CE: u8 = 0b11;

/// The outer DS field for an inner one: the kernel's `INET_ECN_encapsulate(inner,
/// inner)` (RFC 6040 normal mode). The DSCP is copied, and the ECN codepoint too,
/// except CE, which goes out as ECT(0): the tunnel's own hops may still mark it, and
/// the decapsulator keeps the inner CE either way (RFC 6040 section 4.2).
#[inline]
pub const fn outer_ds_field(inner: u8) -> u8 {
    // CE (0b11) loses its low bit, becoming ECT(0) (0b10); the rest stays.
    let is_ce = (inner & ECN_MASK == ECN_CE) as u8;
    inner & !is_ce
}

impl Outer {
    /// The outer fields IPVS derives from the inner packet (`ip_vs_prepare_tunneled_skb`):
    /// its TTL (hop limit), its DS field through [`outer_ds_field`], and its DF bit
    /// (IPv4 inside; never for IPv6 inside). Identification and flow label are 0: a
    /// caller sending an IPv4 outer header without DF sets a fresh `ident`
    /// ([`Outer::needs_ident`]).
    #[inline]
    pub fn from_inner(src: IpAddr, dst: IpAddr, inner: &[u8]) -> Result<Outer> {
        // Only the fixed header's first bytes are read: the caller parsed the packet.
        let (ttl, ds, df) = match inner.first().map(|b| b >> 4) {
            Some(4) => {
                let h = inner.get(..ipv4::HEADER_LEN).ok_or(Error::Truncated)?;
                let p = ipv4::Packet::new_unchecked(h);
                // DF straight from the flags byte: the accessor is not inlined here.
                (p.ttl(), p.tos(), h[6] & 0x40 != 0)
            }
            Some(6) => {
                let h = inner.get(..ipv6::HEADER_LEN).ok_or(Error::Truncated)?;
                let p = ipv6::Packet::new_unchecked(h);
                (p.hop_limit(), p.traffic_class(), false)
            }
            None => return Err(Error::Truncated),
            Some(_) => return Err(Error::Malformed),
        };
        Ok(Outer {
            src,
            dst,
            ttl,
            tos: outer_ds_field(ds),
            dont_frag: df,
            ident: 0,
            flow_label: 0,
        })
    }

    /// True when the kernel would give this header a fresh identification: an IPv4
    /// header without DF (`ip_select_ident`: no socket, so 0 with DF, else the next
    /// value of a per-destination counter). With DF the identification stays 0.
    #[inline]
    pub fn needs_ident(&self) -> bool {
        self.dst.is_ipv4() && !self.dont_frag
    }
}

/// Bytes of headroom [`encapsulate`] needs for an outer header of this family and kind.
#[inline]
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

/// The UDP source port for a GUE packet of a flow: the kernel's `udp_flow_src_port`,
/// which spreads the flow hash over Linux's default local port range 32768..=60999
/// (multiply and shift, so the high bits of the hash choose), for ECMP entropy.
#[inline]
pub fn gue_src_port(flow_hash: u32) -> u16 {
    const MIN: u64 = 32768;
    const MAX: u64 = 61000;
    ((u64::from(flow_hash) * (MAX - MIN)) >> 32) as u16 + MIN as u16
}

/// A hash of the inner packet's flow (addresses, protocol, ports or echo identifier)
/// for [`gue_src_port`]: packets of one connection get one source port, so a receiver
/// spreading by UDP ports keeps them in order. The kernel takes the skb's flow hash
/// (a keyed hash of the same fields); this one is unkeyed, which only makes the chosen
/// port predictable, not the tunnel's content.
#[inline]
pub fn flow_hash(inner: &IpInfo) -> u32 {
    fn fold(a: IpAddr) -> u64 {
        match a {
            IpAddr::V4(a) => u64::from(u32::from(a)),
            IpAddr::V6(a) => {
                let v = u128::from(a);
                (v as u64) ^ ((v >> 64) as u64).rotate_left(29)
            }
        }
    }
    let (sport, dport) = inner.transport.ports().unwrap_or((0, 0));
    let ports = (u64::from(sport) << 24) | (u64::from(dport) << 8) | u64::from(inner.protocol.0);
    let mut h = fold(inner.src).rotate_left(32) ^ fold(inner.dst) ^ ports.rotate_left(47);
    // splitmix64's finaliser: every input bit reaches the high bits gue_src_port uses.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((h ^ (h >> 31)) >> 32) as u32
}

/// Write the outer headers in front of the inner IP packet at
/// `buf[inner_start..inner_start + inner_len]` and return the start of the outer packet.
///
/// [`Error::NoRoom`] without enough headroom, [`Error::Malformed`] if the inner bytes are
/// not IPv4/IPv6 or the result would exceed 65535 bytes, [`Error::Unsupported`] if the
/// outer addresses are of different families. Nothing is written on error.
#[inline(always)]
pub fn encapsulate(
    buf: &mut [u8],
    inner_start: usize,
    inner_len: usize,
    outer: &Outer,
    encap: &Encap,
) -> Result<usize> {
    let v6 = match (outer.src, outer.dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => false,
        (IpAddr::V6(_), IpAddr::V6(_)) => true,
        _ => return Err(Error::Unsupported),
    };
    let inner_end = inner_start
        .checked_add(inner_len)
        .filter(|&e| e > inner_start && e <= buf.len())
        .ok_or(Error::Malformed)?;
    let hlen = header_len(v6, encap);
    let start = inner_start.checked_sub(hlen).ok_or(Error::NoRoom)?;
    // One bounds check for everything written below: the outer packet.
    let pkt = buf.get_mut(start..inner_end).ok_or(Error::Malformed)?;
    let (inner_proto, inner_ethertype) = match IpVersion::of(pkt[hlen]) {
        Some(IpVersion::V4) => (IpProtocol::IPV4, EtherType::IPV4),
        Some(IpVersion::V6) => (IpProtocol::IPV6, EtherType::IPV6),
        None => return Err(Error::Malformed),
    };
    let ip_hlen = if v6 {
        ipv6::HEADER_LEN
    } else {
        ipv4::HEADER_LEN
    };
    // Length after the outer IP header (IPv6 payload length, UDP length...), which
    // must fit 16 bits, and so must an IPv4 total length.
    let after_ip = u16::try_from(pkt.len() - ip_hlen).map_err(|_| Error::Malformed)?;
    if !v6 && u16::try_from(pkt.len()).is_err() {
        return Err(Error::Malformed);
    }

    // The tunnel header, between the outer IP header and the inner packet.
    let protocol = match *encap {
        Encap::Ipip => inner_proto,
        Encap::Gue {
            src_port,
            dst_port,
            udp_checksum,
            remote_checksum,
        } => {
            let dgram = &mut pkt[ip_hlen..];
            gue::Repr {
                protocol: inner_proto,
                remote_checksum,
            }
            .emit(&mut dgram[udp::HEADER_LEN..])?;
            udp::Repr {
                src_port,
                dst_port,
                payload_len: after_ip - udp::HEADER_LEN as u16,
            }
            .emit(dgram)?;
            if udp_checksum {
                let pseudo = match (outer.src, outer.dst) {
                    (IpAddr::V6(s), IpAddr::V6(d)) => {
                        checksum::pseudo_header_v6(&s, &d, IpProtocol::UDP, after_ip.into())
                    }
                    (IpAddr::V4(s), IpAddr::V4(d)) => {
                        checksum::pseudo_header_v4(s, d, IpProtocol::UDP, after_ip)
                    }
                    _ => return Err(Error::Unsupported),
                };
                // A sum of 0 goes out as 0xffff (0 means "no checksum").
                udp::Packet::new_unchecked(dgram).fill_checksum(pseudo);
            }
            IpProtocol::UDP
        }
        Encap::Gre { checksum } => {
            gre::Repr {
                protocol: inner_ethertype,
                checksum,
            }
            .emit(&mut pkt[ip_hlen..])?;
            IpProtocol::GRE
        }
    };

    match (outer.src, outer.dst) {
        (IpAddr::V6(src), IpAddr::V6(dst)) => ipv6::Repr {
            src,
            dst,
            next_header: protocol,
            payload_len: after_ip,
            hop_limit: outer.ttl,
            traffic_class: outer.tos,
            flow_label: outer.flow_label,
        }
        .emit(pkt)?,
        (IpAddr::V4(src), IpAddr::V4(dst)) => ipv4::Repr {
            src,
            dst,
            protocol,
            payload_len: after_ip,
            ttl: outer.ttl,
            tos: outer.tos,
            ident: outer.ident,
            dont_frag: outer.dont_frag,
        }
        .emit(pkt)?,
        _ => return Err(Error::Unsupported),
    };
    Ok(start)
}
