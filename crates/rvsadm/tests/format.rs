//! Listing corners the lab captures do not reach: K/M/G/T counters, --exact on huge
//! numbers, persistence-engine columns of -Lc, IPv6 connections, --nosort, long names,
//! FULLNAT, daemons with every setting. Widths and wording follow ipvsadm 1.31's
//! print_* functions.

use core::net::IpAddr;
use rvs_core::model::{
    DestConfig, Family, ForwardMethod, Protocol, Rates, SchedFlags, SchedulerKind, ServiceConfig,
    ServiceKey, Stats, SyncDaemonConfig, SyncRole, Timeouts,
};
use rvs_core::status::{ConnEntry, DestEntry, ServiceEntry, Snapshot};
use rvsadm::cli::Format;
use rvsadm::format::{format_connections, format_daemons, format_list_all};
use rvsadm::resolve::{NoResolver, TableResolver};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn dest(addr: &str, port: u16, method: ForwardMethod, stats: Stats) -> DestEntry {
    DestEntry {
        config: DestConfig {
            addr: ip(addr),
            port,
            method,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
        },
        active_conns: 0,
        inactive_conns: 0,
        persistent_conns: 0,
        stats,
        rates: Rates::default(),
    }
}

fn service(key: ServiceKey, dests: Vec<DestEntry>, stats: Stats) -> ServiceEntry {
    ServiceEntry {
        config: ServiceConfig {
            key,
            scheduler: SchedulerKind::Wlc,
            sched_flags: SchedFlags::default(),
            persistence: None,
            one_packet: false,
            pe_name: None,
        },
        stats,
        rates: Rates::default(),
        dests,
    }
}

fn snapshot(services: Vec<ServiceEntry>) -> Snapshot {
    Snapshot {
        table_size: 1048576,
        services,
        timeouts: Timeouts::default(),
        daemons: Vec::new(),
        fwmark_rules: Vec::new(),
    }
}

fn tcp(addr: &str, port: u16) -> ServiceKey {
    ServiceKey::Addr {
        proto: Protocol::Tcp,
        addr: ip(addr),
        port,
    }
}

fn huge() -> Stats {
    Stats {
        conns: 123_456_789,
        in_pkts: 98_765_432_100,
        out_pkts: 1_234_567_890_123,
        in_bytes: 999_999_999_999_999,
        out_bytes: u64::MAX,
    }
}

#[test]
fn counters_scale_by_thousands() {
    let snap = snapshot(vec![service(
        tcp("10.0.0.1", 80),
        vec![dest("10.0.2.1", 80, ForwardMethod::Masq, huge())],
        huge(),
    )]);
    let stats = Format {
        numeric: true,
        stats: true,
        ..Format::default()
    };
    assert_eq!(
        format_list_all(&snap, &stats, &NoResolver),
        "IP Virtual Server version 1.2.1 (size=1048576)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  10.0.0.1:80                   123456K   98765M    1234G     999T18446744T
  -> 10.0.2.1:80                   123456K   98765M    1234G     999T18446744T
"
    );
    let exact = Format {
        exact: true,
        ..stats
    };
    assert_eq!(
        format_list_all(&snap, &exact, &NoResolver).lines().nth(3).unwrap(),
        "TCP  10.0.0.1:80                  123456789 98765432100 1234567890123 999999999999999 18446744073709551615"
    );
}

#[test]
fn real_server_rates_are_not_scaled_but_byte_rates_are() {
    let mut svc = service(
        tcp("10.0.0.1", 80),
        vec![dest("10.0.2.1", 80, ForwardMethod::Route, Stats::default())],
        Stats::default(),
    );
    let r = Rates {
        cps: 300_000_000,
        in_pps: 200_000_000,
        out_pps: 7,
        in_bps: 4_000_000_000,
        out_bps: 5,
    };
    svc.rates = r;
    svc.dests[0].rates = r;
    let fmt = Format {
        numeric: true,
        rate: true,
        ..Format::default()
    };
    let out = format_list_all(&snapshot(vec![svc]), &fmt, &NoResolver);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[3],
        "TCP  10.0.0.1:80                   300000K  200000K        7    4000M        5"
    );
    assert_eq!(
        lines[4],
        "  -> 10.0.2.1:80                  300000000 200000000        7    4000M        5"
    );
}

#[test]
fn fullnat_lists_and_saves() {
    let snap = snapshot(vec![service(
        tcp("10.0.0.1", 80),
        vec![dest(
            "10.0.2.1",
            8080,
            ForwardMethod::FullNat,
            Stats::default(),
        )],
        Stats::default(),
    )]);
    let numeric = Format {
        numeric: true,
        ..Format::default()
    };
    assert!(format_list_all(&snap, &numeric, &NoResolver)
        .contains("  -> 10.0.2.1:8080                FullNat 1      0          0         \n"));
    let rule = Format {
        numeric: true,
        rule: true,
        ..Format::default()
    };
    assert_eq!(
        format_list_all(&snap, &rule, &NoResolver),
        "-A -t 10.0.0.1:80 -s wlc\n-a -t 10.0.0.1:80 -r 10.0.2.1:8080 -j -w 1\n"
    );
}

#[test]
fn sorting_follows_libipvs_and_nosort_keeps_the_daemons_order() {
    let s = Stats::default();
    let snap = snapshot(vec![
        service(
            ServiceKey::Fwmark {
                mark: 3,
                family: Family::V4,
            },
            vec![],
            s,
        ),
        service(
            tcp("10.0.0.1", 80),
            vec![
                dest("10.0.2.1", 80, ForwardMethod::Masq, s),
                dest("192.168.0.1", 80, ForwardMethod::Masq, s),
                dest("10.0.2.1", 79, ForwardMethod::Masq, s),
            ],
            s,
        ),
        service(tcp("192.168.0.1", 80), vec![], s),
    ]);
    let fmt = Format {
        numeric: true,
        rule: true,
        ..Format::default()
    };
    // 192.168/16 sorts before 10/8: libipvs compares addresses as int differences.
    assert_eq!(
        format_list_all(&snap, &fmt, &NoResolver),
        "-A -t 192.168.0.1:80 -s wlc
-A -t 10.0.0.1:80 -s wlc
-a -t 10.0.0.1:80 -r 192.168.0.1:80 -m -w 1
-a -t 10.0.0.1:80 -r 10.0.2.1:79 -m -w 1
-a -t 10.0.0.1:80 -r 10.0.2.1:80 -m -w 1
-A -f 3 -s wlc
"
    );
    let nosort = Format {
        nosort: true,
        ..fmt
    };
    assert_eq!(
        format_list_all(&snap, &nosort, &NoResolver),
        "-A -f 3 -s wlc
-A -t 10.0.0.1:80 -s wlc
-a -t 10.0.0.1:80 -r 10.0.2.1:80 -m -w 1
-a -t 10.0.0.1:80 -r 192.168.0.1:80 -m -w 1
-a -t 10.0.0.1:80 -r 10.0.2.1:79 -m -w 1
-A -t 192.168.0.1:80 -s wlc
"
    );
}

#[test]
fn long_names_are_cut_as_ipvsadm_cuts_them() {
    let mut names = TableResolver::lab();
    names.hosts.push((
        "a-very-long-virtual-host-name.example.org".into(),
        ip("10.0.0.1"),
    ));
    names.hosts.push((
        "a-rather-long-real-server-name.example.org".into(),
        ip("10.0.2.1"),
    ));
    let s = Stats::default();
    let snap = snapshot(vec![service(
        tcp("10.0.0.1", 80),
        vec![dest("10.0.2.1", 80, ForwardMethod::Route, s)],
        s,
    )]);
    let out = format_list_all(&snap, &Format::default(), &names);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[3], "TCP  a-very-long-virtual-host-nam wlc");
    assert_eq!(
        lines[4],
        "  -> a-rather-long-real-server-na Route   1      0          0         "
    );
}

fn conn(
    client: &str,
    cport: u16,
    virt: &str,
    vport: u16,
    dst: &str,
    proto: u8,
    pe: bool,
) -> ConnEntry {
    ConnEntry {
        ip_proto: proto,
        client: ip(client),
        client_port: cport,
        virt: ip(virt),
        virt_port: vport,
        dest: ip(dst),
        dest_port: vport,
        state: if proto == 17 {
            "UDP".into()
        } else {
            "ESTABLISHED".into()
        },
        expires_ms: 3_661_999,
        pe_name: pe.then(|| "sip".into()),
        pe_data: pe.then(|| "call-1@example".into()),
        template: false,
        fwmark: 0,
    }
}

#[test]
fn connection_rows() {
    let conns = vec![
        conn("10.1.0.1", 40000, "10.0.0.1", 5060, "10.0.2.1", 17, true),
        conn(
            "2001:db8::2",
            40001,
            "2001:db8::1",
            443,
            "2001:db8::10",
            6,
            false,
        ),
        conn("10.1.0.1", 0, "0.0.0.1", 0, "10.0.2.1", 0, false),
    ];
    let fmt = Format {
        numeric: true,
        persistent_conn: true,
        ..Format::default()
    };
    assert_eq!(
        format_connections(&conns, &fmt, &NoResolver),
        "IPVS connection entries
pro expire state       source             virtual            destination        pe name          pe_data
UDP 61:01  UDP         10.1.0.1:40000     10.0.0.1:5060      10.0.2.1:5060    sip                call-1@example
TCP 61:01  ESTABLISHED [2001:db8::2]:40001 [2001:db8::1]:443  [2001:db8::10]:443
IP  61:01  ESTABLISHED 10.1.0.1:0         0.0.0.1:0          10.0.2.1:0
"
    );
    // Names for addresses and ports of the connection's protocol.
    let mut names = TableResolver::lab();
    names.hosts.push(("client".into(), ip("10.1.0.1")));
    let plain = format_connections(&conns[..1], &Format::default(), &names);
    assert_eq!(
        plain.lines().nth(2).unwrap(),
        "UDP 61:01  UDP         client:40000       10.0.0.1:sip       10.0.2.1:sip"
    );
}

#[test]
fn daemons_with_every_setting() {
    let d = |role, group: Option<&str>, maxlen, port, ttl| SyncDaemonConfig {
        role,
        mcast_ifn: "eth1".into(),
        syncid: 200,
        sync_maxlen: maxlen,
        mcast_group: group.map(ip),
        mcast_port: port,
        mcast_ttl: ttl,
    };
    let out = format_daemons(&[
        d(SyncRole::Backup, Some("ff02::1:3"), 0, 0, 0),
        d(SyncRole::Master, Some("239.1.2.3"), 1000, 9000, 5),
    ]);
    assert_eq!(
        out,
        "master sync daemon (mcast=eth1, syncid=200, maxlen=1000, group=239.1.2.3, port=9000, ttl=5)
backup sync daemon (mcast=eth1, syncid=200, maxlen=1452, group=ff02::1:3, port=8848, ttl=1)
"
    );
}
