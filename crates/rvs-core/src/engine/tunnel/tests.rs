//! The engine's TUN parameters as the kernel picks them: what the outer header takes
//! from the real server's configuration and from the inner packet. (The header layout
//! itself is tested in rvs-wire's tunnel module.)

use super::*;
use core::net::{Ipv4Addr, Ipv6Addr};
use rvs_wire::ethernet::{self, EtherType, MacAddr};
use rvs_wire::packet::{parse_frame, parse_ip};
use rvs_wire::{checksum, ipv4, ipv6, tcp, udp, IpProtocol};

const HEADROOM: usize = 128;
const SRC4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SRC6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
const RIP4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 2, 13));
const RIP6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x13));

fn cfg(mtu: u16) -> EngineConfig {
    EngineConfig {
        tunnel_src_v4: Some(SRC4),
        tunnel_src_v6: Some(SRC6),
        mtu,
        ..EngineConfig::default()
    }
}

/// Ethernet + client → VIP TCP packet (IPv4 or IPv6) with the DS field `ds`, TTL 37,
/// DF as given (IPv4), client port `sport`, in a buffer with headroom and 6 bytes of
/// Ethernet padding after it. Returns (buffer, frame length).
fn frame(v6: bool, ds: u8, df: bool, sport: u16) -> (Vec<u8>, usize) {
    let mut buf = vec![0u8; HEADROOM + 256];
    let b = &mut buf[HEADROOM..];
    let mut o = ethernet::Repr {
        src: MacAddr([2, 0, 0, 0, 0, 1]),
        dst: MacAddr([2, 0, 0, 0, 0, 2]),
        vlan_tci: None,
        ethertype: if v6 { EtherType::IPV6 } else { EtherType::IPV4 },
    }
    .emit(b)
    .unwrap();
    let seg = 20 + 5;
    let pseudo = if v6 {
        let (c, v) = (
            "2001:db8:c::10".parse().unwrap(),
            "2001:db8::100".parse().unwrap(),
        );
        o += ipv6::Repr {
            src: c,
            dst: v,
            next_header: IpProtocol::TCP,
            payload_len: seg as u16,
            hop_limit: 37,
            traffic_class: ds,
            flow_label: 0x54321,
        }
        .emit(&mut b[o..])
        .unwrap();
        checksum::pseudo_header_v6(&c, &v, IpProtocol::TCP, seg as u32)
    } else {
        let (c, v) = (Ipv4Addr::new(192, 0, 2, 10), Ipv4Addr::new(10, 0, 0, 100));
        o += ipv4::Repr {
            src: c,
            dst: v,
            protocol: IpProtocol::TCP,
            payload_len: seg as u16,
            ttl: 37,
            tos: ds,
            ident: 7,
            dont_frag: df,
        }
        .emit(&mut b[o..])
        .unwrap();
        checksum::pseudo_header_v4(c, v, IpProtocol::TCP, seg as u16)
    };
    tcp::Repr {
        src_port: sport,
        dst_port: 80,
        seq_number: 1,
        ack_number: 0,
        flags: tcp::Flags(0x002),
        window_len: 512,
        urgent_at: 0,
    }
    .emit(&mut b[o..])
    .unwrap();
    b[o + 20..o + seg].copy_from_slice(b"hello");
    tcp::Packet::new_unchecked(&mut b[o..o + seg]).fill_checksum(pseudo);
    (buf, o + seg + 6)
}

/// Encapsulate a frame; the result (frame bytes, from the Ethernet header) and the
/// frame as it came.
fn run(
    cfg: &EngineConfig,
    rip: IpAddr,
    tun: Tunnel,
    (mut buf, n): (Vec<u8>, usize),
) -> (Result<(), DropReason>, Vec<u8>, Vec<u8>) {
    let original = buf[HEADROOM..HEADROOM + n].to_vec();
    let ip = parse_frame(&original).unwrap().ip;
    let mut f = Frame::new(&mut buf, HEADROOM, n);
    let r = encapsulate(cfg, &mut f, &ip, rip, &tun);
    (r, f.bytes().to_vec(), original)
}

fn tun(kind: TunnelType, csum: TunnelCsum) -> Tunnel {
    Tunnel {
        kind,
        port: if kind == TunnelType::Gue { 6080 } else { 0 },
        csum,
    }
}

#[test]
fn ipip_moves_ethernet_and_copies_ttl_dscp_df_with_ce_as_ect0() {
    let (r, out, orig) = run(
        &cfg(0),
        RIP4,
        Tunnel::default(),
        frame(false, 0xb8 | 3, true, 40000),
    );
    assert_eq!(r, Ok(()));
    assert_eq!(&out[..12], &orig[..12], "Ethernet addresses moved along");
    assert_eq!(&out[12..14], &[0x08, 0x00]);
    let p = parse_frame(&out).unwrap().ip;
    assert_eq!(
        (p.src, p.dst, p.protocol),
        (IpAddr::V4(SRC4), RIP4, IpProtocol::IPV4)
    );
    let h = ipv4::Packet::new_checked_header(&out[14..]).unwrap();
    assert_eq!(
        (h.tos(), h.ttl(), h.dont_frag(), h.ident()),
        (0xb8 | 2, 37, true, 0)
    );
    assert!(h.verify_checksum());
    // Ethernet padding is not carried into the tunnel.
    assert_eq!(
        &out[34..],
        &orig[14..orig.len() - 6],
        "inner packet unchanged"
    );
}

#[test]
fn without_df_each_outer_header_gets_a_fresh_identification() {
    let c = cfg(0);
    let ident = |v6: bool| {
        let (r, out, _) = run(&c, RIP4, Tunnel::default(), frame(v6, 0, false, 40000));
        assert_eq!(r, Ok(()));
        let h = ipv4::Packet::new_checked_header(&out[14..]).unwrap();
        assert!(!h.dont_frag(), "no DF outside");
        h.ident()
    };
    // IPv4 without DF, and IPv6 inside IPv4 (never DF).
    for v6 in [false, true] {
        let (a, b) = (ident(v6), ident(v6));
        assert_ne!(a, b, "two packets, one identification (inner v6 {v6})");
    }
}

#[test]
fn ipv6_outer_takes_hop_limit_and_traffic_class_and_no_flow_label() {
    for inner_v6 in [false, true] {
        let (r, out, _) = run(
            &cfg(0),
            RIP6,
            Tunnel::default(),
            frame(inner_v6, 0x2b | 3, true, 40000),
        );
        assert_eq!(r, Ok(()));
        assert_eq!(&out[12..14], &[0x86, 0xdd]);
        let h = ipv6::Packet::new_checked_header(&out[14..]).unwrap();
        assert_eq!(h.traffic_class(), 0x2a | 2, "CE -> ECT(0)");
        assert_eq!((h.hop_limit(), h.flow_label()), (37, 0));
        assert_eq!(
            h.next_header(),
            if inner_v6 {
                IpProtocol::IPV6
            } else {
                IpProtocol::IPV4
            }
        );
        assert_eq!(usize::from(h.payload_len()), out.len() - 14 - 40);
    }
}

/// The GUE UDP header of an encapsulated frame: (source port, checksum), after
/// checking the destination port and that the GUE header has no options.
fn gue(out: &[u8], ip_len: usize) -> (u16, u16) {
    let u = udp::Packet::new_checked(&out[14 + ip_len..]).unwrap();
    assert_eq!(u.dst_port(), 6080);
    assert_eq!(
        &out[14 + ip_len + 8..14 + ip_len + 10],
        &[0, 4],
        "GUE v0, hlen 0, IPv4"
    );
    (u.src_port(), u.checksum())
}

#[test]
fn gue_checksums_with_csum_and_remcsum_only_on_both_families() {
    for (rip, ip_len) in [(RIP4, 20), (RIP6, 40)] {
        for (csum, want) in [
            (TunnelCsum::NoCsum, false),
            (TunnelCsum::Csum, true),
            (TunnelCsum::RemCsum, true),
        ] {
            let (r, out, _) = run(
                &cfg(0),
                rip,
                tun(TunnelType::Gue, csum),
                frame(false, 0, true, 40000),
            );
            assert_eq!(r, Ok(()));
            let (_, c) = gue(&out, ip_len);
            assert_eq!(c != 0, want, "{rip} {csum:?}");
            if want {
                let p = parse_frame(&out).unwrap().ip;
                assert!(
                    rvs_wire::packet::verify_checksums(&out, &p),
                    "{rip} {csum:?}"
                );
            }
        }
    }
}

#[test]
fn gue_source_port_follows_the_inner_flow_in_the_kernel_range() {
    let c = cfg(0);
    let gue_tun = tun(TunnelType::Gue, TunnelCsum::NoCsum);
    let port = |sport: u16| {
        let (r, out, _) = run(&c, RIP4, gue_tun, frame(false, 0, true, sport));
        assert_eq!(r, Ok(()));
        gue(&out, 20).0
    };
    assert_eq!(port(40000), port(40000), "one flow, one port");
    let ports: std::collections::HashSet<u16> = (40000..40032).map(port).collect();
    assert!(
        ports.iter().all(|p| (32768..=60999).contains(p)),
        "{ports:?}"
    );
    assert!(ports.len() > 24, "32 flows took only {} ports", ports.len());
}

#[test]
fn gre_names_the_inner_family_and_checksums_only_with_csum() {
    for inner_v6 in [false, true] {
        for csum in [TunnelCsum::NoCsum, TunnelCsum::Csum] {
            let (r, out, orig) = run(
                &cfg(0),
                RIP4,
                tun(TunnelType::Gre, csum),
                frame(inner_v6, 0, true, 40000),
            );
            assert_eq!(r, Ok(()));
            let g = &out[34..];
            let proto: [u8; 2] = if inner_v6 { [0x86, 0xdd] } else { [0x08, 0x00] };
            let hlen = if csum == TunnelCsum::Csum {
                assert_eq!(&g[..4], &[0x80, 0, proto[0], proto[1]]);
                assert_eq!(checksum::checksum(g), 0, "GRE checksum verifies");
                8
            } else {
                assert_eq!(&g[..4], &[0, 0, proto[0], proto[1]]);
                4
            };
            assert_eq!(&g[hlen..], &orig[14..orig.len() - 6]);
            assert_eq!(overhead(RIP4, &tun(TunnelType::Gre, csum)), 20 + hlen);
            let inner = parse_ip(&out, 34 + hlen).unwrap();
            assert!(rvs_wire::packet::verify_checksums(&out, &inner));
        }
    }
}

#[test]
fn refusals_leave_the_frame_as_it_came() {
    // 14 + 45 bytes of IP: 65 once in IPIP, over an MTU of 64.
    let (r, out, orig) = run(
        &cfg(64),
        RIP4,
        Tunnel::default(),
        frame(false, 0, true, 40000),
    );
    assert_eq!((r, &out), (Err(DropReason::TooBig), &orig));
    let (r, out, orig) = run(
        &cfg(65),
        RIP4,
        Tunnel::default(),
        frame(false, 0, true, 40000),
    );
    assert_eq!(r, Ok(()), "65 bytes fit an MTU of 65");
    assert_ne!(out, orig);
    let no_src = EngineConfig {
        tunnel_src_v6: None,
        ..cfg(0)
    };
    let (r, out, orig) = run(
        &no_src,
        RIP6,
        Tunnel::default(),
        frame(false, 0, true, 40000),
    );
    assert_eq!((r, &out), (Err(DropReason::NoDestination), &orig));
    assert_eq!(
        overhead(RIP6, &tun(TunnelType::Gue, TunnelCsum::Csum)),
        40 + 8 + 4
    );
}
