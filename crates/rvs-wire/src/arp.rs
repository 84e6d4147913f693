//! ARP for IPv4 over Ethernet (RFC 826). Other hardware or protocol types are refused.

use core::net::Ipv4Addr;

use crate::error::{Error, Result};
use crate::ethernet::{EtherType, MacAddr};
use crate::ip::{be16, put16, read_v4};

/// Byte ranges of an Ethernet/IPv4 ARP packet.
pub mod field {
    use core::ops::Range;
    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;
const HTYPE_ETHERNET: u16 = 1;

/// ARP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Request,
    Reply,
    Other(u16),
}

impl From<u16> for Operation {
    fn from(v: u16) -> Self {
        match v {
            1 => Operation::Request,
            2 => Operation::Reply,
            v => Operation::Other(v),
        }
    }
}

impl From<Operation> for u16 {
    fn from(o: Operation) -> u16 {
        match o {
            Operation::Request => 1,
            Operation::Reply => 2,
            Operation::Other(v) => v,
        }
    }
}

/// A view of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap after checking the length and that this is Ethernet/IPv4 ARP.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Packet::new_unchecked(buffer);
        let b = p.buffer.as_ref();
        if b.len() < PACKET_LEN {
            return Err(Error::Truncated);
        }
        if be16(b, field::HTYPE.start) != HTYPE_ETHERNET
            || be16(b, field::PTYPE.start) != EtherType::IPV4.0
            || b[field::HLEN] != 6
            || b[field::PLEN] != 4
        {
            return Err(Error::Unsupported);
        }
        Ok(p)
    }

    pub fn operation(&self) -> Operation {
        be16(self.buffer.as_ref(), field::OPER.start).into()
    }

    pub fn sender_hw_addr(&self) -> MacAddr {
        let mut a = [0; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::SHA]);
        MacAddr(a)
    }

    pub fn sender_ip(&self) -> Ipv4Addr {
        read_v4(&self.buffer.as_ref()[field::SPA])
    }

    pub fn target_hw_addr(&self) -> MacAddr {
        let mut a = [0; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::THA]);
        MacAddr(a)
    }

    pub fn target_ip(&self) -> Ipv4Addr {
        read_v4(&self.buffer.as_ref()[field::TPA])
    }
}

/// An owned Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    pub operation: Operation,
    pub sender_hw_addr: MacAddr,
    pub sender_ip: Ipv4Addr,
    pub target_hw_addr: MacAddr,
    pub target_ip: Ipv4Addr,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Repr {
        Repr {
            operation: p.operation(),
            sender_hw_addr: p.sender_hw_addr(),
            sender_ip: p.sender_ip(),
            target_hw_addr: p.target_hw_addr(),
            target_ip: p.target_ip(),
        }
    }

    /// Write the packet at the start of `buf`; returns its length ([`PACKET_LEN`]).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let b = buf.get_mut(..PACKET_LEN).ok_or(Error::NoRoom)?;
        put16(b, field::HTYPE.start, HTYPE_ETHERNET);
        put16(b, field::PTYPE.start, EtherType::IPV4.0);
        b[field::HLEN] = 6;
        b[field::PLEN] = 4;
        put16(b, field::OPER.start, self.operation.into());
        b[field::SHA].copy_from_slice(&self.sender_hw_addr.0);
        b[field::SPA].copy_from_slice(&self.sender_ip.octets());
        b[field::THA].copy_from_slice(&self.target_hw_addr.0);
        b[field::TPA].copy_from_slice(&self.target_ip.octets());
        Ok(PACKET_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_request_parses_and_round_trips() {
        // who-has 10.0.0.2 tell 10.0.0.1
        let bytes = [
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0, 0, 0, 0, 0x01, 10, 0, 0, 1, 0,
            0, 0, 0, 0, 0, 10, 0, 0, 2,
        ];
        let p = Packet::new_checked(&bytes[..]).unwrap();
        let r = Repr::parse(&p);
        assert_eq!(r.operation, Operation::Request);
        assert_eq!(r.sender_ip, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(r.target_ip, Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(r.sender_hw_addr, MacAddr([2, 0, 0, 0, 0, 1]));
        let mut out = [0u8; 28];
        r.emit(&mut out).unwrap();
        assert_eq!(out, bytes);
    }

    #[test]
    fn other_hardware_is_unsupported() {
        let mut b = [0u8; 28];
        b[1] = 6;
        assert_eq!(Packet::new_checked(&b[..]).err(), Some(Error::Unsupported));
        assert_eq!(Packet::new_checked(&b[..27]).err(), Some(Error::Truncated));
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = Repr::parse(&p);
            }
        }
    }
}
