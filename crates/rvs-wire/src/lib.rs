//! rvs-wire: zero-copy views and emitters of the packets a layer-4 balancer touches.
//!
//! Every protocol module follows the smoltcp shape:
//!
//! * `Packet<T: AsRef<[u8]>>` (or `Frame`) wraps a buffer. `Packet::new_checked` does the one
//!   length check that makes every accessor infallible; after it no accessor can panic,
//!   whatever the bytes are. `new_unchecked` exists for code that already checked.
//! * A `field` module names the byte ranges of the fixed header.
//! * Setters exist when `T: AsMut<[u8]>`.
//! * A `Repr` (owned, `Copy`) with `parse` and `emit` where a header is built from scratch.
//!
//! On top of the views:
//!
//! * [`packet`] parses a whole frame (Ethernet, optional 802.1Q, IPv4/IPv6 with extension
//!   headers, the transport header, the packet quoted in an ICMP error) into a small `Copy`
//!   [`packet::PacketInfo`] of offsets and fields, in one pass.
//! * [`rewrite`] changes addresses and ports in place with incremental checksum updates
//!   (RFC 1624): the NAT / FULLNAT primitive of the engine.
//! * [`tunnel`] prepends outer headers (IPIP, IPv6 tunnels, GUE, GRE) and finds the inner
//!   packet of a tunnelled one.
//! * [`icmpv4::emit_error_packet`] and [`icmpv6::emit_error_packet`] build the "fragmentation
//!   needed" / "packet too big" replies a tunnel that grows a packet must send.
//! * [`checksum`] has the Internet checksum (full, pseudo-headers, incremental, partial
//!   completion) and SCTP's CRC32c.
//!
//! The crate never allocates, never panics on input and has no `unsafe` code.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), no_std)]

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod flow;
pub mod icmpv4;
pub mod icmpv6;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod packet;
pub mod rewrite;
pub mod sctp;
pub mod tcp;
pub mod tunnel;
pub mod udp;

mod error;

pub use error::{Error, Result};
pub use ip::IpProtocol;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;
