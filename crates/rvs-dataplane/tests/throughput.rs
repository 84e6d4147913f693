//! A rough figure of the AF_PACKET path (root only, not run by default):
//! `cargo test --release -p rvs-dataplane --test throughput -- --ignored --nocapture`
//! UDP from the client namespace through the director (static NAT) to the server.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::*;
use rvs_core::engine::FullNatPool;
use rvs_core::model::{
    DestConfig, ForwardMethod, Protocol, SchedFlags, SchedulerKind, ServiceConfig, ServiceKey,
    VirtualService,
};
use rvs_dataplane::{Dataplane, DataplaneConfig, Steering};

const PACKETS: u64 = 300_000;

/// CPU time (user + system) of this process's threads named `rvs-worker-*`.
fn worker_cpu() -> Duration {
    let tick = 100.0; // USER_HZ
    let mut total = 0.0;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("rvs-worker") {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let after = &stat[stat.rfind(')').unwrap_or(0) + 2..];
        let f: Vec<&str> = after.split_whitespace().collect();
        let ut: f64 = f[11].parse().unwrap_or(0.0);
        let st: f64 = f[12].parse().unwrap_or(0.0);
        total += (ut + st) / tick;
    }
    Duration::from_secs_f64(total)
}

/// Send 64 small datagrams with one sendmmsg call on a connected socket.
fn send_batch(sock: &UdpSocket) -> u64 {
    use std::os::fd::AsRawFd;
    let payload = [0u8; 18];
    // SAFETY: the iovecs and headers point at `payload`, alive for the call; the
    // kernel only reads them.
    unsafe {
        let mut iov = libc::iovec {
            iov_base: payload.as_ptr() as *mut libc::c_void,
            iov_len: payload.len(),
        };
        let mut msgs: [libc::mmsghdr; 64] = core::mem::zeroed();
        for m in msgs.iter_mut() {
            m.msg_hdr.msg_iov = &mut iov;
            m.msg_hdr.msg_iovlen = 1;
        }
        let n = libc::sendmmsg(sock.as_raw_fd(), msgs.as_mut_ptr(), 64, 0);
        n.max(0) as u64
    }
}

#[test]
#[ignore = "a measurement, not a check"]
fn udp_forwarding_rate() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let topo = Topology::new("p");
    let vs = VirtualService {
        config: ServiceConfig {
            key: ServiceKey::Addr {
                proto: Protocol::Udp,
                addr: VIP.into(),
                port: 9,
            },
            scheduler: SchedulerKind::Rr,
            sched_flags: SchedFlags::default(),
            persistence: None,
            one_packet: false,
            pe_name: None,
        },
        dests: vec![DestConfig {
            addr: SERVER.into(),
            port: 9999,
            method: ForwardMethod::Masq,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
        }],
    };
    let sink = topo.server.run(|| UdpSocket::bind((SERVER, 9999)).unwrap());
    sink.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let counter = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let mut n = 0u64;
        while sink.recv(&mut buf).is_ok() {
            n += 1;
        }
        n
    });
    let mut cfg =
        DataplaneConfig::new(vec![topo.dir_client_if.clone(), topo.dir_server_if.clone()]);
    cfg.steering_table = name("tab_p").replace("dp", "rvs_dp");
    cfg.steering = Steering::compute(&[vs], &[], &FullNatPool::default());
    let processor = StaticNat {
        proto: 17,
        vip: VIP,
        vport: 9,
        rip: SERVER,
        rport: 9999,
    };
    let handle = topo
        .director
        .run(move || Dataplane::start(cfg, processor).unwrap());
    // Warm the neighbour cache.
    topo.client.run(|| {
        let c = UdpSocket::bind("0.0.0.0:0").unwrap();
        c.send_to(b"warm", (VIP, 9)).unwrap();
    });
    std::thread::sleep(Duration::from_millis(200));

    let cpu0 = worker_cpu();
    let start = Instant::now();
    let sent = topo.client.run(|| {
        let c = UdpSocket::bind("0.0.0.0:0").unwrap();
        c.connect((VIP, 9)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut sent = 0u64;
        while sent < PACKETS && Instant::now() < deadline {
            sent += send_batch(&c);
        }
        sent
    });
    let received = counter.join().unwrap();
    let elapsed = start.elapsed() - Duration::from_millis(500);
    let cpu = worker_cpu() - cpu0;
    let c = handle.counters();
    handle.shutdown().unwrap();
    let pps = c.tx_packets as f64 / elapsed.as_secs_f64();
    println!(
        "sent {sent}, forwarded {}, received {received} in {:.2} s: {:.0} pps; worker CPU {:.2} s = {:.2} us/packet; drops {:?}",
        c.tx_packets,
        elapsed.as_secs_f64(),
        pps,
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / c.tx_packets.max(1) as f64,
        c.io_drops
    );
    assert!(received > 0);
}

#[test]
#[ignore = "a measurement, not a check"]
fn tcp_download_rate() {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    const SIZE: usize = 256 << 20;
    let topo = Topology::new("q");
    let listener = topo
        .server
        .run(|| TcpListener::bind((SERVER, 8080)).unwrap());
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let chunk = vec![7u8; 1 << 20];
        for _ in 0..SIZE / chunk.len() {
            s.write_all(&chunk).unwrap();
        }
    });
    let vs = VirtualService {
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
            port: 8080,
            method: ForwardMethod::Masq,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
        }],
    };
    let mut cfg =
        DataplaneConfig::new(vec![topo.dir_client_if.clone(), topo.dir_server_if.clone()]);
    cfg.steering_table = name("tab_q").replace("dp", "rvs_dp");
    cfg.steering = Steering::compute(&[vs], &[], &FullNatPool::default());
    let processor = StaticNat {
        proto: 6,
        vip: VIP,
        vport: 80,
        rip: SERVER,
        rport: 8080,
    };
    let handle = topo
        .director
        .run(move || Dataplane::start(cfg, processor).unwrap());
    let cpu0 = worker_cpu();
    let start = Instant::now();
    let got = topo.client.run(|| {
        let mut s =
            TcpStream::connect_timeout(&SocketAddr::from((VIP, 80)), Duration::from_secs(5))
                .unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let mut got = 0usize;
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        got
    });
    let secs = start.elapsed().as_secs_f64();
    let cpu = worker_cpu() - cpu0;
    server.join().unwrap();
    let c = handle.counters();
    handle.shutdown().unwrap();
    println!(
        "downloaded {} MiB in {secs:.2} s: {:.0} Mbit/s; {} frames forwarded ({} super-frames cut), worker CPU {:.2} s = {:.2} us/frame",
        got >> 20,
        got as f64 * 8.0 / secs / 1e6,
        c.tx_packets,
        c.gso_split,
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / c.tx_packets.max(1) as f64
    );
    assert_eq!(got, SIZE);
}
