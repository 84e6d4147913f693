//! Persistence template keys, overload thresholds, stats cells and the rate estimator,
//! each against hand-computed values.

use core::net::IpAddr;
use rvs_core::conn::reuse::DestStatus;
use rvs_core::conn::{DestCounters, Endpoint, InKey, LoadKind};
use rvs_core::estimator::Estimator;
use rvs_core::model::{Family, Persistence, Protocol, Rates, ServiceKey, Stats};
use rvs_core::persist::{self, PacketTuple};
use rvs_core::stats::StatsCounters;
use rvs_core::time::Instant;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn pkt(proto: u8, src: &str, dst: &str, dst_port: u16) -> PacketTuple {
    PacketTuple {
        proto,
        src: ip(src),
        dst: ip(dst),
        dst_port,
    }
}

fn key(proto: u8, client: &str, virt: &str, vport: u16) -> InKey {
    InKey {
        proto,
        client: Endpoint::new(ip(client), 0),
        virt: Endpoint::new(ip(virt), vport),
    }
}

#[test]
fn ipv4_netmask_24() {
    let svc = ServiceKey::Addr {
        proto: Protocol::Tcp,
        addr: ip("10.0.0.100"),
        port: 80,
    };
    let p = Persistence {
        timeout: 360,
        prefix_len: 24,
    };
    let k = persist::template_key(&svc, &p, &pkt(6, "10.1.2.3", "10.0.0.100", 80));
    assert_eq!(k, key(6, "10.1.2.0", "10.0.0.100", 80));
    // Two clients of the same /24 share the template, another /24 does not.
    let k2 = persist::template_key(&svc, &p, &pkt(6, "10.1.2.250", "10.0.0.100", 80));
    let k3 = persist::template_key(&svc, &p, &pkt(6, "10.1.3.3", "10.0.0.100", 80));
    assert_eq!(k, k2);
    assert_ne!(k, k3);
    // The default granularity (/32) keeps the whole address.
    let p32 = Persistence {
        prefix_len: 32,
        ..p
    };
    assert_eq!(
        persist::template_key(&svc, &p32, &pkt(6, "10.1.2.3", "10.0.0.100", 80))
            .client
            .addr,
        ip("10.1.2.3")
    );
}

#[test]
fn ipv6_prefix_64() {
    let svc = ServiceKey::Addr {
        proto: Protocol::Udp,
        addr: ip("2001:db8::100"),
        port: 53,
    };
    let p = Persistence {
        timeout: 60,
        prefix_len: 64,
    };
    let k = persist::template_key(
        &svc,
        &p,
        &pkt(17, "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8::100", 53),
    );
    assert_eq!(k, key(17, "2001:db8:1:2::", "2001:db8::100", 53));
    assert_eq!(
        persist::mask_addr(ip("2001:db8:1:2:3::1"), 48),
        ip("2001:db8:1::")
    );
    assert_eq!(
        persist::mask_addr(ip("2001:db8::1"), 128),
        ip("2001:db8::1")
    );
    assert_eq!(persist::mask_addr(ip("10.9.8.7"), 0), ip("0.0.0.0"));
    assert_eq!(persist::mask_addr(ip("10.9.8.7"), 12), ip("10.0.0.0"));
}

#[test]
fn fwmark_templates_use_ipproto_ip_and_the_mark() {
    let svc = ServiceKey::Fwmark {
        mark: 0x0102_0304,
        family: Family::V4,
    };
    let p = Persistence {
        timeout: 360,
        prefix_len: 32,
    };
    let k = persist::template_key(&svc, &p, &pkt(6, "10.1.2.3", "10.0.0.100", 443));
    assert_eq!(k, key(0, "10.1.2.3", "1.2.3.4", 0));
    // TCP and UDP of the same client share it (proto 0, port 0).
    let ku = persist::template_key(&svc, &p, &pkt(17, "10.1.2.3", "10.0.0.101", 53));
    assert_eq!(k, ku);
    let svc6 = ServiceKey::Fwmark {
        mark: 7,
        family: Family::V6,
    };
    let p6 = Persistence {
        timeout: 360,
        prefix_len: 128,
    };
    let k6 = persist::template_key(&svc6, &p6, &pkt(6, "2001:db8::1", "2001:db8::100", 80));
    assert_eq!(k6.virt.addr, ip("0:7::"));
    assert_eq!(persist::template_dest_port(&svc, 443, 8443), 0);
}

#[test]
fn port_zero_and_ftp_templates_cover_every_port() {
    let p = Persistence {
        timeout: 360,
        prefix_len: 32,
    };
    let any = ServiceKey::Addr {
        proto: Protocol::Tcp,
        addr: ip("10.0.0.100"),
        port: 0,
    };
    let k80 = persist::template_key(&any, &p, &pkt(6, "10.1.2.3", "10.0.0.100", 80));
    let k443 = persist::template_key(&any, &p, &pkt(6, "10.1.2.3", "10.0.0.100", 443));
    assert_eq!(k80, key(6, "10.1.2.3", "10.0.0.100", 0));
    assert_eq!(k80, k443);
    assert_eq!(persist::template_dest_port(&any, 443, 8443), 0);
    let ftp = ServiceKey::Addr {
        proto: Protocol::Tcp,
        addr: ip("10.0.0.100"),
        port: 21,
    };
    assert_eq!(
        persist::template_key(&ftp, &p, &pkt(6, "10.1.2.3", "10.0.0.100", 21))
            .virt
            .port,
        0
    );
    let web = ServiceKey::Addr {
        proto: Protocol::Tcp,
        addr: ip("10.0.0.100"),
        port: 80,
    };
    assert_eq!(persist::template_dest_port(&web, 80, 8080), 8080);
}

#[test]
fn template_usability() {
    let up = DestStatus {
        available: true,
        weight: 3,
    };
    let quiesced = DestStatus {
        available: true,
        weight: 0,
    };
    let gone = DestStatus {
        available: false,
        weight: 3,
    };
    assert!(persist::template_usable(Some(up), false));
    assert!(persist::template_usable(Some(quiesced), false));
    assert!(
        !persist::template_usable(Some(quiesced), true),
        "expire_quiescent_template"
    );
    assert!(!persist::template_usable(Some(gone), false));
    assert!(!persist::template_usable(None, false));
}

#[test]
fn thresholds_with_lower_bound() {
    let d = DestCounters::new(10, 5);
    for _ in 0..9 {
        d.bind(LoadKind::Inactive);
    }
    d.bind(LoadKind::Persistent);
    assert!(
        !d.snapshot().overloaded,
        "templates do not count towards the threshold"
    );
    d.bind(LoadKind::Active);
    assert!(d.snapshot().overloaded, "10 >= 10");
    for _ in 0..5 {
        d.unbind(LoadKind::Inactive);
        assert!(d.snapshot().overloaded, "total >= l_threshold keeps it set");
    }
    d.unbind(LoadKind::Inactive);
    assert!(!d.snapshot().overloaded, "4 < 5 clears it");
    assert_eq!(d.snapshot().active + d.snapshot().inactive, 4);
    // No thresholds at all: any unbind clears a stale flag.
    let free = DestCounters::new(0, 0);
    free.bind(LoadKind::Active);
    assert!(!free.snapshot().overloaded);
    // Raising the upper threshold clears the flag at once, lowering it does not.
    let d = DestCounters::new(2, 0);
    d.bind(LoadKind::Active);
    d.bind(LoadKind::Active);
    assert!(d.snapshot().overloaded);
    d.set_thresholds(1, 0);
    assert!(d.snapshot().overloaded);
    d.set_thresholds(5, 0);
    assert!(!d.snapshot().overloaded);
}

#[test]
fn stats_cells_sum_and_zero() {
    let s = StatsCounters::new(3);
    s.conn(0);
    s.conn(2);
    s.inbound(1, 100);
    s.inbound(2, 60);
    s.outbound(0, 1500);
    s.outbound(7, 40); // out-of-range worker folds in, no panic
    let want = Stats {
        conns: 2,
        in_pkts: 2,
        out_pkts: 2,
        in_bytes: 160,
        out_bytes: 1540,
    };
    assert_eq!(s.total(), want);
    s.zero();
    assert_eq!(s.total(), Stats::default());
    s.conn(1);
    assert_eq!(s.total().conns, 1);
    assert_eq!(
        s.raw().conns,
        3,
        "the estimator keeps sampling the raw counters"
    );
}

#[test]
fn estimator_matches_the_kernel_arithmetic() {
    let mut st = Stats::default();
    let mut e = Estimator::new(Instant::ZERO, st);
    assert_eq!(e.tick(Instant::from_millis(1999), st), 0);
    // 100 connections, 1000/400 packets, 10000/64000 bytes in the first 2 s.
    st = Stats {
        conns: 100,
        in_pkts: 1000,
        out_pkts: 400,
        in_bytes: 10_000,
        out_bytes: 64_000,
    };
    assert_eq!(e.tick(Instant::from_millis(2000), st), 1);
    // cps: sample 100<<9 = 51200, avg 12800, (12800+511)>>10 = 12.
    // inpps: 1000<<9 = 512000, avg 128000, (128000+511)>>10 = 125.
    // outpps: 400<<9 = 204800, avg 51200, (51200+511)>>10 = 50.
    // inbps: 10000<<4 = 160000, avg 40000, (40000+15)>>5 = 1250.
    // outbps: 64000<<4 = 1024000, avg 256000, (256000+15)>>5 = 8000.
    assert_eq!(
        e.rates(),
        Rates {
            cps: 12,
            in_pps: 125,
            out_pps: 50,
            in_bps: 1250,
            out_bps: 8000
        }
    );
    // Same traffic again: avg += (sample - avg) >> 2.
    // cps: 12800 + 9600 = 22400 -> 22; inbps: 40000 + 30000 = 70000 -> 2187.
    st = Stats {
        conns: 200,
        in_pkts: 2000,
        out_pkts: 800,
        in_bytes: 20_000,
        out_bytes: 128_000,
    };
    e.tick(Instant::from_millis(4000), st);
    let r = e.rates();
    assert_eq!((r.cps, r.in_bps), (22, 2187));
    // Traffic stops: the averages decay by a quarter per period.
    // cps avg: 22400 - 5600 = 16800 -> (16800+511)>>10 = 16.
    e.tick(Instant::from_millis(6000), st);
    assert_eq!(e.rates().cps, 16);
    // A caller 10 s late takes the missed periods as idle ones.
    assert_eq!(e.tick(Instant::from_millis(16_000), st), 5);
    // 16800 -> 12600 -> 9450 -> 7088 -> 5316 -> 3987: (3987+511)>>10 = 4.
    assert_eq!(e.rates().cps, 4);
    e.reset(st);
    assert_eq!(e.rates(), Rates::default());
}
