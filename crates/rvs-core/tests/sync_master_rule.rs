//! The sync master's decision in the cases the lab capture (sync_persist_kernel.rs)
//! does not hold: a firewall-mark service's template, and a template whose
//! connections are served by different workers (the kernel counts a template's
//! input packets in one place, `cp->in_pkts` of the template).

mod engine_support;
use engine_support::*;
use rvs_core::engine::{ConnFlags, SyncConn, Sysctls};

const SYN: u16 = 0x002;
const ACK: u16 = 0x010;
const PSH: u16 = 0x008;

fn engine(workers: usize, sysctls: Sysctls, svc: VirtualService, rules: &[FwmarkRule]) -> Engine {
    let e = Engine::new(EngineConfig {
        workers,
        max_conns: 1024,
        sysctls,
        ..EngineConfig::default()
    })
    .unwrap();
    e.apply(&[svc], rules, Timeouts::default(), Instant::ZERO);
    e.set_sync_master(true);
    e
}

fn persistent(mut s: VirtualService) -> VirtualService {
    s.config.persistence = Some(Persistence {
        timeout: 300,
        prefix_len: 32,
    });
    s
}

/// What the packet queued: `C` for a connection, `T` for a template.
fn kinds(e: &Engine) -> (String, Vec<SyncConn>) {
    let mut out = Vec::new();
    e.drain_sync(&mut out);
    let k = out
        .iter()
        .map(|c| {
            if c.flags & ConnFlags::TEMPLATE != 0 {
                'T'
            } else {
                'C'
            }
        })
        .collect();
    (k, out)
}

fn send(w: &mut Worker, client: (IpAddr, u16), flags: u16, payload: &[u8], ms: u64) {
    let f = tcp_frame(client, (v4(VIP), 80), flags, payload);
    let (v, _) = run(w, &f, t(ms));
    assert!(matches!(v, Verdict::Forward(_)), "{v:?}");
}

#[test]
fn a_fwmark_template_goes_after_its_connection_on_every_packet() {
    let mut svc = service(
        Protocol::Tcp,
        80,
        SchedulerKind::Rr,
        vec![dest("10.0.2.11", 8000, ForwardMethod::Masq, 1)],
    );
    svc.config.key = ServiceKey::Fwmark {
        mark: 7,
        family: Family::V4,
    };
    let rule = FwmarkRule {
        mark: 7,
        family: Family::V4,
        proto: Some(Protocol::Tcp),
        dst: Prefix::new(v4(VIP), 32),
        dst_ports: Some((80, 80)),
        src: None,
    };
    let e = engine(1, Sysctls::default(), persistent(svc), &[rule]);
    let mut w = e.worker(0);
    let client = (v4("10.1.0.9"), 40000);
    let mut seen = Vec::new();
    for (i, (flags, data)) in [(SYN, &b""[..]), (ACK, b""), (ACK | PSH, b"get"), (ACK, b"")]
        .into_iter()
        .enumerate()
    {
        send(&mut w, client, flags, data, 10 * i as u64);
        let (k, out) = kinds(&e);
        seen.push(k);
        for c in out {
            assert_eq!(c.fwmark, 7, "{c:?}");
            if c.flags & ConnFlags::TEMPLATE != 0 {
                // A firewall-mark template has no protocol.
                assert_eq!((c.ip_proto, c.cport), (0, 0), "{c:?}");
            } else {
                assert_eq!((c.ip_proto, c.cport), (6, 40000), "{c:?}");
            }
        }
    }
    // The third packet makes the connection due (sync_threshold 3): connection first.
    assert_eq!(seen, ["T", "T", "CT", "T"]);
}

#[test]
fn a_template_counts_the_packets_of_all_its_connections_whatever_the_worker() {
    let svc = persistent(service(
        Protocol::Tcp,
        80,
        SchedulerKind::Rr,
        vec![dest("10.0.2.11", 8000, ForwardMethod::Masq, 1)],
    ));
    // Period 0: an entry goes once, when its own count reaches 2.
    let sysctls = Sysctls {
        sync_threshold: 2,
        sync_period: 0,
        ..Sysctls::default()
    };
    let e = engine(2, sysctls, svc, &[]);
    let (mut w0, mut w1) = (e.worker(0), e.worker(1));
    let a = (v4("10.1.0.9"), 40000);
    let b = (v4("10.1.0.9"), 40001);
    let mut seen = Vec::new();
    let mut step = |w: &mut Worker, c, flags, ms| {
        send(w, c, flags, b"", ms);
        seen.push(kinds(&e).0);
    };
    step(&mut w0, a, SYN, 0);
    // The template's second packet, though the first on this worker.
    step(&mut w1, b, SYN, 1);
    step(&mut w0, a, ACK, 2);
    step(&mut w1, b, ACK, 3);
    step(&mut w0, a, ACK, 4);
    assert_eq!(seen, ["", "T", "C", "C", ""]);
}
