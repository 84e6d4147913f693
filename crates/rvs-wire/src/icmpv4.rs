//! ICMPv4 messages (RFC 792): echo, and the errors that quote the offending datagram.

use crate::checksum;
use crate::error::{Error, Result};
use crate::ip::{be16, put16};

/// Byte ranges of the ICMP header.
pub mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    /// Echo identifier.
    pub const ECHO_IDENT: Range<usize> = 4..6;
    /// Echo sequence number.
    pub const ECHO_SEQNO: Range<usize> = 6..8;
    /// Destination unreachable, fragmentation needed: next-hop MTU (RFC 1191).
    pub const MTU: Range<usize> = 6..8;
    /// Parameter problem: pointer.
    pub const POINTER: usize = 4;
}

pub const HEADER_LEN: usize = 8;

/// Message types.
pub mod types {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const SOURCE_QUENCH: u8 = 4;
    pub const REDIRECT: u8 = 5;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAM_PROBLEM: u8 = 12;
}

/// Destination unreachable code "fragmentation needed and DF set".
pub const CODE_FRAG_NEEDED: u8 = 4;

/// True for the types that carry the header of the datagram that caused them.
pub fn is_error(msg_type: u8) -> bool {
    matches!(
        msg_type,
        types::DEST_UNREACHABLE
            | types::SOURCE_QUENCH
            | types::REDIRECT
            | types::TIME_EXCEEDED
            | types::PARAM_PROBLEM
    )
}

/// A view of an ICMPv4 message. The buffer should end where the message ends (the IP
/// payload): the checksum covers all of it.
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

    /// Echo identifier (meaningful for echo request and reply).
    pub fn echo_ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ECHO_IDENT.start)
    }

    pub fn echo_seq_no(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ECHO_SEQNO.start)
    }

    /// The next-hop MTU of a "fragmentation needed" message.
    pub fn next_hop_mtu(&self) -> Option<u16> {
        (self.msg_type() == types::DEST_UNREACHABLE && self.code() == CODE_FRAG_NEEDED)
            .then(|| be16(self.buffer.as_ref(), field::MTU.start))
    }

    /// Everything after the 8-byte header: echo data, or the quoted datagram of an error.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// The quoted datagram (IP header and at least 8 bytes of its payload, often cut
    /// short) of an error message.
    pub fn quoted(&self) -> Option<&[u8]> {
        self.is_error().then(|| self.data())
    }

    pub fn verify_checksum(&self) -> bool {
        checksum::verifies(checksum::sum(self.buffer.as_ref()))
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

    pub fn set_echo_seq_no(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::ECHO_SEQNO.start, v);
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// Compute and store the checksum over the whole buffer.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// An owned ICMPv4 header: type, code and the 4 type-specific bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    pub msg_type: u8,
    pub code: u8,
    /// Bytes 4..8: echo identifier and sequence, MTU, pointer...
    pub rest: [u8; 4],
}

impl Repr {
    pub fn echo_request(ident: u16, seq_no: u16) -> Repr {
        Repr::echo(types::ECHO_REQUEST, ident, seq_no)
    }

    pub fn echo_reply(ident: u16, seq_no: u16) -> Repr {
        Repr::echo(types::ECHO_REPLY, ident, seq_no)
    }

    fn echo(msg_type: u8, ident: u16, seq_no: u16) -> Repr {
        let [a, b] = ident.to_be_bytes();
        let [c, d] = seq_no.to_be_bytes();
        Repr {
            msg_type,
            code: 0,
            rest: [a, b, c, d],
        }
    }

    /// Destination unreachable, fragmentation needed, with the next-hop MTU.
    pub fn frag_needed(mtu: u16) -> Repr {
        let [a, b] = mtu.to_be_bytes();
        Repr {
            msg_type: types::DEST_UNREACHABLE,
            code: CODE_FRAG_NEEDED,
            rest: [0, 0, a, b],
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

    /// Write the header followed by `data` (echo data or the quoted datagram) with its
    /// checksum; returns the message length.
    pub fn emit(&self, buf: &mut [u8], data: &[u8]) -> Result<usize> {
        let n = HEADER_LEN + data.len();
        let b = buf.get_mut(..n).ok_or(Error::NoRoom)?;
        b[0] = self.msg_type;
        b[1] = self.code;
        b[4..8].copy_from_slice(&self.rest);
        b[HEADER_LEN..].copy_from_slice(data);
        Packet::new_unchecked(b).fill_checksum();
        Ok(n)
    }
}

/// Largest ICMPv4 error datagram (RFC 1812 4.3.2.3): the quote is cut to fit.
pub const MAX_ERROR_LEN: usize = 576;

/// Write a whole IPv4 packet carrying the ICMP error `repr` about `original` (an IPv4
/// packet, header first) into `buf`: from `src` to the original's source, TTL 64, quoting
/// as much of the original as fits in [`MAX_ERROR_LEN`] bytes. Returns its length.
///
/// Whether an error may be sent at all (not about an ICMP error, a non-first fragment,
/// a broadcast...; rate limits) is the caller's decision.
pub fn emit_error_packet(
    buf: &mut [u8],
    src: core::net::Ipv4Addr,
    repr: &Repr,
    original: &[u8],
) -> Result<usize> {
    use crate::ip::IpProtocol;
    use crate::ipv4;
    let orig = ipv4::Packet::new_checked_header(original)?;
    let room = MAX_ERROR_LEN - ipv4::HEADER_LEN - HEADER_LEN;
    let quote = &original[..original.len().min(room)];
    let icmp_len = HEADER_LEN + quote.len();
    let total = ipv4::HEADER_LEN + icmp_len;
    if buf.len() < total {
        return Err(Error::NoRoom);
    }
    ipv4::Repr {
        src,
        dst: orig.src_addr(),
        protocol: IpProtocol::ICMP,
        payload_len: icmp_len as u16,
        ttl: 64,
        // As the kernel's icmp_send: the original's TOS bits, internet-control
        // precedence (0xc0).
        tos: (orig.tos() & 0x1e) | 0xc0,
        ident: 0,
        dont_frag: false,
    }
    .emit(buf)?;
    repr.emit(&mut buf[ipv4::HEADER_LEN..], quote)?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_echo_request() {
        // ping id 0x1234 seq 1, data "abcd".
        let mut b = [0u8; 12];
        let n = Repr::echo_request(0x1234, 1).emit(&mut b, b"abcd").unwrap();
        assert_eq!(n, 12);
        // 0x0800+0x1234+0x0001+0x6162+0x6364 = 0xdefb -> checksum 0x2104.
        assert_eq!(&b[2..4], &[0x21, 0x04]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum() && p.is_echo() && !p.is_error());
        assert_eq!((p.echo_ident(), p.echo_seq_no()), (0x1234, 1));
        assert_eq!(Repr::parse(&p), Repr::echo_request(0x1234, 1));
    }

    #[test]
    fn frag_needed_quotes() {
        let quoted = [0x45u8; 28];
        let mut b = [0u8; 36];
        Repr::frag_needed(1400).emit(&mut b, &quoted).unwrap();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.is_error() && p.verify_checksum());
        assert_eq!(p.next_hop_mtu(), Some(1400));
        assert_eq!(p.quoted(), Some(&quoted[..]));
        assert_eq!(
            Repr::frag_needed(1400).emit(&mut b[..35], &quoted),
            Err(Error::NoRoom)
        );
    }

    #[test]
    fn error_packet_about_a_big_datagram() {
        use crate::packet::{parse_ip, verify_checksums, Transport};
        use crate::testutil::*;
        use std::net::IpAddr;
        let (c, v): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.100".parse().unwrap());
        let big = ip_packet(
            c,
            v,
            crate::IpProtocol::TCP,
            &tcp_segment(c, v, 1234, 80, &[7; 1400]),
        );
        let mut out = [0u8; 1500];
        let me = core::net::Ipv4Addr::new(192, 168, 1, 1);
        let n = emit_error_packet(&mut out, me, &Repr::frag_needed(1400), &big).unwrap();
        assert_eq!(n, MAX_ERROR_LEN);
        let info = parse_ip(&out[..n], 0).unwrap();
        assert_eq!((info.src, info.dst), (IpAddr::V4(me), c));
        assert!(verify_checksums(&out[..n], &info));
        let Transport::IcmpError {
            msg_type: 3,
            code: 4,
            quoted: Some(q),
        } = info.transport
        else {
            panic!("{:?}", info.transport)
        };
        assert_eq!(q.ports, Some((1234, 80)));
        assert_eq!(&out[28..n], &big[..n - 28]);
        assert_eq!(
            emit_error_packet(&mut out[..100], me, &Repr::frag_needed(1400), &big),
            Err(Error::NoRoom)
        );
        assert_eq!(
            emit_error_packet(&mut out, me, &Repr::frag_needed(1400), &big[..10]),
            Err(Error::Truncated)
        );
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (Repr::parse(&p), p.quoted(), p.next_hop_mtu(), p.verify_checksum());
            }
        }
    }
}
