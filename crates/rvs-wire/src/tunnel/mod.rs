//! Tunnels for the TUN forwarding method: put an outer header in front of an IP packet
//! (IPIP, IPv6-in-IPv4, IPv4-in-IPv6, IPv6-in-IPv6, GUE, GRE), and find the inner packet of
//! a tunnelled one. This is the one implementation of the outer header in rvs; the
//! engine only decides the parameters.
//!
//! # Encapsulating
//!
//! The inner packet lies in a buffer with headroom in front of it (see `Frame` in
//! `rvs-core`). [`encapsulate`] writes the outer headers into the
//! [`header_len`] bytes just before it and returns where the outer packet starts; the inner
//! packet is not moved or copied.
//!
//! What goes out is what Linux IPVS sends (`net/netfilter/ipvs/ip_vs_xmit.c`:
//! `ip_vs_prepare_tunneled_skb`, `ip_vs_tunnel_xmit`, `ip_vs_tunnel_xmit_v6`,
//! `ipvs_gue_encap`, `ipvs_gre_encap`), given the [`Outer`] of [`Outer::from_inner`]:
//!
//! | field | value |
//! | --- | --- |
//! | TTL / hop limit | the inner packet's, as it is when encapsulated |
//! | DS field (TOS, traffic class) | [`outer_ds_field`] of the inner one: DSCP copied, ECN copied but CE sent as ECT(0) (`INET_ECN_encapsulate`) |
//! | IPv4 DF | the inner DF for IPv4 inside (sysctl `pmtu_disc`, default on), clear for IPv6 inside; MF and offset 0 |
//! | IPv4 identification | 0 with DF, a fresh value without it (`ip_select_ident`; the caller's, see [`Outer::needs_ident`]) |
//! | IPv4 header | 20 bytes, no options, checksum computed |
//! | IPv6 flow label | 0 |
//! | protocol / next header | 4 (IPv4 inside) or 41 (IPv6 inside); 17 for GUE, 47 for GRE |
//! | GUE | UDP from [`gue_src_port`] (32768..=60999) to the configured port; UDP checksum with `--tun-csum`/`--tun-remcsum`, else 0 over IPv4 and IPv6 alike; variant 0, no flags, no options, protocol 4/41 |
//! | GRE | version 0, C flag and checksum over GRE header and payload with `--tun-csum`, no key, no sequence, protocol 0x0800/0x86DD |
//!
//! The kernel also decrements the inner TTL before all this, as routing does for every
//! forwarding method (`decrement_ttl` in `__ip_vs_get_out_rt`); that is the caller's
//! business, and the outer header copies the result.
//!
//! # Decapsulating
//!
//! [`decapsulate`] takes a parsed outer packet and returns the offsets of the inner one;
//! parse it with [`crate::packet::parse_ip`] on `&buf[..d.end]`.

mod decap;
mod encap;
pub mod gre;
pub mod gue;
mod ipip4;

pub use decap::{decapsulate, Decap, TunnelKind};
pub use encap::{encapsulate, flow_hash, gue_src_port, header_len, outer_ds_field, Encap, Outer};
pub use gue::RemoteChecksum;
pub use ipip4::Ipip4Header;

#[cfg(test)]
mod tests;
