//! IPv4 packets (RFC 791): header with options skipped by IHL, fragments detectable.

use core::net::Ipv4Addr;

use crate::checksum;
use crate::error::{Error, Result};
use crate::ip::{be16, put16, read_v4, IpProtocol};

/// Byte ranges of the fixed IPv4 header.
pub mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// The header checksum once the TTL went down by one, computed as the kernel's
/// `ip_decrease_ttl` does (0x0100 added with end-around carry), so that the result is
/// the kernel's to the bit (a full recomputation may give 0xffff where it gives 0).
#[inline]
pub fn checksum_after_ttl_decrement(checksum: u16) -> u16 {
    let c = u32::from(checksum) + 0x0100;
    (c + u32::from(c >= 0xffff)) as u16
}

/// A view of an IPv4 packet.
///
/// After [`Packet::new_checked`] the header (options included) is in the buffer and the total
/// length is consistent with it: `header_len() <= total_len() <= buffer length`. A frame may
/// be longer (Ethernet padding): [`Packet::payload`] stops at the total length.
/// [`Packet::new_checked_header`] accepts a packet cut after its header (the quote in an
/// ICMP error); then the payload is whatever bytes are present.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap a complete packet: version 4, header and total length present and consistent.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Packet::new_checked_header(buffer)?;
        if usize::from(p.total_len()) > p.buffer.as_ref().len() {
            return Err(Error::Truncated);
        }
        Ok(p)
    }

    /// Wrap a packet of which only the header (options included) needs to be present: the
    /// original packet quoted in an ICMP error is usually cut short.
    pub fn new_checked_header(buffer: T) -> Result<Packet<T>> {
        let p = Packet::new_unchecked(buffer);
        let b = p.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if b[field::VER_IHL] >> 4 != 4 {
            return Err(Error::Malformed);
        }
        let hl = p.header_len();
        if hl < HEADER_LEN || usize::from(p.total_len()) < hl {
            return Err(Error::Malformed);
        }
        if b.len() < hl {
            return Err(Error::Truncated);
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
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes, options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 3
    }

    /// The whole second byte (DSCP and ECN), the old "type of service".
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    /// Total length of the packet per its header.
    pub fn total_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH.start)
    }

    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::IDENT.start)
    }

    pub fn dont_frag(&self) -> bool {
        be16(self.buffer.as_ref(), field::FLG_OFF.start) & FLAG_DF != 0
    }

    pub fn more_frags(&self) -> bool {
        be16(self.buffer.as_ref(), field::FLG_OFF.start) & FLAG_MF != 0
    }

    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (be16(self.buffer.as_ref(), field::FLG_OFF.start) & OFFSET_MASK) << 3
    }

    /// True for any fragment (first, middle or last) of a fragmented datagram.
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }

    /// True for a fragment other than the first: it carries no transport header.
    pub fn is_non_first_fragment(&self) -> bool {
        self.frag_offset() != 0
    }

    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    pub fn protocol(&self) -> IpProtocol {
        IpProtocol(self.buffer.as_ref()[field::PROTOCOL])
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        read_v4(&self.buffer.as_ref()[field::SRC_ADDR])
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        read_v4(&self.buffer.as_ref()[field::DST_ADDR])
    }

    /// The options bytes (empty without options).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// The header bytes, options included.
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.header_len()]
    }

    /// True when the header checksum is correct.
    pub fn verify_checksum(&self) -> bool {
        checksum::verifies(checksum::sum(self.header()))
    }

    /// End of the payload in the buffer: the total length, or the buffer end if shorter.
    fn payload_end(&self) -> usize {
        usize::from(self.total_len()).min(self.buffer.as_ref().len())
    }

    /// The payload, up to the total length (or what is present of it).
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        &b[self.header_len()..self.payload_end().max(self.header_len())]
    }

    /// The payload length the header announces (total length minus header length).
    pub fn payload_len(&self) -> u16 {
        self.total_len().saturating_sub(self.header_len() as u16)
    }

    /// The pseudo-header sum for the transport checksum of this packet's payload.
    pub fn pseudo_header(&self) -> u32 {
        checksum::pseudo_header_v4(
            self.src_addr(),
            self.dst_addr(),
            self.protocol(),
            self.payload_len(),
        )
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = 0x40 | ((len / 4) as u8 & 0x0f);
    }

    pub fn set_tos(&mut self, tos: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = tos;
    }

    pub fn set_total_len(&mut self, len: u16) {
        put16(self.buffer.as_mut(), field::LENGTH.start, len);
    }

    pub fn set_ident(&mut self, id: u16) {
        put16(self.buffer.as_mut(), field::IDENT.start, id);
    }

    /// Set DF, MF and the offset (in bytes, a multiple of 8) at once.
    pub fn set_frag(&mut self, dont_frag: bool, more_frags: bool, offset: u16) {
        let mut v = (offset >> 3) & OFFSET_MASK;
        if dont_frag {
            v |= FLAG_DF;
        }
        if more_frags {
            v |= FLAG_MF;
        }
        put16(self.buffer.as_mut(), field::FLG_OFF.start, v);
    }

    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::TTL] = ttl;
    }

    pub fn set_protocol(&mut self, p: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = p.0;
    }

    pub fn set_checksum(&mut self, c: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM.start, c);
    }

    /// Set the source address (checksums are the caller's business; see [`crate::rewrite`]).
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a.octets());
    }

    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a.octets());
    }

    /// Compute and store the header checksum.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.header());
        self.set_checksum(c);
    }

    /// Decrement the TTL and update the header checksum incrementally (RFC 1624).
    /// Returns false, changing nothing, when the TTL is 0 or 1 (the packet must not be
    /// forwarded).
    pub fn decrement_ttl(&mut self) -> bool {
        let ttl = self.ttl();
        if ttl <= 1 {
            return false;
        }
        let b = self.buffer.as_ref();
        let old = be16(b, field::TTL);
        let c = checksum_after_ttl_decrement(self.checksum());
        let b = self.buffer.as_mut();
        put16(b, field::TTL, old - 0x0100);
        self.set_checksum(c);
        true
    }

    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[HEADER_LEN..hl]
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        let end = self.payload_end().max(hl);
        &mut self.buffer.as_mut()[hl..end]
    }
}

/// An owned IPv4 header without options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: IpProtocol,
    /// Length of the payload (total length minus the header).
    pub payload_len: u16,
    pub ttl: u8,
    /// DSCP and ECN.
    pub tos: u8,
    pub ident: u16,
    pub dont_frag: bool,
}

impl Repr {
    /// The header fields of a packet. Options are dropped; fragments are refused
    /// ([`Error::Unsupported`]) because a `Repr` describes a whole datagram.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr> {
        if p.is_fragment() {
            return Err(Error::Unsupported);
        }
        Ok(Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            protocol: p.protocol(),
            payload_len: p.payload_len(),
            ttl: p.ttl(),
            tos: p.tos(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
        })
    }

    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Write the header (with its checksum) at the start of `buf`; returns its length.
    /// Fails with [`Error::Malformed`] if the total length would exceed 65535.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let total = self
            .payload_len
            .checked_add(HEADER_LEN as u16)
            .ok_or(Error::Malformed)?;
        let b = buf.get_mut(..HEADER_LEN).ok_or(Error::NoRoom)?;
        let mut p = Packet::new_unchecked(b);
        p.set_header_len(HEADER_LEN);
        p.set_tos(self.tos);
        p.set_total_len(total);
        p.set_ident(self.ident);
        p.set_frag(self.dont_frag, false, 0);
        p.set_ttl(self.ttl);
        p.set_protocol(self.protocol);
        p.set_src_addr(self.src);
        p.set_dst_addr(self.dst);
        p.fill_checksum();
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // 192.168.0.1 -> 192.168.0.199, UDP, total length 0x73, checksum 0xb861.
    const HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    fn packet_bytes() -> [u8; 0x73] {
        let mut b = [0u8; 0x73];
        b[..20].copy_from_slice(&HEADER);
        b
    }

    #[test]
    fn known_header() {
        let b = packet_bytes();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 0x73);
        assert!(p.dont_frag());
        assert!(!p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), IpProtocol::UDP);
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(192, 168, 0, 199));
        assert!(p.verify_checksum());
        assert_eq!(p.payload().len(), 0x73 - 20);
    }

    #[test]
    fn round_trip() {
        let b = packet_bytes();
        let p = Packet::new_checked(&b[..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        let mut out = [0u8; 20];
        assert_eq!(r.emit(&mut out), Ok(20));
        assert_eq!(out, HEADER);
    }

    #[test]
    fn options_are_skipped() {
        let mut b = [0u8; 32];
        b[..20].copy_from_slice(&HEADER);
        b[0] = 0x46; // IHL 6: one word of options
        b[3] = 32;
        b[20..24].copy_from_slice(&[1, 1, 1, 0]); // NOPs and EOL
        b[24] = 0xaa;
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert_eq!(p.payload()[0], 0xaa);
        assert_eq!(p.payload().len(), 8);
    }

    #[test]
    fn padding_is_not_payload() {
        let mut b = [0u8; 60];
        b[..20].copy_from_slice(&HEADER);
        b[3] = 28;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.payload().len(), 8);
    }

    #[test]
    fn fragments_are_detected() {
        let mut b = packet_bytes();
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_frag(false, true, 0);
        assert!(p.is_fragment() && !p.is_non_first_fragment());
        p.set_frag(false, false, 1480);
        assert!(p.is_fragment() && p.is_non_first_fragment());
        assert_eq!(p.frag_offset(), 1480);
        assert_eq!(Repr::parse(&p), Err(Error::Unsupported));
    }

    #[test]
    fn bad_lengths_are_refused() {
        let b = packet_bytes();
        assert_eq!(Packet::new_checked(&b[..19]).err(), Some(Error::Truncated));
        assert_eq!(
            Packet::new_checked(&b[..0x72]).err(),
            Some(Error::Truncated)
        );
        assert!(Packet::new_checked_header(&b[..20]).is_ok());
        let mut c = b;
        c[0] = 0x44; // IHL below 5
        assert_eq!(Packet::new_checked(&c[..]).err(), Some(Error::Malformed));
        let mut c = b;
        c[0] = 0x65;
        assert_eq!(Packet::new_checked(&c[..]).err(), Some(Error::Malformed));
        let mut c = b;
        c[3] = 10; // total length below the header length
        assert_eq!(Packet::new_checked(&c[..]).err(), Some(Error::Malformed));
        let mut c = b;
        c[0] = 0x4f; // 60-byte header in a 40-byte buffer
        c[3] = 60;
        assert_eq!(
            Packet::new_checked_header(&c[..40]).err(),
            Some(Error::Truncated)
        );
    }

    #[test]
    fn decrement_ttl_keeps_checksum_valid() {
        let mut b = packet_bytes();
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        assert!(p.decrement_ttl());
        assert_eq!(p.ttl(), 63);
        assert!(p.verify_checksum());
        p.set_ttl(1);
        p.fill_checksum();
        assert!(!p.decrement_ttl());
        assert_eq!(p.ttl(), 1);
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(p) = Packet::new_checked_header(&data[..]) {
                let _ = (p.payload(), p.options(), p.verify_checksum(), p.pseudo_header());
                let _ = Repr::parse(&p);
            }
            if let Ok(p) = Packet::new_checked(&data[..]) {
                prop_assert_eq!(p.payload().len(), p.payload_len() as usize);
            }
            let mut d = data.clone();
            if let Ok(mut p) = Packet::new_checked(&mut d[..]) {
                p.decrement_ttl();
                let _ = p.payload_mut();
            }
        }

        #[test]
        fn emit_parse_round_trip(src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(), proto in any::<u8>(),
                                 len in 0u16..1000, ttl in any::<u8>(), tos in any::<u8>(), id in any::<u16>(), df in any::<bool>()) {
            let r = Repr { src: src.into(), dst: dst.into(), protocol: IpProtocol(proto), payload_len: len, ttl, tos, ident: id, dont_frag: df };
            let mut buf = vec![0u8; 20 + len as usize];
            r.emit(&mut buf).unwrap();
            let p = Packet::new_checked(&buf[..]).unwrap();
            prop_assert!(p.verify_checksum());
            prop_assert_eq!(Repr::parse(&p).unwrap(), r);
        }
    }
}
