//! Things shared by IPv4 and IPv6: protocol numbers and address helpers.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IP protocol number (IPv4 "protocol", IPv6 "next header").
///
/// A newtype rather than an enum: every byte value is a valid protocol number and code
/// must keep the ones it does not know.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpProtocol(pub u8);

impl IpProtocol {
    pub const HOP_BY_HOP: IpProtocol = IpProtocol(0);
    pub const ICMP: IpProtocol = IpProtocol(1);
    /// IPv4 encapsulated in IP (IPIP).
    pub const IPV4: IpProtocol = IpProtocol(4);
    pub const TCP: IpProtocol = IpProtocol(6);
    pub const UDP: IpProtocol = IpProtocol(17);
    /// IPv6 encapsulated in IP.
    pub const IPV6: IpProtocol = IpProtocol(41);
    pub const IPV6_ROUTING: IpProtocol = IpProtocol(43);
    pub const IPV6_FRAGMENT: IpProtocol = IpProtocol(44);
    pub const GRE: IpProtocol = IpProtocol(47);
    pub const ESP: IpProtocol = IpProtocol(50);
    pub const AH: IpProtocol = IpProtocol(51);
    pub const ICMPV6: IpProtocol = IpProtocol(58);
    pub const IPV6_NO_NEXT: IpProtocol = IpProtocol(59);
    pub const IPV6_DEST_OPTS: IpProtocol = IpProtocol(60);
    pub const SCTP: IpProtocol = IpProtocol(132);
    pub const MOBILITY: IpProtocol = IpProtocol(135);
    pub const HIP: IpProtocol = IpProtocol(139);
    pub const SHIM6: IpProtocol = IpProtocol(140);
}

impl From<u8> for IpProtocol {
    fn from(v: u8) -> Self {
        IpProtocol(v)
    }
}

impl From<IpProtocol> for u8 {
    fn from(p: IpProtocol) -> u8 {
        p.0
    }
}

impl fmt::Debug for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            IpProtocol::HOP_BY_HOP => "HopByHop",
            IpProtocol::ICMP => "Icmp",
            IpProtocol::IPV4 => "IpIp",
            IpProtocol::TCP => "Tcp",
            IpProtocol::UDP => "Udp",
            IpProtocol::IPV6 => "Ipv6",
            IpProtocol::IPV6_ROUTING => "Ipv6Routing",
            IpProtocol::IPV6_FRAGMENT => "Ipv6Fragment",
            IpProtocol::GRE => "Gre",
            IpProtocol::ESP => "Esp",
            IpProtocol::AH => "Ah",
            IpProtocol::ICMPV6 => "Icmpv6",
            IpProtocol::IPV6_NO_NEXT => "Ipv6NoNext",
            IpProtocol::IPV6_DEST_OPTS => "Ipv6DestOpts",
            IpProtocol::SCTP => "Sctp",
            _ => return write!(f, "IpProtocol({})", self.0),
        };
        f.write_str(name)
    }
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// IP version of a packet, from the first nibble.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpVersion {
    V4,
    V6,
}

impl IpVersion {
    /// The version of the IP packet starting with `first_byte`, if it is 4 or 6.
    pub fn of(first_byte: u8) -> Option<IpVersion> {
        match first_byte >> 4 {
            4 => Some(IpVersion::V4),
            6 => Some(IpVersion::V6),
            _ => None,
        }
    }
}

/// The address bytes of `addr`: 4 or 16 of the returned 16.
pub(crate) fn addr_bytes(addr: &IpAddr) -> ([u8; 16], usize) {
    let mut out = [0u8; 16];
    match addr {
        IpAddr::V4(a) => {
            out[..4].copy_from_slice(&a.octets());
            (out, 4)
        }
        IpAddr::V6(a) => {
            out.copy_from_slice(&a.octets());
            (out, 16)
        }
    }
}

pub(crate) fn read_v4(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

pub(crate) fn read_v6(b: &[u8]) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o.copy_from_slice(&b[..16]);
    Ipv6Addr::from(o)
}

#[inline]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline]
pub(crate) fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline]
pub(crate) fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}
