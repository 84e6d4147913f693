use super::*;
use rvs_core::model::{
    ForwardMethod, Persistence, Protocol, SchedFlags, SchedulerKind, Tunnel, TunnelCsum, TunnelType,
};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn tcp(addr: &str, port: u16) -> ServiceKey {
    ServiceKey::Addr {
        proto: Protocol::Tcp,
        addr: ip(addr),
        port,
    }
}

fn svc(key: ServiceKey) -> ServiceConfig {
    ServiceConfig {
        key,
        scheduler: SchedulerKind::Wlc,
        sched_flags: SchedFlags::default(),
        persistence: None,
        one_packet: false,
        pe_name: None,
    }
}

fn dest(addr: &str, port: u16, method: ForwardMethod) -> DestConfig {
    DestConfig {
        addr: ip(addr),
        port,
        method,
        weight: 1,
        u_threshold: 0,
        l_threshold: 0,
    }
}

fn sync(role: SyncRole) -> SyncDaemonConfig {
    SyncDaemonConfig {
        role,
        mcast_ifn: "eth0".into(),
        syncid: 0,
        sync_maxlen: 0,
        mcast_group: None,
        mcast_port: 0,
        mcast_ttl: 0,
    }
}

fn gue(port: u16, csum: TunnelCsum) -> ForwardMethod {
    ForwardMethod::Tunnel(Tunnel {
        kind: TunnelType::Gue,
        port,
        csum,
    })
}

const VIP: &str = "10.0.0.1";

/// A director with TCP 10.0.0.1:80 (one NAT real server) and FWM 7 (v4, empty).
fn base() -> ConfigState {
    let mut s = ConfigState::new();
    let key = tcp(VIP, 80);
    s.dispatch(Request::AddService(svc(key))).unwrap();
    s.dispatch(Request::AddDest(
        key,
        dest("192.168.0.2", 8080, ForwardMethod::Masq),
    ))
    .unwrap();
    s.dispatch(Request::AddService(svc(ServiceKey::Fwmark {
        mark: 7,
        family: Family::V4,
    })))
    .unwrap();
    s
}

fn with_sync() -> ConfigState {
    let mut s = base();
    s.dispatch(Request::StartDaemon(sync(SyncRole::Master)))
        .unwrap();
    s
}

fn with_mixed() -> ConfigState {
    let mut s = base();
    let ipip = ForwardMethod::Tunnel(Tunnel::default());
    s.dispatch(Request::AddDest(
        tcp(VIP, 80),
        dest("2001:db8::2", 80, ipip),
    ))
    .unwrap();
    s
}

#[test]
fn every_refusal_has_the_kernels_errno_and_changes_nothing() {
    use ErrorKind::{Exists, Invalid, NoService, NotFound, Range, Unsupported};
    let key = tcp(VIP, 80);
    let absent = tcp(VIP, 81);
    let masq = ForwardMethod::Masq;
    let persistent = |mut c: ServiceConfig, timeout, prefix_len| {
        c.persistence = Some(Persistence {
            timeout,
            prefix_len,
        });
        c
    };
    let v6 = ServiceKey::Addr {
        proto: Protocol::Tcp,
        addr: ip("2001:db8::1"),
        port: 80,
    };
    let udp_key = ServiceKey::Addr {
        proto: Protocol::Udp,
        addr: ip(VIP),
        port: 53,
    };
    let mut one_packet_tcp = svc(tcp(VIP, 90));
    one_packet_tcp.one_packet = true;
    let mut bad_flags = svc(tcp(VIP, 90));
    bad_flags.sched_flags = SchedFlags(0x1);
    let mut bad_pe = svc(tcp(VIP, 90));
    bad_pe.pe_name = Some("http".into());
    let mut heavy = dest("192.168.0.3", 80, masq);
    heavy.weight = 65_536;
    let mut low_above_high = dest("192.168.0.3", 80, masq);
    low_above_high.l_threshold = 5;
    let mut low_above_none = low_above_high;
    low_above_none.u_threshold = 0;
    low_above_high.u_threshold = 4;
    let mut edit_low_above_high = dest("192.168.0.2", 8080, masq);
    edit_low_above_high.l_threshold = 10;
    edit_low_above_high.u_threshold = 2;
    let ipip_with_port = ForwardMethod::Tunnel(Tunnel {
        kind: TunnelType::Ipip,
        port: 5,
        csum: TunnelCsum::NoCsum,
    });
    let gre_remcsum = ForwardMethod::Tunnel(Tunnel {
        kind: TunnelType::Gre,
        port: 0,
        csum: TunnelCsum::RemCsum,
    });
    let ipip = ForwardMethod::Tunnel(Tunnel::default());
    let mut sync_ifn_long = sync(SyncRole::Backup);
    sync_ifn_long.mcast_ifn = "a-very-long-ifname".into();
    let mut sync_ifn_empty = sync(SyncRole::Backup);
    sync_ifn_empty.mcast_ifn.clear();
    let mut sync_unicast_group = sync(SyncRole::Backup);
    sync_unicast_group.mcast_group = Some(ip("10.1.1.1"));
    let mut sync_maxlen = sync(SyncRole::Backup);
    sync_maxlen.sync_maxlen = 65_508;

    let cases: Vec<(&str, ConfigState, Request, ErrorKind)> = vec![
        (
            "existing service",
            base(),
            Request::AddService(svc(key)),
            Exists,
        ),
        (
            "port 0 without persistence",
            base(),
            Request::AddService(svc(tcp(VIP, 0))),
            Invalid,
        ),
        (
            "edit to port 0 without persistence",
            base(),
            Request::EditService(svc(tcp(VIP, 0))),
            Invalid,
        ),
        (
            "fwmark 0",
            base(),
            Request::AddService(svc(ServiceKey::Fwmark {
                mark: 0,
                family: Family::V4,
            })),
            Invalid,
        ),
        (
            "one-packet on TCP",
            base(),
            Request::AddService(one_packet_tcp),
            Invalid,
        ),
        (
            "non-scheduler flag bits",
            base(),
            Request::AddService(bad_flags),
            Invalid,
        ),
        (
            "persistence timeout 0",
            base(),
            Request::AddService(persistent(svc(tcp(VIP, 90)), 0, 32)),
            Invalid,
        ),
        (
            "persistence timeout too long",
            base(),
            Request::AddService(persistent(svc(tcp(VIP, 90)), 2_678_401, 32)),
            Invalid,
        ),
        (
            "IPv4 netmask /33",
            base(),
            Request::AddService(persistent(svc(tcp(VIP, 90)), 300, 33)),
            Invalid,
        ),
        (
            "IPv6 prefix /0",
            base(),
            Request::AddService(persistent(svc(v6), 300, 0)),
            Invalid,
        ),
        (
            "IPv6 prefix /129",
            base(),
            Request::AddService(persistent(svc(v6), 300, 129)),
            Invalid,
        ),
        (
            "unknown persistence engine",
            base(),
            Request::AddService(bad_pe.clone()),
            NotFound,
        ),
        (
            "unknown persistence engine on edit",
            base(),
            Request::EditService({
                let mut c = bad_pe.clone();
                c.key = key;
                c
            }),
            NotFound,
        ),
        (
            "edit missing service",
            base(),
            Request::EditService(svc(absent)),
            NoService,
        ),
        (
            "delete missing service",
            base(),
            Request::DelService(absent),
            NoService,
        ),
        (
            "zero missing service",
            base(),
            Request::Zero(Some(absent)),
            NoService,
        ),
        (
            "dest in missing service",
            base(),
            Request::AddDest(absent, dest("192.168.0.3", 80, masq)),
            NoService,
        ),
        (
            "edit dest in missing service",
            base(),
            Request::EditDest(absent, dest("192.168.0.2", 8080, masq)),
            NoService,
        ),
        (
            "delete dest in missing service",
            base(),
            Request::DelDest(absent, ip("192.168.0.2"), 8080),
            NoService,
        ),
        (
            "existing dest",
            base(),
            Request::AddDest(key, dest("192.168.0.2", 8080, masq)),
            Exists,
        ),
        (
            "DR dest forced onto an existing vport",
            {
                let mut s = base();
                s.dispatch(Request::AddDest(key, dest("192.168.0.9", 80, masq)))
                    .unwrap();
                s
            },
            Request::AddDest(key, dest("192.168.0.9", 8080, ForwardMethod::Route)),
            Exists,
        ),
        (
            "edit missing dest",
            base(),
            Request::EditDest(key, dest("192.168.0.3", 80, masq)),
            NotFound,
        ),
        (
            "edit DR dest whose forced port differs",
            base(),
            Request::EditDest(key, dest("192.168.0.2", 8080, ForwardMethod::Route)),
            NotFound,
        ),
        (
            "delete missing dest",
            base(),
            Request::DelDest(key, ip("192.168.0.2"), 80),
            NotFound,
        ),
        (
            "weight above 65535",
            base(),
            Request::AddDest(key, heavy),
            Range,
        ),
        (
            "lower threshold above upper",
            base(),
            Request::AddDest(key, low_above_high),
            Range,
        ),
        (
            "lower threshold without upper",
            base(),
            Request::AddDest(key, low_above_none),
            Range,
        ),
        (
            "edit: lower threshold above upper",
            base(),
            Request::EditDest(key, edit_low_above_high),
            Range,
        ),
        (
            "mixed family with NAT",
            base(),
            Request::AddDest(key, dest("2001:db8::2", 80, masq)),
            Invalid,
        ),
        (
            "mixed family with DR",
            base(),
            Request::AddDest(key, dest("2001:db8::2", 80, ForwardMethod::Route)),
            Invalid,
        ),
        (
            "mixed family while syncing",
            with_sync(),
            Request::AddDest(key, dest("2001:db8::2", 80, ipip)),
            Invalid,
        ),
        (
            "gue without port",
            base(),
            Request::AddDest(key, dest("192.168.0.3", 80, gue(0, TunnelCsum::Csum))),
            Invalid,
        ),
        (
            "ipip with a port",
            base(),
            Request::AddDest(key, dest("192.168.0.3", 80, ipip_with_port)),
            Invalid,
        ),
        (
            "gre with remcsum",
            base(),
            Request::AddDest(key, dest("192.168.0.3", 80, gre_remcsum)),
            Invalid,
        ),
        (
            "multicast real server",
            base(),
            Request::AddDest(key, dest("224.0.0.5", 80, masq)),
            Invalid,
        ),
        (
            "0.0.0.0 real server",
            base(),
            Request::AddDest(key, dest("0.0.0.0", 80, masq)),
            Invalid,
        ),
        (
            "broadcast real server",
            base(),
            Request::AddDest(key, dest("255.255.255.255", 80, masq)),
            Invalid,
        ),
        (
            "link-local IPv6 real server",
            base(),
            Request::AddDest(key, dest("fe80::1", 80, ipip)),
            Invalid,
        ),
        (
            "timeout above INT_MAX/HZ",
            base(),
            Request::SetTimeouts(Timeouts {
                tcp: validate::MAX_TIMEOUT + 1,
                tcp_fin: 0,
                udp: 0,
            }),
            Invalid,
        ),
        (
            "second master daemon",
            with_sync(),
            Request::StartDaemon(sync(SyncRole::Master)),
            Exists,
        ),
        (
            "daemon with mixed-family dests",
            with_mixed(),
            Request::StartDaemon(sync(SyncRole::Backup)),
            Invalid,
        ),
        (
            "daemon interface name too long",
            base(),
            Request::StartDaemon(sync_ifn_long),
            Invalid,
        ),
        (
            "daemon without interface",
            base(),
            Request::StartDaemon(sync_ifn_empty),
            Invalid,
        ),
        (
            "daemon unicast group",
            base(),
            Request::StartDaemon(sync_unicast_group),
            Invalid,
        ),
        (
            "daemon maxlen too long",
            base(),
            Request::StartDaemon(sync_maxlen),
            Invalid,
        ),
        (
            "stop a daemon that is not running",
            with_sync(),
            Request::StopDaemon(SyncRole::Backup),
            NoService,
        ),
        (
            "listing through dispatch",
            base(),
            Request::GetSnapshot,
            Unsupported,
        ),
        (
            "reload through dispatch",
            base(),
            Request::Reload,
            Unsupported,
        ),
        (
            "batch with one bad request",
            base(),
            Request::Batch(vec![
                Request::AddService(svc(udp_key)),
                Request::SetTimeouts(Timeouts {
                    tcp: 10,
                    tcp_fin: 0,
                    udp: 0,
                }),
                Request::AddService(svc(key)),
            ]),
            Exists,
        ),
        (
            "batch with a listing",
            base(),
            Request::Batch(vec![Request::Flush, Request::GetConnections]),
            Invalid,
        ),
    ];

    for (what, state, request, expected) in cases {
        let mut after = state.clone();
        match after.dispatch(request) {
            Ok(reply) => panic!("{what}: accepted ({reply:?})"),
            Err(e) => assert_eq!(e.kind, expected, "{what}: {}", e.message),
        }
        assert_eq!(after, state, "{what}: a refusal changed the state");
    }
}

/// Addresses the 6.1 kernel accepted and refused as real servers in the lab
/// (`ipvsadm -a ... -m`, lab scenario ctl-errno).
#[test]
fn unicast_real_servers_as_the_lab_kernel_judged_them() {
    for (addr, accepted) in [
        ("0.1.2.3", true),
        ("127.0.0.1", true),
        ("::1", true),
        ("2001:db8::10", true),
        ("0.0.0.0", false),
        ("255.255.255.255", false),
        ("224.0.0.5", false),
        ("fe80::1", false),
        ("ff02::1", false),
        ("::ffff:10.0.0.9", false),
    ] {
        assert_eq!(
            validate::dest_unicast(&ip(addr)).is_ok(),
            accepted,
            "{addr}"
        );
    }
}

#[test]
fn the_longest_timeouts_are_accepted() {
    let mut s = ConfigState::new();
    let max = validate::MAX_TIMEOUT;
    s.dispatch(Request::SetTimeouts(Timeouts {
        tcp: max,
        tcp_fin: max,
        udp: max,
    }))
    .unwrap();
    let mut c = svc(tcp(VIP, 80));
    c.persistence = Some(Persistence {
        timeout: validate::MAX_PERSISTENCE_TIMEOUT,
        prefix_len: 0,
    });
    s.dispatch(Request::AddService(c)).unwrap();
}

#[test]
fn dests_are_listed_most_recent_first_and_dr_takes_the_virtual_port() {
    let mut s = base();
    let key = tcp(VIP, 80);
    s.dispatch(Request::AddDest(
        key,
        dest("192.168.0.3", 8081, ForwardMethod::Route),
    ))
    .unwrap();
    s.dispatch(Request::AddDest(
        key,
        dest("192.168.0.4", 0, ForwardMethod::Tunnel(Tunnel::default())),
    ))
    .unwrap();
    let listed: Vec<_> = s
        .service(&key)
        .unwrap()
        .dests
        .iter()
        .map(|d| (d.addr, d.port))
        .collect();
    assert_eq!(
        listed,
        vec![
            (ip("192.168.0.4"), 80),
            (ip("192.168.0.3"), 80),
            (ip("192.168.0.2"), 8080)
        ]
    );
    // A fwmark service keeps the port given (ipvsadm forces it only for address services).
    let fwm = ServiceKey::Fwmark {
        mark: 7,
        family: Family::V4,
    };
    s.dispatch(Request::AddDest(
        fwm,
        dest("192.168.0.5", 0, ForwardMethod::Route),
    ))
    .unwrap();
    assert_eq!(s.service(&fwm).unwrap().dests[0].port, 0);
}

#[test]
fn mixed_family_is_allowed_for_tunnels_and_blocks_sync() {
    let s = with_mixed();
    assert_eq!(s.mixed_family_dests(), 1);
    let mut s = s;
    s.dispatch(Request::DelDest(tcp(VIP, 80), ip("2001:db8::2"), 80))
        .unwrap();
    s.dispatch(Request::StartDaemon(sync(SyncRole::Backup)))
        .unwrap();
    s.dispatch(Request::StartDaemon(sync(SyncRole::Master)))
        .unwrap();
    let roles: Vec<_> = s.daemons().iter().map(|d| d.role).collect();
    assert_eq!(roles, vec![SyncRole::Master, SyncRole::Backup]);
    s.dispatch(Request::StopDaemon(SyncRole::Master)).unwrap();
    assert!(s.daemon(SyncRole::Master).is_none());
}

#[test]
fn set_timeouts_keeps_the_values_given_as_zero() {
    let mut s = ConfigState::new();
    assert_eq!(
        s.timeouts(),
        Timeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 300
        }
    );
    s.dispatch(Request::SetTimeouts(Timeouts {
        tcp: 0,
        tcp_fin: 30,
        udp: 0,
    }))
    .unwrap();
    assert_eq!(
        s.timeouts(),
        Timeouts {
            tcp: 900,
            tcp_fin: 30,
            udp: 300
        }
    );
}

#[test]
fn edits_replace_in_place_and_deletes_remove() {
    let mut s = base();
    let key = tcp(VIP, 80);
    s.dispatch(Request::AddDest(
        key,
        dest("192.168.0.3", 80, ForwardMethod::Masq),
    ))
    .unwrap();
    let mut heavier = dest("192.168.0.2", 8080, ForwardMethod::Masq);
    heavier.weight = 7;
    s.dispatch(Request::EditDest(key, heavier)).unwrap();
    assert_eq!(
        s.service(&key).unwrap().dests[1],
        heavier,
        "an edit keeps the position"
    );
    let mut rr = svc(key);
    rr.scheduler = SchedulerKind::Rr;
    s.dispatch(Request::EditService(rr.clone())).unwrap();
    assert_eq!(s.service(&key).unwrap().config, rr);
    assert_eq!(
        s.service(&key).unwrap().dests.len(),
        2,
        "an edit keeps the real servers"
    );
    s.dispatch(Request::DelService(key)).unwrap();
    assert!(s.service(&key).is_none());
    s.dispatch(Request::Flush).unwrap();
    assert!(s.services().is_empty());
}

#[test]
fn port_zero_is_fine_when_persistent_and_empty_pe_means_none() {
    let mut s = ConfigState::new();
    let mut c = svc(tcp(VIP, 0));
    c.persistence = Some(Persistence {
        timeout: 360,
        prefix_len: 32,
    });
    c.pe_name = Some(String::new());
    s.dispatch(Request::AddService(c)).unwrap();
    assert_eq!(s.services()[0].config.pe_name, None);
}

#[test]
fn a_good_batch_applies_everything() {
    let mut s = ConfigState::new();
    let key = tcp(VIP, 80);
    s.dispatch(Request::Batch(vec![
        Request::AddService(svc(key)),
        Request::AddDest(key, dest("192.168.0.2", 80, ForwardMethod::Masq)),
        Request::Batch(vec![Request::SetTimeouts(Timeouts {
            tcp: 5,
            tcp_fin: 0,
            udp: 0,
        })]),
    ]))
    .unwrap();
    assert_eq!(s.service(&key).unwrap().dests.len(), 1);
    assert_eq!(s.timeouts().tcp, 5);
}

#[test]
fn services_are_kept_in_key_order() {
    let mut s = ConfigState::new();
    for port in [90, 70, 80] {
        s.dispatch(Request::AddService(svc(tcp(VIP, port))))
            .unwrap();
    }
    let ports: Vec<_> = s
        .services()
        .iter()
        .map(|vs| match vs.config.key {
            ServiceKey::Addr { port, .. } => port,
            ServiceKey::Fwmark { .. } => 0,
        })
        .collect();
    assert_eq!(ports, vec![70, 80, 90]);
}

fn apply(mut s: ConfigState, requests: Vec<Request>) -> ConfigState {
    for r in requests {
        let shown = format!("{r:?}");
        s.dispatch(r)
            .unwrap_or_else(|e| panic!("diff request {shown} refused: {e}"));
    }
    s
}

#[test]
fn diff_of_equal_states_is_empty() {
    assert!(base().diff(&base()).is_empty());
}

#[test]
fn diff_touches_only_what_changed() {
    let from = base();
    let mut to = base();
    let key = tcp(VIP, 80);
    to.dispatch(Request::AddDest(
        key,
        dest("192.168.0.3", 80, ForwardMethod::Masq),
    ))
    .unwrap();
    let d = from.diff(&to);
    assert_eq!(
        d,
        vec![Request::AddDest(
            key,
            dest("192.168.0.3", 80, ForwardMethod::Masq)
        )]
    );
    assert_eq!(apply(from, d), to);
}

#[test]
fn diff_reaches_the_other_state() {
    let key = tcp(VIP, 80);
    let fwm = ServiceKey::Fwmark {
        mark: 7,
        family: Family::V4,
    };
    let masq = ForwardMethod::Masq;
    let mut from = with_sync();
    for n in 2..6 {
        from.dispatch(Request::AddDest(
            fwm,
            dest(&format!("192.168.1.{n}"), 0, masq),
        ))
        .unwrap();
    }
    // The other state: reordered, edited, removed and new real servers; a service
    // gone, one new, one edited; other timeouts; the master daemon swapped for a backup.
    let mut to = ConfigState::new();
    let mut rr = svc(fwm);
    rr.scheduler = SchedulerKind::Rr;
    let mut heavy = dest("192.168.1.4", 0, masq);
    heavy.weight = 9;
    let mut reqs = vec![
        Request::AddService(rr),
        Request::AddDest(fwm, dest("192.168.1.2", 0, masq)),
        Request::AddDest(fwm, heavy),
        Request::AddDest(fwm, dest("192.168.1.3", 0, masq)),
        Request::AddDest(fwm, dest("192.168.1.9", 0, masq)),
        Request::AddService(svc(tcp(VIP, 443))),
        Request::AddDest(
            tcp(VIP, 443),
            dest("2001:db8::7", 443, ForwardMethod::Tunnel(Tunnel::default())),
        ),
        Request::AddDest(
            tcp(VIP, 443),
            dest("192.168.0.7", 443, ForwardMethod::Route),
        ),
        Request::SetTimeouts(Timeouts {
            tcp: 100,
            tcp_fin: 0,
            udp: 0,
        }),
    ];
    to.dispatch(Request::Batch(std::mem::take(&mut reqs)))
        .unwrap();
    let d = from.diff(&to);
    assert!(d.contains(&Request::DelService(key)));
    assert!(d.contains(&Request::StopDaemon(SyncRole::Master)));
    assert_eq!(apply(from.clone(), d), to);
    // And back again, which restarts the daemon after the mixed-family server is gone.
    assert_eq!(apply(to.clone(), to.diff(&from)), from);
}

/// A small deterministic generator (no dependency needed): states built from random
/// requests, refused ones skipped, then diffs checked both ways.
#[test]
fn diff_property_over_generated_states() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let keys = [
        tcp(VIP, 80),
        tcp(VIP, 81),
        ServiceKey::Fwmark {
            mark: 3,
            family: Family::V4,
        },
    ];
    let methods = [
        ForwardMethod::Masq,
        ForwardMethod::Route,
        ForwardMethod::FullNat,
    ];
    let random_state = |next: &mut dyn FnMut(u64) -> u64| {
        let mut s = ConfigState::new();
        for _ in 0..30 {
            let key = keys[next(3) as usize];
            let mut d = dest(
                &format!("192.168.0.{}", 2 + next(5)),
                80 + next(2) as u16,
                methods[next(3) as usize],
            );
            d.weight = next(4) as u32;
            let role = [SyncRole::Master, SyncRole::Backup][next(2) as usize];
            let port = 80 + next(3) as u16;
            let rule = FwmarkRule {
                mark: 3,
                family: Family::V4,
                proto: Some(Protocol::Tcp),
                dst: rvs_core::model::Prefix::new(ip(VIP), 32),
                dst_ports: Some((port, port)),
                src: None,
            };
            let r = match next(12) {
                10 => Request::AddFwmarkRule(rule),
                11 => Request::DelFwmarkRule(rule),
                0 => Request::AddService(svc(key)),
                1 => {
                    let mut c = svc(key);
                    c.scheduler = SchedulerKind::ALL[next(14) as usize];
                    Request::EditService(c)
                }
                2 | 3 => Request::AddDest(key, d),
                4 => Request::EditDest(key, d),
                5 => Request::DelDest(key, d.addr, d.port),
                6 => Request::SetTimeouts(Timeouts {
                    tcp: next(3) as u32 * 100,
                    tcp_fin: 0,
                    udp: next(2) as u32 * 50,
                }),
                7 => Request::StartDaemon(sync(role)),
                8 => Request::StopDaemon(role),
                // A tunnelled IPv6 real server: mixed family, refused while syncing.
                _ => Request::AddDest(
                    key,
                    dest("2001:db8::9", 80, ForwardMethod::Tunnel(Tunnel::default())),
                ),
            };
            let before = s.clone();
            if s.dispatch(r).is_err() {
                assert_eq!(s, before, "a refused request changed the state");
            }
        }
        s
    };
    let mut requests = 0;
    for _ in 0..200 {
        let a = random_state(&mut next);
        let b = random_state(&mut next);
        requests += a.diff(&b).len();
        assert_eq!(apply(a.clone(), a.diff(&b)), b);
        assert_eq!(apply(b.clone(), b.diff(&a)), a);
    }
    assert!(
        requests > 1000,
        "the generated states are too alike ({requests})"
    );
}
