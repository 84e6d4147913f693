use std::net::IpAddr;

use proptest::prelude::*;

use crate::error::Error;
use crate::ip::IpProtocol;
use crate::packet::*;
use crate::testutil::*;
use crate::{icmpv4, icmpv6, tcp};

fn a(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn ethernet_ipv4_tcp() {
    let (c, v) = (a("10.0.0.1"), a("10.0.0.100"));
    let mut f = frame(&ip_packet(
        c,
        v,
        IpProtocol::TCP,
        &tcp_segment(c, v, 43210, 80, b"GET"),
    ));
    f.extend_from_slice(&[0; 6]); // Ethernet padding is not part of the packet
    let info = parse_frame(&f).unwrap();
    assert_eq!(info.vlan_tci, None);
    let ip = info.ip;
    assert_eq!((ip.offset, ip.l4, ip.end), (14, 34, 14 + 20 + 23));
    assert_eq!((ip.src, ip.dst, ip.protocol), (c, v, IpProtocol::TCP));
    assert_eq!(ip.fragment, Fragment::None);
    match ip.transport {
        Transport::Tcp {
            src_port,
            dst_port,
            flags,
            header_len,
            ..
        } => {
            assert_eq!((src_port, dst_port, header_len), (43210, 80, 20));
            assert_eq!(flags, tcp::Flags::ACK | tcp::Flags::PSH);
        }
        t => panic!("{t:?}"),
    }
    assert!(verify_checksums(&f, &ip));
    f[40] ^= 0xff;
    assert!(!verify_checksums(&f, &ip));
}

#[test]
fn vlan_ipv6_udp() {
    let (c, v) = (a("2001:db8::1"), a("2001:db8::100"));
    let ip = ip_packet(
        c,
        v,
        IpProtocol::UDP,
        &udp_datagram(c, v, 5353, 53, b"q", false),
    );
    let mut f = vec![
        2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x81, 0x00, 0x00, 0x0a, 0x86, 0xdd,
    ];
    f.extend_from_slice(&ip);
    let info = parse_frame(&f).unwrap();
    assert_eq!(info.vlan_tci, Some(10));
    assert_eq!(info.ip.l4, 18 + 40);
    assert_eq!(info.ip.transport.ports(), Some((5353, 53)));
    assert!(verify_checksums(&f, &info.ip));
}

#[test]
fn ipv6_extension_headers_and_fragments() {
    let (c, v) = (a("2001:db8::1"), a("2001:db8::100"));
    let seg = tcp_segment(c, v, 1000, 443, b"");
    // Hop-by-hop (8) then fragment (8, first fragment with M set) then TCP.
    let mut payload = vec![44, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 1, 0, 0, 0, 9];
    payload.extend_from_slice(&seg);
    let ip = ip_packet(c, v, IpProtocol::HOP_BY_HOP, &payload);
    let info = parse_ip(&ip, 0).unwrap();
    assert_eq!(info.protocol, IpProtocol::TCP);
    assert_eq!(info.l4, 56);
    assert_eq!(info.fragment, Fragment::First);
    assert_eq!(info.transport.ports(), Some((1000, 443)));

    // A later fragment: offset 8, no transport header.
    let mut later = ip.clone();
    later[40 + 8 + 2] = 0;
    later[40 + 8 + 3] = 8;
    let info = parse_ip(&later, 0).unwrap();
    assert_eq!(info.fragment, Fragment::NonFirst);
    assert_eq!(info.transport, Transport::Opaque);
}

#[test]
fn ipv4_fragments() {
    let (c, v) = (a("10.0.0.1"), a("10.0.0.100"));
    let mut ip = ip_packet(
        c,
        v,
        IpProtocol::UDP,
        &udp_datagram(c, v, 1, 2, &[0; 40], false),
    );
    // First fragment: MF set, the UDP length announces more than is here.
    ip[6] = 0x20;
    ip.truncate(20 + 16);
    ip[3] = 36;
    let info = parse_ip(&ip, 0).unwrap();
    assert_eq!(info.fragment, Fragment::First);
    assert_eq!(info.transport.ports(), Some((1, 2)));
    ip[7] = 2; // offset 16 bytes
    let info = parse_ip(&ip, 0).unwrap();
    assert_eq!(info.fragment, Fragment::NonFirst);
    assert_eq!(info.transport, Transport::Opaque);
}

/// An ICMPv4 frag-needed from `router` to `vip` quoting `quote_len` bytes of the reply
/// vip:80 -> client:1234.
pub fn icmp4_error(quote_len: usize) -> Vec<u8> {
    let (router, vip, client) = (a("172.16.0.1"), a("10.0.0.100"), a("10.0.0.1"));
    let reply = ip_packet(
        vip,
        client,
        IpProtocol::TCP,
        &tcp_segment(vip, client, 80, 1234, &[0x55; 100]),
    );
    let quote = &reply[..quote_len.min(reply.len())];
    let mut msg = vec![0u8; 8 + quote.len()];
    icmpv4::Repr::frag_needed(1400)
        .emit(&mut msg, quote)
        .unwrap();
    ip_packet(router, vip, IpProtocol::ICMP, &msg)
}

#[test]
fn icmpv4_error_quote() {
    let f = frame(&icmp4_error(28));
    let info = parse_frame(&f).unwrap();
    assert!(verify_checksums(&f, &info.ip));
    let Transport::IcmpError {
        msg_type,
        code,
        quoted: Some(q),
    } = info.ip.transport
    else {
        panic!("{:?}", info.ip.transport)
    };
    assert_eq!((msg_type, code), (3, 4));
    assert_eq!((q.src, q.dst), (a("10.0.0.100"), a("10.0.0.1")));
    assert_eq!(q.protocol, IpProtocol::TCP);
    assert_eq!(q.offset, 14 + 20 + 8);
    assert_eq!(q.l4, q.offset + 20);
    assert_eq!(q.ports, Some((80, 1234)));
    assert_eq!(q.end, f.len());

    // A quote too short for the ports still parses, without ports.
    let f = frame(&icmp4_error(22));
    let info = parse_frame(&f).unwrap();
    let Transport::IcmpError {
        quoted: Some(q), ..
    } = info.ip.transport
    else {
        panic!()
    };
    assert_eq!(q.ports, None);
    // A quote without a whole IP header has no quote.
    let f = frame(&icmp4_error(12));
    let info = parse_frame(&f).unwrap();
    assert!(matches!(
        info.ip.transport,
        Transport::IcmpError { quoted: None, .. }
    ));
}

#[test]
fn icmpv6_packet_too_big_quote_and_echo() {
    let (router, vip, client) = (a("2001:db8:ff::1"), a("2001:db8::100"), a("2001:db8::1"));
    let reply = ip_packet(
        vip,
        client,
        IpProtocol::UDP,
        &udp_datagram(vip, client, 53, 5353, &[1; 30], false),
    );
    let p = pseudo(router, vip, IpProtocol::ICMPV6, 8 + reply.len());
    let mut msg = vec![0u8; 8 + reply.len()];
    icmpv6::Repr::packet_too_big(1280)
        .emit(&mut msg, &reply, p)
        .unwrap();
    let ip = ip_packet(router, vip, IpProtocol::ICMPV6, &msg);
    let info = parse_ip(&ip, 0).unwrap();
    assert!(verify_checksums(&ip, &info));
    let Transport::IcmpError {
        quoted: Some(q), ..
    } = info.transport
    else {
        panic!()
    };
    assert_eq!(q.ports, Some((53, 5353)));
    assert_eq!(q.protocol, IpProtocol::UDP);

    let p = pseudo(client, vip, IpProtocol::ICMPV6, 8);
    let mut msg = [0u8; 8];
    icmpv6::Repr::echo_request(77, 3)
        .emit(&mut msg, &[], p)
        .unwrap();
    let ip = ip_packet(client, vip, IpProtocol::ICMPV6, &msg);
    let info = parse_ip(&ip, 0).unwrap();
    assert_eq!(
        info.transport,
        Transport::IcmpEcho {
            request: true,
            ident: 77,
            seq_no: 3
        }
    );
    assert!(verify_checksums(&ip, &info));
}

#[test]
fn non_ip_and_bad_frames() {
    let mut arp = vec![0xffu8; 6];
    arp.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
    arp.extend_from_slice(&[0; 28]);
    assert_eq!(parse_frame(&arp), Err(Error::Unsupported));
    assert_eq!(parse_frame(&arp[..10]), Err(Error::Truncated));
    // EtherType IPv4 carrying an IPv6 header.
    let (c, v) = (a("::1"), a("::2"));
    let mut f = frame(&ip_packet(
        c,
        v,
        IpProtocol::UDP,
        &udp_datagram(c, v, 1, 2, b"", false),
    ));
    f[12] = 0x08;
    f[13] = 0x00;
    assert_eq!(parse_frame(&f), Err(Error::Malformed));
    assert_eq!(parse_ip(&[], 0), Err(Error::Truncated));
    assert_eq!(parse_ip(&[0x50; 40], 0), Err(Error::Malformed));
}

proptest! {
    #[test]
    fn random_frames_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200), ethertype in prop_oneof![Just(0x0800u16), Just(0x86dd), Just(0x8100), any::<u16>()]) {
        let mut d = data;
        if d.len() >= 14 {
            d[12..14].copy_from_slice(&ethertype.to_be_bytes());
        }
        if let Ok(info) = parse_frame(&d) {
            prop_assert!(info.ip.offset <= info.ip.l4 && info.ip.l4 <= info.ip.end && info.ip.end <= d.len());
            let _ = verify_checksums(&d, &info.ip);
        }
    }

    #[test]
    fn random_ip_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200), version in prop_oneof![Just(0x45u8), Just(0x60), any::<u8>()], proto in prop_oneof![Just(1u8), Just(6), Just(17), Just(58), Just(132), Just(0), Just(44), any::<u8>()]) {
        let mut d = data;
        if !d.is_empty() { d[0] = version; }
        if d.len() > 9 && version == 0x45 { d[9] = proto; }
        if d.len() > 6 && version == 0x60 { d[6] = proto; }
        if let Ok(info) = parse_ip(&d, 0) {
            prop_assert!(info.l4 <= info.end && info.end <= d.len());
            if let Transport::IcmpError { quoted: Some(q), .. } = info.transport {
                prop_assert!(info.l4 + 8 == q.offset && q.offset < q.l4 && q.l4 <= q.end && q.end <= info.end);
            }
        }
    }
}

#[test]
fn partial_checksums_are_finished() {
    for (c, v) in [
        (a("10.0.0.1"), a("10.0.0.100")),
        (a("2001:db8::1"), a("2001:db8::100")),
    ] {
        for proto in [IpProtocol::TCP, IpProtocol::UDP] {
            let (seg, at) = if proto == IpProtocol::TCP {
                (tcp_segment(c, v, 1, 2, b"abc"), 16)
            } else {
                (udp_datagram(c, v, 1, 2, b"abc", false), 6)
            };
            let full = ip_packet(c, v, proto, &seg);
            // What a sender with checksum offload hands over: the pseudo-header sum.
            let mut partial = full.clone();
            let info = parse_ip(&partial, 0).unwrap();
            let ps = crate::checksum::fold(pseudo(c, v, proto, seg.len()));
            partial[info.l4 + at..info.l4 + at + 2].copy_from_slice(&ps.to_be_bytes());
            assert!(!verify_checksums(&partial, &info));
            finish_partial_checksum(&mut partial, &info).unwrap();
            assert_eq!(partial, full);
        }
    }
    let (c, v) = (a("10.0.0.1"), a("10.0.0.100"));
    let mut msg = [0u8; 8];
    icmpv4::Repr::echo_request(1, 1)
        .emit(&mut msg, &[])
        .unwrap();
    let mut p = ip_packet(c, v, IpProtocol::ICMP, &msg);
    let info = parse_ip(&p, 0).unwrap();
    assert_eq!(
        finish_partial_checksum(&mut p, &info),
        Err(Error::Unsupported)
    );
}
