use std::net::IpAddr;

use proptest::prelude::*;

use super::*;
use crate::checksum;
use crate::error::Error;
use crate::packet::{parse_ip, verify_checksums};
use crate::testutil::*;
use crate::{ipv4, ipv6, IpProtocol};

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

/// An inner TCP packet with the DS field `ds`, TTL / hop limit `ttl` and, for IPv4,
/// DF as given (IPv4 checksum recomputed).
fn inner_with(v6: bool, ds: u8, ttl: u8, df: bool) -> Vec<u8> {
    let mut p = inner_tcp(v6);
    if v6 {
        let mut h = ipv6::Packet::new_unchecked(&mut p[..]);
        h.set_version_tc_flow(ds, 0x12345);
        h.set_hop_limit(ttl);
    } else {
        let mut h = ipv4::Packet::new_unchecked(&mut p[..]);
        h.set_tos(ds);
        h.set_ttl(ttl);
        h.set_frag(df, false, 0);
        h.fill_checksum();
    }
    p
}

#[test]
fn outer_ds_field_is_the_kernels_inet_ecn_encapsulate() {
    for inner in 0..=255u8 {
        let outer = outer_ds_field(inner);
        assert_eq!(outer & 0xfc, inner & 0xfc, "DSCP copied ({inner:#04x})");
        let want_ecn = match inner & 3 {
            0b11 => 0b10, // CE -> ECT(0)
            ecn => ecn,   // Not-ECT, ECT(1), ECT(0) copied
        };
        assert_eq!(outer & 3, want_ecn, "ECN of {inner:#04x}");
    }
}

#[test]
fn from_inner_takes_ttl_ds_and_df_as_the_kernel() {
    let (s4, d4) = (a("192.168.1.1"), a("192.168.1.11"));
    // EF with CE, TTL 37, DF.
    let o = Outer::from_inner(s4, d4, &inner_with(false, 0xb8 | 3, 37, true)).unwrap();
    assert_eq!(
        (o.ttl, o.tos, o.dont_frag, o.ident, o.flow_label),
        (37, 0xb8 | 2, true, 0, 0)
    );
    assert!(!o.needs_ident(), "DF set: identification 0");
    // No DF inside: none outside, and a fresh identification is due.
    let o = Outer::from_inner(s4, d4, &inner_with(false, 0x01, 9, false)).unwrap();
    assert_eq!((o.ttl, o.tos, o.dont_frag), (9, 0x01, false));
    assert!(o.needs_ident());
    // IPv6 inside: hop limit and traffic class, never DF; the inner flow label stays in.
    let o = Outer::from_inner(s4, d4, &inner_with(true, 0x2b, 200, true)).unwrap();
    assert_eq!(
        (o.ttl, o.tos, o.dont_frag, o.flow_label),
        (200, 0x2a, false, 0)
    );
    assert!(o.needs_ident(), "6in4 has no DF");
    let (s6, d6) = (a("2001:db8:1::1"), a("2001:db8:2::11"));
    let o = Outer::from_inner(s6, d6, &inner_with(false, 0x02, 5, false)).unwrap();
    assert!(
        !o.needs_ident(),
        "IPv6 outer headers have no identification"
    );
}

/// Every field of the outer headers, per kernel, for each encapsulation over IPv4 and
/// IPv6 and both inner families.
#[test]
fn outer_headers_are_the_kernels() {
    let encaps = [
        Encap::Ipip,
        Encap::Gue {
            src_port: 40000,
            dst_port: 6080,
            udp_checksum: true,
            remote_checksum: None,
        },
        Encap::Gue {
            src_port: 40000,
            dst_port: 6080,
            udp_checksum: false,
            remote_checksum: None,
        },
        Encap::Gre { checksum: true },
        Encap::Gre { checksum: false },
    ];
    for outer_v6 in [false, true] {
        for inner_v6 in [false, true] {
            for e in encaps {
                let ctx = format!("{e:?} outer v6 {outer_v6} inner v6 {inner_v6}");
                let inner = inner_with(inner_v6, 0xb8 | 3, 37, true);
                let (s, d) = if outer_v6 {
                    (a("2001:db8:1::1"), a("2001:db8:2::11"))
                } else {
                    (a("192.168.1.1"), a("192.168.1.11"))
                };
                let o = Outer::from_inner(s, d, &inner).unwrap();
                let pkt = encap(&inner, &o, &e);
                let ip_len = if outer_v6 { 40 } else { 20 };
                let tun_len = header_len(outer_v6, &e) - ip_len;
                assert_eq!(pkt.len(), ip_len + tun_len + inner.len(), "{ctx}");
                let proto = match (e, inner_v6) {
                    (Encap::Gue { .. }, _) => 17,
                    (Encap::Gre { .. }, _) => 47,
                    (Encap::Ipip, false) => 4,
                    (Encap::Ipip, true) => 41,
                };
                if outer_v6 {
                    let h = ipv6::Packet::new_checked_header(&pkt[..]).unwrap();
                    assert_eq!(h.version(), 6, "{ctx}");
                    assert_eq!(h.traffic_class(), 0xb8 | 2, "EF kept, CE -> ECT(0): {ctx}");
                    assert_eq!(h.flow_label(), 0, "{ctx}");
                    assert_eq!(usize::from(h.payload_len()), pkt.len() - 40, "{ctx}");
                    assert_eq!(h.next_header(), IpProtocol(proto), "{ctx}");
                    assert_eq!(h.hop_limit(), 37, "{ctx}");
                } else {
                    let h = ipv4::Packet::new_checked_header(&pkt[..]).unwrap();
                    assert_eq!(pkt[0], 0x45, "no options: {ctx}");
                    assert_eq!(h.tos(), 0xb8 | 2, "EF kept, CE -> ECT(0): {ctx}");
                    assert_eq!(usize::from(h.total_len()), pkt.len(), "{ctx}");
                    // DF from an IPv4 inner packet; none around IPv6; MF and offset 0.
                    let flags = u16::from_be_bytes([pkt[6], pkt[7]]);
                    assert_eq!(flags, if inner_v6 { 0 } else { 0x4000 }, "{ctx}");
                    assert_eq!(h.ident(), 0, "{ctx}");
                    assert_eq!(h.ttl(), 37, "{ctx}");
                    assert_eq!(h.protocol(), IpProtocol(proto), "{ctx}");
                    assert!(h.verify_checksum(), "{ctx}");
                }
                let t = &pkt[ip_len..ip_len + tun_len];
                let ethertype: [u8; 2] = if inner_v6 { [0x86, 0xdd] } else { [0x08, 0x00] };
                let inner_proto = if inner_v6 { 41 } else { 4 };
                match e {
                    Encap::Ipip => {}
                    Encap::Gue { udp_checksum, .. } => {
                        let udp = &pkt[ip_len..];
                        assert_eq!(&t[..4], &[0x9c, 0x40, 0x17, 0xc0], "ports: {ctx}");
                        assert_eq!(
                            usize::from(u16::from_be_bytes([t[4], t[5]])),
                            udp.len(),
                            "{ctx}"
                        );
                        let c = u16::from_be_bytes([t[6], t[7]]);
                        if udp_checksum {
                            assert_ne!(c, 0, "{ctx}");
                            let ph = pseudo(s, d, IpProtocol::UDP, udp.len());
                            assert_eq!(checksum::transport(ph, udp), 0, "sums to 0: {ctx}");
                        } else {
                            assert_eq!(c, 0, "no checksum over IPv4 and IPv6: {ctx}");
                        }
                        // GUE variant 0, not control, hlen 0, the inner protocol, no flags.
                        assert_eq!(&t[8..12], &[0, inner_proto, 0, 0], "{ctx}");
                    }
                    Encap::Gre { checksum: true } => {
                        assert_eq!(&t[..2], &[0x80, 0], "C bit, version 0: {ctx}");
                        assert_eq!(&t[2..4], &ethertype, "{ctx}");
                        assert_eq!(&t[6..8], &[0, 0], "reserved1: {ctx}");
                        assert_eq!(
                            checksum::checksum(&pkt[ip_len..]),
                            0,
                            "over GRE header and payload: {ctx}"
                        );
                    }
                    Encap::Gre { checksum: false } => {
                        assert_eq!(t, &[0, 0, ethertype[0], ethertype[1]], "{ctx}");
                    }
                }
                assert_eq!(
                    &pkt[ip_len + tun_len..],
                    &inner[..],
                    "inner untouched: {ctx}"
                );
            }
        }
    }
}

#[test]
fn caller_ident_and_flow_label_go_out_as_given() {
    let inner = inner_with(false, 0, 64, false);
    let o = Outer {
        ident: 0xbeef,
        ..Outer::from_inner(a("192.168.1.1"), a("192.168.1.11"), &inner).unwrap()
    };
    let pkt = encap(&inner, &o, &Encap::Ipip);
    assert_eq!(&pkt[4..8], &[0xbe, 0xef, 0, 0], "ident, no DF");
    let o = Outer {
        flow_label: 0xabcde,
        ..Outer::from_inner(a("2001:db8:1::1"), a("2001:db8:2::11"), &inner).unwrap()
    };
    let pkt = encap(&inner, &o, &Encap::Ipip);
    assert_eq!(ipv6::Packet::new_unchecked(&pkt[..]).flow_label(), 0xabcde);
}

#[test]
fn flow_hash_follows_the_flow() {
    let one = inner_tcp(false);
    let info = parse_ip(&one, 0).unwrap();
    assert_eq!(
        flow_hash(&info),
        flow_hash(&parse_ip(&one.clone(), 0).unwrap())
    );
    // Other client ports spread over the GUE source port range.
    let mut ports = std::collections::HashSet::new();
    for sport in 40000..40064u16 {
        let (c, v) = (a("10.0.0.1"), a("10.0.0.100"));
        let p = ip_packet(c, v, IpProtocol::TCP, &tcp_segment(c, v, sport, 80, b""));
        let port = gue_src_port(flow_hash(&parse_ip(&p, 0).unwrap()));
        assert!((32768..=60999).contains(&port));
        ports.insert(port);
    }
    assert!(ports.len() > 48, "64 flows took only {} ports", ports.len());
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
