//! A lean view of the packets that make up nearly all of an established flow's traffic:
//! Ethernet (with at most one 802.1Q tag), IPv4 (options allowed) or IPv6 without
//! extension headers, not fragmented, carrying TCP or UDP.
//!
//! It reads only what a flow cache needs (offsets, the TCP flags, the addresses, ports
//! and protocol as five machine words) and builds no enum, so it costs a fraction of
//! [`crate::packet::parse_frame`]. Anything else is `None`, for the full parser. Every
//! frame it accepts, the full parser accepts too, with the same offsets and fields
//! ([`FlowPacket::ip_info`] gives them in the full parser's form; a property test checks
//! the two agree).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::checksum;
use crate::ip::IpProtocol;
use crate::packet::{Fragment, IpInfo, Transport};
use crate::tcp;

const ETH_HEADER: usize = 14;
const VLAN_TAG: usize = 4;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86DD;
const ETHERTYPE_VLAN: u16 = 0x8100;
const IPV6_HEADER: usize = 40;
const TCP_HEADER: usize = 20;
const UDP_HEADER: usize = 8;

/// A packet's addresses, ports and protocol as five words, for hashing and comparing:
/// source address (two words), destination address (two words), then the ports, the
/// protocol and the family. IPv4 addresses sit in the low words, the high ones zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FlowTuple(pub [u64; 5]);

/// A TCP or UDP packet of the common shape (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowPacket {
    /// Offset of the IP header in the frame.
    pub l3: usize,
    /// Offset of the TCP or UDP header.
    pub l4: usize,
    /// End of the IP packet per its length field (Ethernet padding excluded).
    pub end: usize,
    pub v6: bool,
    /// TCP or UDP.
    pub protocol: IpProtocol,
    /// The TCP flags (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, ...), 0 for UDP.
    pub tcp_flags: u16,
    /// The IPv4 header checksum verifies (summed while the header was read; always
    /// true for IPv6, which has none).
    pub header_ok: bool,
    pub tuple: FlowTuple,
}

#[inline(always)]
fn be16_at<const N: usize>(b: &[u8; N], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// `N` bytes of `frame` from `at`, as an array: one bounds check, then constant
/// offsets that need none.
#[inline(always)]
fn bytes<const N: usize>(frame: &[u8], at: usize) -> Option<&[u8; N]> {
    frame.get(at..at.checked_add(N)?)?.try_into().ok()
}

#[inline(always)]
fn ne64<const N: usize>(b: &[u8; N], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_ne_bytes(w)
}

#[inline(always)]
fn ne32<const N: usize>(b: &[u8; N], at: usize) -> u64 {
    u64::from(u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]))
}

/// Parse `frame` if it is a packet of the common shape; `None` otherwise (which says
/// nothing about its validity: ask the full parser).
#[inline(always)]
pub fn parse(frame: &[u8]) -> Option<FlowPacket> {
    let eth: &[u8; 18] = bytes(frame, 0)?;
    let (l3, ethertype) = match be16_at(eth, 12) {
        ETHERTYPE_VLAN => (ETH_HEADER + VLAN_TAG, be16_at(eth, 16)),
        t => (ETH_HEADER, t),
    };
    let (v6, l4, end, protocol, tuple, header_ok) = match ethertype {
        ETHERTYPE_IPV4 => {
            let h: &[u8; 20] = bytes(frame, l3)?;
            let hl = usize::from(h[0] & 0x0f) * 4;
            let total = usize::from(be16_at(h, 2));
            // Version 4, not a fragment (MF clear, offset 0), lengths consistent.
            if h[0] >> 4 != 4
                || hl < 20
                || total < hl
                || be16_at(h, 6) & 0x3fff != 0
                || l3 + total > frame.len()
            {
                return None;
            }
            let tuple = [0, ne32(h, 12), 0, ne32(h, 16), 0];
            let header_ok = if hl == 20 {
                let words = ne32(h, 0) + ne32(h, 4) + ne32(h, 8) + tuple[1] + tuple[3];
                checksum::verifies_u64(words)
            } else {
                frame
                    .get(l3..l3 + hl)
                    .is_some_and(crate::packet::ipv4_header_ok)
            };
            (false, l3 + hl, l3 + total, h[9], tuple, header_ok)
        }
        ETHERTYPE_IPV6 => {
            let h: &[u8; IPV6_HEADER] = bytes(frame, l3)?;
            let end = l3 + IPV6_HEADER + usize::from(be16_at(h, 4));
            if h[0] >> 4 != 6 || end > frame.len() {
                return None;
            }
            let tuple = [ne64(h, 8), ne64(h, 16), ne64(h, 24), ne64(h, 32), 1 << 40];
            (true, l3 + IPV6_HEADER, end, h[6], tuple, true)
        }
        _ => return None,
    };
    let seg = end - l4;
    let (ports, tcp_flags) = match protocol {
        6 => {
            let t: &[u8; TCP_HEADER] = bytes(frame, l4)?;
            let hl = usize::from(t[12] >> 4) * 4;
            if seg < TCP_HEADER || hl < TCP_HEADER || seg < hl {
                return None;
            }
            (ne32(t, 0), be16_at(t, 12) & 0x01ff)
        }
        17 => {
            let u: &[u8; UDP_HEADER] = bytes(frame, l4)?;
            let len = usize::from(be16_at(u, 4));
            if seg < UDP_HEADER || len < UDP_HEADER || len > seg {
                return None;
            }
            (ne32(u, 0), 0)
        }
        _ => return None,
    };
    let mut tuple = FlowTuple(tuple);
    tuple.0[4] |= ports | u64::from(protocol) << 32;
    Some(FlowPacket {
        l3,
        l4,
        end,
        v6,
        protocol: IpProtocol(protocol),
        tcp_flags,
        header_ok,
        tuple,
    })
}

impl FlowPacket {
    /// The source and destination ports.
    #[inline]
    pub fn ports(&self) -> (u16, u16) {
        // The four port bytes as they are on the wire, in the low 32 bits.
        let b = (self.tuple.0[4] as u32).to_ne_bytes();
        (
            u16::from_be_bytes([b[0], b[1]]),
            u16::from_be_bytes([b[2], b[3]]),
        )
    }

    /// Length of the IP packet.
    #[inline]
    pub fn ip_len(&self) -> usize {
        self.end - self.l3
    }

    /// The packet as [`crate::packet::parse_frame`] describes it (`frame` must be the
    /// frame this view was parsed from).
    pub fn ip_info(&self, frame: &[u8]) -> IpInfo {
        let addr = |at: usize| -> IpAddr {
            if self.v6 {
                let mut a = [0u8; 16];
                if let Some(b) = frame.get(at..at + 16) {
                    a.copy_from_slice(b);
                }
                IpAddr::V6(Ipv6Addr::from(a))
            } else {
                let mut a = [0u8; 4];
                if let Some(b) = frame.get(at..at + 4) {
                    a.copy_from_slice(b);
                }
                IpAddr::V4(Ipv4Addr::from(a))
            }
        };
        let (src, dst, ttl) = if self.v6 {
            (
                addr(self.l3 + 8),
                addr(self.l3 + 24),
                frame.get(self.l3 + 7),
            )
        } else {
            (
                addr(self.l3 + 12),
                addr(self.l3 + 16),
                frame.get(self.l3 + 8),
            )
        };
        let (src_port, dst_port) = self.ports();
        let be32 = |at: usize| {
            frame
                .get(at..at + 4)
                .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        let transport = if self.protocol == IpProtocol::TCP {
            Transport::Tcp {
                src_port,
                dst_port,
                flags: tcp::Flags(self.tcp_flags),
                seq_number: be32(self.l4 + 4),
                ack_number: be32(self.l4 + 8),
                header_len: frame.get(self.l4 + 12).map_or(20, |b| (b >> 4) * 4),
            }
        } else {
            Transport::Udp { src_port, dst_port }
        };
        IpInfo {
            offset: self.l3,
            end: self.end,
            src,
            dst,
            protocol: self.protocol,
            l4: self.l4,
            ttl: ttl.copied().unwrap_or(0),
            fragment: Fragment::None,
            transport,
        }
    }
}

/// The checksum at `at` updated with the change `acc` (RFC 1624 equation 3, in native
/// order: one's-complement sums do not depend on byte order).
#[inline(always)]
fn updated(frame: &[u8], at: usize, acc: u64) -> u16 {
    let old = u16::from_ne_bytes([frame[at], frame[at + 1]]);
    !checksum::fold_u64(u64::from(!old) + acc)
}

/// The one's-complement change (new minus old, native order) of replacing a 32-bit
/// word.
#[inline]
fn change32(old: [u8; 4], new: [u8; 4]) -> u64 {
    u64::from(!u32::from_ne_bytes(old)) + u64::from(u32::from_ne_bytes(new))
}

/// The same for a 16-bit word.
#[inline]
fn change16(old: [u8; 2], new: [u8; 2]) -> u64 {
    u64::from(!u16::from_ne_bytes(old)) + u64::from(u16::from_ne_bytes(new))
}

/// A NAT rewrite (new source and/or destination address and port), the addresses as
/// bytes of their family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatPlan {
    V4 {
        src: Option<([u8; 4], u16)>,
        dst: Option<([u8; 4], u16)>,
    },
    V6 {
        src: Option<([u8; 16], u16)>,
        dst: Option<([u8; 16], u16)>,
    },
}

impl NatPlan {
    /// The plan for new source and/or destination endpoints; `None` when they are of
    /// different families.
    pub fn new(src: Option<(IpAddr, u16)>, dst: Option<(IpAddr, u16)>) -> Option<NatPlan> {
        let v6 = match (src, dst) {
            (Some((a, _)), Some((b, _))) if a.is_ipv6() != b.is_ipv6() => return None,
            (Some((a, _)), _) | (None, Some((a, _))) => a.is_ipv6(),
            (None, None) => false,
        };
        Some(if v6 {
            let b = |e: Option<(IpAddr, u16)>| match e {
                Some((IpAddr::V6(a), p)) => Some((a.octets(), p)),
                _ => None,
            };
            NatPlan::V6 {
                src: b(src),
                dst: b(dst),
            }
        } else {
            let b = |e: Option<(IpAddr, u16)>| match e {
                Some((IpAddr::V4(a), p)) => Some((a.octets(), p)),
                _ => None,
            };
            NatPlan::V4 {
                src: b(src),
                dst: b(dst),
            }
        })
    }

    /// This plan for the packets of the flow `tuple` (a [`FlowPacket::tuple`]), with
    /// its checksum changes computed once; `None` when the flow is not of the plan's
    /// family.
    pub fn for_flow(&self, tuple: &FlowTuple) -> Option<FlowRewrite> {
        let w = &tuple.0;
        let v6 = w[4] >> 40 & 1 == 1;
        // The flow's own addresses and ports, as the bytes of its packets: what the
        // rewrite leaves alone is written back unchanged.
        let mut addrs = [0u8; 32];
        let mut ports = (w[4] as u32).to_ne_bytes();
        if v6 {
            for (i, word) in w[..4].iter().enumerate() {
                addrs[i * 8..i * 8 + 8].copy_from_slice(&word.to_ne_bytes());
            }
        } else {
            addrs[..4].copy_from_slice(&(w[1] as u32).to_ne_bytes());
            addrs[4..8].copy_from_slice(&(w[3] as u32).to_ne_bytes());
        }
        let n = if v6 { 16 } else { 4 };
        // One's-complement changes of the fields the plan sets, word by word (as
        // RFC 1624 counts them, even where a field keeps its value).
        let mut header_change = 0u64;
        let mut port_change = 0u64;
        let mut set = |at: usize, addr: &[u8], port: u16| {
            let field = &mut addrs[at * n..at * n + n];
            for (old, new) in field.chunks_exact(4).zip(addr.chunks_exact(4)) {
                header_change += change32(
                    [old[0], old[1], old[2], old[3]],
                    [new[0], new[1], new[2], new[3]],
                );
            }
            field.copy_from_slice(addr);
            let new = port.to_be_bytes();
            port_change += change16([ports[at * 2], ports[at * 2 + 1]], new);
            ports[at * 2..at * 2 + 2].copy_from_slice(&new);
        };
        match (self, v6) {
            (NatPlan::V4 { src, dst }, false) => {
                if let Some((a, p)) = src {
                    set(0, a, *p);
                }
                if let Some((a, p)) = dst {
                    set(1, a, *p);
                }
            }
            (NatPlan::V6 { src, dst }, true) => {
                if let Some((a, p)) = src {
                    set(0, a, *p);
                }
                if let Some((a, p)) = dst {
                    set(1, a, *p);
                }
            }
            _ => return None,
        }
        Some(FlowRewrite {
            v6,
            udp: (w[4] >> 32) as u8 == IpProtocol::UDP.0,
            addrs,
            ports,
            header_change,
            transport_change: header_change + port_change,
        })
    }
}

/// A [`NatPlan`] ready for the packets of one flow. Every packet of a flow carries the
/// same addresses and ports (they are what identifies it), so the rewrite is the same
/// bytes at the same places for all of them, and so are the checksum changes it makes:
/// computed once, each packet then costs two copies and two checksum updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowRewrite {
    v6: bool,
    udp: bool,
    /// The source and destination addresses after the rewrite, as the IP header holds
    /// them (IPv4: the first 8 bytes).
    addrs: [u8; 32],
    /// The source and destination ports after the rewrite.
    ports: [u8; 4],
    /// The change to the IPv4 header checksum (native order, unfolded).
    header_change: u64,
    /// The change to the TCP or UDP checksum (pseudo-header and ports).
    transport_change: u64,
}

impl FlowRewrite {
    /// Rewrite the packet `fp` in place, updating the IPv4 header checksum and the TCP
    /// or UDP checksum incrementally (RFC 1624; a UDP-over-IPv4 checksum of 0 stays 0,
    /// a result of 0 is stored as 0xffff), exactly as [`crate::rewrite::rewrite`] does.
    /// `fp` must be a packet of the flow this rewrite was made for (its tuple equal);
    /// false, writing nothing, when it is not of the flow's family and protocol.
    #[inline(always)]
    pub fn apply(&self, frame: &mut [u8], fp: &FlowPacket) -> bool {
        if fp.v6 != self.v6 || (fp.protocol == IpProtocol::UDP) != self.udp {
            return false;
        }
        // One shape per flow: constant offsets in each.
        match (self.v6, self.udp) {
            (false, false) => self.write::<false, 18, 16>(frame, fp),
            (false, true) => self.write::<false, UDP_HEADER, 6>(frame, fp),
            (true, false) => self.write::<true, 18, 16>(frame, fp),
            (true, true) => self.write::<true, UDP_HEADER, 6>(frame, fp),
        }
    }

    /// [`FlowRewrite::apply`] for a packet of family `V6` whose transport header has
    /// its checksum at `CSUM` within its first `LEN` bytes.
    #[inline(always)]
    fn write<const V6: bool, const LEN: usize, const CSUM: usize>(
        &self,
        frame: &mut [u8],
        fp: &FlowPacket,
    ) -> bool {
        // Everything checked before anything is written.
        let header_len = if V6 { IPV6_HEADER } else { 20 };
        if fp.end > frame.len() || fp.l4 + LEN > fp.end || fp.l3 + header_len > fp.l4 {
            return false;
        }
        if let Some(h) = frame.get_mut(fp.l3..fp.l3 + header_len) {
            if V6 {
                h[8..40].copy_from_slice(&self.addrs);
            } else {
                h[12..20].copy_from_slice(&self.addrs[..8]);
                let c = updated(h, 10, self.header_change);
                h[10..12].copy_from_slice(&c.to_ne_bytes());
            }
        }
        let Some(t) = frame.get_mut(fp.l4..fp.l4 + LEN) else {
            return false;
        };
        t[..4].copy_from_slice(&self.ports);
        let udp = CSUM == 6;
        if udp && !V6 && t[CSUM] == 0 && t[CSUM + 1] == 0 {
            // No checksum: stays none.
            return true;
        }
        let mut new = updated(t, CSUM, self.transport_change);
        if new == 0 && udp {
            new = 0xffff;
        }
        t[CSUM..CSUM + 2].copy_from_slice(&new.to_ne_bytes());
        true
    }
}

/// Rewrite the source and/or destination address and port of the packet in place, as
/// [`crate::rewrite::rewrite`] does (see [`FlowRewrite::apply`]). Returns false,
/// writing nothing, when an address is not of the packet's family.
pub fn rewrite(
    frame: &mut [u8],
    fp: &FlowPacket,
    src: Option<(IpAddr, u16)>,
    dst: Option<(IpAddr, u16)>,
) -> bool {
    let plan = match (src, dst, fp.v6) {
        // Nothing to change: the checksums stay as they are, whatever the family.
        (None, None, true) => NatPlan::V6 {
            src: None,
            dst: None,
        },
        _ => match NatPlan::new(src, dst) {
            Some(p) => p,
            None => return false,
        },
    };
    plan.for_flow(&fp.tuple).is_some_and(|r| r.apply(frame, fp))
}

/// Decrement the IPv4 TTL (updating the header checksum) or the IPv6 hop limit; false,
/// changing nothing, when it is 0 or 1 (the packet must not be forwarded).
#[inline(always)]
pub fn decrement_ttl(frame: &mut [u8], fp: &FlowPacket) -> bool {
    let Some(h) = frame.get_mut(fp.l3..fp.l3 + 12) else {
        return false;
    };
    if fp.v6 {
        if h[7] <= 1 {
            return false;
        }
        h[7] -= 1;
    } else {
        if h[8] <= 1 {
            return false;
        }
        h[8] -= 1;
        let c = crate::ipv4::checksum_after_ttl_decrement(u16::from_be_bytes([h[10], h[11]]));
        h[10..12].copy_from_slice(&c.to_be_bytes());
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::parse_frame;
    use proptest::prelude::*;

    /// Ethernet / IPv4 / TCP to 10.0.0.100:80, from the rewrite module's example.
    fn example() -> [u8; 54] {
        let mut b = [0u8; 54];
        crate::rewrite::example_frame_bytes(&mut b);
        b
    }

    #[test]
    fn the_example_frame_matches_the_full_parser() {
        let b = example();
        let f = parse(&b).unwrap();
        assert_eq!(f.ip_info(&b), parse_frame(&b).unwrap().ip);
        assert_eq!(f.l3, 14);
        assert_eq!(f.l4, 34);
        assert!(!f.v6);
    }

    #[test]
    fn fragments_options_and_other_protocols() {
        let b = example();
        // More-fragments set, or an offset: not for this view.
        for (at, v) in [(20, 0x20u8), (21, 0x01)] {
            let mut x = b;
            x[at] |= v;
            assert!(parse(&x).is_none());
        }
        // ICMP.
        let mut x = b;
        x[23] = 1;
        assert!(parse(&x).is_none());
        // A total length beyond the frame.
        let mut x = b;
        x[16] = 0x10;
        assert!(parse(&x).is_none());
        // Ethernet padding after the packet is fine.
        let mut padded = [0u8; 64];
        padded[..54].copy_from_slice(&b);
        assert_eq!(parse(&padded).unwrap().end, 54);
    }

    #[test]
    fn tuples_differ_by_direction() {
        let b = example();
        let f = parse(&b).unwrap();
        let mut r = b;
        // Swap addresses and ports: the reply's tuple.
        r.copy_within(26..30, 50);
        r.copy_within(30..34, 26);
        r.copy_within(50..54, 30);
        r.copy_within(34..36, 50);
        r.copy_within(36..38, 34);
        r.copy_within(50..52, 36);
        let g = parse(&r).unwrap();
        assert_ne!(f.tuple, g.tuple);
        assert_eq!(g.ports(), (f.ports().1, f.ports().0));
    }

    /// Frames of every shape the view accepts: IPv4/IPv6, TCP/UDP, with and without
    /// a VLAN tag.
    fn shapes() -> std::vec::Vec<std::vec::Vec<u8>> {
        use crate::testutil::{frame, ip_packet, tcp_segment, udp_datagram};
        let v4 = |n: u8| IpAddr::V4(Ipv4Addr::new(10, 0, 0, n));
        let v6 = |n: u16| IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, n));
        let mut out = std::vec::Vec::new();
        for (s, d) in [(v4(1), v4(2)), (v6(1), v6(2))] {
            let t = ip_packet(
                s,
                d,
                IpProtocol::TCP,
                &tcp_segment(s, d, 1000, 80, b"hello"),
            );
            let u = ip_packet(
                s,
                d,
                IpProtocol::UDP,
                &udp_datagram(s, d, 53, 5353, b"q", false),
            );
            for ip in [t, u] {
                let f = frame(&ip);
                let mut tagged = f[..12].to_vec();
                tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
                tagged.extend_from_slice(&f[12..]);
                out.push(f);
                out.push(tagged);
            }
        }
        out
    }

    #[test]
    fn every_shape_is_accepted_as_the_full_parser_sees_it() {
        for f in shapes() {
            let lean = parse(&f).expect("accepted");
            assert_eq!(lean.ip_info(&f), parse_frame(&f).unwrap().ip);
        }
    }

    proptest! {
        // Whatever the bytes, the lean view never panics, and what it accepts the full
        // parser accepts with the same description.
        #[test]
        fn agrees_with_the_full_parser(
            shape in 0usize..8,
            mutations in proptest::collection::vec((0usize..90, any::<u8>()), 0..6),
            cut in 0usize..8,
        ) {
            let mut b = shapes().swap_remove(shape);
            let n = b.len();
            for (at, v) in mutations {
                b[at % n] = v;
            }
            let frame = &b[..n - cut.min(n)];
            if let Some(f) = parse(frame) {
                let full = parse_frame(frame).expect("the full parser accepts it");
                prop_assert_eq!(f.ip_info(frame), full.ip);
            }
        }

        #[test]
        fn random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = parse(&b);
        }
    }

    proptest! {
        // The lean checks and rewrites give what the full ones give, on every shape,
        // damaged or not.
        #[test]
        fn checks_and_rewrites_match_the_full_ones(
            shape in 0usize..8,
            damage in proptest::option::of((0usize..90, 1u8..=255)),
            src in proptest::option::of((any::<u128>(), any::<u16>())),
            dst in proptest::option::of((any::<u128>(), any::<u16>())),
            no_udp_checksum in any::<bool>(),
        ) {
            let mut b = shapes().swap_remove(shape);
            let fp0 = parse(&b).unwrap();
            if no_udp_checksum && fp0.protocol == IpProtocol::UDP && !fp0.v6 {
                b[fp0.l4 + 6] = 0;
                b[fp0.l4 + 7] = 0;
            }
            if let Some((at, x)) = damage {
                let at = fp0.l3 + at % (fp0.end - fp0.l3);
                b[at] ^= x;
            }
            let Some(fp) = parse(&b) else { return Ok(()); };
            let full = parse_frame(&b).unwrap().ip;
            prop_assert_eq!(
                fp.header_ok,
                fp.v6 || crate::packet::ipv4_header_ok(&b[fp.l3..fp.l4])
            );
            let addr = |a: u128| if fp.v6 {
                IpAddr::V6(Ipv6Addr::from(a))
            } else {
                IpAddr::V4(Ipv4Addr::from(a as u32))
            };
            let src = src.map(|(a, p)| (addr(a), p));
            let dst = dst.map(|(a, p)| (addr(a), p));
            let rw = crate::rewrite::NatRewrite {
                src_addr: src.map(|s| s.0),
                src_port: src.map(|s| s.1),
                dst_addr: dst.map(|d| d.0),
                dst_port: dst.map(|d| d.1),
            };
            let mut lean = b.clone();
            let mut reference = b.clone();
            prop_assert!(rewrite(&mut lean, &fp, src, dst));
            crate::rewrite::rewrite(&mut reference, &full, &rw).unwrap();
            prop_assert_eq!(&lean, &reference);
            let mut lean_ttl = b.clone();
            let mut ref_ttl = b.clone();
            let ok = decrement_ttl(&mut lean_ttl, &fp);
            let ref_ok = if fp.v6 {
                crate::ipv6::Packet::new_checked(&mut ref_ttl[fp.l3..]).unwrap().decrement_hop_limit()
            } else {
                crate::ipv4::Packet::new_checked(&mut ref_ttl[fp.l3..]).unwrap().decrement_ttl()
            };
            prop_assert_eq!(ok, ref_ok);
            prop_assert_eq!(lean_ttl, ref_ttl);
        }
    }
}
