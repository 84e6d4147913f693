//! One-pass parse of a frame into the facts a balancer needs, as plain offsets and values.
//!
//! [`parse_frame`] walks Ethernet (one optional 802.1Q tag), IPv4 or IPv6 (options and
//! extension headers skipped), and the transport header; for an ICMP error it also parses
//! the quoted packet. [`parse_ip`] does the same from an IP header (a decapsulated inner
//! packet, a layer-3 device). The result is `Copy`, holds offsets into the buffer that was
//! parsed, and is what [`crate::rewrite`] takes to change the packet in place.
//!
//! Nothing here verifies checksums (that costs a pass over the payload): call
//! [`verify_checksums`] when it matters.

use core::net::IpAddr;

use crate::error::{Error, Result};
use crate::ethernet::{self, EtherType};
use crate::ip::{be16, IpProtocol};
use crate::{checksum, icmpv4, icmpv6, ipv4, ipv6, sctp, tcp, udp};

/// What the fragment fields say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fragment {
    /// A whole datagram.
    None,
    /// The first fragment: the transport header is here, the rest of the datagram is not.
    First,
    /// A later fragment: no transport header ([`Transport::Opaque`]).
    NonFirst,
}

/// The transport header, as far as the balancer cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Tcp {
        src_port: u16,
        dst_port: u16,
        flags: tcp::Flags,
        seq_number: u32,
        ack_number: u32,
        /// Header length, options included.
        header_len: u8,
    },
    Udp {
        src_port: u16,
        dst_port: u16,
    },
    Sctp {
        src_port: u16,
        dst_port: u16,
        verification_tag: u32,
        /// Type of the first chunk, if there is one.
        first_chunk: Option<sctp::ChunkType>,
    },
    /// ICMP or ICMPv6 echo request or reply (the identifier plays the port).
    IcmpEcho {
        request: bool,
        ident: u16,
        seq_no: u16,
    },
    /// An ICMP or ICMPv6 error, with the packet it quotes when that parses.
    IcmpError {
        msg_type: u8,
        code: u8,
        quoted: Option<Quoted>,
    },
    /// Any other ICMP or ICMPv6 message (neighbour discovery, router advertisements...).
    IcmpOther {
        msg_type: u8,
        code: u8,
    },
    /// Another protocol (tunnels, ESP...), or a non-first fragment.
    Opaque,
}

impl Transport {
    /// Source and destination ports (TCP, UDP, SCTP), or the echo identifier twice.
    pub fn ports(&self) -> Option<(u16, u16)> {
        match *self {
            Transport::Tcp {
                src_port, dst_port, ..
            }
            | Transport::Udp { src_port, dst_port }
            | Transport::Sctp {
                src_port, dst_port, ..
            } => Some((src_port, dst_port)),
            Transport::IcmpEcho { ident, .. } => Some((ident, ident)),
            _ => None,
        }
    }
}

/// The packet quoted inside an ICMP error: its IP header is complete, its transport header
/// may be cut short (only the first 8 bytes are guaranteed: the ports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quoted {
    /// Offset of the quoted IP header in the parsed buffer.
    pub offset: usize,
    /// End of the quoted bytes in the parsed buffer (the ICMP message end).
    pub end: usize,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Upper-layer protocol of the quoted packet (after extension headers).
    pub protocol: IpProtocol,
    /// Offset of the quoted transport header in the parsed buffer.
    pub l4: usize,
    /// Source and destination port of the quoted TCP/UDP/SCTP header, or the identifier
    /// (twice) of a quoted echo, when the quote holds them.
    pub ports: Option<(u16, u16)>,
    pub fragment: Fragment,
}

/// An IP packet inside a parsed buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpInfo {
    /// Offset of the IP header in the parsed buffer.
    pub offset: usize,
    /// End of the IP packet per its length field (frame padding excluded).
    pub end: usize,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Upper-layer protocol (after IPv6 extension headers).
    pub protocol: IpProtocol,
    /// Offset of the transport header in the parsed buffer.
    pub l4: usize,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    pub fragment: Fragment,
    pub transport: Transport,
}

impl IpInfo {
    pub fn is_ipv6(&self) -> bool {
        self.src.is_ipv6()
    }

    /// Length of the IP packet.
    pub fn len(&self) -> usize {
        self.end - self.offset
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.offset
    }

    /// Length of the transport segment (header and payload).
    pub fn l4_len(&self) -> usize {
        self.end - self.l4
    }
}

/// A parsed Ethernet frame carrying IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PacketInfo {
    /// 802.1Q tag control information, if tagged.
    pub vlan_tci: Option<u16>,
    pub ip: IpInfo,
}

/// Parse an Ethernet frame carrying IPv4 or IPv6. Other EtherTypes (ARP...) are
/// [`Error::Unsupported`]; short or inconsistent headers are `Truncated`/`Malformed`.
#[inline]
pub fn parse_frame(frame: &[u8]) -> Result<PacketInfo> {
    let eth = ethernet::Frame::new_checked(frame)?;
    let hl = eth.header_len();
    let ip = match eth.ethertype() {
        EtherType::IPV4 => parse_ipv4(frame, hl)?,
        EtherType::IPV6 => parse_ipv6(frame, hl)?,
        _ => return Err(Error::Unsupported),
    };
    if IpAddr::is_ipv6(&ip.src) != (eth.ethertype() == EtherType::IPV6) {
        return Err(Error::Malformed);
    }
    Ok(PacketInfo {
        vlan_tci: eth.vlan_tci(),
        ip,
    })
}

/// Parse the IP packet starting at `offset` of `buf` (version from its first nibble).
pub fn parse_ip(buf: &[u8], offset: usize) -> Result<IpInfo> {
    let first = *buf.get(offset).ok_or(Error::Truncated)?;
    match first >> 4 {
        4 => parse_ipv4(buf, offset),
        6 => parse_ipv6(buf, offset),
        _ => Err(Error::Malformed),
    }
}

// Inlined so the result is built in place: copying the returned enums cost ~25% of a
// parse (store-forwarding stalls on their packed layout).
#[inline(always)]
fn parse_ipv4(buf: &[u8], offset: usize) -> Result<IpInfo> {
    let p = ipv4::Packet::new_checked(&buf[offset..])?;
    let end = offset + usize::from(p.total_len());
    let l4 = offset + p.header_len();
    let fragment = if p.is_non_first_fragment() {
        Fragment::NonFirst
    } else if p.more_frags() {
        Fragment::First
    } else {
        Fragment::None
    };
    let transport = transport(&buf[l4..end], p.protocol(), fragment, l4, false)?;
    Ok(IpInfo {
        offset,
        end,
        src: p.src_addr().into(),
        dst: p.dst_addr().into(),
        protocol: p.protocol(),
        l4,
        ttl: p.ttl(),
        fragment,
        transport,
    })
}

#[inline(always)]
fn parse_ipv6(buf: &[u8], offset: usize) -> Result<IpInfo> {
    let p = ipv6::Packet::new_checked(&buf[offset..])?;
    let end = offset + ipv6::HEADER_LEN + usize::from(p.payload_len());
    let u = p.upper_layer()?;
    let l4 = offset + u.offset;
    let fragment = match u.fragment {
        Some(f) if f.is_non_first() => Fragment::NonFirst,
        Some(f) if f.more_frags => Fragment::First,
        _ => Fragment::None,
    };
    let transport = transport(&buf[l4..end], u.protocol, fragment, l4, true)?;
    Ok(IpInfo {
        offset,
        end,
        src: p.src_addr().into(),
        dst: p.dst_addr().into(),
        protocol: u.protocol,
        l4,
        ttl: p.hop_limit(),
        fragment,
        transport,
    })
}

/// The transport facts of `seg` (the IP payload from the transport header on), which
/// starts at `l4` in the parsed buffer.
#[inline(always)]
fn transport(
    seg: &[u8],
    proto: IpProtocol,
    fragment: Fragment,
    l4: usize,
    v6: bool,
) -> Result<Transport> {
    if fragment == Fragment::NonFirst {
        return Ok(Transport::Opaque);
    }
    Ok(match proto {
        IpProtocol::TCP => {
            let t = tcp::Packet::new_checked(seg)?;
            Transport::Tcp {
                src_port: t.src_port(),
                dst_port: t.dst_port(),
                flags: t.flags(),
                seq_number: t.seq_number(),
                ack_number: t.ack_number(),
                header_len: t.header_len() as u8,
            }
        }
        IpProtocol::UDP => {
            // A first fragment holds less than the UDP length announces: only the header
            // must be present then.
            let u = if fragment == Fragment::First {
                udp::Packet::new_unchecked(seg.get(..udp::HEADER_LEN).ok_or(Error::Truncated)?)
            } else {
                udp::Packet::new_checked(seg)?
            };
            Transport::Udp {
                src_port: u.src_port(),
                dst_port: u.dst_port(),
            }
        }
        IpProtocol::SCTP => {
            let s = sctp::Packet::new_checked(seg)?;
            Transport::Sctp {
                src_port: s.src_port(),
                dst_port: s.dst_port(),
                verification_tag: s.verification_tag(),
                first_chunk: s.first_chunk().map(|c| c.chunk_type),
            }
        }
        IpProtocol::ICMP if !v6 => {
            let i = icmpv4::Packet::new_checked(seg)?;
            icmp(
                i.msg_type(),
                i.code(),
                i.is_echo(),
                i.msg_type() == icmpv4::types::ECHO_REQUEST,
                i.is_error(),
                seg,
                l4,
            )
        }
        IpProtocol::ICMPV6 if v6 => {
            let i = icmpv6::Packet::new_checked(seg)?;
            icmp(
                i.msg_type(),
                i.code(),
                i.is_echo(),
                i.msg_type() == icmpv6::types::ECHO_REQUEST,
                i.is_error(),
                seg,
                l4,
            )
        }
        _ => Transport::Opaque,
    })
}

#[inline]
fn icmp(
    msg_type: u8,
    code: u8,
    echo: bool,
    request: bool,
    error: bool,
    seg: &[u8],
    l4: usize,
) -> Transport {
    if echo {
        Transport::IcmpEcho {
            request,
            ident: be16(seg, 4),
            seq_no: be16(seg, 6),
        }
    } else if error {
        Transport::IcmpError {
            msg_type,
            code,
            quoted: parse_quoted(seg, l4 + icmpv4::HEADER_LEN).ok(),
        }
    } else {
        Transport::IcmpOther { msg_type, code }
    }
}

/// Parse the packet quoted by an ICMP error: `seg` is the ICMP message, the quote starts
/// at byte 8, which is `quote_at` in the parsed buffer.
fn parse_quoted(seg: &[u8], quote_at: usize) -> Result<Quoted> {
    let q = &seg[icmpv4::HEADER_LEN..];
    let end = quote_at + q.len();
    let first = *q.first().ok_or(Error::Truncated)?;
    let (src, dst, protocol, l4_rel, fragment) = match first >> 4 {
        4 => {
            let p = ipv4::Packet::new_checked_header(q)?;
            let frag = if p.is_non_first_fragment() {
                Fragment::NonFirst
            } else if p.more_frags() {
                Fragment::First
            } else {
                Fragment::None
            };
            (
                IpAddr::from(p.src_addr()),
                IpAddr::from(p.dst_addr()),
                p.protocol(),
                p.header_len(),
                frag,
            )
        }
        6 => {
            let p = ipv6::Packet::new_checked_header(q)?;
            // The quote is cut short: walk the headers over what is present, not over the
            // payload length the quoted header announces.
            let u = ipv6::walk_extensions(p.next_header(), &q[ipv6::HEADER_LEN..])?;
            let frag = match u.fragment {
                Some(f) if f.is_non_first() => Fragment::NonFirst,
                Some(f) if f.more_frags => Fragment::First,
                _ => Fragment::None,
            };
            (
                IpAddr::from(p.src_addr()),
                IpAddr::from(p.dst_addr()),
                u.protocol,
                ipv6::HEADER_LEN + u.offset,
                frag,
            )
        }
        _ => return Err(Error::Malformed),
    };
    let l4 = &q[l4_rel..];
    let ports = if fragment == Fragment::NonFirst {
        None
    } else {
        match protocol {
            IpProtocol::TCP | IpProtocol::UDP | IpProtocol::SCTP if l4.len() >= 4 => {
                Some((be16(l4, 0), be16(l4, 2)))
            }
            IpProtocol::ICMP | IpProtocol::ICMPV6 if l4.len() >= 6 => {
                let echo = matches!(
                    (protocol, l4[0]),
                    (
                        IpProtocol::ICMP,
                        icmpv4::types::ECHO_REQUEST | icmpv4::types::ECHO_REPLY
                    ) | (
                        IpProtocol::ICMPV6,
                        icmpv6::types::ECHO_REQUEST | icmpv6::types::ECHO_REPLY
                    )
                );
                echo.then(|| (be16(l4, 4), be16(l4, 4)))
            }
            _ => None,
        }
    };
    Ok(Quoted {
        offset: quote_at,
        end,
        src,
        dst,
        protocol,
        l4: quote_at + l4_rel,
        ports,
        fragment,
    })
}

/// Finish the transport checksum of a parsed packet that the sender left partial (Linux
/// `CHECKSUM_PARTIAL`, AF_PACKET's `TP_STATUS_CSUMNOTREADY`) when the offsets are not
/// given: TCP and UDP hold the pseudo-header sum in their checksum field and get the full
/// sum; SCTP gets its CRC32c. Other protocols (and fragments) are
/// [`Error::Unsupported`]. With a virtio-net header's `csum_start`/`csum_offset`, use
/// [`checksum::finish_partial`] instead.
pub fn finish_partial_checksum(buf: &mut [u8], ip: &IpInfo) -> Result<()> {
    if ip.fragment != Fragment::None {
        return Err(Error::Unsupported);
    }
    if ip.l4 > ip.end || ip.end > buf.len() {
        return Err(Error::Malformed);
    }
    let seg = &mut buf[ip.l4..ip.end];
    match ip.protocol {
        IpProtocol::TCP => checksum::finish_partial(seg, 0, tcp::field::CHECKSUM.start),
        IpProtocol::UDP => checksum::finish_partial(seg, 0, udp::field::CHECKSUM.start),
        IpProtocol::SCTP => {
            let mut p = sctp::Packet::new_checked(seg)?;
            p.fill_checksum();
            Ok(())
        }
        _ => Err(Error::Unsupported),
    }
}

/// Whether an IPv4 header (`header`: from its first byte to the transport header,
/// options included) carries a correct checksum. The one's complement sum does not
/// depend on byte order (RFC 1071), so 32-bit words are added in native order: a
/// handful of instructions for the usual 20-byte header, where the byte-pair
/// [`checksum::sum`] takes about a hundred. A length that is not a multiple of four
/// fails.
#[inline]
pub fn ipv4_header_ok(header: &[u8]) -> bool {
    let h = header;
    let word = |i: usize| u64::from(u32::from_ne_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]));
    let acc = if h.len() == ipv4::HEADER_LEN {
        word(0) + word(4) + word(8) + word(12) + word(16)
    } else {
        if h.len() % 4 != 0 {
            return false;
        }
        (0..h.len()).step_by(4).map(word).sum()
    };
    checksum::verifies_u64(acc)
}

/// Verify the IPv4 header checksum and the transport checksum (TCP, UDP, SCTP, ICMP,
/// ICMPv6) of a parsed packet in `buf`. Fragments and opaque protocols only get the IPv4
/// header check. A UDPv4 checksum of 0 ("none") passes.
pub fn verify_checksums(buf: &[u8], ip: &IpInfo) -> bool {
    let Some(pkt) = buf.get(ip.offset..ip.end) else {
        return false;
    };
    let Some(seg) = buf.get(ip.l4..ip.end) else {
        return false;
    };
    let pseudo = match (ip.src, ip.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            if ipv4::Packet::new_checked(pkt).is_err() {
                return false;
            }
            if !buf.get(ip.offset..ip.l4).is_some_and(ipv4_header_ok) {
                return false;
            }
            checksum::pseudo_header_v4(s, d, ip.protocol, seg.len() as u16)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            checksum::pseudo_header_v6(&s, &d, ip.protocol, seg.len() as u32)
        }
        _ => return false,
    };
    if ip.fragment != Fragment::None {
        return true;
    }
    match ip.protocol {
        IpProtocol::TCP => tcp::Packet::new_checked(seg).is_ok_and(|t| t.verify_checksum(pseudo)),
        IpProtocol::UDP => {
            udp::Packet::new_checked(seg).is_ok_and(|u| u.verify_checksum(pseudo, !ip.is_ipv6()))
        }
        IpProtocol::SCTP => sctp::Packet::new_checked(seg).is_ok_and(|s| s.verify_checksum()),
        IpProtocol::ICMP if !ip.is_ipv6() => {
            icmpv4::Packet::new_checked(seg).is_ok_and(|i| i.verify_checksum())
        }
        IpProtocol::ICMPV6 if ip.is_ipv6() => {
            icmpv6::Packet::new_checked(seg).is_ok_and(|i| i.verify_checksum(pseudo))
        }
        _ => true,
    }
}

#[cfg(test)]
mod header_check_tests {
    use super::ipv4_header_ok as ipv4_header_sums_to_ones;

    #[test]
    fn native_order_header_sum_agrees_with_the_wire_checksum() {
        // A header with a correct checksum (RFC 1071 example values), then every
        // single-bit corruption of it.
        let mut h: [u8; 20] = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        let c = crate::checksum::checksum(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        assert!(ipv4_header_sums_to_ones(&h));
        for byte in 0..20 {
            for bit in 0..8 {
                let mut bad = h;
                bad[byte] ^= 1 << bit;
                assert!(!ipv4_header_sums_to_ones(&bad), "byte {byte} bit {bit}");
            }
        }
        assert!(
            !ipv4_header_sums_to_ones(&h[..18]),
            "not a whole number of words"
        );
    }
}
