//! UDP datagrams (RFC 768), with the IPv4 zero-checksum rule.
//!
//! Over IPv4 a checksum of 0 means "none": it is left 0 when the datagram is rewritten, and
//! a computed checksum of 0 is sent as `0xffff`. Over IPv6 the checksum is mandatory.

use crate::checksum;
use crate::error::{Error, Result};
use crate::ip::{be16, put16};

/// Byte ranges of the UDP header.
pub mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

pub const HEADER_LEN: usize = 8;

/// A view of a UDP datagram. After [`Packet::new_checked`] the length field is at least 8
/// and within the buffer; the payload stops at it.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Packet::new_unchecked(buffer);
        let b = p.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let len = usize::from(p.len());
        if len < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if len > b.len() {
            return Err(Error::Truncated);
        }
        Ok(p)
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT.start)
    }

    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT.start)
    }

    /// The length field: header plus payload.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH.start)
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// The datagram (header and payload) as the length field bounds it.
    pub fn datagram(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        &b[..usize::from(self.len()).clamp(HEADER_LEN, b.len())]
    }

    pub fn payload(&self) -> &[u8] {
        &self.datagram()[HEADER_LEN..]
    }

    /// True when the checksum verifies with the pseudo-header sum, or is 0 and `zero_ok`
    /// (IPv4: no checksum).
    pub fn verify_checksum(&self, pseudo: u32, zero_ok: bool) -> bool {
        if self.checksum() == 0 {
            return zero_ok;
        }
        checksum::verifies(checksum::add(pseudo, checksum::sum(self.datagram())))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_src_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::SRC_PORT.start, v);
    }

    pub fn set_dst_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::DST_PORT.start, v);
    }

    pub fn set_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::LENGTH.start, v);
    }

    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM.start, v);
    }

    /// Compute and store the checksum (a computed 0 is stored as `0xffff`).
    pub fn fill_checksum(&mut self, pseudo: u32) {
        self.set_checksum(0);
        let c = checksum::transport(pseudo, self.datagram());
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len()).clamp(HEADER_LEN, self.buffer.as_ref().len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// An owned UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    pub src_port: u16,
    pub dst_port: u16,
    /// Payload length (the length field minus 8).
    pub payload_len: u16,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Repr {
        Repr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            payload_len: p.len().saturating_sub(HEADER_LEN as u16),
        }
    }

    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Write the header with a zero checksum ("none" over IPv4) at the start of `buf`;
    /// returns its length. Call [`Packet::fill_checksum`] once the payload is in place.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self
            .payload_len
            .checked_add(HEADER_LEN as u16)
            .ok_or(Error::Malformed)?;
        let b = buf.get_mut(..HEADER_LEN).ok_or(Error::NoRoom)?;
        let mut p = Packet::new_unchecked(b);
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_len(len);
        p.set_checksum(0);
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::IpProtocol;
    use core::net::Ipv4Addr;
    use proptest::prelude::*;

    fn pseudo(len: u16) -> u32 {
        checksum::pseudo_header_v4(
            Ipv4Addr::new(192, 168, 1, 1),
            Ipv4Addr::new(192, 168, 1, 2),
            IpProtocol::UDP,
            len,
        )
    }

    #[test]
    fn known_checksum() {
        // 192.168.1.1:1234 -> 192.168.1.2:53, payload "abcd".
        // Words 04d2 0035 000c 0000 6162 6364 = 0xc9d9; pseudo c0a8 0101 c0a8 0102
        // 0011 000c = 0x18370; total 0x24d49 -> 0x4d4b -> checksum 0xb2b4. The two bytes
        // after the datagram are padding the checksum must not cover.
        let mut b = [
            0x04, 0xd2, 0x00, 0x35, 0x00, 0x0c, 0, 0, b'a', b'b', b'c', b'd', 0, 0,
        ];
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum(pseudo(12));
        assert_eq!(p.checksum(), 0xb2b4);
        assert!(p.verify_checksum(pseudo(12), false));
        assert_eq!(p.payload(), b"abcd");
        assert_eq!(
            Repr::parse(&p),
            Repr {
                src_port: 1234,
                dst_port: 53,
                payload_len: 4
            }
        );
    }

    #[test]
    fn zero_checksum_rule() {
        let mut b = [0x04, 0xd2, 0x00, 0x35, 0x00, 0x08, 0, 0];
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum(pseudo(8), true));
        assert!(!p.verify_checksum(pseudo(8), false));
        // Find a pseudo-header sum that makes the computed checksum 0: it must become 0xffff.
        let s = checksum::sum(&b);
        let pseudo_for_zero = u32::from(!checksum::fold(s));
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum(pseudo_for_zero);
        assert_eq!(p.checksum(), 0xffff);
        assert!(p.verify_checksum(pseudo_for_zero, false));
    }

    #[test]
    fn bad_lengths_are_refused() {
        let b = [0, 1, 0, 2, 0, 7, 0, 0];
        assert_eq!(Packet::new_checked(&b[..]).err(), Some(Error::Malformed));
        let b = [0, 1, 0, 2, 0, 9, 0, 0];
        assert_eq!(Packet::new_checked(&b[..]).err(), Some(Error::Truncated));
        assert_eq!(Packet::new_checked(&b[..7]).err(), Some(Error::Truncated));
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (Repr::parse(&p), p.verify_checksum(0, true));
                prop_assert_eq!(p.payload().len() + 8, p.len() as usize);
            }
        }

        #[test]
        fn emit_parse_round_trip(sp in any::<u16>(), dp in any::<u16>(), payload in proptest::collection::vec(any::<u8>(), 0..50)) {
            let r = Repr { src_port: sp, dst_port: dp, payload_len: payload.len() as u16 };
            let mut b = vec![0u8; 8 + payload.len()];
            r.emit(&mut b).unwrap();
            b[8..].copy_from_slice(&payload);
            let mut p = Packet::new_checked(&mut b[..]).unwrap();
            p.fill_checksum(pseudo(r.payload_len + 8));
            prop_assert!(p.verify_checksum(pseudo(r.payload_len + 8), false));
            prop_assert_eq!(Repr::parse(&p), r);
        }
    }
}
