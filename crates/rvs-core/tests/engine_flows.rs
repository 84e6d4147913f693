//! End-to-end flows through `Worker::process` with an injected clock: frames built with
//! rvs-wire's emitters, results re-parsed and their checksums verified in full.

mod engine_support;
use engine_support::*;

#[test]
fn nat_rewrites_both_ways_with_valid_checksums() {
    let e = engine_with(&[service(
        Protocol::Tcp,
        80,
        SchedulerKind::Rr,
        vec![dest("192.168.1.11", 8080, ForwardMethod::Masq, 1)],
    )]);
    let mut w = e.worker(0);
    let (v, out) = run(
        &mut w,
        &tcp_frame((v4(CIP), 40000), (v4(VIP), 80), SYN, b""),
        t(0),
    );
    assert_eq!(
        fwd(v),
        Egress {
            next_hop: v4("192.168.1.11"),
            on_link: false
        }
    );
    let p = parsed(&out);
    assert_eq!((p.ip.src, p.ip.dst), (v4(CIP), v4("192.168.1.11")));
    assert_eq!(ports(&p), (40000, 8080));

    // The reply from the real server goes back as the virtual service.
    let reply = tcp_frame((v4("192.168.1.11"), 8080), (v4(CIP), 40000), SYN | ACK, b"");
    let (v, out) = run(&mut e.worker(1), &reply, t(1));
    assert_eq!(fwd(v).next_hop, v4(CIP));
    let p = parsed(&out);
    assert_eq!((p.ip.src, p.ip.dst), (v4(VIP), v4(CIP)));
    assert_eq!(ports(&p), (80, 40000));
    assert_eq!(p.ip.ttl, 63, "a forwarded reply loses one TTL");

    // Data with a payload keeps verifying after the rewrite.
    let (v, out) = run(
        &mut w,
        &tcp_frame(
            (v4(CIP), 40000),
            (v4(VIP), 80),
            ACK,
            b"GET / HTTP/1.0\r\n\r\n",
        ),
        t(2),
    );
    fwd(v);
    assert_eq!(parsed(&out).ip.dst, v4("192.168.1.11"));

    // A corrupted segment is rewritten incrementally, unverified, as the kernel does:
    // it reaches the real server with its error intact, for its stack to drop.
    let mut bad = tcp_frame((v4(CIP), 40000), (v4(VIP), 80), ACK, b"x");
    let n = bad.len();
    bad[n - 1] ^= 0xff;
    let (v, mut out) = run(&mut w, &bad, t(3));
    fwd(v);
    let p = rvs_wire::packet::parse_frame(&out).unwrap();
    assert_eq!(p.ip.dst, v4("192.168.1.11"));
    assert!(!rvs_wire::packet::verify_checksums(&out, &p.ip));
    // Undoing the corruption gives a sound segment: the rewrite itself was right.
    out[n - 1] ^= 0xff;
    assert_eq!(parsed(&out).ip.dst, v4("192.168.1.11"));
    // A corrupted SYN creates nothing.
    let mut bad_syn = tcp_frame((v4(CIP), 40999), (v4(VIP), 80), SYN, b"");
    let n = bad_syn.len();
    bad_syn[n - 1] ^= 0x5a;
    assert_eq!(
        run(&mut w, &bad_syn, t(4)).0,
        Verdict::Drop(DropReason::BadChecksum)
    );
    assert_eq!(e.conn_count(), 1);
}

#[test]
fn dr_keeps_the_packet_and_asks_for_on_link_egress() {
    let e = engine_with(&[service(
        Protocol::Tcp,
        80,
        SchedulerKind::Wlc,
        vec![dest("192.168.1.12", 80, ForwardMethod::Route, 1)],
    )]);
    let mut w = e.worker(0);
    let pkt = tcp_frame((v4(CIP), 40001), (v4(VIP), 80), SYN, b"");
    let (v, out) = run(&mut w, &pkt, t(0));
    assert_eq!(
        fwd(v),
        Egress {
            next_hop: v4("192.168.1.12"),
            on_link: true
        }
    );
    assert_eq!(
        out,
        routed(&pkt),
        "DR leaves the IP packet as routed: one TTL less"
    );
}

fn tun_engine(tun: Tunnel) -> Engine {
    engine_with(&[service(
        Protocol::Tcp,
        80,
        SchedulerKind::Rr,
        vec![dest("192.168.2.13", 80, ForwardMethod::Tunnel(tun), 1)],
    )])
}

#[test]
fn tun_prepends_an_ipip_outer_header() {
    let e = tun_engine(Tunnel::default());
    let pkt = tcp_frame((v4(CIP), 40002), (v4(VIP), 80), SYN, b"hello");
    let (v, out) = run(&mut e.worker(0), &pkt, t(0));
    assert_eq!(fwd(v).next_hop, v4("192.168.2.13"));
    let p = parsed(&out);
    assert_eq!((p.ip.src, p.ip.dst), (v4("10.0.0.1"), v4("192.168.2.13")));
    assert_eq!(p.ip.protocol, IpProtocol(4));
    assert_eq!(out.len(), pkt.len() + 20);
    assert_eq!(&out[..12], &pkt[..12], "Ethernet addresses moved along");
    assert_eq!(&out[34..], &routed(&pkt)[14..], "inner packet as routed");
}

#[test]
fn tun_gue_carries_the_packet_in_udp() {
    let e = tun_engine(Tunnel {
        kind: TunnelType::Gue,
        port: 6080,
        csum: TunnelCsum::Csum,
    });
    let pkt = tcp_frame((v4(CIP), 40003), (v4(VIP), 80), SYN, b"");
    let (v, out) = run(&mut e.worker(0), &pkt, t(0));
    fwd(v);
    let p = parsed(&out);
    assert_eq!(p.ip.protocol, IpProtocol::UDP);
    let Transport::Udp { dst_port, .. } = p.ip.transport else {
        panic!("outer UDP expected")
    };
    assert_eq!(dst_port, 6080);
    // GUE header (version 0, no options) names the inner protocol, IPv4 in IP.
    assert_eq!(&out[42..46], &[0, 4, 0, 0]);
    let inner = parse_ip(&out, 46).unwrap();
    assert_eq!((inner.src, inner.dst), (v4(CIP), v4(VIP)));
    assert!(verify_checksums(&out, &inner));
}

#[test]
fn fullnat_rewrites_both_ends_both_ways() {
    let e = engine_with(&[service(
        Protocol::Tcp,
        80,
        SchedulerKind::Rr,
        vec![dest("198.51.100.7", 8080, ForwardMethod::FullNat, 1)],
    )]);
    let mut w = e.worker(0);
    let (v, out) = run(
        &mut w,
        &tcp_frame((v4(CIP), 40004), (v4(VIP), 80), SYN, b""),
        t(0),
    );
    assert_eq!(fwd(v).next_hop, v4("198.51.100.7"));
    let p = parsed(&out);
    assert_eq!((p.ip.src, p.ip.dst), (v4("172.16.0.1"), v4("198.51.100.7")));
    let (lport, dport) = ports(&p);
    assert!((20000..=20999).contains(&lport));
    assert_eq!(dport, 8080);

    let reply = tcp_frame(
        (v4("198.51.100.7"), 8080),
        (v4("172.16.0.1"), lport),
        SYN | ACK,
        b"ok",
    );
    let (v, out) = run(&mut e.worker(1), &reply, t(1));
    assert_eq!(fwd(v).next_hop, v4(CIP));
    let p = parsed(&out);
    assert_eq!((p.ip.src, p.ip.dst), (v4(VIP), v4(CIP)));
    assert_eq!(ports(&p), (80, 40004));
}

/// The real server each of `n` new connections from distinct ports goes to.
fn spread(w: &mut Worker, n: u16, base_port: u16, now: Instant) -> Vec<IpAddr> {
    (0..n)
        .map(|i| {
            let (v, _) = run(
                w,
                &tcp_frame((v4(CIP), base_port + i), (v4(VIP), 80), SYN, b""),
                now,
            );
            fwd(v).next_hop
        })
        .collect()
}

#[test]
fn rr_takes_real_servers_in_kernel_order_newest_first() {
    // Kernel list order: the most recently added real server first.
    let e = engine_with(&[service(
        Protocol::Tcp,
        80,
        SchedulerKind::Rr,
        vec![
            dest("192.168.1.13", 80, ForwardMethod::Route, 1),
            dest("192.168.1.12", 80, ForwardMethod::Route, 1),
            dest("192.168.1.11", 80, ForwardMethod::Route, 1),
        ],
    )]);
    let got = spread(&mut e.worker(0), 6, 41000, t(0));
    let want: Vec<IpAddr> = ["13", "12", "11", "13", "12", "11"]
        .iter()
        .map(|s| v4(&format!("192.168.1.{s}")))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn persistence_keeps_a_client_and_a_netmask_groups_clients() {
    let mut svc = service(
        Protocol::Tcp,
        80,
        SchedulerKind::Rr,
        vec![
            dest("192.168.1.12", 80, ForwardMethod::Route, 1),
            dest("192.168.1.11", 80, ForwardMethod::Route, 1),
        ],
    );
    svc.config.persistence = Some(Persistence {
        timeout: 360,
        prefix_len: 24,
    });
    let e = engine_with(&[svc]);
    let mut w = e.worker(0);
    let first = spread(&mut w, 4, 42000, t(0));
    assert!(
        first.iter().all(|a| *a == first[0]),
        "one client stays on one server: {first:?}"
    );
    // Another client of the same /24 follows the same template.
    let (v, _) = run(
        &mut w,
        &tcp_frame((v4("192.0.2.77"), 5000), (v4(VIP), 80), SYN, b""),
        t(1),
    );
    assert_eq!(fwd(v).next_hop, first[0]);
    // A client of another /24 is scheduled afresh (rr moves on).
    let (v, _) = run(
        &mut w,
        &tcp_frame((v4("203.0.113.5"), 5000), (v4(VIP), 80), SYN, b""),
        t(2),
    );
    assert_ne!(fwd(v).next_hop, first[0]);
    let conns = e.connections(t(3));
    assert_eq!(conns.iter().filter(|c| c.template).count(), 2);
    let status = e.status(t(3));
    let persist: u32 = status[0].dests.iter().map(|d| d.persistent_conns).sum();
    assert_eq!(persist, 2);
}

#[test]
fn weight_zero_stops_new_connections_but_established_ones_continue() {
    let mk = |w11| {
        service(
            Protocol::Tcp,
            80,
            SchedulerKind::Wlc,
            vec![
                dest("192.168.1.12", 80, ForwardMethod::Masq, 1),
                dest("192.168.1.11", 80, ForwardMethod::Masq, w11),
            ],
        )
    };
    let e = engine_with(&[mk(1)]);
    let mut w = e.worker(0);
    // wlc: first to .12 (first in list on a tie), second to .11.
    let got = spread(&mut w, 2, 43000, t(0));
    assert_eq!(got, vec![v4("192.168.1.12"), v4("192.168.1.11")]);
    e.apply(&[mk(0)], &[], Timeouts::default(), t(1));
    // The established connection to .11 still flows.
    let (v, _) = run(
        &mut w,
        &tcp_frame((v4(CIP), 43001), (v4(VIP), 80), ACK, b"more"),
        t(2),
    );
    assert_eq!(fwd(v).next_hop, v4("192.168.1.11"));
    // New ones all go to .12.
    let got = spread(&mut w, 3, 43100, t(3));
    assert!(got.iter().all(|a| *a == v4("192.168.1.12")), "{got:?}");
}

#[test]
fn upper_threshold_overloads_and_three_quarters_clears() {
    let mut d11 = dest("192.168.1.11", 80, ForwardMethod::Masq, 1);
    d11.u_threshold = 2;
    let e = engine_with(&[service(
        Protocol::Tcp,
        80,
        SchedulerKind::Rr,
        vec![d11, dest("192.168.1.12", 80, ForwardMethod::Masq, 1)],
    )]);
    let mut w = e.worker(0);
    // rr: .11, .12, .11 (now 2 = threshold: overloaded), then only .12.
    let got = spread(&mut w, 5, 44000, t(0));
    let n11 = got.iter().filter(|a| **a == v4("192.168.1.11")).count();
    assert_eq!(n11, 2, "{got:?}");
    assert_eq!(got[3], v4("192.168.1.12"));
    assert_eq!(got[4], v4("192.168.1.12"));
    // Establish then reset one of .11's connections: once it is gone, 1 < 3/4 * 2
    // and the overload clears.
    let first11 = got.iter().position(|a| *a == v4("192.168.1.11")).unwrap() as u16;
    let c = (v4(CIP), 44000 + first11);
    fwd(run(&mut w, &tcp_frame(c, (v4(VIP), 80), ACK, b""), t(1)).0);
    let (v, _) = run(&mut w, &tcp_frame(c, (v4(VIP), 80), 0x004, b""), t(1));
    fwd(v);
    e.tick(t(20_000)); // CLOSE times out after 10 s
    let got = spread(&mut w, 2, 44100, t(20_001));
    assert!(got.contains(&v4("192.168.1.11")), "{got:?}");
}

fn counts(e: &Engine, now: Instant) -> (u32, u32) {
    let s = e.status(now);
    (s[0].dests[0].active_conns, s[0].dests[0].inactive_conns)
}

fn state_of(e: &Engine, now: Instant) -> String {
    let c = e.connections(now);
    assert_eq!(c.len(), 1, "{c:?}");
    c[0].state.clone()
}

#[test]
fn tcp_states_and_counters_through_handshake_and_close_nat() {
    let e = engine_with(&[service(
        Protocol::Tcp,
        80,
        SchedulerKind::Rr,
        vec![dest("192.168.1.11", 80, ForwardMethod::Masq, 1)],
    )]);
    let mut w = e.worker(0);
    let c = (v4(CIP), 45000);
    let vs = (v4(VIP), 80);
    let rs = (v4("192.168.1.11"), 80);
    let step = |w: &mut Worker, pkt: Vec<u8>, ms: u64| fwd(run(w, &pkt, t(ms)).0);
    step(&mut w, tcp_frame(c, vs, SYN, b""), 0);
    assert_eq!(state_of(&e, t(0)), "SYN_RECV");
    assert_eq!(counts(&e, t(0)), (1, 0));
    step(&mut w, tcp_frame(rs, c, SYN | ACK, b""), 1);
    step(&mut w, tcp_frame(c, vs, ACK, b""), 2);
    assert_eq!(state_of(&e, t(2)), "ESTABLISHED");
    assert_eq!(counts(&e, t(2)), (1, 0));
    step(&mut w, tcp_frame(c, vs, FIN | ACK, b""), 3);
    assert_eq!(state_of(&e, t(3)), "CLOSE_WAIT");
    assert_eq!(counts(&e, t(3)), (0, 1));
    step(&mut w, tcp_frame(rs, c, FIN | ACK, b""), 4);
    assert_eq!(state_of(&e, t(4)), "TIME_WAIT");
    assert_eq!(counts(&e, t(4)), (0, 1));
    // TIME_WAIT lasts 120 s, then the entry goes.
    e.tick(t(4 + 120_001));
    assert!(e.connections(t(4 + 120_001)).is_empty());
    assert_eq!(counts(&e, t(4 + 120_001)), (0, 0));
}

#[test]
fn tcp_states_dr_use_the_input_only_table() {
    let e = engine_with(&[service(
        Protocol::Tcp,
        80,
        SchedulerKind::Rr,
        vec![dest("192.168.1.12", 80, ForwardMethod::Route, 1)],
    )]);
    let mut w = e.worker(0);
    let c = (v4(CIP), 45100);
    let vs = (v4(VIP), 80);
    fwd(run(&mut w, &tcp_frame(c, vs, SYN, b""), t(0)).0);
    assert_eq!(state_of(&e, t(0)), "SYN_RECV");
    fwd(run(&mut w, &tcp_frame(c, vs, ACK, b""), t(1)).0);
    assert_eq!(state_of(&e, t(1)), "ESTABLISHED");
    assert_eq!(counts(&e, t(1)), (1, 0));
    fwd(run(&mut w, &tcp_frame(c, vs, FIN | ACK, b""), t(2)).0);
    assert_eq!(state_of(&e, t(2)), "FIN_WAIT");
    assert_eq!(counts(&e, t(2)), (0, 1));
}

#[test]
fn udp_connections_are_inactive_and_expire_after_the_udp_timeout() {
    let e = engine_with(&[service(
        Protocol::Udp,
        53,
        SchedulerKind::Rr,
        vec![dest("192.168.1.11", 53, ForwardMethod::Masq, 1)],
    )]);
    let mut w = e.worker(0);
    let (v, out) = run(
        &mut w,
        &udp_frame((v4(CIP), 5353), (v4(VIP), 53), b"query"),
        t(0),
    );
    fwd(v);
    assert_eq!(parsed(&out).ip.dst, v4("192.168.1.11"));
    let (v, out) = run(
        &mut w,
        &udp_frame((v4("192.168.1.11"), 53), (v4(CIP), 5353), b"answer"),
        t(1),
    );
    fwd(v);
    assert_eq!(parsed(&out).ip.src, v4(VIP));
    assert_eq!(state_of(&e, t(1)), "UDP");
    assert_eq!(counts(&e, t(1)), (0, 1));
    e.tick(t(1 + 300_001));
    assert!(e.connections(t(1 + 300_001)).is_empty());
}

#[test]
fn icmp_frag_needed_about_a_nat_connection_is_translated() {
    let e = engine_with(&[service(
        Protocol::Tcp,
        80,
        SchedulerKind::Rr,
        vec![dest("192.168.1.11", 8080, ForwardMethod::Masq, 1)],
    )]);
    let mut w = e.worker(0);
    fwd(run(
        &mut w,
        &tcp_frame((v4(CIP), 46000), (v4(VIP), 80), SYN, b""),
        t(0),
    )
    .0);
    // A router near the client cannot forward our reply VIP:80 -> CIP:46000.
    let reply_as_sent = tcp_frame((v4(VIP), 80), (v4(CIP), 46000), ACK, b"");
    let icmp = frag_needed(v4("203.0.113.1"), v4(VIP), &reply_as_sent);
    let (v, out) = run(&mut w, &icmp, t(1));
    assert_eq!(fwd(v).next_hop, v4("192.168.1.11"));
    let p = parsed(&out);
    assert_eq!(p.ip.dst, v4("192.168.1.11"));
    let Transport::IcmpError {
        quoted: Some(q), ..
    } = p.ip.transport
    else {
        panic!("ICMP error expected")
    };
    assert_eq!((q.src, q.dst), (v4("192.168.1.11"), v4(CIP)));
    assert_eq!(q.ports, Some((8080, 46000)));

    // And from the real server's side: its router reports about CIP -> RIP:8080.
    let to_rs = tcp_frame((v4(CIP), 46000), (v4("192.168.1.11"), 8080), ACK, b"");
    let icmp = frag_needed(v4("192.168.1.1"), v4(CIP), &to_rs);
    let (v, out) = run(&mut w, &icmp, t(2));
    assert_eq!(fwd(v).next_hop, v4(CIP));
    let p = parsed(&out);
    assert_eq!(p.ip.src, v4(VIP));
    let Transport::IcmpError {
        quoted: Some(q), ..
    } = p.ip.transport
    else {
        panic!("ICMP error expected")
    };
    assert_eq!((q.dst, q.ports), (v4(VIP), Some((46000, 80))));
}

#[test]
fn status_figures_match_the_traffic() {
    let e = engine_with(&[service(
        Protocol::Tcp,
        80,
        SchedulerKind::Rr,
        vec![dest("192.168.1.11", 80, ForwardMethod::Masq, 1)],
    )]);
    let mut w0 = e.worker(0);
    let mut w1 = e.worker(1);
    let a = tcp_frame((v4(CIP), 47000), (v4(VIP), 80), SYN, b"");
    let b = tcp_frame((v4(CIP), 47000), (v4(VIP), 80), ACK, b"0123456789");
    let r = tcp_frame(
        (v4("192.168.1.11"), 80),
        (v4(CIP), 47000),
        SYN | ACK,
        b"abc",
    );
    fwd(run(&mut w0, &a, t(0)).0);
    fwd(run(&mut w1, &r, t(1)).0);
    fwd(run(&mut w1, &b, t(2)).0);
    let s = &e.status(t(3))[0];
    let ip_len = |f: &Vec<u8>| (f.len() - 14) as u64;
    let want = Stats {
        conns: 1,
        in_pkts: 2,
        out_pkts: 1,
        in_bytes: ip_len(&a) + ip_len(&b),
        out_bytes: ip_len(&r),
    };
    assert_eq!(s.stats, want);
    assert_eq!(s.dests[0].stats, want);
    e.zero(None);
    assert_eq!(e.status(t(4))[0].stats, Stats::default());
}

#[test]
fn strangers_pass_and_unmatched_tcp_is_dropped() {
    let e = engine_with(&[service(
        Protocol::Tcp,
        80,
        SchedulerKind::Rr,
        vec![dest("192.168.1.11", 80, ForwardMethod::Masq, 1)],
    )]);
    let mut w = e.worker(0);
    // Another port of the VIP, another address: not ours.
    let other = tcp_frame((v4(CIP), 1), (v4(VIP), 22), SYN, b"");
    assert_eq!(run(&mut w, &other, t(0)).0, Verdict::Pass);
    let other = tcp_frame((v4(CIP), 1), (v4("10.0.0.5"), 80), ACK, b"");
    assert_eq!(run(&mut w, &other, t(0)).0, Verdict::Pass);
    // A non-SYN to the service without a connection.
    let stray = tcp_frame((v4(CIP), 2), (v4(VIP), 80), ACK, b"");
    assert_eq!(
        run(&mut w, &stray, t(0)).0,
        Verdict::Drop(DropReason::NoConnection)
    );
    // ARP passes; a truncated IPv4 header is malformed.
    let mut arp = tcp_frame((v4(CIP), 1), (v4(VIP), 80), SYN, b"");
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    assert_eq!(run(&mut w, &arp, t(0)).0, Verdict::Pass);
    let short = &tcp_frame((v4(CIP), 1), (v4(VIP), 80), SYN, b"")[..20];
    assert_eq!(
        run(&mut w, short, t(0)).0,
        Verdict::Drop(DropReason::Malformed)
    );
    assert_eq!(e.conn_count(), 0);
}

#[test]
fn removed_real_server_drops_its_connections_and_reload_keeps_others() {
    let both = service(
        Protocol::Tcp,
        80,
        SchedulerKind::Rr,
        vec![
            dest("192.168.1.12", 80, ForwardMethod::Masq, 1),
            dest("192.168.1.11", 80, ForwardMethod::Masq, 1),
        ],
    );
    let e = engine_with(std::slice::from_ref(&both));
    let mut w = e.worker(0);
    let got = spread(&mut w, 2, 48000, t(0));
    assert_eq!(got, vec![v4("192.168.1.12"), v4("192.168.1.11")]);
    let mut only12 = both.clone();
    only12.dests.remove(1);
    e.apply(&[only12], &[], Timeouts::default(), t(1));
    let to11 = tcp_frame((v4(CIP), 48001), (v4(VIP), 80), ACK, b"");
    assert_eq!(
        run(&mut w, &to11, t(2)).0,
        Verdict::Drop(DropReason::DestRemoved)
    );
    let to12 = tcp_frame((v4(CIP), 48000), (v4(VIP), 80), ACK, b"");
    assert_eq!(fwd(run(&mut w, &to12, t(3)).0).next_hop, v4("192.168.1.12"));
}

#[test]
fn fwmark_rules_select_a_fwmark_service() {
    let e = engine_with(&[]);
    let svc = VirtualService {
        config: ServiceConfig {
            key: ServiceKey::Fwmark {
                mark: 7,
                family: Family::V4,
            },
            scheduler: SchedulerKind::Rr,
            sched_flags: SchedFlags::default(),
            persistence: None,
            one_packet: false,
            pe_name: None,
        },
        dests: vec![dest("192.168.1.11", 0, ForwardMethod::Masq, 1)],
    };
    let rule = FwmarkRule {
        mark: 7,
        family: Family::V4,
        proto: Some(Protocol::Tcp),
        dst: Prefix::new(v4("10.0.1.0"), 24),
        dst_ports: Some((80, 443)),
        src: None,
    };
    e.apply(&[svc], &[rule], Timeouts::default(), t(0));
    let mut w = e.worker(0);
    let (v, out) = run(
        &mut w,
        &tcp_frame((v4(CIP), 49000), (v4("10.0.1.9"), 443), SYN, b""),
        t(1),
    );
    assert_eq!(fwd(v).next_hop, v4("192.168.1.11"));
    // Port 0 real server: the packet's port is kept.
    assert_eq!(ports(&parsed(&out)), (49000, 443));
    let miss = tcp_frame((v4(CIP), 49001), (v4("10.0.1.9"), 8443), SYN, b"");
    assert_eq!(run(&mut w, &miss, t(2)).0, Verdict::Pass);
}
