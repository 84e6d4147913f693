//! Nanoseconds per packet through `Worker::process`: a packet of an established
//! connection (NAT, DR, NAT reply), and a SYN opening a new connection for each
//! scheduler (NAT, 4 real servers).
//!
//! `cargo bench -p rvs-core --bench engine`
//!
//! Time is the bench thread's CPU time (CLOCK_THREAD_CPUTIME_ID), not wall time, so
//! other jobs on a shared machine do not inflate it. Each measured packet includes
//! copying its frame (~60 bytes) into the buffer, since the engine rewrites in place.

use core::net::{IpAddr, Ipv4Addr};
use criterion::{criterion_group, criterion_main, Criterion};
use rvs_core::engine::{Engine, EngineConfig, FullNatPool, Worker};
use rvs_core::model::*;
use rvs_core::time::Instant;
use rvs_core::verdict::{Frame, Verdict};
use rvs_wire::ethernet::{self, EtherType, MacAddr};
use rvs_wire::{checksum, ipv4, tcp, IpProtocol};
use std::hint::black_box;
use std::time::Duration;

/// CPU time consumed by the calling thread.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

const HEADROOM: usize = 128;
const SYN: u16 = 0x002;
const ACK: u16 = 0x010;

fn ip(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

const VIP: [u8; 4] = [10, 0, 0, 100];
const CIP: [u8; 4] = [192, 0, 2, 10];

/// An Ethernet/IPv4/TCP frame with `payload_len` bytes of payload, written at
/// `HEADROOM` into `buf`; returns its length.
fn tcp_frame(
    buf: &mut [u8],
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    flags: u16,
    payload_len: usize,
) -> usize {
    let b = &mut buf[HEADROOM..];
    let seg = 20 + payload_len;
    let mut o = ethernet::Repr {
        src: MacAddr([2, 0, 0, 0, 0, 1]),
        dst: MacAddr([2, 0, 0, 0, 0, 2]),
        vlan_tci: None,
        ethertype: EtherType::IPV4,
    }
    .emit(b)
    .unwrap();
    o += ipv4::Repr {
        src: Ipv4Addr::from(src.0),
        dst: Ipv4Addr::from(dst.0),
        protocol: IpProtocol::TCP,
        payload_len: seg as u16,
        ttl: 64,
        tos: 0,
        ident: 0,
        dont_frag: true,
    }
    .emit(&mut b[o..])
    .unwrap();
    tcp::Repr {
        src_port: src.1,
        dst_port: dst.1,
        seq_number: 1,
        ack_number: 1,
        flags: tcp::Flags(flags),
        window_len: 512,
        urgent_at: 0,
    }
    .emit(&mut b[o..])
    .unwrap();
    b[o + 20..o + seg].fill(0x61);
    let pseudo = checksum::pseudo_header_v4(
        Ipv4Addr::from(src.0),
        Ipv4Addr::from(dst.0),
        IpProtocol::TCP,
        seg as u16,
    );
    tcp::Packet::new_unchecked(&mut b[o..o + seg]).fill_checksum(pseudo);
    o + seg
}

fn engine(kind: SchedulerKind, method: ForwardMethod, dests: u8) -> Engine {
    engine_with_cache(kind, method, dests, EngineConfig::default().flow_cache)
}

fn engine_with_cache(
    kind: SchedulerKind,
    method: ForwardMethod,
    dests: u8,
    cache: usize,
) -> Engine {
    let e = Engine::new(EngineConfig {
        workers: 1,
        flow_cache: cache,
        max_conns: 1 << 20,
        fullnat_pool: FullNatPool {
            addrs: vec![ip([172, 16, 0, 1])],
            ports: (1024, 65535),
        },
        tunnel_src_v4: Some(Ipv4Addr::new(10, 0, 0, 1)),
        ..EngineConfig::default()
    })
    .unwrap();
    let svc = VirtualService {
        config: ServiceConfig {
            key: ServiceKey::Addr {
                proto: Protocol::Tcp,
                addr: ip(VIP),
                port: 80,
            },
            scheduler: kind,
            sched_flags: SchedFlags::default(),
            persistence: None,
            one_packet: false,
            pe_name: None,
        },
        dests: (0..dests)
            .map(|i| DestConfig {
                addr: ip([192, 168, 1, 11 + i]),
                port: 80,
                method,
                weight: 1 + u32::from(i),
                u_threshold: 0,
                l_threshold: 0,
            })
            .collect(),
    };
    e.apply(&[svc], &[], Timeouts::default(), Instant::ZERO);
    e
}

fn process(w: &mut Worker, buf: &mut [u8], len: usize, now: Instant) -> Verdict {
    let mut f = Frame::new(buf, HEADROOM, len);
    w.process(&mut f, now)
}

/// Measure `iters` packets of `tmpl` (one frame, re-copied each time). `verified`:
/// the NIC or kernel verified the checksums (`CHECKSUM_UNNECESSARY`), as the data
/// plane reports for most received frames.
fn bench_one(
    w: &mut Worker,
    tmpl: &[u8],
    n: usize,
    now: Instant,
    iters: u64,
    verified: bool,
) -> Duration {
    let mut buf = tmpl.to_vec();
    let start = thread_cpu_time();
    for _ in 0..iters {
        buf[HEADROOM..HEADROOM + n].copy_from_slice(&tmpl[HEADROOM..HEADROOM + n]);
        let mut f = Frame::new(&mut buf, HEADROOM, n);
        f.set_checksum_verified(verified);
        black_box(w.process(&mut f, now));
    }
    thread_cpu_time() - start
}

/// An engine with one connection established through it, and the frame of its next
/// packet (client → virtual, or the real server's reply).
fn established_setup(method: ForwardMethod, reply: bool, cache: usize) -> (Engine, Vec<u8>, usize) {
    let e = engine_with_cache(SchedulerKind::Wlc, method, if reply { 1 } else { 4 }, cache);
    let mut w = e.worker(0);
    let mut syn = vec![0u8; 2048];
    let n = tcp_frame(&mut syn, (CIP, 40000), (VIP, 80), SYN, 0);
    assert!(matches!(
        process(&mut w, &mut syn, n, Instant::ZERO),
        Verdict::Forward(_)
    ));
    let mut tmpl = vec![0u8; 2048];
    let n = if reply {
        tcp_frame(&mut tmpl, ([192, 168, 1, 11], 80), (CIP, 40000), ACK, 6)
    } else {
        tcp_frame(&mut tmpl, (CIP, 40000), (VIP, 80), ACK, 6)
    };
    (e, tmpl, n)
}

fn established(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine/established");
    let default_cache = EngineConfig::default().flow_cache;
    // (name, method, reply, checksums verified by the NIC, flow cache entries)
    let cases = [
        ("nat_in", ForwardMethod::Masq, false, false, default_cache),
        ("dr_in", ForwardMethod::Route, false, false, default_cache),
        (
            "tun_in",
            ForwardMethod::Tunnel(Tunnel::default()),
            false,
            false,
            default_cache,
        ),
        (
            "fullnat_in",
            ForwardMethod::FullNat,
            false,
            false,
            default_cache,
        ),
        ("nat_reply", ForwardMethod::Masq, true, false, default_cache),
        (
            "nat_in_nic_verified",
            ForwardMethod::Masq,
            false,
            true,
            default_cache,
        ),
        (
            "nat_reply_nic_verified",
            ForwardMethod::Masq,
            true,
            true,
            default_cache,
        ),
        (
            "fullnat_in_nic_verified",
            ForwardMethod::FullNat,
            false,
            true,
            default_cache,
        ),
        // The locked path (a cache miss, or the cache turned off).
        ("nat_in_locked", ForwardMethod::Masq, false, false, 0),
        ("dr_in_locked", ForwardMethod::Route, false, false, 0),
    ];
    for (name, method, reply, verified, cache) in cases {
        let (_e, tmpl, n) = established_setup(method, reply, cache);
        let mut w = _e.worker(0);
        let now = Instant::from_millis(1);
        g.bench_function(name, |b| {
            b.iter_custom(|iters| bench_one(&mut w, &tmpl, n, now, iters, verified))
        });
    }
    g.finish();
}

/// SYNs from distinct clients, prebuilt: (frames, length of each).
fn syn_batch(count: usize, base: u64) -> (Vec<Vec<u8>>, usize) {
    let mut n = 0;
    let frames = (0..count as u64)
        .map(|k| {
            let i = base + k;
            let a = 0xC000_0000u32 | (i / 60_000) as u32;
            let port = 1024 + (i % 60_000) as u16;
            let mut f = vec![0u8; HEADROOM + 128];
            n = tcp_frame(&mut f, (a.to_be_bytes(), port), (VIP, 80), SYN, 0);
            f
        })
        .collect();
    (frames, n)
}

fn new_connections(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine/new_conn");
    const BATCH: usize = 4096;
    for kind in SchedulerKind::ALL {
        let e = engine(kind, ForwardMethod::Masq, 4);
        let mut w = e.worker(0);
        let mut buf = vec![0u8; HEADROOM + 128];
        let mut base: u64 = 0;
        g.bench_function(kind.name(), |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    // Outside the timing: fresh clients, and a table kept well below
                    // its bound.
                    let (frames, n) = syn_batch(BATCH, base);
                    base += BATCH as u64;
                    if e.conn_count() > 500_000 {
                        e.flush_connections();
                    }
                    let take = left.min(BATCH as u64) as usize;
                    let start = thread_cpu_time();
                    for f in &frames[..take] {
                        buf[HEADROOM..HEADROOM + n].copy_from_slice(&f[HEADROOM..HEADROOM + n]);
                        black_box(process(&mut w, &mut buf, n, Instant::ZERO));
                    }
                    spent += thread_cpu_time() - start;
                    left -= take as u64;
                }
                spent
            })
        });
    }
    g.finish();
}

criterion_group!(benches, established, new_connections);
criterion_main!(benches);
