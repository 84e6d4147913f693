//! End-to-end tests of the data plane in network namespaces (root only).
//!
//! client ns ── veth ── director ns (rvs-dataplane + a static NAT processor) ── veth ── server ns

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use common::*;
use rvs_core::engine::FullNatPool;
use rvs_core::model::{
    DestConfig, Family, ForwardMethod, FwmarkRule, Prefix, Protocol, SchedFlags, SchedulerKind,
    ServiceConfig, ServiceKey, VirtualService,
};
use rvs_dataplane::offload::OffloadGuard;
use rvs_dataplane::steering::{cleanup_stale, SteeringGuard};
use rvs_dataplane::{Dataplane, DataplaneConfig, Steering};

fn nat_service(proto: Protocol, vport: u16, rport: u16) -> VirtualService {
    VirtualService {
        config: ServiceConfig {
            key: ServiceKey::Addr {
                proto,
                addr: VIP.into(),
                port: vport,
            },
            scheduler: SchedulerKind::Rr,
            sched_flags: SchedFlags::default(),
            persistence: None,
            one_packet: false,
            pe_name: None,
        },
        dests: vec![DestConfig {
            addr: SERVER.into(),
            port: rport,
            method: ForwardMethod::Masq,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
        }],
    }
}

fn config(topo: &Topology, table: &str, steering: Steering) -> DataplaneConfig {
    let mut cfg =
        DataplaneConfig::new(vec![topo.dir_client_if.clone(), topo.dir_server_if.clone()]);
    cfg.steering_table = table.to_string();
    cfg.steering = steering;
    cfg.workers = 2;
    // Small rings: tests run in parallel with everything else.
    cfg.ring.block_size = 1 << 16;
    cfg.ring.block_count = 8;
    cfg
}

#[test]
fn tcp_through_nat_director_without_kernel_rst() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let topo = Topology::new("t");
    let table = name("tab_t").replace("dp", "rvs_dp");
    topo.watch_director_rsts();

    // Server: echo "got <line>" on every connection.
    let listener = topo
        .server
        .run(|| TcpListener::bind((SERVER, 8080)).expect("bind server"));
    let server = std::thread::spawn(move || {
        for _ in 0..5 {
            let (mut s, _) = listener.accept().expect("accept");
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).expect("server read");
            s.write_all(b"got ").unwrap();
            s.write_all(&buf[..n]).unwrap();
        }
    });

    let steering = Steering::compute(
        &[nat_service(Protocol::Tcp, 80, 8080)],
        &[],
        &FullNatPool::default(),
    );
    let processor = StaticNat {
        proto: 6,
        vip: VIP,
        vport: 80,
        rip: SERVER,
        rport: 8080,
    };
    let cfg = config(&topo, &table, steering.clone());
    let d0 = topo.dir_client_if.clone();
    let (handle, gro_during) = topo.director.run(move || {
        // GRO on before start: the data plane must turn it off (and back on after).
        OffloadGuard::set_gro(&d0, true).expect("enable GRO");
        let h = Dataplane::start(cfg, processor).expect("start data plane");
        (h, OffloadGuard::gro_enabled(&d0).expect("read GRO"))
    });
    assert!(!gro_during, "GRO still on while the data plane runs");
    let listing = topo
        .director
        .sh(&["nft", "list", "table", "netdev", &table]);
    assert!(listing.contains("10.77.1.100 . tcp . 80"), "{listing}");

    let hello = |i: usize| {
        topo.client.run(move || {
            let addr = SocketAddr::from((VIP, 80));
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .expect("connect through the director");
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(format!("hello {i}\n").as_bytes()).unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).expect("client read");
            out
        })
    };
    let replies: Vec<String> = (0..3).map(hello).collect();
    assert_eq!(replies, ["got hello 0\n", "got hello 1\n", "got hello 2\n"]);

    // The kernel still answers ping to the VIP (ICMP is not claimed).
    assert!(
        topo.client.run(|| icmp_echo(VIP)),
        "no echo reply from the VIP"
    );
    assert_eq!(topo.director_rsts(), 0, "the director's kernel sent RSTs");

    std::thread::sleep(Duration::from_millis(50));
    let c = handle.counters();
    assert!(c.rx_packets >= 18, "{c:?}");
    assert!(c.tx_packets >= 18, "{c:?}");
    assert_eq!(c.total_drops(), 0, "{c:?}");

    // A link flap: the rings pick the interface up again and the resolver
    // forgets the neighbours the kernel flushed.
    let d0 = topo.dir_client_if.clone();
    topo.director.sh(&["ip", "link", "set", &d0, "down"]);
    topo.director.sh(&["ip", "link", "set", &d0, "up"]);
    assert_eq!(hello(3), "got hello 3\n");

    // The director's own connection to the real server (a health check) comes
    // from the claimed RIP:port but is addressed to the director: the kernel keeps it.
    let check = topo.director.run(|| {
        let mut s =
            TcpStream::connect_timeout(&SocketAddr::from((SERVER, 8080)), Duration::from_secs(3))
                .expect("health check connects");
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s.write_all(b"check\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).expect("health check read");
        out
    });
    assert_eq!(check, "got check\n");
    server.join().expect("server thread");

    // The same steering again is accepted (atomic replace), then shut down.
    let h = topo.director.run(move || {
        handle.update_steering(&steering).expect("update");
        handle
    });
    h.shutdown().expect("shutdown");
    let tables = topo.director.sh(&["nft", "list", "tables"]);
    assert!(!tables.contains("rvs"), "left behind: {tables}");
    let d0 = topo.dir_client_if.clone();
    assert!(
        topo.director
            .run(move || OffloadGuard::gro_enabled(&d0).expect("read GRO")),
        "GRO not restored"
    );
}

#[test]
fn kernel_rsts_without_steering() {
    // The counter-proof of the test above: the same topology without the claim
    // makes the director's kernel reset the connection, so the RST check can fail.
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let topo = Topology::new("k");
    topo.watch_director_rsts();
    let refused = topo.client.run(|| {
        TcpStream::connect_timeout(&SocketAddr::from((VIP, 80)), Duration::from_secs(3)).is_err()
    });
    assert!(refused);
    assert!(topo.director_rsts() >= 1);
}

#[test]
fn first_packet_to_unknown_neighbour_arrives() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let topo = Topology::new("n");
    let table = name("tab_n").replace("dp", "rvs_dp");
    let neigh = topo
        .director
        .sh(&["ip", "neigh", "show", &SERVER.to_string()]);
    assert!(
        neigh.trim().is_empty(),
        "director already knows the server: {neigh}"
    );

    let sock = topo
        .server
        .run(|| UdpSocket::bind((SERVER, 5353)).expect("bind udp"));
    sock.set_read_timeout(Some(Duration::from_secs(4))).unwrap();

    let steering = Steering::compute(
        &[nat_service(Protocol::Udp, 53, 5353)],
        &[],
        &FullNatPool::default(),
    );
    let processor = StaticNat {
        proto: 17,
        vip: VIP,
        vport: 53,
        rip: SERVER,
        rport: 5353,
    };
    let mut cfg = config(&topo, &table, steering);
    cfg.workers = 1;
    let handle = topo
        .director
        .run(move || Dataplane::start(cfg, processor).expect("start data plane"));

    // Exactly one datagram: it must wait for the neighbour, not be lost.
    topo.client.run(|| {
        let c = UdpSocket::bind("0.0.0.0:0").unwrap();
        c.send_to(b"first", (VIP, 53)).unwrap();
    });
    let mut buf = [0u8; 16];
    let (n, from) = sock
        .recv_from(&mut buf)
        .expect("the first datagram arrives");
    assert_eq!(&buf[..n], b"first");
    assert_eq!(from.ip(), std::net::IpAddr::from(CLIENT));
    // The worker counts right after sending: give it a moment.
    let mut c = handle.counters();
    for _ in 0..100 {
        if c.resolved_later > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        c = handle.counters();
    }
    assert_eq!(c.resolved_later, 1, "{c:?}");
    assert_eq!(c.tx_packets, 1, "{c:?}");
    let neigh = topo
        .director
        .sh(&["ip", "neigh", "show", &SERVER.to_string()]);
    assert!(neigh.contains("lladdr"), "kernel did not resolve: {neigh}");
    handle.shutdown().expect("shutdown");
}

#[test]
fn nft_accepts_every_rule_kind_and_stale_tables_are_removed() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let ns = Netns::new(&name("rk"));
    let dev = name("rkd");
    ns.sh(&[
        "ip",
        "link",
        "add",
        &dev,
        "type",
        "veth",
        "peer",
        "name",
        &name("rke"),
    ]);
    let mut fwm = nat_service(Protocol::Tcp, 0, 0);
    fwm.config.key = ServiceKey::Fwmark {
        mark: 7,
        family: Family::V4,
    };
    let mut v6 = nat_service(Protocol::Sctp, 0, 0);
    v6.config.key = ServiceKey::Addr {
        proto: Protocol::Sctp,
        addr: "2001:db8::1".parse().unwrap(),
        port: 0,
    };
    v6.dests[0].addr = "2001:db8:1::2".parse().unwrap();
    v6.dests[0].method = ForwardMethod::FullNat;
    let rules = [FwmarkRule {
        mark: 7,
        family: Family::V4,
        proto: None,
        dst: Prefix::new("10.5.0.9".parse().unwrap(), 24),
        dst_ports: Some((8000, 8080)),
        src: Some(Prefix::new("192.0.2.0".parse().unwrap(), 24)),
    }];
    let pool = FullNatPool {
        addrs: vec![
            "10.6.0.1".parse().unwrap(),
            "2001:db8:2::1".parse().unwrap(),
        ],
        ports: (5000, 6000),
    };
    let steering = Steering::compute(
        &[nat_service(Protocol::Udp, 53, 5353), fwm, v6],
        &rules,
        &pool,
    );
    let table = name("rk").replace("dp", "rvs_dp");
    let ifs = vec![dev.clone()];
    let t = table.clone();
    let guard = ns.run(move || SteeringGuard::install(&t, &ifs, &steering).expect("nft accepts"));
    let listing = ns.sh(&["nft", "list", "table", "netdev", &table]);
    for needle in [
        "10.5.0.0/24",
        "2001:db8::1 . sctp",
        "th dport 5000-6000",
        "fib daddr type != local",
        "icmp type { destination-unreachable, time-exceeded, parameter-problem }",
    ] {
        assert!(listing.contains(needle), "{needle} missing in\n{listing}");
    }
    // A killed instance leaves its table: cleanup_stale removes it.
    std::mem::forget(guard);
    let t = table.clone();
    assert!(ns.run(move || cleanup_stale(&t).expect("cleanup")));
    let t = table.clone();
    assert!(!ns.run(move || cleanup_stale(&t).expect("cleanup again")));
    assert!(!ns.sh(&["nft", "list", "tables"]).contains(&table));

    // Tables of dead instances under the default name go; a live one stays.
    let mut child = std::process::Command::new("true").spawn().expect("spawn");
    let dead_pid = child.id();
    child.wait().expect("wait");
    let dead = format!("rvs_{dead_pid}");
    let alive = format!("rvs_{}", std::process::id());
    ns.sh(&["nft", "add", "table", "netdev", &dead]);
    ns.sh(&["nft", "add", "table", "netdev", &alive]);
    let removed = ns.run(|| rvs_dataplane::steering::cleanup_dead_instances().expect("cleanup"));
    assert_eq!(removed, vec![dead.clone()]);
    let tables = ns.sh(&["nft", "list", "tables"]);
    assert!(
        !tables.contains(&format!("{dead}\n")) && tables.contains(&alive),
        "{tables}"
    );
}

#[test]
fn bulk_tcp_from_a_tso_sender_stays_whole_and_arrives_intact() {
    bulk_tcp("b", None);
}

#[test]
fn bulk_tcp_through_tpacket_v3_rings() {
    bulk_tcp("c", Some(0));
}

/// A 4 MiB download through the NAT director, with rings of V2 slots of the given
/// size (`Some(0)`: V3 blocks).
fn bulk_tcp(tag: &str, frame_size: Option<u32>) {
    // veth peers send 64 KiB TSO super-frames; the data plane must forward them
    // (whole or cut like the kernel's GSO would), or every large transfer stalls.
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    const SIZE: usize = 4 << 20;
    let topo = Topology::new(tag);
    let listener = topo
        .server
        .run(|| TcpListener::bind((SERVER, 8080)).expect("bind server"));
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let data: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
        s.write_all(&data).expect("server write");
    });
    let steering = Steering::compute(
        &[nat_service(Protocol::Tcp, 80, 8080)],
        &[],
        &FullNatPool::default(),
    );
    let processor = StaticNat {
        proto: 6,
        vip: VIP,
        vport: 80,
        rip: SERVER,
        rport: 8080,
    };
    let mut cfg = config(
        &topo,
        &name(&format!("tab_{tag}")).replace("dp", "rvs_dp"),
        steering,
    );
    if let Some(f) = frame_size {
        cfg.ring.frame_size = f;
    }
    let handle = topo
        .director
        .run(move || Dataplane::start(cfg, processor).expect("start data plane"));
    let got = topo.client.run(|| {
        let mut s =
            TcpStream::connect_timeout(&SocketAddr::from((VIP, 80)), Duration::from_secs(5))
                .expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = Vec::with_capacity(SIZE);
        s.read_to_end(&mut got).expect("download");
        got
    });
    server.join().expect("server");
    assert_eq!(got.len(), SIZE);
    assert!(got.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
    let c = handle.counters();
    // A NAT rewrite in place: the super-frames stay whole, the kernel cuts them.
    // (Only the last one, with FIN, is cut in user space.)
    assert!(
        c.gso_kept > c.gso_split,
        "super-frames not kept whole: {c:?}"
    );
    assert_eq!(c.io_drop(rvs_dataplane::IoDrop::Oversize), 0, "{c:?}");
    handle.shutdown().expect("shutdown");
}
