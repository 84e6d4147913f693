//! LVS TUN end to end (root only): client → director (rvs-core engine behind
//! rvs-dataplane, IPIP towards the real server) → real server prepared by
//! `rvs-realserver setup --mode tun` with the userspace decapsulator (this kernel
//! has no ipip module) → reply straight from the VIP to the client.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use rvs_core::engine::{Engine, EngineConfig, FullNatPool};
use rvs_core::model::{
    DestConfig, ForwardMethod, Protocol, SchedFlags, SchedulerKind, ServiceConfig, ServiceKey,
    Timeouts, Tunnel, VirtualService,
};
use rvs_core::time::Instant;
use rvs_dataplane::{Dataplane, DataplaneConfig, Steering};

const VIP: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 100);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 77, 2, 2);

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        // SAFETY: signalling the child this test started, by its PID.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

fn veth(a: &Netns, a_if: &str, b: &Netns, b_if: &str) {
    ok(&[
        "ip", "link", "add", a_if, "netns", &a.0, "type", "veth", "peer", "name", b_if, "netns",
        &b.0,
    ]);
    a.ok(&["ip", "link", "set", a_if, "up"]);
    b.ok(&["ip", "link", "set", b_if, "up"]);
}

#[test]
fn tunnel_mode_through_the_userspace_decapsulator() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    if nft_missing() || !std::path::Path::new("/dev/net/tun").exists() {
        eprintln!("skipped: nft or /dev/net/tun missing");
        return;
    }
    let id = std::process::id() % 100_000;
    let client = Netns::new("tec");
    let director = Netns::new("ted");
    let server = Netns::new("tes");
    let n = |t: &str| format!("dpte{t}{id}");
    let (c0, d0, d1, s0, s1, c1) = (n("a"), n("b"), n("e"), n("f"), n("q"), n("r"));
    veth(&client, &c0, &director, &d0);
    veth(&director, &d1, &server, &s0);
    veth(&server, &s1, &client, &c1);
    client.ok(&["ip", "addr", "add", "10.77.1.2/24", "dev", &c0]);
    client.ok(&["ip", "route", "add", "default", "via", "10.77.1.1"]);
    for iface in ["all", c1.as_str()] {
        client.ok(&[
            "sysctl",
            "-qw",
            &format!("net.ipv4.conf.{iface}.rp_filter=0"),
        ]);
    }
    director.ok(&["ip", "addr", "add", "10.77.1.1/24", "dev", &d0]);
    director.ok(&["ip", "addr", "add", "10.77.1.100/32", "dev", &d0]);
    director.ok(&["ip", "addr", "add", "10.77.2.1/24", "dev", &d1]);
    // Room for the outer header.
    director.ok(&["ip", "link", "set", &d1, "mtu", "1600"]);
    server.ok(&["ip", "link", "set", &s0, "mtu", "1600"]);
    server.ok(&["ip", "addr", "add", "10.77.2.2/24", "dev", &s0]);
    // Replies from the VIP go straight to the client (the second link stands for
    // the router); everything else of the server goes through the director.
    server.ok(&["ip", "route", "add", "default", "via", "10.77.2.1"]);
    server.ok(&[
        "ip",
        "route",
        "add",
        "10.77.1.2/32",
        "dev",
        &s1,
        "table",
        "100",
    ]);
    server.ok(&["ip", "rule", "add", "from", "10.77.1.100", "lookup", "100"]);

    // The real server: VIP on lo, ARP sysctls, and the decapsulator.
    let state = TempFile(format!("/tmp/dp-rs-e2e-{id}.json"));
    let out = server.ok(&[
        BIN,
        "setup",
        "--vip",
        "10.77.1.100",
        "--mode",
        "tun",
        "--iface",
        &s0,
        "--state",
        &state.0,
    ]);
    assert!(out.contains("decap"), "{out}");
    let mut child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &server.0,
            BIN,
            "decap",
            "--iface",
            &s0,
            "--tun",
            &n("t"),
            "--table",
            &format!("rvs_dp_te{id}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start decap");
    let mut ready = BufReader::new(child.stdout.take().expect("stdout"));
    let _decap = Killed(child);
    let mut line = String::new();
    ready.read_line(&mut line).expect("ready line");
    assert!(line.contains("decapsulating"), "{line:?}");

    let listener = server.within(|| TcpListener::bind((VIP, 80)).expect("bind VIP:80"));
    let echo = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).expect("read");
        s.write_all(b"tunnelled ").unwrap();
        s.write_all(&buf[..n]).unwrap();
    });

    // The director.
    let services = vec![VirtualService {
        config: ServiceConfig {
            key: ServiceKey::Addr {
                proto: Protocol::Tcp,
                addr: VIP.into(),
                port: 80,
            },
            scheduler: SchedulerKind::Rr,
            sched_flags: SchedFlags::default(),
            persistence: None,
            one_packet: false,
            pe_name: None,
        },
        dests: vec![DestConfig {
            addr: SERVER.into(),
            port: 80,
            method: ForwardMethod::Tunnel(Tunnel::default()),
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
        }],
    }];
    let tunnel_src =
        director.within(|| rvs_dataplane::neigh::route_source(SERVER.into()).expect("route"));
    let Some(IpAddr::V4(src)) = tunnel_src else {
        panic!("no IPv4 source towards the server: {tunnel_src:?}")
    };
    let engine = Engine::new(EngineConfig {
        tunnel_src_v4: Some(src),
        ..EngineConfig::default()
    })
    .expect("engine");
    engine.apply(&services, &[], Timeouts::default(), Instant::ZERO);
    let mut cfg = DataplaneConfig::new(vec![d0.clone(), d1.clone()]);
    cfg.steering_table = format!("rvs_dp_ted{id}");
    cfg.steering = Steering::compute(&services, &[], &FullNatPool::default());
    cfg.ring.block_size = 1 << 16;
    cfg.ring.block_count = 8;
    let e = engine.clone();
    let handle = director.within(move || Dataplane::start(cfg, e).expect("data plane"));

    let reply = client.within(|| {
        let mut s =
            TcpStream::connect_timeout(&SocketAddr::from((VIP, 80)), Duration::from_secs(5))
                .map_err(|e| format!("connect: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"hello").map_err(|e| e.to_string())?;
        let mut out = String::new();
        s.read_to_string(&mut out)
            .map_err(|e| format!("read: {e}"))?;
        Ok::<String, String>(out)
    });
    assert_eq!(
        reply.as_deref(),
        Ok("tunnelled hello"),
        "counters {:?}",
        handle.counters()
    );
    echo.join().expect("server");
    let status = engine.status(Instant::ZERO);
    assert_eq!(status[0].stats.conns, 1, "{status:?}");
    handle.shutdown().expect("shutdown");
    drop(_decap);
    server.ok(&[BIN, "teardown", "--state", &state.0]);
}
