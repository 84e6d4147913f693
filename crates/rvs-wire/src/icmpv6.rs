//! ICMPv6 messages (RFC 4443): echo, and the errors that quote the offending packet.
//! The checksum covers an IPv6 pseudo-header (next header 58).

use crate::checksum;
use crate::error::{Error, Result};
use crate::ip::{be16, be32, put16};

/// Byte ranges of the ICMPv6 header.
pub mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQNO: Range<usize> = 6..8;
    /// Packet too big: MTU.
    pub const MTU: Range<usize> = 4..8;
    /// Parameter problem: pointer.
    pub const POINTER: Range<usize> = 4..8;
}

pub const HEADER_LEN: usize = 8;

/// Message types.
pub mod types {
    pub const DEST_UNREACHABLE: u8 = 1;
    pub const PACKET_TOO_BIG: u8 = 2;
    pub const TIME_EXCEEDED: u8 = 3;
    pub const PARAM_PROBLEM: u8 = 4;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
    pub const ROUTER_SOLICIT: u8 = 133;
    pub const ROUTER_ADVERT: u8 = 134;
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    pub const NEIGHBOR_ADVERT: u8 = 136;
    pub const REDIRECT: u8 = 137;
}

/// True for error messages (types below 128): they quote the offending packet.
pub fn is_error(msg_type: u8) -> bool {
    msg_type < 128
}

/// A view of an ICMPv6 message. The buffer should end where the message ends.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap after checking the 8-byte header is present.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Packet::new_unchecked(buffer);
        if p.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(p)
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    pub fn is_echo(&self) -> bool {
        matches!(self.msg_type(), types::ECHO_REQUEST | types::ECHO_REPLY)
    }

    pub fn is_error(&self) -> bool {
        is_error(self.msg_type())
    }

    pub fn echo_ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ECHO_IDENT.start)
    }

    pub fn echo_seq_no(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ECHO_SEQNO.start)
    }

    /// The MTU of a "packet too big" message.
    pub fn mtu(&self) -> Option<u32> {
        (self.msg_type() == types::PACKET_TOO_BIG)
            .then(|| be32(self.buffer.as_ref(), field::MTU.start))
    }

    /// Everything after the 8-byte header.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// The quoted packet (as much of it as fits in the minimum MTU) of an error message.
    pub fn quoted(&self) -> Option<&[u8]> {
        self.is_error().then(|| self.data())
    }

    /// True when the checksum verifies with the pseudo-header sum (next header 58, length
    /// of this message).
    pub fn verify_checksum(&self, pseudo: u32) -> bool {
        checksum::verifies(checksum::add(pseudo, checksum::sum(self.buffer.as_ref())))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }

    pub fn set_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }

    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM.start, v);
    }

    pub fn set_echo_ident(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::ECHO_IDENT.start, v);
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// Compute and store the checksum given the pseudo-header sum.
    pub fn fill_checksum(&mut self, pseudo: u32) {
        self.set_checksum(0);
        let c = checksum::transport(pseudo, self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// An owned ICMPv6 header: type, code and the 4 type-specific bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    pub msg_type: u8,
    pub code: u8,
    pub rest: [u8; 4],
}

impl Repr {
    pub fn echo_request(ident: u16, seq_no: u16) -> Repr {
        let [a, b] = ident.to_be_bytes();
        let [c, d] = seq_no.to_be_bytes();
        Repr {
            msg_type: types::ECHO_REQUEST,
            code: 0,
            rest: [a, b, c, d],
        }
    }

    /// Packet too big with the MTU.
    pub fn packet_too_big(mtu: u32) -> Repr {
        Repr {
            msg_type: types::PACKET_TOO_BIG,
            code: 0,
            rest: mtu.to_be_bytes(),
        }
    }

    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Repr {
        let b = p.buffer.as_ref();
        Repr {
            msg_type: p.msg_type(),
            code: p.code(),
            rest: [b[4], b[5], b[6], b[7]],
        }
    }

    /// Write the header and `data` with the checksum for the pseudo-header sum `pseudo`
    /// (which must count the length `8 + data.len()`); returns the message length.
    pub fn emit(&self, buf: &mut [u8], data: &[u8], pseudo: u32) -> Result<usize> {
        let n = HEADER_LEN + data.len();
        let b = buf.get_mut(..n).ok_or(Error::NoRoom)?;
        b[0] = self.msg_type;
        b[1] = self.code;
        b[4..8].copy_from_slice(&self.rest);
        b[HEADER_LEN..].copy_from_slice(data);
        Packet::new_unchecked(b).fill_checksum(pseudo);
        Ok(n)
    }
}

/// Largest ICMPv6 error packet (RFC 4443 2.4(c): the minimum MTU): the quote is cut to fit.
pub const MAX_ERROR_LEN: usize = 1280;

/// Write a whole IPv6 packet carrying the ICMPv6 error `repr` about `original` (an IPv6
/// packet, header first) into `buf`: from `src` to the original's source, hop limit 64,
/// quoting as much of the original as fits in [`MAX_ERROR_LEN`] bytes. Returns its length.
///
/// Whether an error may be sent at all is the caller's decision (RFC 4443 2.4(e)).
pub fn emit_error_packet(
    buf: &mut [u8],
    src: core::net::Ipv6Addr,
    repr: &Repr,
    original: &[u8],
) -> Result<usize> {
    use crate::ip::IpProtocol;
    use crate::ipv6;
    let orig = ipv6::Packet::new_checked_header(original)?;
    let room = MAX_ERROR_LEN - ipv6::HEADER_LEN - HEADER_LEN;
    let quote = &original[..original.len().min(room)];
    let icmp_len = HEADER_LEN + quote.len();
    let total = ipv6::HEADER_LEN + icmp_len;
    if buf.len() < total {
        return Err(Error::NoRoom);
    }
    let dst = orig.src_addr();
    ipv6::Repr {
        src,
        dst,
        next_header: IpProtocol::ICMPV6,
        payload_len: icmp_len as u16,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(buf)?;
    let pseudo = checksum::pseudo_header_v6(&src, &dst, IpProtocol::ICMPV6, icmp_len as u32);
    repr.emit(&mut buf[ipv6::HEADER_LEN..], quote, pseudo)?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::IpProtocol;
    use core::net::Ipv6Addr;
    use proptest::prelude::*;

    fn pseudo(len: u32) -> u32 {
        let s: Ipv6Addr = "fe80::1".parse().unwrap();
        let d: Ipv6Addr = "fe80::2".parse().unwrap();
        checksum::pseudo_header_v6(&s, &d, IpProtocol::ICMPV6, len)
    }

    #[test]
    fn known_echo_request() {
        // fe80::1 -> fe80::2, echo id 0x1234 seq 1, no data.
        // Pseudo: fe80+0001+fe80+0002+0008+003a = 0x1fd45; message 8000+1234+0001
        // = 0x9235; total 0x28f7a -> 0x8f7c -> checksum 0x7083.
        let mut b = [0u8; 8];
        Repr::echo_request(0x1234, 1)
            .emit(&mut b, &[], pseudo(8))
            .unwrap();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.checksum(), 0x7083);
        assert!(p.verify_checksum(pseudo(8)));
        assert!(!p.verify_checksum(pseudo(9)));
        assert!(p.is_echo() && !p.is_error());
        assert_eq!(p.echo_ident(), 0x1234);
    }

    #[test]
    fn packet_too_big_quotes() {
        let q = [0x60u8; 48];
        let mut b = [0u8; 56];
        Repr::packet_too_big(1280)
            .emit(&mut b, &q, pseudo(56))
            .unwrap();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.mtu(), Some(1280));
        assert_eq!(p.quoted(), Some(&q[..]));
        assert!(p.verify_checksum(pseudo(56)));
        assert_eq!(Repr::parse(&p), Repr::packet_too_big(1280));
    }

    #[test]
    fn error_packet_about_a_big_packet() {
        use crate::packet::{parse_ip, verify_checksums, Transport};
        use crate::testutil::*;
        use std::net::IpAddr;
        let (c, v): (IpAddr, IpAddr) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::100".parse().unwrap(),
        );
        let big = ip_packet(
            c,
            v,
            IpProtocol::UDP,
            &udp_datagram(c, v, 5000, 53, &[7; 1400], false),
        );
        let mut out = [0u8; 1500];
        let me: Ipv6Addr = "2001:db8:1::1".parse().unwrap();
        let n = emit_error_packet(&mut out, me, &Repr::packet_too_big(1280), &big).unwrap();
        assert_eq!(n, MAX_ERROR_LEN);
        let info = parse_ip(&out[..n], 0).unwrap();
        assert_eq!((info.src, info.dst), (IpAddr::V6(me), c));
        assert!(verify_checksums(&out[..n], &info));
        let Transport::IcmpError {
            msg_type: 2,
            quoted: Some(q),
            ..
        } = info.transport
        else {
            panic!("{:?}", info.transport)
        };
        assert_eq!(q.ports, Some((5000, 53)));
        assert_eq!(
            emit_error_packet(&mut out[..100], me, &Repr::packet_too_big(1280), &big),
            Err(Error::NoRoom)
        );
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (Repr::parse(&p), p.quoted(), p.mtu(), p.verify_checksum(0));
            }
        }
    }
}
