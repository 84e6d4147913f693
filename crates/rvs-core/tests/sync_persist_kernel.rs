//! What the sync master queues, packet by packet, against real Linux IPVS (lab VM,
//! scenario lab/scenarios/sync-persist.sh): persistent NAT services (TCP :80, UDP :53,
//! one-packet UDP :54, one real server each), keep-alive TCP connections (two under
//! one template, two closed by the client), several datagrams per UDP flow. The
//! capture holds every packet the director got from the clients (`in-P.pcap`) and
//! from the real server (`out-P.pcap`), and every sync datagram its master sent
//! (`sync-P.pcap`). The same packets, in the same order and at the same times, go
//! through `Worker::process` of an engine configured as the scenario's ipvsadm
//! commands; what it queues for the sync daemon must be the kernel's records, in the
//! kernel's order. Phase 1 runs with the default `sync_threshold` "3 50", phase 2
//! with "2 0".
//!
//! How the kernel cut its records into datagrams is timing (a message goes when full
//! or about two seconds after it was started), so records are compared as one
//! sequence.

mod engine_support;
use engine_support::*;
use rvs_core::engine::{SyncConn, Sysctls};

const TCP_FIN: u16 = 0x001;
const TCP_SYN: u16 = 0x002;
const TCP_RST: u16 = 0x004;
const TCP_PSH: u16 = 0x008;
const TCP_ACK: u16 = 0x010;

macro_rules! fixture {
    ($kernel:literal, $name:literal) => {
        include_bytes!(concat!("fixtures/sync-persist-", $kernel, "/", $name))
    };
}

/// (timestamp in µs, frame) of a classic little-endian pcap of Ethernet frames.
fn pcap_frames(pcap: &[u8]) -> Vec<(u64, &[u8])> {
    assert_eq!(&pcap[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    let le = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap());
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= pcap.len() {
        let ts =
            u64::from(le(&pcap[off..off + 4])) * 1_000_000 + u64::from(le(&pcap[off + 4..off + 8]));
        let incl = le(&pcap[off + 8..off + 12]) as usize;
        out.push((ts, &pcap[off + 16..off + 16 + incl]));
        off += 16 + incl;
    }
    out
}

/// One captured TCP or UDP packet, enough to make it again.
#[derive(Debug, Clone)]
struct Packet {
    ts: u64,
    proto: u8,
    src: (IpAddr, u16),
    dst: (IpAddr, u16),
    tcp_flags: u16,
    payload: usize,
}

fn packets(pcap: &[u8]) -> Vec<Packet> {
    pcap_frames(pcap)
        .into_iter()
        .map(|(ts, f)| {
            let ip = &f[14..];
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            let addr = |o: usize| IpAddr::V4(Ipv4Addr::new(ip[o], ip[o + 1], ip[o + 2], ip[o + 3]));
            let l4 = &ip[ihl..];
            let port = |o: usize| u16::from_be_bytes([l4[o], l4[o + 1]]);
            let proto = ip[9];
            let (tcp_flags, payload) = match proto {
                6 => {
                    let off = usize::from(l4[12] >> 4) * 4;
                    (u16::from(l4[13]), total - ihl - off)
                }
                17 => (0, total - ihl - 8),
                p => panic!("unexpected protocol {p}"),
            };
            Packet {
                ts,
                proto,
                src: (addr(12), port(0)),
                dst: (addr(16), port(2)),
                tcp_flags,
                payload,
            }
        })
        .collect()
}

/// One record of a sync message as the protocol carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    proto: u8,
    client: (IpAddr, u16),
    virt: (IpAddr, u16),
    dest: (IpAddr, u16),
    fwmark: u32,
    flags: u32,
    state: u16,
    timeout: u32,
}

impl Record {
    fn of(c: &SyncConn) -> Record {
        Record {
            proto: c.ip_proto,
            client: (c.caddr, c.cport),
            virt: (c.vaddr, c.vport),
            dest: (c.daddr, c.dport),
            fwmark: c.fwmark,
            flags: c.flags,
            state: c.state,
            timeout: c.timeout,
        }
    }
}

/// The records of the v1 messages (IPv4, no options) in a capture of sync datagrams.
fn kernel_records(pcap: &[u8]) -> Vec<Record> {
    let mut out = Vec::new();
    for (_, f) in pcap_frames(pcap) {
        let ihl = usize::from(f[14] & 0x0f) * 4;
        let m = &f[14 + ihl + 8..];
        assert_eq!((m[0], m[1], m[5]), (0, 7, 1), "v1 message of syncid 7");
        let be16 = |b: &[u8]| u16::from_be_bytes([b[0], b[1]]);
        let be32 = |b: &[u8]| u32::from_be_bytes(b[..4].try_into().unwrap());
        let addr = |b: &[u8]| IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]));
        let mut p = 8;
        for _ in 0..m[4] {
            let r = &m[p..];
            assert_eq!(r[0], 0, "IPv4 record");
            out.push(Record {
                proto: r[1],
                flags: be32(&r[4..]),
                state: be16(&r[8..]),
                client: (addr(&r[24..]), be16(&r[10..])),
                virt: (addr(&r[28..]), be16(&r[12..])),
                dest: (addr(&r[32..]), be16(&r[14..])),
                fwmark: be32(&r[16..]),
                timeout: be32(&r[20..]),
            });
            p += usize::from(be16(&r[2..]) & 0x1fff);
            p = p.next_multiple_of(4);
        }
    }
    out
}

fn persistent(proto: Protocol, port: u16, rs: &str, one_packet: bool) -> VirtualService {
    let mut s = service(
        proto,
        port,
        SchedulerKind::Rr,
        vec![dest(rs, 8000, ForwardMethod::Masq, 1)],
    );
    s.config.persistence = Some(Persistence {
        timeout: 120,
        prefix_len: 32,
    });
    s.config.one_packet = one_packet;
    s
}

/// Replays the inbound and reply packets of one phase; returns what the engine queued.
fn replay(inbound: &[u8], replies: &[u8], sysctls: Sysctls, flow_cache: usize) -> Vec<Record> {
    let e = Engine::new(EngineConfig {
        workers: 1,
        max_conns: 4096,
        sysctls,
        flow_cache,
        ..EngineConfig::default()
    })
    .unwrap();
    e.apply(
        &[
            persistent(Protocol::Tcp, 80, "10.0.2.11", false),
            persistent(Protocol::Udp, 53, "10.0.2.12", false),
            persistent(Protocol::Udp, 54, "10.0.2.13", true),
        ],
        &[],
        Timeouts::default(),
        Instant::ZERO,
    );
    e.set_sync_master(true);
    let mut w = e.worker(0);
    let mut all = packets(inbound);
    all.extend(packets(replies));
    // Both captures share the guest's clock; a stable sort keeps each one's order.
    all.sort_by_key(|p| p.ts);
    let t0 = all[0].ts;
    let mut queued = Vec::new();
    for p in &all {
        let frame = if p.proto == 6 {
            let known = TCP_FIN | TCP_SYN | TCP_RST | TCP_PSH | TCP_ACK;
            assert_eq!(p.tcp_flags & !known, 0, "{p:?}");
            tcp_frame(p.src, p.dst, p.tcp_flags, &vec![0; p.payload])
        } else {
            udp_frame(p.src, p.dst, &vec![0; p.payload])
        };
        let now = t(1000 + (p.ts - t0) / 1000);
        let (v, _) = run(&mut w, &frame, now);
        assert!(matches!(v, Verdict::Forward(_)), "{p:?}: {v:?}");
        let mut out = Vec::new();
        e.drain_sync(&mut out);
        queued.extend(out.iter().map(Record::of));
    }
    queued
}

fn check(kernel: &str, phase: u8, inbound: &[u8], replies: &[u8], sync: &[u8], sysctls: Sysctls) {
    let want = kernel_records(sync);
    assert!(
        want.len() > 10,
        "{kernel} phase {phase}: {} records",
        want.len()
    );
    for cache in [0, 4096] {
        let got = replay(inbound, replies, sysctls, cache);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(
                g, w,
                "{kernel} phase {phase} (flow cache {cache}): record {i}"
            );
        }
        assert_eq!(
            got.len(),
            want.len(),
            "{kernel} phase {phase} (flow cache {cache}): extra records {:?} / missing {:?}",
            got.get(want.len()..),
            want.get(got.len()..)
        );
    }
}

fn phase2() -> Sysctls {
    Sysctls {
        sync_threshold: 2,
        sync_period: 0,
        ..Sysctls::default()
    }
}

/// Both phases of one kernel's capture.
macro_rules! kernel_tests {
    ($kernel:literal, $default:ident, $period_zero:ident) => {
        #[test]
        fn $default() {
            check(
                $kernel,
                1,
                fixture!($kernel, "in-1.pcap"),
                fixture!($kernel, "out-1.pcap"),
                fixture!($kernel, "sync-1.pcap"),
                Sysctls::default(),
            );
        }

        #[test]
        fn $period_zero() {
            check(
                $kernel,
                2,
                fixture!($kernel, "in-2.pcap"),
                fixture!($kernel, "out-2.pcap"),
                fixture!($kernel, "sync-2.pcap"),
                phase2(),
            );
        }
    };
}

kernel_tests!("6.1", linux_6_1_default_threshold, linux_6_1_period_zero);
kernel_tests!("6.12", linux_6_12_default_threshold, linux_6_12_period_zero);

#[test]
fn the_fixtures_say_what_they_were_run_with() {
    for (kernel, sysctl) in [
        ("6.1", include_str!("fixtures/sync-persist-6.1/sysctl.txt")),
        (
            "6.12",
            include_str!("fixtures/sync-persist-6.12/sysctl.txt"),
        ),
    ] {
        for knob in [
            "sync_threshold:3\t50",
            "sync_version:1",
            "sync_refresh_period:0",
            "sync_retries:0",
            "sync_persist_mode:0",
        ] {
            assert!(sysctl.contains(knob), "{kernel}: {knob}");
        }
    }
}
