//! Fuzz `Worker::process` on an engine with NAT, DR, TUN (IPIP and GUE), FULLNAT, a
//! persistent service, a one-packet UDP service and a firewall-mark rule.
//!
//! Input: a sequence of frames, each `[worker, len_hi, len_lo, bytes...]`, processed
//! in order with time moving forward a little. Properties: nothing panics, a frame
//! never grows past its buffer, and a connection established before the input (the
//! canary) still forwards afterwards: what a person sends cannot disturb others.
//!
//! `RUSTC_BOOTSTRAP=1 cargo fuzz build && cargo fuzz run process`
#![no_main]

use core::net::{IpAddr, Ipv4Addr};
use libfuzzer_sys::fuzz_target;
use rvs_core::engine::{Engine, EngineConfig, FullNatPool, Worker};
use rvs_core::model::*;
use rvs_core::time::Instant;
use rvs_core::verdict::{Frame, Verdict};
use rvs_wire::ethernet::{self, EtherType, MacAddr};
use rvs_wire::{checksum, ipv4, tcp, IpProtocol};
use std::sync::{Mutex, OnceLock};

const HEADROOM: usize = 128;
const BASE: Instant = Instant::from_secs(1000);

fn ip(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

fn dest(a: [u8; 4], port: u16, method: ForwardMethod) -> DestConfig {
    DestConfig {
        addr: ip(a),
        port,
        method,
        weight: 1,
        u_threshold: 3,
        l_threshold: 0,
    }
}

fn svc(proto: Protocol, port: u16, kind: SchedulerKind, dests: Vec<DestConfig>) -> VirtualService {
    VirtualService {
        config: ServiceConfig {
            key: ServiceKey::Addr {
                proto,
                addr: ip([10, 0, 0, 100]),
                port,
            },
            scheduler: kind,
            sched_flags: SchedFlags::default(),
            persistence: None,
            one_packet: false,
            pe_name: None,
        },
        dests,
    }
}

fn canary_frame(buf: &mut [u8], flags: u16) -> usize {
    let b = &mut buf[HEADROOM..];
    let mut o = ethernet::Repr {
        src: MacAddr([2, 0, 0, 0, 0, 1]),
        dst: MacAddr([2, 0, 0, 0, 0, 2]),
        vlan_tci: None,
        ethertype: EtherType::IPV4,
    }
    .emit(b)
    .unwrap();
    let (src, dst) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(10, 0, 0, 100));
    o += ipv4::Repr {
        src,
        dst,
        protocol: IpProtocol::TCP,
        payload_len: 20,
        ttl: 64,
        tos: 0,
        ident: 0,
        dont_frag: true,
    }
    .emit(&mut b[o..])
    .unwrap();
    tcp::Repr {
        src_port: 55555,
        dst_port: 80,
        seq_number: 1,
        ack_number: 1,
        flags: tcp::Flags(flags),
        window_len: 512,
        urgent_at: 0,
    }
    .emit(&mut b[o..])
    .unwrap();
    let pseudo = checksum::pseudo_header_v4(src, dst, IpProtocol::TCP, 20);
    tcp::Packet::new_unchecked(&mut b[o..o + 20]).fill_checksum(pseudo);
    o + 20
}

struct World {
    engine: Engine,
    workers: Vec<Worker>,
}

fn world() -> &'static Mutex<World> {
    static W: OnceLock<Mutex<World>> = OnceLock::new();
    W.get_or_init(|| {
        let engine = Engine::new(EngineConfig {
            workers: 2,
            max_conns: 1 << 16,
            fullnat_pool: FullNatPool {
                addrs: vec![ip([172, 16, 0, 1]), ip([172, 16, 0, 2])],
                ports: (1024, 65535),
            },
            tunnel_src_v4: Some(Ipv4Addr::new(10, 0, 0, 1)),
            mtu: 1500,
            ..EngineConfig::default()
        })
        .unwrap();
        let gue = Tunnel {
            kind: TunnelType::Gue,
            port: 6080,
            csum: TunnelCsum::Csum,
        };
        let mut persistent = svc(
            Protocol::Tcp,
            443,
            SchedulerKind::Sh,
            vec![
                dest([192, 168, 1, 21], 443, ForwardMethod::Route),
                dest([192, 168, 1, 22], 443, ForwardMethod::Tunnel(gue)),
            ],
        );
        persistent.config.persistence = Some(Persistence {
            timeout: 60,
            prefix_len: 24,
        });
        let mut one_packet = svc(
            Protocol::Udp,
            53,
            SchedulerKind::Rr,
            vec![
                dest([192, 168, 1, 31], 53, ForwardMethod::Masq),
                dest([198, 51, 100, 7], 5353, ForwardMethod::FullNat),
            ],
        );
        one_packet.config.one_packet = true;
        let mut fwm = svc(
            Protocol::Tcp,
            0,
            SchedulerKind::Wlc,
            vec![dest([192, 168, 1, 41], 0, ForwardMethod::Masq)],
        );
        fwm.config.key = ServiceKey::Fwmark {
            mark: 9,
            family: Family::V4,
        };
        // The canary's service has no threshold: however many connections the input
        // opens, a rescheduled canary always finds a real server.
        let mut web = svc(
            Protocol::Tcp,
            80,
            SchedulerKind::Rr,
            vec![
                dest([192, 168, 1, 11], 8080, ForwardMethod::Masq),
                dest([192, 168, 1, 12], 80, ForwardMethod::Route),
                dest(
                    [192, 168, 1, 13],
                    80,
                    ForwardMethod::Tunnel(Tunnel::default()),
                ),
                dest([198, 51, 100, 8], 8080, ForwardMethod::FullNat),
            ],
        );
        for d in &mut web.dests {
            d.u_threshold = 0;
        }
        let services = [
            web,
            svc(
                Protocol::Sctp,
                9000,
                SchedulerKind::Lc,
                vec![dest([192, 168, 1, 51], 9000, ForwardMethod::Masq)],
            ),
            persistent,
            one_packet,
            fwm,
        ];
        let rules = [FwmarkRule {
            mark: 9,
            family: Family::V4,
            proto: None,
            dst: Prefix::new(ip([10, 0, 1, 0]), 24),
            dst_ports: None,
            src: None,
        }];
        engine.apply(&services, &rules, Timeouts::default(), BASE);
        let mut workers: Vec<Worker> = (0..2).map(|i| engine.worker(i)).collect();
        let mut buf = vec![0u8; 512];
        let n = canary_frame(&mut buf, 0x002);
        let mut f = Frame::new(&mut buf, HEADROOM, n);
        assert!(matches!(
            workers[0].process(&mut f, BASE),
            Verdict::Forward(_)
        ));
        Mutex::new(World { engine, workers })
    })
}

fuzz_target!(|data: &[u8]| {
    let mut w = world().lock().unwrap_or_else(|p| p.into_inner());
    let mut rest = data;
    let mut now = BASE;
    let mut buf = vec![0u8; HEADROOM + 2048];
    while rest.len() >= 3 {
        let worker = usize::from(rest[0]) % w.workers.len();
        let len = (usize::from(rest[1]) << 8 | usize::from(rest[2]))
            .min(rest.len() - 3)
            .min(2048);
        let frame = &rest[3..3 + len];
        rest = &rest[3 + len..];
        buf[HEADROOM..HEADROOM + len].copy_from_slice(frame);
        let mut f = Frame::new(&mut buf, HEADROOM, len);
        let _ = w.workers[worker].process(&mut f, now);
        assert!(f.start() + f.len() <= HEADROOM + 2048);
        now = now + core::time::Duration::from_millis(7);
    }
    // The canary connection is undisturbed.
    let mut cbuf = vec![0u8; 512];
    let n = canary_frame(&mut cbuf, 0x010);
    let mut f = Frame::new(&mut cbuf, HEADROOM, n);
    let v = w.workers[0].process(&mut f, now);
    assert!(matches!(v, Verdict::Forward(_)), "canary disturbed: {v:?}");
    let _ = w.engine.status(now);
});
