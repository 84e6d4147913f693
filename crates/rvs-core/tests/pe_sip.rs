//! The SIP persistence engine (`ipvsadm -A -u VIP:5060 -s rr -p 60 --pe sip`) through
//! `Worker::process`: SIP datagrams built with rvs-wire's emitters, the real server
//! each one reaches, and the templates the listing shows.

mod engine_support;
use engine_support::*;
use rvs_core::status::ConnEntry;
mod alloc_support;

#[global_allocator]
static GLOBAL: alloc_support::Counting = alloc_support::Counting;

const RS: [&str; 3] = ["192.168.1.11", "192.168.1.12", "192.168.1.13"];

fn sip_service(proto: Protocol, one_packet: bool, prefix_len: u8) -> VirtualService {
    let mut s = service(
        proto,
        5060,
        SchedulerKind::Rr,
        RS.iter()
            .map(|a| dest(a, 5060, ForwardMethod::Masq, 1))
            .collect(),
    );
    s.config.persistence = Some(Persistence {
        timeout: 60,
        prefix_len,
    });
    s.config.one_packet = one_packet;
    s.config.pe_name = Some("sip".into());
    s
}

fn invite(call_id: &str) -> Vec<u8> {
    format!(
        "INVITE sip:bob@example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776\r\n\
         From: <sip:alice@example.com>;tag=1928\r\n\
         To: <sip:bob@example.com>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// The real server a datagram from `client` reached (its new destination address).
fn reached(w: &mut Worker, client: (&str, u16), payload: &[u8], now: Instant) -> IpAddr {
    let (v, out) = run(
        w,
        &udp_frame((v4(client.0), client.1), (v4(VIP), 5060), payload),
        now,
    );
    let e = fwd(v);
    let p = parsed(&out);
    assert_eq!(p.ip.dst, e.next_hop);
    p.ip.dst
}

fn templates(e: &Engine, now: Instant) -> Vec<ConnEntry> {
    let mut v: Vec<_> = e
        .connections(now)
        .into_iter()
        .filter(|c| c.template)
        .collect();
    v.sort_by(|a, b| a.pe_data.cmp(&b.pe_data));
    v
}

#[test]
fn one_call_id_keeps_its_real_server_and_another_is_scheduled_anew() {
    // With -o every datagram is scheduled: only the Call-ID decides.
    let e = engine_with(&[sip_service(Protocol::Udp, true, 32)]);
    let mut w = e.worker(0);
    let c = (CIP, 5060);
    let a = reached(&mut w, c, &invite("a84b4c76e66710@pc33"), t(0));
    let b = reached(&mut w, c, &invite("other-call"), t(10));
    assert_ne!(a, b, "rr gives the second Call-ID the next real server");
    for i in 0..4 {
        assert_eq!(
            reached(&mut w, c, &invite("a84b4c76e66710@pc33"), t(20 + i)),
            a
        );
        assert_eq!(reached(&mut w, c, &invite("other-call"), t(30 + i)), b);
    }
    // The compact form and any header case carry the same Call-ID.
    let compact = b"BYE sip:bob@example.com SIP/2.0\r\ni: other-call\r\n\r\n";
    assert_eq!(reached(&mut w, c, compact, t(40)), b);
    let lower = b"ACK sip:bob@example.com SIP/2.0\r\ncall-id:  a84b4c76e66710@pc33\n\n";
    assert_eq!(reached(&mut w, c, lower, t(41)), a);
    // A third Call-ID takes the third real server; rr went round once.
    let third = reached(&mut w, c, &invite("third"), t(50));
    assert!(third != a && third != b);
    // The other worker shares the templates.
    let mut w1 = e.worker(1);
    assert_eq!(reached(&mut w1, c, &invite("other-call"), t(60)), b);
}

#[test]
fn without_one_packet_a_source_port_keeps_its_connection_as_in_the_kernel() {
    let e = engine_with(&[sip_service(Protocol::Udp, false, 32)]);
    let mut w = e.worker(0);
    let a = reached(&mut w, (CIP, 5001), &invite("A"), t(0));
    // Same source port, another Call-ID: the UDP connection decides, not the Call-ID.
    assert_eq!(reached(&mut w, (CIP, 5001), &invite("B"), t(1)), a);
    // And a datagram of that connection needs no Call-ID at all.
    assert_eq!(reached(&mut w, (CIP, 5001), b"keepalive\r\n", t(2)), a);
    // A new source port is a new connection: its Call-ID picks the template.
    let b = reached(&mut w, (CIP, 5002), &invite("B"), t(3));
    assert_ne!(a, b);
    assert_eq!(reached(&mut w, (CIP, 5003), &invite("A"), t(4)), a);
    assert_eq!(reached(&mut w, (CIP, 5004), &invite("B"), t(5)), b);
    // Each template controls the connections scheduled through it.
    let rows = templates(&e, t(5));
    assert_eq!(rows.len(), 2);
}

#[test]
fn two_clients_with_one_call_id_share_a_template_only_within_the_netmask() {
    let e = engine_with(&[sip_service(Protocol::Udp, true, 32)]);
    let mut w = e.worker(0);
    let first = reached(&mut w, ("192.0.2.10", 5060), &invite("shared"), t(0));
    let second = reached(&mut w, ("192.0.2.11", 5060), &invite("shared"), t(1));
    assert_ne!(
        first, second,
        "/32: the client address is part of the match"
    );
    assert_eq!(templates(&e, t(1)).len(), 2);

    // -M 255.255.255.0: both clients are one network, one template.
    let e = engine_with(&[sip_service(Protocol::Udp, true, 24)]);
    let mut w = e.worker(0);
    let first = reached(&mut w, ("192.0.2.10", 5060), &invite("shared"), t(0));
    let second = reached(&mut w, ("192.0.2.11", 5060), &invite("shared"), t(1));
    assert_eq!(first, second);
    let rows = templates(&e, t(1));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].client, v4("192.0.2.0"));
}

#[test]
fn a_datagram_without_a_call_id_is_dropped_and_creates_nothing() {
    let e = engine_with(&[sip_service(Protocol::Udp, false, 32)]);
    let mut w = e.worker(0);
    for payload in [
        &b""[..],
        b"OPTIONS sip:x SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n",
        // The value must end its line.
        b"OPTIONS sip:x SIP/2.0\r\nCall-ID: abc def\r\n",
        b"OPTIONS sip:x SIP/2.0\r\nCall-ID: abc",
        // A Call-ID on the first line is none (it is the request line).
        b"Call-ID: abc\r\n",
    ] {
        let (v, _) = run(
            &mut w,
            &udp_frame((v4(CIP), 5001), (v4(VIP), 5060), payload),
            t(0),
        );
        assert_eq!(v, Verdict::Drop(DropReason::Malformed), "{payload:?}");
    }
    assert!(e.connections(t(0)).is_empty());
    assert_eq!(e.status(t(0))[0].stats.conns, 0);
    // The next datagram with a Call-ID is scheduled normally.
    reached(&mut w, (CIP, 5001), &invite("ok"), t(1));
}

#[test]
fn a_tcp_service_with_the_sip_engine_drops_new_connections_as_the_kernel_does() {
    let e = engine_with(&[sip_service(Protocol::Tcp, false, 32)]);
    let mut w = e.worker(0);
    let (v, _) = run(
        &mut w,
        &tcp_frame((v4(CIP), 40000), (v4(VIP), 5060), SYN, b""),
        t(0),
    );
    assert_eq!(v, Verdict::Drop(DropReason::Malformed));
    assert!(e.connections(t(0)).is_empty());
}

#[test]
fn the_listing_shows_the_engine_and_the_call_id_of_each_template() {
    let e = engine_with(&[sip_service(Protocol::Udp, false, 32)]);
    let mut w = e.worker(0);
    let a = reached(
        &mut w,
        (CIP, 5001),
        &invite("a84b4c76e66710@pc33.example.com"),
        t(0),
    );
    let b = reached(&mut w, (CIP, 5002), &invite("b2"), t(0));
    let rows = templates(&e, t(1000));
    assert_eq!(rows.len(), 2);
    let (ta, tb) = (&rows[0], &rows[1]);
    assert_eq!(
        ta.pe_data.as_deref(),
        Some("a84b4c76e66710@pc33.example.com")
    );
    assert_eq!(tb.pe_data.as_deref(), Some("b2"));
    for (row, rs) in [(ta, a), (tb, b)] {
        assert_eq!(row.pe_name.as_deref(), Some("sip"));
        assert_eq!(row.ip_proto, 17);
        assert_eq!((row.client, row.client_port), (v4(CIP), 0));
        assert_eq!((row.virt, row.virt_port), (v4(VIP), 5060));
        assert_eq!((row.dest, row.dest_port), (rs, 5060));
        // The persistence timeout, counted from the last connection it scheduled.
        assert_eq!(row.expires_ms, 59_000);
        assert_eq!(row.state, "NONE");
    }
    // Connections carry no PE data, as in the kernel.
    let conns: Vec<_> = e
        .connections(t(1000))
        .into_iter()
        .filter(|c| !c.template)
        .collect();
    assert_eq!(conns.len(), 2);
    assert!(conns
        .iter()
        .all(|c| c.pe_name.is_none() && c.pe_data.is_none()));
}

#[test]
fn a_template_lives_for_the_persistence_timeout_after_its_last_use() {
    let e = engine_with(&[sip_service(Protocol::Udp, true, 32)]);
    let mut w = e.worker(0);
    let c = (CIP, 5060);
    let a = reached(&mut w, c, &invite("A"), t(0));
    // Each use restarts its timer (one-packet datagrams included).
    assert_eq!(reached(&mut w, c, &invite("A"), t(50_000)), a);
    assert_eq!(reached(&mut w, c, &invite("A"), t(100_000)), a);
    assert_eq!(templates(&e, t(100_000))[0].expires_ms, 60_000);
    // 60 s of silence: gone, and the Call-ID is scheduled anew (rr moved on).
    assert!(templates(&e, t(160_001)).is_empty());
    assert_ne!(reached(&mut w, c, &invite("A"), t(160_001)), a);
}

#[test]
fn a_template_whose_real_server_left_is_replaced() {
    let mut svc = sip_service(Protocol::Udp, true, 32);
    let e = engine_with(std::slice::from_ref(&svc));
    let mut w = e.worker(0);
    let c = (CIP, 5060);
    let a = reached(&mut w, c, &invite("A"), t(0));
    svc.dests.retain(|d| d.addr != a);
    e.apply(std::slice::from_ref(&svc), &[], Timeouts::default(), t(1));
    let moved = reached(&mut w, c, &invite("A"), t(2));
    assert_ne!(moved, a);
    // From now on the Call-ID stays on its new real server.
    assert_eq!(reached(&mut w, c, &invite("A"), t(3)), moved);
    let rows: Vec<_> = templates(&e, t(3))
        .into_iter()
        .filter(|r| r.dest == moved)
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].pe_data.as_deref(), Some("A"));
}

#[test]
fn many_call_ids_of_one_client_each_get_a_template() {
    let e = engine_with(&[sip_service(Protocol::Udp, true, 32)]);
    let mut w = e.worker(0);
    let c = (CIP, 5060);
    let ids: Vec<String> = (0..300).map(|i| format!("call-{i}@host")).collect();
    let first: Vec<IpAddr> = ids
        .iter()
        .map(|id| reached(&mut w, c, &invite(id), t(0)))
        .collect();
    // rr over three servers, one Call-ID after the other.
    for (i, rs) in first.iter().enumerate() {
        assert_eq!(*rs, v4(RS[i % 3]));
    }
    for (id, rs) in ids.iter().zip(&first).rev() {
        assert_eq!(reached(&mut w, c, &invite(id), t(1)), *rs);
    }
    let rows = templates(&e, t(1));
    assert_eq!(rows.len(), ids.len());
    assert!(rows.iter().all(|r| r.client_port == 0));
}

#[test]
fn new_call_ids_and_known_ones_allocate_nothing_per_packet() {
    for one_packet in [true, false] {
        let e = engine_with(&[sip_service(Protocol::Udp, one_packet, 32)]);
        let mut w = e.worker(0);
        // Distinct Call-IDs from distinct source ports: each datagram makes a template
        // (and, without -o, a connection); then each again, through its template.
        let frames: Vec<Vec<u8>> = (0..1500u16)
            .map(|i| {
                udp_frame(
                    (v4(CIP), 10_000 + i),
                    (v4(VIP), 5060),
                    &invite(&format!("{i:x}-a84b4c76e66710@pc33.example.com")),
                )
            })
            .collect();
        let mut buf = vec![0u8; HEADROOM + 1024];
        let mut send = |w: &mut Worker, pkt: &[u8], now| {
            buf[HEADROOM..HEADROOM + pkt.len()].copy_from_slice(pkt);
            let mut f = Frame::new(&mut buf, HEADROOM, pkt.len());
            w.process(&mut f, now)
        };
        // The first datagram may set up what lasts (none expected, but not the rule).
        assert!(matches!(
            send(&mut w, &frames[0], t(0)),
            Verdict::Forward(_)
        ));
        let (forwarded, allocations) = alloc_support::allocations_in(|| {
            let mut forwarded = 0;
            for round in 0..2 {
                for pkt in &frames {
                    if let Verdict::Forward(_) = send(&mut w, pkt, t(1 + round)) {
                        forwarded += 1;
                    }
                }
            }
            forwarded
        });
        assert_eq!(forwarded, 2 * frames.len());
        assert_eq!(allocations, 0, "-o: {one_packet}");
        assert_eq!(templates(&e, t(3)).len(), frames.len());
    }
}

fn udp6_frame(src: (&str, u16), dst: (&str, u16), payload: &[u8]) -> Vec<u8> {
    let (s, d): (core::net::Ipv6Addr, core::net::Ipv6Addr) =
        (src.0.parse().unwrap(), dst.0.parse().unwrap());
    let seg = 8 + payload.len();
    let mut b = vec![0u8; 14 + 40 + seg];
    let mut o = rvs_wire::ethernet::Repr {
        src: rvs_wire::ethernet::MacAddr([2, 0, 0, 0, 0, 1]),
        dst: rvs_wire::ethernet::MacAddr([2, 0, 0, 0, 0, 2]),
        vlan_tci: None,
        ethertype: rvs_wire::ethernet::EtherType::IPV6,
    }
    .emit(&mut b)
    .unwrap();
    o += rvs_wire::ipv6::Repr {
        src: s,
        dst: d,
        next_header: IpProtocol::UDP,
        payload_len: seg as u16,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(&mut b[o..])
    .unwrap();
    udp::Repr {
        src_port: src.1,
        dst_port: dst.1,
        payload_len: payload.len() as u16,
    }
    .emit(&mut b[o..])
    .unwrap();
    b[o + 8..].copy_from_slice(payload);
    udp::Packet::new_unchecked(&mut b[o..]).fill_checksum(checksum::pseudo_header_v6(
        &s,
        &d,
        IpProtocol::UDP,
        seg as u32,
    ));
    b
}

#[test]
fn ipv6_clients_are_matched_under_the_prefix_length() {
    const VIP6: &str = "2001:db8::100";
    let rs6 = ["2001:db8:1::11", "2001:db8:1::12"];
    let svc = VirtualService {
        config: ServiceConfig {
            key: ServiceKey::Addr {
                proto: Protocol::Udp,
                addr: VIP6.parse().unwrap(),
                port: 5060,
            },
            scheduler: SchedulerKind::Rr,
            sched_flags: SchedFlags::default(),
            persistence: Some(Persistence {
                timeout: 60,
                prefix_len: 64,
            }),
            one_packet: true,
            pe_name: Some("sip".into()),
        },
        dests: rs6
            .iter()
            .map(|a| DestConfig {
                addr: a.parse().unwrap(),
                ..dest(RS[0], 5060, ForwardMethod::Masq, 1)
            })
            .collect(),
    };
    let e = engine_with(&[svc]);
    let mut w = e.worker(0);
    let mut to = |client: &str, id: &str| {
        let pkt = udp6_frame((client, 5060), (VIP6, 5060), &invite(id));
        fwd(run(&mut w, &pkt, t(0)).0).next_hop
    };
    let a = to("2001:db8:5::1", "v6-call");
    let b = to("2001:db8:5::1", "v6-other");
    assert_ne!(a, b);
    // Another host of the same /64 shares the Call-ID's template.
    assert_eq!(to("2001:db8:5::2", "v6-call"), a);
    assert_eq!(to("2001:db8:5::2", "v6-other"), b);
    let rows = templates(&e, t(0));
    assert_eq!(rows.len(), 2);
    assert!(rows
        .iter()
        .all(|r| r.client == "2001:db8:5::".parse::<IpAddr>().unwrap() && r.client_port == 0));
    assert_eq!(rows[0].pe_data.as_deref(), Some("v6-call"));
}

/// The same datagrams, in the same order, as the lab scenario run on Linux 6.1 (real
/// servers in the kernel's list order rs3, rs2, rs1; `-p 60 --pe sip -o`, rr): the
/// real server each reached, or `None` where the kernel dropped it. Scenario:
/// `lab/scenarios/sip.sh`; what 6.1 and 6.12 printed: `tests/fixtures/sip-*/`.
#[test]
fn the_kernels_choices_for_a_sequence_of_datagrams() {
    let mut s = sip_service(Protocol::Udp, true, 32);
    s.dests.reverse();
    let e = engine_with(&[s]);
    let mut w = e.worker(0);
    let (rs1, rs2, rs3) = (Some(RS[0]), Some(RS[1]), Some(RS[2]));
    let cl = ("192.0.2.10", 5060);
    // (tag, headers after the request line, client, real server or dropped)
    type Case<'a> = (&'a str, &'a [u8], (&'a str, u16), Option<&'a str>);
    let cases: &[Case<'_>] = &[
        ("m01", b"Call-ID: A\r\n\r\n", cl, rs3),
        ("m02", b"Call-ID: B\r\n\r\n", cl, rs2),
        ("m03", b"Call-ID: A\r\n\r\n", cl, rs3),
        ("m04", b"i: B\r\n\r\n", cl, rs2),
        ("m05", b"call-id:A\n", cl, rs3),
        ("m06", b"CSeq: 1 OPTIONS\r\n\r\n", cl, None),
        ("m07", b"Call-ID: C D\r\n\r\n", cl, None),
        ("m08", b"Call-ID: C", cl, None),
        ("m09", b"Call-ID:\r\n \tXcont\r\n\r\n", cl, rs1),
        ("m10", b"Call-ID: cont\r\n\r\n", cl, rs3),
        ("m11", b"i: @1\r\ni: @2\r\ni: ok\r\n\r\n", cl, None),
        ("m12", b"Call-ID: @bad\r\nCall-ID: good\r\n\r\n", cl, rs2),
        ("m13", b"Call-ID: good\r\n\r\n", cl, rs2),
        ("m14", b"i=session\r\ni: B\r\n\r\n", cl, None),
        ("m15", b"Call-ID\t: A\r\n\r\n", cl, rs3),
        ("m16", b"Call-ID: caf\xe9\r\n\r\n", cl, rs1),
        ("w01", b"Call-ID: a,b\r\n\r\n", cl, None),
        ("w02", b"Call-ID: o'neil\r\n\r\n", cl, rs3),
        ("w03", b"Call-ID: o'neil\r\n\r\n", cl, rs3),
        ("w04", b"Call-ID:\t tabbed\r\n\r\n", cl, rs2),
        ("w05", b"Call-ID: \r\n  \r\n abc\r\n\r\n", cl, None),
        ("w06", b"Call-ID\n : nlcont\n\n", cl, rs1),
        ("w07", b"Call-ID: x\"y\r\n\r\n", cl, rs3),
        ("m17", b"Call-ID: A\r\n\r\n", ("192.0.2.99", 5060), rs2),
        ("m18", b"Call-ID: A\r\n\r\n", ("192.0.2.10", 5099), rs3),
        ("m19", b"", ("192.0.2.10", 5098), None),
    ];
    for (i, (tag, body, src, want)) in cases.iter().enumerate() {
        let msg = if body.is_empty() {
            Vec::new()
        } else {
            [format!("{tag} sip:x SIP/2.0\r\n").as_bytes(), body].concat()
        };
        let pkt = udp_frame((v4(src.0), src.1), (v4(VIP), 5060), &msg);
        let (v, _) = run(&mut w, &pkt, t(100 * i as u64));
        let got = match v {
            Verdict::Forward(e) => Some(e.next_hop),
            Verdict::Drop(DropReason::Malformed) => None,
            other => panic!("{tag}: {other:?}"),
        };
        assert_eq!(got, want.map(v4), "{tag}");
    }
    let mut data: Vec<String> = templates(&e, t(3000))
        .into_iter()
        .filter_map(|r| r.pe_data)
        .collect();
    data.sort();
    let mut want = [
        "A",
        "A",
        "B",
        "Xcont",
        "caf\u{e9}",
        "cont",
        "good",
        "nlcont",
        "o'neil",
        "tabbed",
        "x\"y",
    ];
    want.sort();
    assert_eq!(data, want);
}
