//! IPv6 packets (RFC 8200) and the walk over extension headers to the transport header.

use core::net::Ipv6Addr;

use crate::checksum;
use crate::error::{Error, Result};
use crate::ip::{be16, be32, put16, put32, read_v6, IpProtocol};

/// Byte ranges of the fixed IPv6 header.
pub mod field {
    use core::ops::Range;
    /// Version (4 bits), traffic class (8), flow label (20).
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Range<usize> = 8..24;
    pub const DST_ADDR: Range<usize> = 24..40;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;

/// A view of an IPv6 packet.
///
/// After [`Packet::new_checked`] the fixed header and the payload its length announces are
/// in the buffer (a frame may be longer: Ethernet padding). [`Packet::new_checked_header`]
/// only needs the fixed header (the quote in an ICMPv6 error).
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap a complete packet: version 6, fixed header and payload present.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Packet::new_checked_header(buffer)?;
        if HEADER_LEN + usize::from(p.payload_len()) > p.buffer.as_ref().len() {
            return Err(Error::Truncated);
        }
        Ok(p)
    }

    /// Wrap a packet of which only the fixed header needs to be present.
    pub fn new_checked_header(buffer: T) -> Result<Packet<T>> {
        let p = Packet::new_unchecked(buffer);
        let b = p.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if b[0] >> 4 != 6 {
            return Err(Error::Malformed);
        }
        Ok(p)
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    pub fn traffic_class(&self) -> u8 {
        ((be32(self.buffer.as_ref(), 0) >> 20) & 0xff) as u8
    }

    pub fn flow_label(&self) -> u32 {
        be32(self.buffer.as_ref(), 0) & 0x000f_ffff
    }

    /// Payload length per the header (extension headers included).
    pub fn payload_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// The first next-header value (an extension header or the transport protocol).
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol(self.buffer.as_ref()[field::NXT_HDR])
    }

    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    pub fn src_addr(&self) -> Ipv6Addr {
        read_v6(&self.buffer.as_ref()[field::SRC_ADDR])
    }

    pub fn dst_addr(&self) -> Ipv6Addr {
        read_v6(&self.buffer.as_ref()[field::DST_ADDR])
    }

    fn payload_end(&self) -> usize {
        (HEADER_LEN + usize::from(self.payload_len())).min(self.buffer.as_ref().len())
    }

    /// The payload after the fixed header (extension headers first), up to the payload
    /// length (or what is present of it).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.payload_end()]
    }

    /// Walk the extension headers to the upper-layer header. Offsets in the result are
    /// relative to the start of this packet.
    pub fn upper_layer(&self) -> Result<UpperLayer> {
        let mut u = walk_extensions(self.next_header(), self.payload())?;
        u.offset += HEADER_LEN;
        Ok(u)
    }

    /// The pseudo-header sum for an upper-layer payload of `len` bytes of `proto`.
    pub fn pseudo_header(&self, proto: IpProtocol, len: u32) -> u32 {
        checksum::pseudo_header_v6(&self.src_addr(), &self.dst_addr(), proto, len)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set version 6, the traffic class and the flow label at once.
    pub fn set_version_tc_flow(&mut self, traffic_class: u8, flow_label: u32) {
        let v = (6u32 << 28) | (u32::from(traffic_class) << 20) | (flow_label & 0x000f_ffff);
        put32(self.buffer.as_mut(), 0, v);
    }

    pub fn set_payload_len(&mut self, len: u16) {
        put16(self.buffer.as_mut(), field::LENGTH.start, len);
    }

    pub fn set_next_header(&mut self, p: IpProtocol) {
        self.buffer.as_mut()[field::NXT_HDR] = p.0;
    }

    pub fn set_hop_limit(&mut self, h: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = h;
    }

    /// Set the source address (checksums are the caller's business; see [`crate::rewrite`]).
    pub fn set_src_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a.octets());
    }

    pub fn set_dst_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a.octets());
    }

    /// Decrement the hop limit. Returns false, changing nothing, when it is 0 or 1.
    pub fn decrement_hop_limit(&mut self) -> bool {
        let h = self.hop_limit();
        if h <= 1 {
            return false;
        }
        self.set_hop_limit(h - 1);
        true
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.payload_end();
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// A fragment header found while walking extension headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fragment {
    /// Offset of this fragment's data in the datagram, in bytes.
    pub offset: u16,
    pub more_frags: bool,
    pub ident: u32,
}

impl Fragment {
    /// True for a fragment other than the first: no upper-layer header follows.
    pub fn is_non_first(&self) -> bool {
        self.offset != 0
    }
}

/// Where the extension header chain ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UpperLayer {
    /// The upper-layer protocol (TCP, UDP, ICMPv6, IPIP...). ESP and "no next header"
    /// end the walk too: what follows them is opaque.
    pub protocol: IpProtocol,
    /// Offset of the upper-layer header (from the start of the data walked, or of the
    /// packet for [`Packet::upper_layer`]).
    pub offset: usize,
    /// The fragment header, if the chain had one.
    pub fragment: Option<Fragment>,
}

/// True for the next-header values this walk skips.
pub fn is_extension_header(p: IpProtocol) -> bool {
    matches!(
        p,
        IpProtocol::HOP_BY_HOP
            | IpProtocol::IPV6_ROUTING
            | IpProtocol::IPV6_FRAGMENT
            | IpProtocol::IPV6_DEST_OPTS
            | IpProtocol::AH
            | IpProtocol::MOBILITY
            | IpProtocol::HIP
            | IpProtocol::SHIM6
    )
}

/// Walk extension headers starting with `first` at the start of `data` (the payload after
/// the fixed header) to the upper-layer header.
///
/// Hop-by-hop, routing, destination options (and the other headers in the generic format)
/// and AH are skipped; a fragment header is recorded and skipped, but after a non-first
/// fragment the walk stops (its data is not a header) with the next-header value of the
/// fragment header. `Truncated` when a header runs past `data`.
pub fn walk_extensions(first: IpProtocol, data: &[u8]) -> Result<UpperLayer> {
    let mut proto = first;
    let mut at = 0usize;
    let mut fragment = None;
    while is_extension_header(proto) {
        let hdr = data.get(at..at + 8).ok_or(Error::Truncated)?;
        let next = IpProtocol(hdr[0]);
        let len = match proto {
            IpProtocol::IPV6_FRAGMENT => {
                let off_flags = be16(hdr, 2);
                let f = Fragment {
                    offset: off_flags & 0xfff8,
                    more_frags: off_flags & 1 != 0,
                    ident: be32(hdr, 4),
                };
                fragment = Some(f);
                if f.is_non_first() {
                    return Ok(UpperLayer {
                        protocol: next,
                        offset: at + 8,
                        fragment,
                    });
                }
                8
            }
            // AH length is in 4-octet units, minus 2.
            IpProtocol::AH => (usize::from(hdr[1]) + 2) * 4,
            _ => (usize::from(hdr[1]) + 1) * 8,
        };
        at += len;
        if at > data.len() {
            return Err(Error::Truncated);
        }
        proto = next;
    }
    Ok(UpperLayer {
        protocol: proto,
        offset: at,
        fragment,
    })
}

/// An owned fixed IPv6 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub next_header: IpProtocol,
    pub payload_len: u16,
    pub hop_limit: u8,
    pub traffic_class: u8,
    pub flow_label: u32,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Repr {
        Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            next_header: p.next_header(),
            payload_len: p.payload_len(),
            hop_limit: p.hop_limit(),
            traffic_class: p.traffic_class(),
            flow_label: p.flow_label(),
        }
    }

    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Write the fixed header at the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let b = buf.get_mut(..HEADER_LEN).ok_or(Error::NoRoom)?;
        let mut p = Packet::new_unchecked(b);
        p.set_version_tc_flow(self.traffic_class, self.flow_label);
        p.set_payload_len(self.payload_len);
        p.set_next_header(self.next_header);
        p.set_hop_limit(self.hop_limit);
        p.set_src_addr(self.src);
        p.set_dst_addr(self.dst);
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn repr(next: IpProtocol, len: u16) -> Repr {
        Repr {
            src: "2001:db8::1".parse().unwrap(),
            dst: "2001:db8::2".parse().unwrap(),
            next_header: next,
            payload_len: len,
            hop_limit: 64,
            traffic_class: 0xb8,
            flow_label: 0x12345,
        }
    }

    #[test]
    fn round_trip() {
        let r = repr(IpProtocol::TCP, 20);
        let mut b = [0u8; 60];
        assert_eq!(r.emit(&mut b), Ok(40));
        assert_eq!(&b[..4], &[0x6b, 0x81, 0x23, 0x45]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Repr::parse(&p), r);
        assert_eq!(p.payload().len(), 20);
        let u = p.upper_layer().unwrap();
        assert_eq!(
            (u.protocol, u.offset, u.fragment),
            (IpProtocol::TCP, 40, None)
        );
    }

    #[test]
    fn walks_hop_by_hop_routing_fragment_dest_ah() {
        // HBH (8) -> routing (24) -> fragment (8) -> dest opts (16) -> AH (16) -> UDP.
        let mut d = [0u8; 80];
        d[0] = 43; // HBH: next routing
        d[1] = 0;
        d[8] = 44; // routing: next fragment, 24 bytes
        d[9] = 2;
        d[32] = 60; // fragment: next dest opts, offset 0, M set
        d[35] = 1;
        d[36..40].copy_from_slice(&0xdeadbeefu32.to_be_bytes());
        d[40] = 51; // dest opts: next AH, 16 bytes
        d[41] = 1;
        d[56] = 17; // AH: next UDP, (2+2)*4 = 16 bytes
        d[57] = 2;
        let u = walk_extensions(IpProtocol::HOP_BY_HOP, &d).unwrap();
        assert_eq!(u.protocol, IpProtocol::UDP);
        assert_eq!(u.offset, 72);
        assert_eq!(
            u.fragment,
            Some(Fragment {
                offset: 0,
                more_frags: true,
                ident: 0xdeadbeef
            })
        );
        // Cut the chain inside the AH header.
        assert_eq!(
            walk_extensions(IpProtocol::HOP_BY_HOP, &d[..60]),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn non_first_fragment_stops_the_walk() {
        let mut d = [0u8; 16];
        d[0] = 6;
        d[2] = 0x05; // offset 1280
        d[3] = 0x00;
        let u = walk_extensions(IpProtocol::IPV6_FRAGMENT, &d).unwrap();
        assert_eq!(u.protocol, IpProtocol::TCP);
        assert_eq!(u.offset, 8);
        assert!(u.fragment.unwrap().is_non_first());
        assert_eq!(u.fragment.unwrap().offset, 1280);
    }

    #[test]
    fn esp_and_no_next_end_the_walk() {
        let u = walk_extensions(IpProtocol::ESP, &[]).unwrap();
        assert_eq!((u.protocol, u.offset), (IpProtocol::ESP, 0));
        let u = walk_extensions(IpProtocol::IPV6_NO_NEXT, &[]).unwrap();
        assert_eq!(u.protocol, IpProtocol::IPV6_NO_NEXT);
    }

    #[test]
    fn bad_lengths_are_refused() {
        let r = repr(IpProtocol::UDP, 20);
        let mut b = [0u8; 60];
        r.emit(&mut b).unwrap();
        assert_eq!(Packet::new_checked(&b[..59]).err(), Some(Error::Truncated));
        assert!(Packet::new_checked_header(&b[..40]).is_ok());
        assert_eq!(Packet::new_checked(&b[..39]).err(), Some(Error::Truncated));
        b[0] = 0x45;
        assert_eq!(Packet::new_checked(&b[..]).err(), Some(Error::Malformed));
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(first in any::<u8>(), data in proptest::collection::vec(any::<u8>(), 0..120)) {
            if let Ok(u) = walk_extensions(IpProtocol(first), &data) {
                prop_assert!(u.offset <= data.len());
            }
            if let Ok(p) = Packet::new_checked_header(&data[..]) {
                let _ = (Repr::parse(&p), p.payload());
                if let Ok(u) = p.upper_layer() {
                    prop_assert!(u.offset <= data.len());
                }
            }
            let mut d = data.clone();
            if let Ok(mut p) = Packet::new_checked(&mut d[..]) {
                p.decrement_hop_limit();
                let _ = p.payload_mut();
            }
        }

        #[test]
        fn emit_parse_round_trip(src in any::<[u8; 16]>(), dst in any::<[u8; 16]>(), nh in any::<u8>(), len in 0u16..200,
                                 hl in any::<u8>(), tc in any::<u8>(), fl in 0u32..0x100000) {
            let r = Repr { src: src.into(), dst: dst.into(), next_header: IpProtocol(nh), payload_len: len, hop_limit: hl, traffic_class: tc, flow_label: fl };
            let mut buf = vec![0u8; 40 + len as usize];
            r.emit(&mut buf).unwrap();
            let p = Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Repr::parse(&p), r);
        }
    }
}
