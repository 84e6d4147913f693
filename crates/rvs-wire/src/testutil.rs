//! Packet builders for tests.

use std::net::IpAddr;
use std::vec::Vec;

use crate::checksum;
use crate::ethernet::{self, EtherType, MacAddr};
use crate::ip::IpProtocol;
use crate::{ipv4, ipv6};

/// An IP packet with `proto` and the given transport bytes, with the transport checksum
/// filled by `fill` (given the pseudo-header sum) and the IPv4 header checksum set.
pub fn ip_packet(src: IpAddr, dst: IpAddr, proto: IpProtocol, l4: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let r = ipv4::Repr {
                src: s,
                dst: d,
                protocol: proto,
                payload_len: l4.len() as u16,
                ttl: 64,
                tos: 0,
                ident: 7,
                dont_frag: true,
            };
            out.resize(20, 0);
            r.emit(&mut out).unwrap();
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let r = ipv6::Repr {
                src: s,
                dst: d,
                next_header: proto,
                payload_len: l4.len() as u16,
                hop_limit: 64,
                traffic_class: 0,
                flow_label: 0,
            };
            out.resize(40, 0);
            r.emit(&mut out).unwrap();
        }
        _ => panic!("mixed families"),
    }
    out.extend_from_slice(l4);
    out
}

/// The pseudo-header sum for a transport segment of `len` bytes.
pub fn pseudo(src: IpAddr, dst: IpAddr, proto: IpProtocol, len: usize) -> u32 {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => checksum::pseudo_header_v4(s, d, proto, len as u16),
        (IpAddr::V6(s), IpAddr::V6(d)) => checksum::pseudo_header_v6(&s, &d, proto, len as u32),
        _ => panic!("mixed families"),
    }
}

/// Prepend an untagged Ethernet header for the IP packet.
pub fn frame(ip: &[u8]) -> Vec<u8> {
    let ethertype = if ip[0] >> 4 == 6 {
        EtherType::IPV6
    } else {
        EtherType::IPV4
    };
    let mut out = vec![0u8; 14];
    ethernet::Repr {
        src: MacAddr([2, 0, 0, 0, 0, 1]),
        dst: MacAddr([2, 0, 0, 0, 0, 2]),
        vlan_tci: None,
        ethertype,
    }
    .emit(&mut out)
    .unwrap();
    out.extend_from_slice(ip);
    out
}

/// A TCP segment with valid checksum.
pub fn tcp_segment(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut seg = vec![0u8; 20];
    crate::tcp::Repr {
        src_port: sport,
        dst_port: dport,
        seq_number: 100,
        ack_number: 200,
        flags: crate::tcp::Flags::ACK | crate::tcp::Flags::PSH,
        window_len: 1000,
        urgent_at: 0,
    }
    .emit(&mut seg)
    .unwrap();
    seg.extend_from_slice(payload);
    let p = pseudo(src, dst, IpProtocol::TCP, seg.len());
    crate::tcp::Packet::new_unchecked(&mut seg[..]).fill_checksum(p);
    seg
}

/// A UDP datagram with valid checksum (or 0 when `no_checksum`).
pub fn udp_datagram(
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    payload: &[u8],
    no_checksum: bool,
) -> Vec<u8> {
    let mut seg = vec![0u8; 8];
    crate::udp::Repr {
        src_port: sport,
        dst_port: dport,
        payload_len: payload.len() as u16,
    }
    .emit(&mut seg)
    .unwrap();
    seg.extend_from_slice(payload);
    if !no_checksum {
        let p = pseudo(src, dst, IpProtocol::UDP, seg.len());
        crate::udp::Packet::new_unchecked(&mut seg[..]).fill_checksum(p);
    }
    seg
}
