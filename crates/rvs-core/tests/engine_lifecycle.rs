//! Connection lifecycles across engines and reloads: sync master/backup, port reuse,
//! one-packet scheduling, IPv6, reloads that keep scheduler state, removed real
//! servers with `expire_nodest_conn`, a full table.

mod engine_support;
use engine_support::*;
use rvs_core::engine::{ConnFlags, SyncConn, Sysctls};
use rvs_wire::ipv6;

fn nat_service(proto: Protocol, port: u16, sched: SchedulerKind, rips: &[&str]) -> VirtualService {
    service(
        proto,
        port,
        sched,
        rips.iter()
            .map(|r| dest(r, port, ForwardMethod::Masq, 1))
            .collect(),
    )
}

fn syn_to(w: &mut Worker, cport: u16, now: Instant) -> Verdict {
    run(
        w,
        &tcp_frame((v4(CIP), cport), (v4(VIP), 80), SYN, b""),
        now,
    )
    .0
}

#[test]
fn master_queues_per_sync_threshold_and_a_backup_takes_over() {
    let svc = nat_service(Protocol::Tcp, 80, SchedulerKind::Rr, &["192.168.1.11"]);
    let master = engine_with(std::slice::from_ref(&svc));
    master.set_sync_master(true);
    let mut w = master.worker(0);
    let c = (v4(CIP), 50000);
    let vs = (v4(VIP), 80);
    let mut out: Vec<SyncConn> = Vec::new();
    fwd(run(&mut w, &tcp_frame(c, vs, SYN, b""), t(0)).0);
    fwd(run(&mut w, &tcp_frame(c, vs, ACK, b""), t(1)).0);
    master.drain_sync(&mut out);
    assert!(
        out.is_empty(),
        "SYN_RECV is not synced, ES only at the threshold: {out:?}"
    );
    fwd(run(&mut w, &tcp_frame(c, vs, ACK, b"data"), t(2)).0);
    master.drain_sync(&mut out);
    assert_eq!(out.len(), 1, "third packet (3 % 50 == 3) syncs");
    let s = out[0];
    assert_eq!((s.ip_proto, s.caddr, s.cport), (6, v4(CIP), 50000));
    assert_eq!(
        (s.vaddr, s.vport, s.daddr, s.dport),
        (v4(VIP), 80, v4("192.168.1.11"), 80)
    );
    assert_eq!(s.state, 1, "ESTABLISHED");
    assert_eq!(s.flags & ConnFlags::FWD_MASK, ConnFlags::MASQ);
    assert_eq!(s.timeout, 900);
    out.clear();
    fwd(run(&mut w, &tcp_frame(c, vs, FIN | ACK, b""), t(3)).0);
    master.drain_sync(&mut out);
    assert_eq!(out.len(), 1, "entering CLOSE_WAIT forces a sync");
    assert_eq!(out[0].state, 7);

    // The backup knows nothing until it imports; then the client's next packet flows
    // to the same real server without being scheduled (a non-SYN would be dropped).
    let backup = engine_with(&[svc]);
    let mut bw = backup.worker(0);
    let next = tcp_frame(c, vs, ACK, b"more");
    assert_eq!(
        run(&mut bw, &next, t(4)).0,
        Verdict::Drop(DropReason::NoConnection)
    );
    backup.sync_import(&s, t(4)).unwrap();
    let conns = backup.connections(t(4));
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0].state, "ESTABLISHED");
    assert_eq!(
        fwd(run(&mut bw, &next, t(5)).0).next_hop,
        v4("192.168.1.11")
    );
    let st = backup.status(t(5));
    assert_eq!(st[0].dests[0].active_conns, 1);
    // A connection for a service the backup lacks is refused and changes nothing.
    let mut stranger = s;
    stranger.vport = 8443;
    assert!(backup.sync_import(&stranger, t(6)).is_err());
    assert_eq!(backup.conn_count(), 1);
}

#[test]
fn a_new_syn_on_a_time_wait_connection_is_scheduled_afresh() {
    let e = engine_with(&[nat_service(
        Protocol::Tcp,
        80,
        SchedulerKind::Rr,
        &["192.168.1.12", "192.168.1.11"],
    )]);
    let mut w = e.worker(0);
    let c = (v4(CIP), 51000);
    let vs = (v4(VIP), 80);
    assert_eq!(
        fwd(syn_to(&mut w, 51000, t(0))).next_hop,
        v4("192.168.1.12")
    );
    let rs = (v4("192.168.1.12"), 80);
    fwd(run(&mut w, &tcp_frame(rs, c, SYN | ACK, b""), t(1)).0);
    fwd(run(&mut w, &tcp_frame(c, vs, ACK, b""), t(2)).0);
    fwd(run(&mut w, &tcp_frame(c, vs, FIN | ACK, b""), t(3)).0);
    fwd(run(&mut w, &tcp_frame(rs, c, FIN | ACK, b""), t(4)).0);
    assert_eq!(e.connections(t(4))[0].state, "TIME_WAIT");
    // conn_reuse_mode 1: the old entry goes, the SYN is scheduled (rr moves on).
    assert_eq!(
        fwd(syn_to(&mut w, 51000, t(5))).next_hop,
        v4("192.168.1.11")
    );
    let conns = e.connections(t(5));
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0].state, "SYN_RECV");
    assert_eq!(conns[0].dest, v4("192.168.1.11"));
}

#[test]
fn one_packet_udp_keeps_no_entry_and_schedules_every_datagram() {
    let mut svc = nat_service(
        Protocol::Udp,
        53,
        SchedulerKind::Rr,
        &["192.168.1.12", "192.168.1.11"],
    );
    svc.config.one_packet = true;
    let e = engine_with(&[svc]);
    let mut w = e.worker(0);
    let q = udp_frame((v4(CIP), 5353), (v4(VIP), 53), b"q");
    let hops: Vec<IpAddr> = (0..3)
        .map(|i| fwd(run(&mut w, &q, t(i)).0).next_hop)
        .collect();
    assert_eq!(
        hops,
        vec![v4("192.168.1.12"), v4("192.168.1.11"), v4("192.168.1.12")]
    );
    assert_eq!(e.conn_count(), 0);
    let st = e.status(t(3));
    assert_eq!((st[0].stats.conns, st[0].stats.in_pkts), (3, 3));
    assert_eq!(
        st[0].dests[0].inactive_conns + st[0].dests[1].inactive_conns,
        0
    );
}

fn tcp6_frame(src: (&str, u16), dst: (&str, u16), flags: u16) -> Vec<u8> {
    let (s6, d6): (core::net::Ipv6Addr, core::net::Ipv6Addr) =
        (src.0.parse().unwrap(), dst.0.parse().unwrap());
    let mut b = vec![0u8; 14 + 40 + 20];
    rvs_wire::ethernet::Repr {
        src: rvs_wire::ethernet::MacAddr([2, 0, 0, 0, 0, 1]),
        dst: rvs_wire::ethernet::MacAddr([2, 0, 0, 0, 0, 2]),
        vlan_tci: None,
        ethertype: rvs_wire::ethernet::EtherType::IPV6,
    }
    .emit(&mut b)
    .unwrap();
    ipv6::Repr {
        src: s6,
        dst: d6,
        next_header: IpProtocol::TCP,
        payload_len: 20,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(&mut b[14..])
    .unwrap();
    tcp::Repr {
        src_port: src.1,
        dst_port: dst.1,
        seq_number: 7,
        ack_number: 0,
        flags: tcp::Flags(flags),
        window_len: 100,
        urgent_at: 0,
    }
    .emit(&mut b[54..])
    .unwrap();
    let pseudo = checksum::pseudo_header_v6(&s6, &d6, IpProtocol::TCP, 20);
    tcp::Packet::new_unchecked(&mut b[54..]).fill_checksum(pseudo);
    b
}

#[test]
fn ipv6_nat_both_ways() {
    let vip6 = "2001:db8::100";
    let svc = VirtualService {
        config: ServiceConfig {
            key: ServiceKey::Addr {
                proto: Protocol::Tcp,
                addr: vip6.parse().unwrap(),
                port: 80,
            },
            scheduler: SchedulerKind::Wrr,
            sched_flags: SchedFlags::default(),
            persistence: None,
            one_packet: false,
            pe_name: None,
        },
        dests: vec![DestConfig {
            addr: "fd00::11".parse().unwrap(),
            port: 8080,
            method: ForwardMethod::Masq,
            weight: 3,
            u_threshold: 0,
            l_threshold: 0,
        }],
    };
    let e = engine_with(&[svc]);
    let mut w = e.worker(0);
    let (v, out) = run(
        &mut w,
        &tcp6_frame(("2001:db8::9", 52000), (vip6, 80), SYN),
        t(0),
    );
    assert_eq!(fwd(v).next_hop, "fd00::11".parse::<IpAddr>().unwrap());
    let p = parsed(&out);
    assert_eq!(p.ip.dst, "fd00::11".parse::<IpAddr>().unwrap());
    assert_eq!(ports(&p), (52000, 8080));
    let (v, out) = run(
        &mut w,
        &tcp6_frame(("fd00::11", 8080), ("2001:db8::9", 52000), SYN | ACK),
        t(1),
    );
    fwd(v);
    let p = parsed(&out);
    assert_eq!(p.ip.src, vip6.parse::<IpAddr>().unwrap());
    assert_eq!(ports(&p), (80, 52000));
}

#[test]
fn a_reload_keeps_the_scheduler_position_and_connections() {
    let web = nat_service(
        Protocol::Tcp,
        80,
        SchedulerKind::Rr,
        &["192.168.1.13", "192.168.1.12", "192.168.1.11"],
    );
    let e = engine_with(std::slice::from_ref(&web));
    let mut w = e.worker(0);
    assert_eq!(
        fwd(syn_to(&mut w, 53000, t(0))).next_hop,
        v4("192.168.1.13")
    );
    // Reload with an extra, unrelated service: rr goes on where it was.
    let dns = nat_service(Protocol::Udp, 53, SchedulerKind::Rr, &["192.168.1.31"]);
    e.apply(&[web.clone(), dns], &[], Timeouts::default(), t(1));
    assert_eq!(
        fwd(syn_to(&mut w, 53001, t(2))).next_hop,
        v4("192.168.1.12")
    );
    assert_eq!(e.connections(t(2)).len(), 2);
    // A changed scheduler starts afresh but the connections stay.
    let mut wlc = web;
    wlc.config.scheduler = SchedulerKind::Wlc;
    e.apply(&[wlc], &[], Timeouts::default(), t(3));
    assert_eq!(e.connections(t(3)).len(), 2);
    let st = e.status(t(3));
    assert_eq!(st.len(), 1);
    assert_eq!(
        st[0]
            .dests
            .iter()
            .map(|d| d.active_conns)
            .collect::<Vec<_>>(),
        vec![1, 1, 0]
    );
    // wlc: the idle .11 wins.
    assert_eq!(
        fwd(syn_to(&mut w, 53002, t(4))).next_hop,
        v4("192.168.1.11")
    );
}

#[test]
fn expire_nodest_conn_forgets_connections_of_removed_servers() {
    let e = Engine::new(EngineConfig {
        workers: 1,
        max_conns: 1024,
        sysctls: Sysctls {
            expire_nodest_conn: true,
            ..Sysctls::default()
        },
        ..EngineConfig::default()
    })
    .unwrap();
    let both = nat_service(
        Protocol::Tcp,
        80,
        SchedulerKind::Rr,
        &["192.168.1.12", "192.168.1.11"],
    );
    e.apply(std::slice::from_ref(&both), &[], Timeouts::default(), t(0));
    let mut w = e.worker(0);
    assert_eq!(
        fwd(syn_to(&mut w, 54000, t(0))).next_hop,
        v4("192.168.1.12")
    );
    let mut only11 = both;
    only11.dests.remove(0);
    e.apply(&[only11], &[], Timeouts::default(), t(1));
    let ack = tcp_frame((v4(CIP), 54000), (v4(VIP), 80), ACK, b"");
    assert_eq!(
        run(&mut w, &ack, t(2)).0,
        Verdict::Drop(DropReason::DestRemoved)
    );
    assert_eq!(e.conn_count(), 0, "the connection was expired");
    assert_eq!(
        fwd(syn_to(&mut w, 54000, t(3))).next_hop,
        v4("192.168.1.11")
    );
}

#[test]
fn a_full_table_refuses_new_connections_and_keeps_the_old() {
    let e = Engine::new(EngineConfig {
        workers: 1,
        max_conns: 1,
        ..EngineConfig::default()
    })
    .unwrap();
    e.apply(
        &[nat_service(
            Protocol::Tcp,
            80,
            SchedulerKind::Rr,
            &["192.168.1.11"],
        )],
        &[],
        Timeouts::default(),
        t(0),
    );
    let mut w = e.worker(0);
    let mut refused = 0;
    let mut kept = Vec::new();
    for p in 0..300u16 {
        match syn_to(&mut w, 55000 + p, t(0)) {
            Verdict::Drop(DropReason::TableFull) => refused += 1,
            Verdict::Forward(_) => kept.push(55000 + p),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(refused > 0);
    assert!(!kept.is_empty());
    assert_eq!(e.conn_count(), kept.len());
    let ack = tcp_frame((v4(CIP), kept[0]), (v4(VIP), 80), ACK, b"");
    fwd(run(&mut w, &ack, t(1)).0);
}

#[test]
fn the_engine_is_shared_and_workers_move_to_their_threads() {
    fn shared<T: Send + Sync + 'static>() {}
    fn movable<T: Send + 'static>() {}
    shared::<Engine>();
    movable::<Worker>();
    let e = engine_with(&[nat_service(
        Protocol::Tcp,
        80,
        SchedulerKind::Rr,
        &["192.168.1.11"],
    )]);
    let handles: Vec<_> = (0..2)
        .map(|i| {
            let mut w = e.worker(i);
            std::thread::spawn(move || {
                (0..50u16)
                    .filter(|p| {
                        let port = 30000 + (i as u16) * 100 + p;
                        matches!(syn_to(&mut w, port, t(0)), Verdict::Forward(_))
                    })
                    .count()
            })
        })
        .collect();
    let forwarded: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(forwarded, 100);
    assert_eq!(e.conn_count(), 100);
    assert_eq!(e.status(t(1))[0].stats.conns, 100);
}
