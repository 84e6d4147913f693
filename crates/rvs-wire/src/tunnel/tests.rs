use std::net::IpAddr;

use proptest::prelude::*;

use super::*;
use crate::packet::{parse_ip, verify_checksums};
use crate::testutil::*;

fn a(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn inner_tcp(v6: bool) -> Vec<u8> {
    let (c, v) = if v6 {
        (a("2001:db8::1"), a("2001:db8::100"))
    } else {
        (a("10.0.0.1"), a("10.0.0.100"))
    };
    ip_packet(
        c,
        v,
        IpProtocol::TCP,
        &tcp_segment(c, v, 40000, 80, b"payload"),
    )
}

fn outer(v6: bool) -> Outer {
    let (d, r) = if v6 {
        (a("2001:db8:1::1"), a("2001:db8:2::11"))
    } else {
        (a("192.168.1.1"), a("192.168.1.11"))
    };
    Outer {
        src: d,
        dst: r,
        ttl: 64,
        tos: 0,
        dont_frag: false,
        ident: 0,
        flow_label: 0,
    }
}

/// Put the inner packet at the end of a buffer with 64 bytes of headroom, encapsulate,
/// and return the outer packet.
fn encap(inner: &[u8], o: &Outer, e: &Encap) -> Vec<u8> {
    let mut buf = vec![0u8; 64 + inner.len()];
    buf[64..].copy_from_slice(inner);
    let start = encapsulate(&mut buf, 64, inner.len(), o, e).unwrap();
    assert_eq!(start, 64 - header_len(o.src.is_ipv6(), e));
    buf[start..].to_vec()
}

#[test]
fn every_combination_round_trips() {
    let encaps = [
        Encap::Ipip,
        Encap::Gue {
            src_port: 33000,
            dst_port: 6080,
            udp_checksum: true,
            remote_checksum: None,
        },
        Encap::Gue {
            src_port: 33000,
            dst_port: 6080,
            udp_checksum: false,
            remote_checksum: None,
        },
        Encap::Gre { checksum: false },
        Encap::Gre { checksum: true },
    ];
    for outer_v6 in [false, true] {
        for inner_v6 in [false, true] {
            for e in encaps {
                let inner = inner_tcp(inner_v6);
                let o = outer(outer_v6);
                let pkt = encap(&inner, &o, &e);
                let info = parse_ip(&pkt, 0).unwrap();
                assert_eq!((info.src, info.dst), (o.src, o.dst));
                // A zero UDP checksum is "none" over IPv4 only: IPv6 needs the receiver to
                // be told (RFC 6935), so a plain verification refuses it.
                let zero_udp6 = outer_v6
                    && matches!(
                        e,
                        Encap::Gue {
                            udp_checksum: false,
                            ..
                        }
                    );
                assert_eq!(
                    verify_checksums(&pkt, &info),
                    !zero_udp6,
                    "{e:?} {outer_v6} {inner_v6}"
                );
                let d = decapsulate(&pkt, &info, Some(6080)).unwrap();
                assert_eq!(&pkt[d.inner..d.end], &inner[..]);
                let expect_proto = match (e, inner_v6) {
                    (Encap::Ipip, false) => IpProtocol::IPV4,
                    (Encap::Ipip, true) => IpProtocol::IPV6,
                    (Encap::Gue { .. }, _) => IpProtocol::UDP,
                    (Encap::Gre { .. }, _) => IpProtocol::GRE,
                };
                assert_eq!(info.protocol, expect_proto);
                if let Encap::Gre { .. } = e {
                    let g = gre::Packet::new_checked(&pkt[info.l4..]).unwrap();
                    assert!(g.verify_checksum());
                }
                let inner_info = parse_ip(&pkt[..d.end], d.inner).unwrap();
                assert!(verify_checksums(&pkt, &inner_info));
                // Not GUE on another port.
                if let Encap::Gue { .. } = e {
                    assert_eq!(decapsulate(&pkt, &info, Some(1)), Err(Error::Unsupported));
                }
            }
        }
    }
}

#[test]
fn known_ipip_header() {
    // IPIP 192.168.1.1 -> 192.168.1.11 around a 47-byte IPv4 packet.
    let inner = inner_tcp(false);
    assert_eq!(inner.len(), 47);
    let o = Outer {
        ident: 0x1234,
        ..outer(false)
    };
    let pkt = encap(&inner, &o, &Encap::Ipip);
    // 4500 0043 1234 0000 4004 csum c0a8 0101 c0a8 010b:
    // sum = 4500+0043+1234+4004+c0a8+0101+c0a8+010b = 0x21ad7 -> 0x1ad9 -> csum 0xe526.
    assert_eq!(
        &pkt[..20],
        &[0x45, 0, 0, 0x43, 0x12, 0x34, 0, 0, 64, 4, 0xe5, 0x26, 192, 168, 1, 1, 192, 168, 1, 11]
    );
}

#[test]
fn gue_remote_checksum_is_reported() {
    let inner = inner_tcp(false);
    let rc = RemoteChecksum {
        start: 20,
        field: 36,
    };
    let e = Encap::Gue {
        src_port: gue_src_port(0xdead_beef),
        dst_port: 6080,
        udp_checksum: true,
        remote_checksum: Some(rc),
    };
    let pkt = encap(&inner, &outer(false), &e);
    let info = parse_ip(&pkt, 0).unwrap();
    let d = decapsulate(&pkt, &info, Some(6080)).unwrap();
    assert_eq!(d.kind, TunnelKind::Gue);
    assert_eq!(d.remote_checksum, Some(rc));
    assert_eq!(d.inner, 20 + 8 + 12);
}

#[test]
fn gue_direct_ip_variant() {
    let inner = inner_tcp(true);
    let o = outer(false);
    let udp = udp_datagram(o.src, o.dst, 1, 6080, &inner, false);
    let pkt = ip_packet(o.src, o.dst, IpProtocol::UDP, &udp);
    let info = parse_ip(&pkt, 0).unwrap();
    let d = decapsulate(&pkt, &info, Some(6080)).unwrap();
    assert_eq!(d.kind, TunnelKind::GueDirect);
    assert_eq!(&pkt[d.inner..d.end], &inner[..]);
}

#[test]
fn from_inner_copies_ttl_dscp_df_and_maps_ce() {
    let mut inner = inner_tcp(false);
    inner[1] = 0xb8 | 3; // EF, CE
    let o = Outer::from_inner(a("1.1.1.1"), a("2.2.2.2"), &inner).unwrap();
    assert_eq!((o.ttl, o.tos, o.dont_frag), (64, 0xb8 | 2, true));
    let inner6 = inner_tcp(true);
    let o = Outer::from_inner(a("1.1.1.1"), a("2.2.2.2"), &inner6).unwrap();
    assert!(!o.dont_frag);
    assert_eq!(Outer::from_inner(o.src, o.dst, &[]), Err(Error::Truncated));
    assert_eq!(
        Outer::from_inner(o.src, o.dst, &[0x10]),
        Err(Error::Malformed)
    );
}

#[test]
fn encapsulate_refuses_cleanly() {
    let inner = inner_tcp(false);
    let mut buf = vec![0u8; 10 + inner.len()];
    buf[10..].copy_from_slice(&inner);
    let before = buf.clone();
    let o = outer(false);
    assert_eq!(
        encapsulate(&mut buf, 10, inner.len(), &o, &Encap::Ipip),
        Err(Error::NoRoom)
    );
    let mixed = Outer { dst: a("::1"), ..o };
    assert_eq!(
        encapsulate(&mut buf, 10, inner.len(), &mixed, &Encap::Ipip),
        Err(Error::Unsupported)
    );
    assert_eq!(
        encapsulate(&mut buf, 10, inner.len() + 1, &o, &Encap::Ipip),
        Err(Error::Malformed)
    );
    // Too big for the 16-bit length.
    let mut big = vec![0u8; 20 + 65530];
    big[20] = 0x45;
    assert_eq!(
        encapsulate(&mut big, 20, 65530, &o, &Encap::Ipip),
        Err(Error::Malformed)
    );
    assert_eq!(buf, before);
}

#[test]
fn gue_src_port_range() {
    assert_eq!(gue_src_port(0), 32768);
    assert_eq!(gue_src_port(u32::MAX), 60999);
}

proptest! {
    #[test]
    fn decapsulate_any_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..120), proto in prop_oneof![Just(4u8), Just(41), Just(17), Just(47)]) {
        let mut d = data;
        if d.len() >= 20 {
            d[0] = 0x45;
            d[9] = proto;
            let n = d.len() as u16;
            d[2..4].copy_from_slice(&n.to_be_bytes());
        }
        if let Ok(info) = parse_ip(&d, 0) {
            let port = d.get(22..24).map(|p| u16::from_be_bytes([p[0], p[1]]));
            if let Ok(x) = decapsulate(&d, &info, port) {
                prop_assert!(x.inner < x.end && x.end <= d.len());
            }
        }
    }
}
