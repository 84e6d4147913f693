//! The two lookup keys of a connection.
//!
//! A connection is found from either side of the director:
//! - [`InKey`] for client → virtual service packets: (protocol, client addr:port,
//!   virtual addr:port). Persistence templates use the same shape, built by
//!   [`crate::persist::template_key`], with the masked client address and port 0.
//! - [`OutKey`] for replies real server → client that come back through the director
//!   (NAT and FULLNAT): (protocol, real-server addr:port, client addr:port), where the
//!   client side is the FULLNAT local addr:port for FULLNAT connections.

use core::net::IpAddr;

/// An address and a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub addr: IpAddr,
    pub port: u16,
}

impl Endpoint {
    pub const fn new(addr: IpAddr, port: u16) -> Self {
        Endpoint { addr, port }
    }
}

/// Key of a client → director packet: its source is `client`, its destination `virt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InKey {
    /// IP protocol number (6, 17, 132; 0 for firewall-mark templates).
    pub proto: u8,
    pub client: Endpoint,
    pub virt: Endpoint,
}

/// Key of a real server → director reply: its source is `server`, its destination
/// `client` (the FULLNAT local endpoint for FULLNAT connections).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OutKey {
    pub proto: u8,
    pub server: Endpoint,
    pub client: Endpoint,
}

/// An address in a fixed 16-byte form (IPv4 in the first four bytes) plus its family,
/// so that entries stay small and comparisons are plain byte compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) struct RawAddr {
    pub bytes: [u8; 16],
    pub v6: bool,
}

impl RawAddr {
    pub fn from_ip(ip: IpAddr) -> RawAddr {
        match ip {
            IpAddr::V4(a) => {
                let mut bytes = [0u8; 16];
                bytes[..4].copy_from_slice(&a.octets());
                RawAddr { bytes, v6: false }
            }
            IpAddr::V6(a) => RawAddr {
                bytes: a.octets(),
                v6: true,
            },
        }
    }

    pub fn to_ip(self) -> IpAddr {
        if self.v6 {
            IpAddr::from(self.bytes)
        } else {
            IpAddr::from([self.bytes[0], self.bytes[1], self.bytes[2], self.bytes[3]])
        }
    }
}
