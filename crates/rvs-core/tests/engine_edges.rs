//! Less travelled paths: SCTP, GRE and VLAN-tagged tunnels, fragments, templates in
//! listings, the rate estimator, ICMP errors in DR mode.

mod engine_support;
use engine_support::*;
use rvs_wire::sctp;

fn sctp_frame(src: (IpAddr, u16), dst: (IpAddr, u16), chunk_type: u8) -> Vec<u8> {
    // Common header, then one chunk of 20 bytes (type, flags, length, 16 bytes body).
    let seg_len = 12 + 20;
    let mut b = vec![0u8; 14 + 20 + seg_len];
    let mut o = eth(&mut b);
    o += ip4(&mut b[o..], src.0, dst.0, IpProtocol::SCTP, seg_len);
    sctp::Repr {
        src_port: src.1,
        dst_port: dst.1,
        verification_tag: if chunk_type == 1 { 0 } else { 0xabcd },
    }
    .emit(&mut b[o..])
    .unwrap();
    b[o + 12] = chunk_type;
    b[o + 14..o + 16].copy_from_slice(&20u16.to_be_bytes());
    b[o + 16..o + 20].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    sctp::Packet::new_unchecked(&mut b[o..]).fill_checksum();
    b
}

#[test]
fn sctp_init_opens_a_nat_connection_with_a_valid_crc() {
    let e = engine_with(&[service(
        Protocol::Sctp,
        9000,
        SchedulerKind::Rr,
        vec![dest("192.168.1.11", 9001, ForwardMethod::Masq, 1)],
    )]);
    let mut w = e.worker(0);
    // DATA without an association is not scheduled.
    let data = sctp_frame((v4(CIP), 7000), (v4(VIP), 9000), 0);
    assert_eq!(
        run(&mut w, &data, t(0)).0,
        Verdict::Drop(DropReason::NoConnection)
    );
    let init = sctp_frame((v4(CIP), 7000), (v4(VIP), 9000), 1);
    let (v, out) = run(&mut w, &init, t(1));
    assert_eq!(fwd(v).next_hop, v4("192.168.1.11"));
    let p = parsed(&out);
    assert_eq!(ports(&p), (7000, 9001));
    let c = e.connections(t(1));
    assert_eq!((c.len(), c[0].ip_proto), (1, 132));
}

#[test]
fn gre_with_checksum_and_a_vlan_tag_survive_encapsulation() {
    let e = engine_with(&[service(
        Protocol::Tcp,
        80,
        SchedulerKind::Rr,
        vec![dest(
            "192.168.2.13",
            80,
            ForwardMethod::Tunnel(Tunnel {
                kind: TunnelType::Gre,
                port: 0,
                csum: TunnelCsum::Csum,
            }),
            1,
        )],
    )]);
    // Insert an 802.1Q tag (VLAN 42) into the frame.
    let plain = tcp_frame((v4(CIP), 40100), (v4(VIP), 80), SYN, b"x");
    let mut tagged = plain[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0x00, 0x00, 42]);
    tagged.extend_from_slice(&plain[12..]);
    let (v, out) = run(&mut e.worker(0), &tagged, t(0));
    fwd(v);
    let p = parsed(&out);
    assert_eq!(p.vlan_tci, Some(42));
    assert_eq!(p.ip.protocol, IpProtocol(47));
    assert_eq!((p.ip.src, p.ip.dst), (v4("10.0.0.1"), v4("192.168.2.13")));
    // GRE: C bit, protocol IPv4, then a checksum over GRE header and payload.
    let gre = 18 + 20;
    assert_eq!(&out[gre..gre + 4], &[0x80, 0x00, 0x08, 0x00]);
    assert_eq!(checksum::checksum(&out[gre..]), 0, "GRE checksum verifies");
    // The inner packet as sent, less the TTL the route to the real server took.
    assert_eq!(&out[gre + 8..], &routed(&plain)[14..]);
}

#[test]
fn fragments_to_a_virtual_address_are_refused_others_pass() {
    let e = engine_with(&[service(
        Protocol::Udp,
        53,
        SchedulerKind::Rr,
        vec![dest("192.168.1.11", 53, ForwardMethod::Masq, 1)],
    )]);
    let mut w = e.worker(0);
    let mut frag = udp_frame((v4(CIP), 5000), (v4(VIP), 53), b"0123456789abcdef");
    // More-fragments flag; fix the header checksum.
    frag[20] |= 0x20;
    frag[24..26].copy_from_slice(&[0, 0]);
    let c = checksum::checksum(&frag[14..34]);
    frag[24..26].copy_from_slice(&c.to_be_bytes());
    assert_eq!(
        run(&mut w, &frag, t(0)).0,
        Verdict::Drop(DropReason::Fragment)
    );
    let mut other = frag.clone();
    other[33] = 99; // destination 10.0.0.99: not a virtual address
    other[24..26].copy_from_slice(&[0, 0]);
    let c = checksum::checksum(&other[14..34]);
    other[24..26].copy_from_slice(&c.to_be_bytes());
    assert_eq!(run(&mut w, &other, t(0)).0, Verdict::Pass);
    assert_eq!(e.conn_count(), 0);
}

#[test]
fn templates_are_listed_and_outlive_their_timeout_while_they_control_connections() {
    let mut svc = service(
        Protocol::Tcp,
        80,
        SchedulerKind::Rr,
        vec![dest("192.168.1.11", 80, ForwardMethod::Route, 1)],
    );
    svc.config.persistence = Some(Persistence {
        timeout: 30,
        prefix_len: 32,
    });
    let e = engine_with(&[svc]);
    let mut w = e.worker(0);
    let c = (v4(CIP), 40200);
    fwd(run(&mut w, &tcp_frame(c, (v4(VIP), 80), SYN, b""), t(0)).0);
    let template_state = |e: &Engine, now| {
        let conns = e.connections(now);
        let tmpl = conns.iter().find(|c| c.template).expect("template listed");
        (tmpl.state.clone(), tmpl.client_port, tmpl.virt_port)
    };
    assert_eq!(template_state(&e, t(0)), ("NONE".to_string(), 0, 80));
    // DR: the client's ACK establishes the connection (INPUT-ONLY table), which
    // assures its template (`ip_vs_control_assure_ct`, whatever the method).
    fwd(run(&mut w, &tcp_frame(c, (v4(VIP), 80), ACK, b""), t(1)).0);
    assert_eq!(template_state(&e, t(1)), ("ASSURED".to_string(), 0, 80));
    let conns = e.connections(t(1));
    let tmpl = conns.iter().find(|c| c.template).expect("template listed");
    assert_eq!(tmpl.expires_ms, 29_999, "30 s from its creation at t=0");
    // 60 s later the template's own timer has run out, but the ESTABLISHED
    // connection (900 s) still holds it.
    e.tick(t(60_000));
    let conns = e.connections(t(60_000));
    assert!(conns.iter().any(|c| c.template), "{conns:?}");
    assert_eq!(e.status(t(60_000))[0].dests[0].persistent_conns, 1);
}

#[test]
fn rates_follow_the_traffic_every_two_seconds() {
    let e = engine_with(&[service(
        Protocol::Udp,
        53,
        SchedulerKind::Rr,
        vec![dest("192.168.1.11", 53, ForwardMethod::Masq, 1)],
    )]);
    let mut w = e.worker(0);
    e.tick(t(0));
    for s in 0..20u64 {
        for p in 0..100u16 {
            let q = udp_frame((v4(CIP), 10_000 + p), (v4(VIP), 53), b"q");
            fwd(run(&mut w, &q, t(s * 1000)).0);
        }
        e.tick(t(s * 1000 + 999));
    }
    let r = e.status(t(20_000))[0].rates;
    // 100 packets a second, 100 new connections in the first second only.
    assert!((80..=110).contains(&r.in_pps), "{r:?}");
    assert_eq!(r.out_pps, 0);
}

#[test]
fn an_icmp_error_about_a_dr_connection_goes_to_its_real_server() {
    let e = engine_with(&[service(
        Protocol::Tcp,
        80,
        SchedulerKind::Rr,
        vec![dest("192.168.1.12", 80, ForwardMethod::Route, 1)],
    )]);
    let mut w = e.worker(0);
    fwd(run(
        &mut w,
        &tcp_frame((v4(CIP), 40300), (v4(VIP), 80), SYN, b""),
        t(0),
    )
    .0);
    let reply = tcp_frame((v4(VIP), 80), (v4(CIP), 40300), ACK, b"");
    let icmp = frag_needed(v4("203.0.113.1"), v4(VIP), &reply);
    let (v, out) = run(&mut w, &icmp, t(1));
    assert_eq!(
        fwd(v),
        Egress {
            next_hop: v4("192.168.1.12"),
            on_link: true
        }
    );
    assert_eq!(out, icmp);
    // An error about nothing we track is the kernel's.
    let unknown = tcp_frame((v4(VIP), 80), (v4(CIP), 1), ACK, b"");
    let icmp = frag_needed(v4("203.0.113.1"), v4(VIP), &unknown);
    assert_eq!(run(&mut w, &icmp, t(2)).0, Verdict::Pass);
}

#[test]
fn an_icmp_error_from_the_real_server_side_of_a_fullnat_connection_reaches_the_client() {
    let e = engine_with(&[service(
        Protocol::Tcp,
        80,
        SchedulerKind::Rr,
        vec![dest("198.51.100.7", 8080, ForwardMethod::FullNat, 1)],
    )]);
    let mut w = e.worker(0);
    let (v, out) = run(
        &mut w,
        &tcp_frame((v4(CIP), 40400), (v4(VIP), 80), SYN, b""),
        t(0),
    );
    fwd(v);
    let lport = ports(&parsed(&out)).0;
    // A router on the real server's side cannot forward LIP:lport -> RIP:8080.
    let to_rs = tcp_frame(
        (v4("172.16.0.1"), lport),
        (v4("198.51.100.7"), 8080),
        ACK,
        b"",
    );
    let icmp = frag_needed(v4("198.51.100.1"), v4("172.16.0.1"), &to_rs);
    let (v, out) = run(&mut w, &icmp, t(1));
    assert_eq!(fwd(v).next_hop, v4(CIP));
    let p = parsed(&out);
    assert_eq!((p.ip.src, p.ip.dst), (v4(VIP), v4(CIP)));
    let Transport::IcmpError {
        quoted: Some(q), ..
    } = p.ip.transport
    else {
        panic!("ICMP error expected")
    };
    assert_eq!((q.src, q.dst), (v4(CIP), v4(VIP)));
    assert_eq!(q.ports, Some((40400, 80)));
}

/// As Linux 6.1 did in the lab (`lab/scenarios/ttl.sh`, captures in
/// `tests/fixtures/ttl-6.1/`): NAT and DR real servers see TTL 63 for 64 sent; a
/// datagram sent with TTL 1 is answered "time exceeded in-transit" from the VIP, TOS
/// 0xc0, quoting the packet as it came (TTL 1).
#[test]
fn a_client_packet_without_ttl_left_is_answered_time_exceeded() {
    let lab = |f: &str| {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/ttl-6.1/{f}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    assert!(lab("rs1.txt").contains("ttl 63") && lab("rs2.txt").contains("ttl 63"));
    assert!(lab("stats.txt").contains("UDP  10.0.0.100:7001                     2        2"));
    assert!(lab("cl-icmp.txt").contains("10.0.0.100 > 10.1.9.2: ICMP time exceeded in-transit"));
    for method in [ForwardMethod::Masq, ForwardMethod::Route] {
        let e = one_server("192.168.1.11", 80, method);
        let mut w = e.worker(0);
        let mut syn = tcp_frame((v4(CIP), 40300), (v4(VIP), 80), SYN, b"");
        let mut h = ipv4::Packet::new_unchecked(&mut syn[14..]);
        h.set_ttl(1);
        h.fill_checksum();
        let (v, out) = run(&mut w, &syn, t(0));
        assert_eq!(fwd(v).next_hop, v4(CIP), "{method:?}: back to the client");
        let p = parsed(&out);
        assert_eq!((p.ip.src, p.ip.dst), (v4(VIP), v4(CIP)));
        let Transport::IcmpError {
            msg_type,
            code,
            quoted: Some(q),
        } = p.ip.transport
        else {
            panic!("not an ICMP error: {:?}", p.ip.transport)
        };
        assert_eq!((msg_type, code), (11, 0), "time exceeded in transit");
        assert_eq!(q.ports, Some((40300, 80)));
        let outer = ipv4::Packet::new_checked(&out[14..]).unwrap();
        assert_eq!(outer.tos(), 0xc0, "internet-control precedence");
        assert_eq!(
            out[q.offset + 8],
            1,
            "the quote shows the packet as it came"
        );
        // Counted though it never reached the real server: the kernel counts a packet
        // of a connection before transmitting it (the lab's InPkts is 2 for the two
        // datagrams of each service, one of them answered "time exceeded").
        let s = &e.status(t(0))[0];
        assert_eq!(s.dests[0].stats.in_pkts, 1);
    }
}

/// A TCP super-frame (GRO) the data plane forwards whole counts as one packet of all
/// its bytes, as the kernel counts a GRO packet, though the engine sees its first
/// segment only.
#[test]
fn a_super_frame_counts_all_its_bytes() {
    let e = one_server("192.168.1.11", 80, ForwardMethod::Masq);
    let mut w = e.worker(0);
    let c = (v4(CIP), 40400);
    fwd(run(&mut w, &tcp_frame(c, (v4(VIP), 80), SYN, b""), t(0)).0);
    fwd(run(&mut w, &tcp_frame(c, (v4(VIP), 80), ACK, b""), t(1)).0);
    let before = e.status(t(1))[0].stats;
    let seg = tcp_frame(c, (v4(VIP), 80), ACK, &[7u8; 1448]);
    for _ in 0..2 {
        // Twice: once through the locked path or the cache, then the cache.
        let mut buf = vec![0u8; HEADROOM + seg.len()];
        buf[HEADROOM..].copy_from_slice(&seg);
        let mut f = Frame::new(&mut buf, HEADROOM, seg.len());
        f.set_super_frame_len(14 + 20 + 20 + 45 * 1448);
        fwd(w.process(&mut f, t(2)));
    }
    let after = e.status(t(2))[0].stats;
    assert_eq!(after.in_pkts - before.in_pkts, 2);
    assert_eq!(after.in_bytes - before.in_bytes, 2 * (20 + 20 + 45 * 1448));
}

/// As the kernel: a packet whose IPv4 header does not verify is dropped by IP input
/// before IPVS sees it (not counted); a packet of a connection whose TCP checksum does
/// not verify is counted and forwarded, its checksum updated but not verified (the
/// real server drops it).
#[test]
fn header_and_transport_checksum_failures_count_as_the_kernel_counts() {
    let e = one_server("192.168.1.11", 80, ForwardMethod::Masq);
    let mut w = e.worker(0);
    let c = (v4(CIP), 40500);
    fwd(run(&mut w, &tcp_frame(c, (v4(VIP), 80), SYN, b""), t(0)).0);
    fwd(run(&mut w, &tcp_frame(c, (v4(VIP), 80), ACK, b""), t(1)).0);
    let counted = |e: &Engine| e.status(t(2))[0].stats.in_pkts;
    let base = counted(&e);
    let mut bad_header = tcp_frame(c, (v4(VIP), 80), ACK, b"x");
    bad_header[24] ^= 0x01;
    let mut bad_tcp = tcp_frame(c, (v4(VIP), 80), ACK, b"x");
    let last = bad_tcp.len() - 1;
    bad_tcp[last] ^= 0x01;
    for _ in 0..2 {
        // Twice: the locked path, then the flow cache.
        assert_eq!(
            run(&mut w, &bad_header, t(2)).0,
            Verdict::Drop(DropReason::BadChecksum)
        );
        fwd(run(&mut w, &tcp_frame(c, (v4(VIP), 80), ACK, b""), t(2)).0);
    }
    assert_eq!(counted(&e), base + 2, "bad headers are not counted");
    for _ in 0..2 {
        let (v, out) = run(&mut w, &bad_tcp, t(3));
        fwd(v);
        let p = rvs_wire::packet::parse_frame(&out).unwrap();
        assert!(!rvs_wire::packet::verify_checksums(&out, &p.ip));
    }
    assert_eq!(counted(&e), base + 4, "bad TCP checksums are counted");
}
