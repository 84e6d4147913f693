//! Parse a frame through every layer, then rewrite, decapsulate and re-encapsulate it,
//! checking that nothing panics and that valid checksums stay valid.
//!
//! Input: 1 control byte (which rewrites to try), then the Ethernet frame.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use rvs_wire::packet::{parse_frame, parse_ip, verify_checksums, Fragment, IpInfo, Transport};
use rvs_wire::rewrite::{rewrite, rewrite_icmp_error, NatRewrite};
use rvs_wire::tunnel::{decapsulate, encapsulate, header_len, Encap, Outer};
use rvs_wire::{arp, ethernet, icmpv4, icmpv6, ipv4, ipv6, sctp, tcp, udp};

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, frame)) = data.split_first() else {
        return;
    };
    views(frame);
    lean(frame, ctl);
    if let Ok(info) = parse_frame(frame) {
        exercise(frame, &info.ip, ctl);
    }
    // The same bytes as a bare IP packet (layer-3 devices, inner packets).
    if let Ok(ip) = parse_ip(frame, 0) {
        exercise(frame, &ip, ctl);
    }
});

/// The flow cache's lean view: what it accepts, the full parser accepts with the same
/// description; its prepared rewrite writes what the general one writes; TTL and IPIP
/// headers never panic.
fn lean(frame: &[u8], ctl: u8) {
    let Some(fp) = rvs_wire::flow::parse(frame) else {
        return;
    };
    let full = parse_frame(frame).expect("the full parser accepts what the lean one does");
    assert_eq!(fp.ip_info(frame), full.ip);
    let other = addr_like(full.ip.src, ctl);
    let (src, dst) = match ctl % 3 {
        0 => (None, Some((other, 8080))),
        1 => (Some((other, 80)), None),
        _ => (
            Some((other, 20001)),
            Some((addr_like(full.ip.dst, ctl), 8080)),
        ),
    };
    let mut lean_out = frame.to_vec();
    let mut general = frame.to_vec();
    let lean_ok = rvs_wire::flow::rewrite(&mut lean_out, &fp, src, dst);
    let rw = NatRewrite {
        src_addr: src.map(|s| s.0),
        src_port: src.map(|s| s.1),
        dst_addr: dst.map(|d| d.0),
        dst_port: dst.map(|d| d.1),
    };
    let general_ok = rewrite(&mut general, &full.ip, &rw).is_ok();
    assert_eq!(lean_ok, general_ok);
    if lean_ok {
        assert_eq!(lean_out, general);
    }
    let _ = rvs_wire::flow::decrement_ttl(&mut lean_out, &fp);
    if let (false, Some(inner)) = (fp.v6, frame.get(fp.l3..fp.l3 + 20)) {
        let inner: [u8; 20] = inner.try_into().unwrap_or([0; 20]);
        let h = rvs_wire::tunnel::Ipip4Header::new(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
        );
        let _ = h.header(&inner, fp.ip_len() as u16, || u16::from(ctl));
    }
}

/// Every view on every plausible offset: accessors must not panic once checked.
fn views(b: &[u8]) {
    if let Ok(f) = ethernet::Frame::new_checked(b) {
        let _ = ethernet::Repr::parse(&f);
        if let Ok(a) = arp::Packet::new_checked(f.payload()) {
            let _ = arp::Repr::parse(&a);
        }
    }
    for at in [0usize, 14, 18, 20, 34, 40, 54] {
        let Some(s) = b.get(at..) else { continue };
        if let Ok(p) = ipv4::Packet::new_checked_header(s) {
            let _ = (
                p.payload(),
                p.options(),
                p.verify_checksum(),
                ipv4::Repr::parse(&p),
            );
        }
        if let Ok(p) = ipv6::Packet::new_checked_header(s) {
            let _ = (p.payload(), p.upper_layer(), ipv6::Repr::parse(&p));
        }
        if let Ok(t) = tcp::Packet::new_checked(s) {
            let _ = (
                t.mss(),
                t.payload(),
                tcp::Repr::parse(&t),
                t.verify_checksum(0),
            );
        }
        if let Ok(u) = udp::Packet::new_checked(s) {
            let _ = (u.payload(), u.verify_checksum(0, true));
        }
        if let Ok(p) = sctp::Packet::new_checked(s) {
            let _ = (p.chunks().count(), p.initiate_tag(), p.verify_checksum());
        }
        if let Ok(i) = icmpv4::Packet::new_checked(s) {
            let _ = (i.quoted(), i.next_hop_mtu(), icmpv4::Repr::parse(&i));
        }
        if let Ok(i) = icmpv6::Packet::new_checked(s) {
            let _ = (i.quoted(), i.mtu(), icmpv6::Repr::parse(&i));
        }
    }
}

fn addr_like(a: IpAddr, salt: u8) -> IpAddr {
    match a {
        IpAddr::V4(v) => {
            let mut o = v.octets();
            o[3] = o[3].wrapping_add(salt | 1);
            IpAddr::V4(Ipv4Addr::from(o))
        }
        IpAddr::V6(v) => {
            let mut o = v.octets();
            o[15] = o[15].wrapping_add(salt | 1);
            o[3] ^= salt;
            IpAddr::V6(Ipv6Addr::from(o))
        }
    }
}

fn exercise(bytes: &[u8], ip: &IpInfo, ctl: u8) {
    let valid = verify_checksums(bytes, ip);
    let new_src = addr_like(ip.src, ctl);
    let new_dst = addr_like(ip.dst, ctl.rotate_left(3));
    let port = u16::from(ctl) * 257;
    let rw = match ctl & 3 {
        0 => NatRewrite::dst(new_dst, port),
        1 => NatRewrite::src(new_src, port),
        2 => NatRewrite::both((new_src, port), (new_dst, port.wrapping_add(1))),
        _ => NatRewrite {
            dst_addr: Some(new_dst),
            ..NatRewrite::NONE
        },
    };

    let mut buf = bytes.to_vec();
    if rewrite(&mut buf, ip, &rw).is_ok() {
        let after = parse_ip(&buf[..ip.end], ip.offset).expect("a rewritten packet parses");
        if valid && ip.fragment == Fragment::None {
            assert!(verify_checksums(&buf, &after), "rewrite broke a checksum");
        }
    } else {
        assert_eq!(buf, bytes, "a failed rewrite wrote something");
    }

    if let Transport::IcmpError {
        quoted: Some(q), ..
    } = ip.transport
    {
        let outer = NatRewrite {
            dst_addr: Some(new_dst),
            ..NatRewrite::NONE
        };
        let inner = NatRewrite::src(addr_like(q.src, ctl), port);
        let mut buf = bytes.to_vec();
        if rewrite_icmp_error(&mut buf, ip, &outer, &inner).is_ok() {
            let after = parse_ip(&buf[..ip.end], ip.offset).expect("parses");
            if valid && ip.fragment == Fragment::None {
                assert!(
                    verify_checksums(&buf, &after),
                    "icmp rewrite broke a checksum"
                );
            }
        } else {
            assert_eq!(buf, bytes);
        }
    }

    // An ICMP error about this packet parses, verifies and quotes it.
    let original = &bytes[ip.offset..ip.end];
    let mut out = [0u8; 1280];
    let n = match new_src {
        IpAddr::V4(me) => {
            icmpv4::emit_error_packet(&mut out, me, &icmpv4::Repr::frag_needed(1400), original)
        }
        IpAddr::V6(me) => {
            icmpv6::emit_error_packet(&mut out, me, &icmpv6::Repr::packet_too_big(1280), original)
        }
    }
    .expect("an error about a parsed packet can be built");
    let err = parse_ip(&out[..n], 0).expect("the error parses");
    assert!(verify_checksums(&out[..n], &err), "the error verifies");
    assert!(matches!(err.transport, Transport::IcmpError { .. }));

    // Tunnels: take the inner packet out, rewrite it, put it back in.
    let gue_port = ip.transport.ports().map(|p| p.1);
    if let Ok(d) = decapsulate(bytes, ip, gue_port) {
        if let Ok(inner) = parse_ip(&bytes[..d.end], d.inner) {
            let mut b = bytes.to_vec();
            let _ = rewrite(&mut b, &inner, &rw);
        }
    }
    let inner = &bytes[ip.offset..ip.end];
    let encaps = [
        Encap::Ipip,
        Encap::Gre {
            checksum: ctl & 4 != 0,
        },
        Encap::Gue {
            src_port: port,
            dst_port: 6080,
            udp_checksum: ctl & 8 != 0,
            remote_checksum: None,
        },
    ];
    let e = encaps[usize::from(ctl >> 4) % encaps.len()];
    let outer = Outer::from_inner(new_src, new_dst, inner).expect("a parsed packet has a header");
    let room = header_len(new_src.is_ipv6(), &e);
    let mut b = vec![0u8; room + inner.len()];
    b[room..].copy_from_slice(inner);
    if let Ok(start) = encapsulate(&mut b, room, inner.len(), &outer, &e) {
        let o = parse_ip(&b[start..], 0).expect("an encapsulated packet parses");
        let d = decapsulate(&b[start..], &o, Some(6080)).expect("and decapsulates");
        assert_eq!(&b[start + d.inner..start + d.end], inner);
    }
}
