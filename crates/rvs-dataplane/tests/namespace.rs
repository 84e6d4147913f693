//! End-to-end tests of the data plane in network namespaces (root only).
//!
//! client ns ── veth ── director ns (rvs-dataplane + a static NAT processor) ── veth ── server ns

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use common::*;
use rvs_core::model::{
    DestConfig, ForwardMethod, Protocol, SchedFlags, SchedulerKind, ServiceConfig, ServiceKey,
    VirtualService,
};
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
        for _ in 0..3 {
            let (mut s, _) = listener.accept().expect("accept");
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).expect("server read");
            s.write_all(b"got ").unwrap();
            s.write_all(&buf[..n]).unwrap();
        }
    });

    let steering = Steering::compute(&[nat_service(Protocol::Tcp, 80, 8080)], &[], &[]);
    let processor = StaticNat {
        proto: 6,
        vip: VIP,
        vport: 80,
        rip: SERVER,
        rport: 8080,
    };
    let cfg = config(&topo, &table, steering.clone());
    let handle = topo
        .director
        .run(move || Dataplane::start(cfg, processor).expect("start data plane"));
    let listing = topo
        .director
        .sh(&["nft", "list", "table", "netdev", &table]);
    assert!(listing.contains("10.77.1.100 . tcp . 80"), "{listing}");

    let replies: Vec<String> = topo.client.run(|| {
        (0..3)
            .map(|i| {
                let addr = SocketAddr::from((VIP, 80));
                let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                    .expect("connect through the director");
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                s.write_all(format!("hello {i}\n").as_bytes()).unwrap();
                let mut out = String::new();
                s.read_to_string(&mut out).expect("client read");
                out
            })
            .collect()
    });
    server.join().expect("server thread");
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

    // The same steering again is accepted (atomic replace), then shut down.
    let h = topo.director.run(move || {
        handle.update_steering(&steering).expect("update");
        handle
    });
    h.shutdown().expect("shutdown");
    let tables = topo.director.sh(&["nft", "list", "tables"]);
    assert!(!tables.contains("rvs"), "left behind: {tables}");
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

    let steering = Steering::compute(&[nat_service(Protocol::Udp, 53, 5353)], &[], &[]);
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
