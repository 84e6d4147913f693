//! The real engine (rvs-core) behind the data plane, in namespaces (root only):
//! NAT and DR connections from a client through the director to a real server.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use common::*;
use rvs_core::engine::{Engine, EngineConfig, FullNatPool};
use rvs_core::model::{
    DestConfig, ForwardMethod, Protocol, SchedFlags, SchedulerKind, ServiceConfig, ServiceKey,
    Timeouts, VirtualService,
};
use rvs_core::time::Instant;
use rvs_dataplane::{Dataplane, DataplaneConfig, Steering};

fn service(port: u16, rport: u16, method: ForwardMethod) -> VirtualService {
    VirtualService {
        config: ServiceConfig {
            key: ServiceKey::Addr {
                proto: Protocol::Tcp,
                addr: VIP.into(),
                port,
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
            method,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
        }],
    }
}

/// Accept `n` connections on `port` in the server namespace and answer each with
/// "<tag> <line>".
fn echo_server(
    topo: &Topology,
    ip: std::net::Ipv4Addr,
    port: u16,
    n: usize,
    tag: &'static str,
) -> std::thread::JoinHandle<()> {
    let listener = topo
        .server
        .run(move || TcpListener::bind((ip, port)).expect("bind server"));
    std::thread::spawn(move || {
        for _ in 0..n {
            let (mut s, _) = listener.accept().expect("accept");
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 64];
            let got = s.read(&mut buf).expect("server read");
            s.write_all(format!("{tag} ").as_bytes()).unwrap();
            s.write_all(&buf[..got]).unwrap();
        }
    })
}

fn request(topo: &Topology, port: u16, what: &'static str) -> Result<String, String> {
    topo.client.run(move || {
        let addr = SocketAddr::from((VIP, port));
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))
            .map_err(|e| format!("connect to the VIP port {port}: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s.write_all(what.as_bytes()).map_err(|e| e.to_string())?;
        let mut out = String::new();
        s.read_to_string(&mut out)
            .map_err(|e| format!("read reply on port {port}: {e}"))?;
        Ok(out)
    })
}

#[test]
fn engine_serves_nat_and_dr_through_the_data_plane() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let topo = Topology::new("g");
    topo.watch_director_rsts();
    // DR: the real server holds the VIP on lo and never answers ARP for it; its
    // replies go straight to the client, not through the director: a second link
    // from the server to the client stands for the router.
    topo.server
        .sh(&["ip", "addr", "add", "10.77.1.100/32", "dev", "lo"]);
    topo.server
        .sh(&["sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1"]);
    topo.server
        .sh(&["sysctl", "-qw", "net.ipv4.conf.all.arp_announce=2"]);
    let (ret_s, ret_c) = (name("gq"), name("gr"));
    veth(&topo.server, &ret_s, &topo.client, &ret_c);
    // Only replies from the VIP (DR) take it; NAT replies (from the server's own
    // address) still go back through the director.
    topo.server.sh(&[
        "ip",
        "route",
        "add",
        "10.77.1.2/32",
        "dev",
        &ret_s,
        "table",
        "100",
    ]);
    topo.server
        .sh(&["ip", "rule", "add", "from", "10.77.1.100", "lookup", "100"]);
    for iface in ["all".to_string(), ret_c] {
        let rp = format!("net.ipv4.conf.{iface}.rp_filter=0");
        topo.client.sh(&["sysctl", "-qw", &rp]);
    }

    let services = vec![
        service(80, 8080, ForwardMethod::Masq),
        service(81, 81, ForwardMethod::Route),
    ];
    let engine = Engine::new(EngineConfig {
        workers: 2,
        ..EngineConfig::default()
    })
    .expect("engine");
    engine.apply(&services, &[], Timeouts::default(), Instant::ZERO);

    let nat = echo_server(&topo, SERVER, 8080, 2, "nat");
    let dr = echo_server(&topo, VIP, 81, 2, "dr");

    let mut cfg =
        DataplaneConfig::new(vec![topo.dir_client_if.clone(), topo.dir_server_if.clone()]);
    cfg.steering_table = name("tab_g").replace("dp", "rvs_dp");
    cfg.steering = Steering::compute(&services, &[], &FullNatPool::default());
    cfg.workers = 2;
    cfg.ring.block_size = 1 << 16;
    cfg.ring.block_count = 8;
    let e = engine.clone();
    let handle = topo
        .director
        .run(move || Dataplane::start(cfg, e).expect("start data plane"));

    for (port, what, want) in [
        (80, "one\n", "nat one\n"),
        (81, "two\n", "dr two\n"),
        (80, "three\n", "nat three\n"),
        (81, "four\n", "dr four\n"),
    ] {
        let got = request(&topo, port, what);
        assert_eq!(
            got.as_deref(),
            Ok(want),
            "counters {:?}\nstatus {:?}",
            handle.counters(),
            engine.status(Instant::ZERO)
        );
    }
    nat.join().expect("nat server");
    dr.join().expect("dr server");
    assert_eq!(topo.director_rsts(), 0);

    let c = handle.counters();
    assert!(c.tx_packets > 0 && c.rx_packets > 0, "{c:?}");
    let status = engine.status(Instant::ZERO);
    let conns: u64 = status.iter().map(|svc| svc.stats.conns).sum();
    assert_eq!(conns, 4, "{status:?}");
    handle.shutdown().expect("shutdown");
}

#[test]
fn engine_serves_nat_over_ipv6() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let topo = Topology::new("h");
    let (d0, d1) = (topo.dir_client_if.clone(), topo.dir_server_if.clone());
    let (c0, s0) = (topo.client_if.clone(), topo.server_if.clone());
    for (ns, addr, dev) in [
        (&topo.client, "fd00:1::2/64", &c0),
        (&topo.director, "fd00:1::1/64", &d0),
        (&topo.director, "fd00:1::100/128", &d0),
        (&topo.director, "fd00:2::1/64", &d1),
        (&topo.server, "fd00:2::2/64", &s0),
    ] {
        ns.sh(&["ip", "-6", "addr", "add", addr, "dev", dev, "nodad"]);
    }
    topo.client
        .sh(&["ip", "-6", "route", "add", "default", "via", "fd00:1::1"]);
    topo.server
        .sh(&["ip", "-6", "route", "add", "default", "via", "fd00:2::1"]);

    let vip: std::net::Ipv6Addr = "fd00:1::100".parse().unwrap();
    let rip: std::net::Ipv6Addr = "fd00:2::2".parse().unwrap();
    let mut vs = service(80, 8080, ForwardMethod::Masq);
    vs.config.key = ServiceKey::Addr {
        proto: Protocol::Tcp,
        addr: vip.into(),
        port: 80,
    };
    vs.dests[0].addr = rip.into();
    let services = vec![vs];
    let engine = Engine::new(EngineConfig::default()).expect("engine");
    engine.apply(&services, &[], Timeouts::default(), Instant::ZERO);

    let listener = topo
        .server
        .run(move || TcpListener::bind((rip, 8080)).expect("bind server"));
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).expect("server read");
        s.write_all(b"v6 ").unwrap();
        s.write_all(&buf[..n]).unwrap();
        // And a bulk answer, cut from TSO super-frames on the way.
        s.write_all(&vec![b'x'; 1 << 20]).unwrap();
    });
    let mut cfg = DataplaneConfig::new(vec![d0, d1]);
    cfg.steering_table = name("tab_h").replace("dp", "rvs_dp");
    cfg.steering = Steering::compute(&services, &[], &FullNatPool::default());
    cfg.ring.block_size = 1 << 16;
    cfg.ring.block_count = 8;
    let e = engine.clone();
    let handle = topo
        .director
        .run(move || Dataplane::start(cfg, e).expect("start data plane"));
    let got = topo.client.run(move || {
        let addr = SocketAddr::from((vip, 80));
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| format!("connect: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"hello").map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).map_err(|e| format!("read: {e}"))?;
        Ok::<Vec<u8>, String>(out)
    });
    let got = got.unwrap_or_else(|e| panic!("{e}; counters {:?}", handle.counters()));
    server.join().expect("server");
    assert_eq!(&got[..8], b"v6 hello");
    assert_eq!(got.len(), 8 + (1 << 20));
    handle.shutdown().expect("shutdown");
}
