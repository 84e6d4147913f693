//! The connection table driven with an injected clock: lookups in both directions,
//! state changes with their accounting, timeouts and expiry, templates, the full-table
//! policy, and the memory an entry costs.

use core::net::IpAddr;
use rvs_core::conn::reuse::{self, DestStatus, ReuseDecision, ReusePolicy};
use rvs_core::conn::tcp::TcpFlags;
use rvs_core::conn::{
    ConnFlags, ConnState, ConnTable, ConnTableConfig, DestCounters, Direction, Endpoint, InKey,
    InsertError, NewConn, OutKey, PacketEvent, SyncOutcome, SyncedState,
};
use rvs_core::model::{ForwardMethod, Timeouts, Tunnel};
use rvs_core::time::Instant;
use std::sync::{Arc, Mutex};

fn ep(s: &str) -> Endpoint {
    let (a, p) = s.rsplit_once(':').unwrap();
    let a = a.trim_start_matches('[').trim_end_matches(']');
    Endpoint::new(a.parse::<IpAddr>().unwrap(), p.parse().unwrap())
}

fn secs(s: u64) -> Instant {
    Instant::from_millis(s * 1000)
}

fn tcp(bits: u8) -> PacketEvent {
    PacketEvent::Tcp(TcpFlags::from_bits(bits))
}
const SYN: u8 = 0x02;
const SYNACK: u8 = 0x12;
const ACK: u8 = 0x10;
const FINACK: u8 = 0x11;

fn table(max: usize, shards: usize) -> ConnTable {
    ConnTable::new(ConnTableConfig {
        max_entries: max,
        shards,
    })
    .unwrap()
}

fn new_conn(proto: u8, client: &str, method: ForwardMethod, dest: &Arc<DestCounters>) -> NewConn {
    let mut n = NewConn::scheduled(
        proto,
        ep(client),
        ep("10.0.0.100:80"),
        ep("10.0.2.11:8080"),
        method,
    );
    n.counters = Some(dest.clone());
    n.service = 1;
    n.dest_id = 7;
    n
}

fn in_key(proto: u8, client: &str) -> InKey {
    InKey {
        proto,
        client: ep(client),
        virt: ep("10.0.0.100:80"),
    }
}

#[test]
fn nat_tcp_lifecycle_with_accounting_and_expiry() {
    let t = table(1024, 4);
    let d = Arc::new(DestCounters::new(0, 0));
    let c = t
        .insert(
            new_conn(6, "10.1.0.1:20000", ForwardMethod::Masq, &d),
            secs(0),
        )
        .unwrap();
    assert_eq!(c.state, ConnState::Tcp(rvs_core::conn::tcp::TcpState::None));
    assert!(c.flags.is_inactive() && !c.flags.no_output());
    assert_eq!(
        (d.snapshot().active, d.snapshot().inactive),
        (0, 1),
        "new entries start inactive"
    );
    assert_eq!(c.timeout_ms, 3000);

    let (c, tr) = t.on_packet(c.id, Direction::In, tcp(SYN), secs(0)).unwrap();
    assert_eq!(c.state.name(), "SYN_RECV");
    assert!(tr.activity.is_some());
    assert_eq!(
        (d.snapshot().active, d.snapshot().inactive),
        (1, 0),
        "SYN_RECV is active in 6.1"
    );
    assert_eq!(c.timeout_ms, 60_000);

    // The reply comes back through the director: found by its out-key.
    let out = OutKey {
        proto: 6,
        server: ep("10.0.2.11:8080"),
        client: ep("10.1.0.1:20000"),
    };
    let (c, _) = t.process_out(&out, tcp(SYNACK), secs(1)).unwrap();
    assert_eq!(c.state.name(), "SYN_RECV");
    let (c, _) = t
        .process_in(&in_key(6, "10.1.0.1:20000"), tcp(ACK), secs(1))
        .unwrap();
    assert_eq!(c.state.name(), "ESTABLISHED");
    assert_eq!(c.expires, secs(901));
    let (c, _) = t
        .process_in(&in_key(6, "10.1.0.1:20000"), tcp(FINACK), secs(2))
        .unwrap();
    assert_eq!(c.state.name(), "CLOSE_WAIT");
    assert_eq!((d.snapshot().active, d.snapshot().inactive), (0, 1));
    let (c, _) = t.process_out(&out, tcp(FINACK), secs(2)).unwrap();
    assert_eq!(c.state.name(), "TIME_WAIT");
    assert_eq!(c.expires, secs(122));

    // Still there just before its timer runs out, gone at the deadline.
    let just_before = Instant::from_millis(122_000 - 1);
    assert!(t
        .lookup_in(&in_key(6, "10.1.0.1:20000"), just_before)
        .is_some());
    assert!(t
        .lookup_in(&in_key(6, "10.1.0.1:20000"), secs(122))
        .is_none());
    assert_eq!(t.len(), 0);
    assert_eq!(d.snapshot(), Default::default(), "unbound on expiry");
    assert_eq!(t.counters().expired, 1);
}

#[test]
fn dr_uses_input_only_table_and_has_no_out_key() {
    let t = table(1024, 4);
    let d = Arc::new(DestCounters::new(0, 0));
    let c = t
        .insert(
            new_conn(6, "10.1.0.2:20000", ForwardMethod::Route, &d),
            secs(0),
        )
        .unwrap();
    assert!(c.flags.no_output());
    let k = in_key(6, "10.1.0.2:20000");
    assert_eq!(
        t.process_in(&k, tcp(SYN), secs(0)).unwrap().0.state.name(),
        "SYN_RECV"
    );
    assert_eq!(
        t.process_in(&k, tcp(ACK), secs(0)).unwrap().0.state.name(),
        "ESTABLISHED"
    );
    let (c, _) = t.process_in(&k, tcp(FINACK), secs(0)).unwrap();
    assert_eq!(
        c.state.name(),
        "FIN_WAIT",
        "input-only: FIN from ES goes to FIN_WAIT"
    );
    assert_eq!(c.timeout_ms, 120_000);
    let out = OutKey {
        proto: 6,
        server: ep("10.0.2.11:8080"),
        client: ep("10.1.0.2:20000"),
    };
    assert!(
        t.lookup_out(&out, secs(0)).is_none(),
        "no reply path for DR"
    );
    // TUN too.
    let c = t
        .insert(
            new_conn(
                6,
                "10.1.0.3:1",
                ForwardMethod::Tunnel(Tunnel::default()),
                &d,
            ),
            secs(0),
        )
        .unwrap();
    assert!(c.flags.no_output());
}

#[test]
fn udp_has_one_state_and_stays_inactive() {
    let t = table(64, 1);
    let d = Arc::new(DestCounters::new(0, 0));
    let c = t
        .insert(
            new_conn(17, "10.1.0.4:5353", ForwardMethod::Masq, &d),
            secs(0),
        )
        .unwrap();
    let (c2, tr) = t
        .on_packet(c.id, Direction::In, PacketEvent::Udp, secs(0))
        .unwrap();
    assert_eq!(c2.state.name(), "UDP");
    assert_eq!(tr.activity, None);
    assert_eq!(c2.timeout_ms, 300_000);
    assert_eq!(d.snapshot().inactive, 1);
    t.set_timeouts(Timeouts {
        tcp: 0,
        tcp_fin: 0,
        udp: 10,
    });
    let (c3, _) = t
        .on_packet(c.id, Direction::In, PacketEvent::Udp, secs(1))
        .unwrap();
    assert_eq!(c3.expires, secs(11), "--set udp applies at the next packet");
    assert_eq!(
        t.timeouts().get(),
        Timeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 10
        }
    );
}

#[test]
fn set_timeouts_changes_established_and_fin_wait() {
    let t = table(64, 1);
    t.set_timeouts(Timeouts {
        tcp: 100,
        tcp_fin: 7,
        udp: 0,
    });
    let d = Arc::new(DestCounters::new(0, 0));
    let c = t
        .insert(
            new_conn(6, "10.1.0.5:1000", ForwardMethod::Route, &d),
            secs(0),
        )
        .unwrap();
    t.on_packet(c.id, Direction::In, tcp(SYN), secs(0));
    let (c, _) = t.on_packet(c.id, Direction::In, tcp(ACK), secs(0)).unwrap();
    assert_eq!(c.timeout_ms, 100_000);
    let (c, _) = t
        .on_packet(c.id, Direction::In, tcp(FINACK), secs(0))
        .unwrap();
    assert_eq!(c.timeout_ms, 7_000);
}

#[test]
fn ipv6_entries_and_duplicates() {
    let t = table(64, 2);
    let d = Arc::new(DestCounters::new(0, 0));
    let mut n = NewConn::scheduled(
        6,
        ep("[2001:db8::1]:40000"),
        ep("[2001:db8::100]:443"),
        ep("[2001:db8:2::11]:443"),
        ForwardMethod::Masq,
    );
    n.counters = Some(d.clone());
    let c = t.insert(n.clone(), secs(0)).unwrap();
    assert_eq!(t.insert(n.clone(), secs(0)), Err(InsertError::Exists(c.id)));
    let k = InKey {
        proto: 6,
        client: ep("[2001:db8::1]:40000"),
        virt: ep("[2001:db8::100]:443"),
    };
    assert_eq!(t.lookup_in(&k, secs(1)).unwrap().id, c.id);
    let out = OutKey {
        proto: 6,
        server: ep("[2001:db8:2::11]:443"),
        client: ep("[2001:db8::1]:40000"),
    };
    assert_eq!(
        t.lookup_out(&out, secs(1)).unwrap().dest,
        ep("[2001:db8:2::11]:443")
    );
    // Other protocol, same addresses: a different connection.
    assert!(t.lookup_in(&InKey { proto: 17, ..k }, secs(1)).is_none());
    // Mixed families between client and virtual address are refused.
    let mut bad = n.clone();
    bad.virt = ep("10.0.0.1:443");
    assert_eq!(t.insert(bad, secs(0)), Err(InsertError::FamilyMismatch));
    // Once expired (3 s without a packet), the same key can be inserted again.
    assert!(t.insert(n, secs(3)).is_ok());
}

#[test]
fn fullnat_replies_are_found_by_local_endpoint() {
    let t = table(1024, 8);
    let d = Arc::new(DestCounters::new(0, 0));
    let client = ep("10.1.0.9:33333");
    let mut n = NewConn::scheduled(
        6,
        client,
        ep("10.0.0.100:80"),
        ep("192.168.5.5:80"),
        ForwardMethod::FullNat,
    );
    n.counters = Some(d.clone());
    assert_eq!(t.insert(n.clone(), secs(0)), Err(InsertError::MissingLocal));
    let laddr: IpAddr = "10.0.2.1".parse().unwrap();
    let want = t.shard_of(client.addr, client.port);
    let bad = (1024..65535)
        .find(|p| t.shard_of(laddr, *p) != want)
        .unwrap();
    n.local = Some(Endpoint::new(laddr, bad));
    assert_eq!(
        t.insert(n.clone(), secs(0)),
        Err(InsertError::LocalShardMismatch)
    );
    let good = (1024..65535)
        .find(|p| t.shard_of(laddr, *p) == want)
        .unwrap();
    n.local = Some(Endpoint::new(laddr, good));
    let c = t.insert(n, secs(0)).unwrap();
    assert_eq!(c.local, Some(Endpoint::new(laddr, good)));
    assert!(!c.flags.no_output());
    let out = OutKey {
        proto: 6,
        server: ep("192.168.5.5:80"),
        client: Endpoint::new(laddr, good),
    };
    assert_eq!(t.lookup_out(&out, secs(0)).unwrap().id, c.id);
    let by_client = OutKey { client, ..out };
    assert!(t.lookup_out(&by_client, secs(0)).is_none());
}

#[test]
fn full_table_reclaims_expired_then_refuses() {
    let t = table(4, 1);
    let d = Arc::new(DestCounters::new(0, 0));
    for i in 0..4 {
        t.insert(
            new_conn(17, &format!("10.1.1.{i}:1000"), ForwardMethod::Route, &d),
            secs(0),
        )
        .unwrap();
    }
    let fifth = new_conn(17, "10.1.1.200:1000", ForwardMethod::Route, &d);
    assert_eq!(t.insert(fifth.clone(), secs(1)), Err(InsertError::Full));
    assert_eq!(t.counters().refused_full, 1);
    assert_eq!(t.len(), 4);
    assert_eq!(d.snapshot().inactive, 4, "a refused insert changes nothing");
    // At 3 s the initial 3-second timeouts have run out: the insert reclaims them.
    assert!(t.insert(fifth, secs(3)).is_ok());
    assert_eq!(t.len(), 1);
    assert_eq!(t.counters().expired, 4);
    assert_eq!(d.snapshot().inactive, 1);
}

#[test]
fn sweep_reports_expired_entries_through_the_hook() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let t = ConnTable::with_hook(
        ConnTableConfig {
            max_entries: 4096,
            shards: 4,
        },
        Some(Box::new(move |c| s2.lock().unwrap().push(c.client))),
    )
    .unwrap();
    let d = Arc::new(DestCounters::new(0, 0));
    for i in 0..100u16 {
        let c = t
            .insert(
                new_conn(
                    17,
                    &format!("10.1.2.{}:{}", i % 250, 1000 + i),
                    ForwardMethod::Masq,
                    &d,
                ),
                secs(0),
            )
            .unwrap();
        if i % 2 == 0 {
            // Half of them see a packet: 300 s UDP timeout instead of 3 s.
            t.on_packet(c.id, Direction::In, PacketEvent::Udp, secs(0));
        }
    }
    assert_eq!(t.expire(secs(2), 10_000), 0);
    let removed = t.expire(secs(3), 10_000);
    assert_eq!(removed, 50);
    assert_eq!(seen.lock().unwrap().len(), 50);
    assert_eq!(t.len(), 50);
    assert_eq!(d.snapshot().inactive, 50);
    // A small budget makes progress across calls.
    let mut total = 0;
    for _ in 0..1000 {
        total += t.expire(secs(300), 8);
    }
    assert_eq!(total, 50);
    assert!(t.is_empty());
}

#[test]
fn templates_outlive_their_timeout_while_controlling() {
    let t = table(1024, 4);
    let d = Arc::new(DestCounters::new(0, 0));
    let key = InKey {
        proto: 6,
        client: ep("10.1.3.0:0"),
        virt: ep("10.0.0.100:80"),
    };
    let mut tn = NewConn::scheduled(
        6,
        key.client,
        key.virt,
        ep("10.0.2.11:80"),
        ForwardMethod::Masq,
    );
    tn.template = true;
    tn.timeout_ms = Some(360_000);
    tn.counters = Some(d.clone());
    let tpl = t.insert(tn, secs(0)).unwrap();
    assert_eq!(tpl.state.name(), "NONE");
    assert_eq!(d.snapshot().persistent, 1);
    assert!(
        t.lookup_in(&key, secs(0)).is_none(),
        "templates are not connections"
    );
    assert_eq!(t.lookup_template(&key, secs(0)).unwrap().id, tpl.id);

    // A connection scheduled through the template at t=100 restarts its timer.
    let mut n = new_conn(6, "10.1.3.7:5555", ForwardMethod::Masq, &d);
    n.control = Some(tpl.id);
    let c = t.insert(n, secs(100)).unwrap();
    let tpl_now = t.get(tpl.id).unwrap();
    assert_eq!((tpl_now.n_control, tpl_now.expires), (1, secs(460)));
    t.on_packet(c.id, Direction::In, tcp(SYN), secs(100));
    t.on_packet(c.id, Direction::In, tcp(ACK), secs(130)); // ES until 1030 s

    // At 460 s the template's timer runs out while it controls a connection: the
    // kernel re-arms it with 60 s (expire_later), for the rest of its life.
    assert!(t.lookup_template(&key, secs(460)).is_some());
    let tpl_now = t.get(tpl.id).unwrap();
    assert_eq!((tpl_now.expires, tpl_now.timeout_ms), (secs(520), 60_000));
    assert!(
        !t.expire_now(tpl.id),
        "a controlling template is not expired"
    );
    // The chain of 60 s re-arms continues while nobody looks: 520, 580, ... 1060.
    assert_eq!(t.expire(secs(1029), 10_000), 0);
    // The connection ends at 1030 s; the template then lives to its next deadline.
    assert_eq!(t.expire(secs(1030), 10_000), 1);
    let tpl_now = t.get(tpl.id).unwrap();
    assert_eq!((tpl_now.n_control, tpl_now.expires), (0, secs(1060)));
    assert!(t
        .lookup_template(&key, Instant::from_millis(1_060_000 - 1))
        .is_some());
    assert!(t.lookup_template(&key, secs(1060)).is_none());
    assert_eq!(d.snapshot(), Default::default());
}

#[test]
fn invalidated_template_is_not_found_but_stays_listed() {
    let t = table(64, 1);
    let key = InKey {
        proto: 0,
        client: ep("10.1.4.0:0"),
        virt: ep("0.0.0.5:0"),
    };
    let mut tn = NewConn::scheduled(
        0,
        key.client,
        key.virt,
        ep("10.0.2.12:0"),
        ForwardMethod::Route,
    );
    tn.template = true;
    tn.fwmark = 5;
    tn.timeout_ms = Some(60_000);
    let tpl = t.insert(tn, secs(0)).unwrap();
    assert!(t.invalidate_template(tpl.id));
    assert!(t.lookup_template(&key, secs(1)).is_none());
    let mut listed = 0;
    t.for_each(|c| {
        assert!(c.is_template());
        listed += 1;
    });
    assert_eq!(listed, 1);
    assert_eq!(t.expire(secs(60), 100), 1);
}

#[test]
fn remove_where_flushes_a_real_server() {
    let t = table(256, 4);
    let d = Arc::new(DestCounters::new(0, 0));
    for i in 0..40u16 {
        let mut n = new_conn(
            17,
            &format!("10.1.5.{}:{}", i, 2000 + i),
            ForwardMethod::Masq,
            &d,
        );
        n.dest_id = u32::from(i % 2);
        t.insert(n, secs(0)).unwrap();
    }
    assert_eq!(t.remove_where(|c| c.dest_id == 1), 20);
    assert_eq!(t.len(), 20);
    assert_eq!(d.snapshot().inactive, 20);
}

#[test]
fn conn_reuse_mode_and_expire_nodest_conn() {
    let t = table(64, 1);
    let d = Arc::new(DestCounters::new(0, 0));
    let up = Some(DestStatus {
        available: true,
        weight: 1,
    });
    let policy = ReusePolicy::default();
    // NAT entry in TIME_WAIT + new SYN: rescheduled.
    let c = t
        .insert(new_conn(6, "10.1.6.1:1", ForwardMethod::Masq, &d), secs(0))
        .unwrap();
    t.on_packet(c.id, Direction::In, tcp(SYN), secs(0));
    t.on_packet(c.id, Direction::In, tcp(ACK), secs(0));
    t.on_packet(c.id, Direction::Out, tcp(FINACK), secs(0)); // ES -out fin-> FIN_WAIT
    let (c, _) = t
        .on_packet(c.id, Direction::In, tcp(FINACK), secs(0))
        .unwrap(); // -> TIME_WAIT
    assert_eq!(c.state.name(), "TIME_WAIT");
    assert_eq!(
        reuse::decide(&c, tcp(SYN), up, policy),
        ReuseDecision::Reschedule
    );
    assert_eq!(reuse::decide(&c, tcp(ACK), up, policy), ReuseDecision::Keep);
    assert_eq!(
        reuse::decide(
            &c,
            tcp(SYN),
            up,
            ReusePolicy {
                conn_reuse_mode: 0,
                ..policy
            }
        ),
        ReuseDecision::Keep
    );

    // DR entry in FIN_WAIT: only with bit 2.
    let c = t
        .insert(new_conn(6, "10.1.6.2:1", ForwardMethod::Route, &d), secs(0))
        .unwrap();
    t.on_packet(c.id, Direction::In, tcp(SYN), secs(0));
    t.on_packet(c.id, Direction::In, tcp(ACK), secs(0));
    let (c, _) = t
        .on_packet(c.id, Direction::In, tcp(FINACK), secs(0))
        .unwrap();
    assert_eq!(c.state.name(), "FIN_WAIT");
    assert_eq!(reuse::decide(&c, tcp(SYN), up, policy), ReuseDecision::Keep);
    assert_eq!(
        reuse::decide(
            &c,
            tcp(SYN),
            up,
            ReusePolicy {
                conn_reuse_mode: 3,
                ..policy
            }
        ),
        ReuseDecision::Reschedule
    );

    // ESTABLISHED with a quiesced server: rescheduled only with expire_nodest_conn.
    let c = t
        .insert(new_conn(6, "10.1.6.3:1", ForwardMethod::Masq, &d), secs(0))
        .unwrap();
    let (c, _) = t.on_packet(c.id, Direction::In, tcp(SYN), secs(0)).unwrap();
    let quiesced = Some(DestStatus {
        available: true,
        weight: 0,
    });
    assert_eq!(
        reuse::decide(&c, tcp(SYN), quiesced, policy),
        ReuseDecision::Keep
    );
    let nodest = ReusePolicy {
        expire_nodest_conn: true,
        ..policy
    };
    assert_eq!(
        reuse::decide(&c, tcp(SYN), quiesced, nodest),
        ReuseDecision::Reschedule
    );
    // Real server removed: drop, or expire and reschedule with expire_nodest_conn.
    let gone = Some(DestStatus {
        available: false,
        weight: 1,
    });
    assert_eq!(
        reuse::decide(&c, tcp(ACK), gone, policy),
        ReuseDecision::Drop
    );
    assert_eq!(
        reuse::decide(&c, tcp(ACK), gone, nodest),
        ReuseDecision::Reschedule
    );
    assert!(t.expire_now(c.id));
    assert!(t.get(c.id).is_none());
}

#[test]
fn thresholds_follow_bind_and_unbind() {
    let t = table(64, 1);
    let d = Arc::new(DestCounters::new(4, 0));
    let mut ids = Vec::new();
    for i in 0..4 {
        assert!(!d.snapshot().overloaded);
        ids.push(
            t.insert(
                new_conn(17, &format!("10.1.7.{i}:9"), ForwardMethod::Masq, &d),
                secs(0),
            )
            .unwrap()
            .id,
        );
    }
    assert!(
        d.snapshot().overloaded,
        "active+inactive reached u_threshold"
    );
    // No lower threshold: clears below 3/4 of the upper one (total*4 < u*3, i.e. < 3).
    t.expire_now(ids.pop().unwrap());
    assert!(d.snapshot().overloaded, "3 conns: 12 < 12 is false");
    t.expire_now(ids.pop().unwrap());
    assert!(!d.snapshot().overloaded);
}

#[test]
fn memory_per_entry() {
    let size = ConnTable::entry_size();
    let t = table(1 << 16, 16);
    let per_entry = t.reserved_bytes() as f64 / (1 << 16) as f64;
    println!(
        "entry {size} bytes; reserved {per_entry:.1} bytes per entry (slab + free list + index)"
    );
    assert!(size <= 128, "entry grew to {size} bytes");
    assert!(per_entry <= 200.0, "{per_entry} bytes per entry");
}

#[test]
fn template_overdue_when_its_connection_ends_lives_on_the_rearm_chain() {
    // Nobody looks at the template while its connection runs: when the connection is
    // swept, the template's deadline is moved along the kernel's 60 s re-arm chain.
    let t = table(64, 1);
    let key = InKey {
        proto: 17,
        client: ep("10.1.8.0:0"),
        virt: ep("10.0.0.100:53"),
    };
    let mut tn = NewConn::scheduled(
        17,
        key.client,
        key.virt,
        ep("10.0.2.11:53"),
        ForwardMethod::Masq,
    );
    tn.template = true;
    tn.timeout_ms = Some(10_000);
    let tpl = t.insert(tn, secs(0)).unwrap();
    let mut n = NewConn::scheduled(
        17,
        ep("10.1.8.1:999"),
        key.virt,
        ep("10.0.2.11:53"),
        ForwardMethod::Masq,
    );
    n.control = Some(tpl.id);
    let c = t.insert(n, secs(0)).unwrap();
    t.on_packet(c.id, Direction::In, PacketEvent::Udp, secs(0)); // 300 s
                                                                 // Template deadline 10 s, re-armed 70, 130, 190, 250, 310; connection ends at 300.
                                                                 // Sweep only the connection's deadline: the template must survive to 310 s.
    assert!(t
        .lookup_in(
            &InKey {
                proto: 17,
                client: ep("10.1.8.1:999"),
                virt: key.virt
            },
            secs(300)
        )
        .is_none());
    assert_eq!(t.get(tpl.id).unwrap().expires, secs(310));
    assert!(t.lookup_template(&key, secs(309)).is_some());
    assert!(t.lookup_template(&key, secs(310)).is_none());
}

fn synced(
    client: &str,
    dest: &str,
    state: ConnState,
    inactive: bool,
    d: &Arc<DestCounters>,
) -> NewConn {
    let mut n = NewConn::scheduled(
        6,
        ep(client),
        ep("10.0.0.100:80"),
        ep(dest),
        ForwardMethod::Route,
    );
    n.counters = Some(d.clone());
    n.synced = Some(SyncedState {
        state,
        flags: ConnFlags(if inactive { ConnFlags::INACTIVE } else { 0 } | ConnFlags::DROUTE),
    });
    n
}

#[test]
fn sync_messages_create_update_and_replace_entries() {
    use rvs_core::conn::tcp::TcpState;
    let t = table(64, 2);
    let d = Arc::new(DestCounters::new(0, 0));
    let mut n = synced(
        "10.1.9.1:4000",
        "10.0.2.11:80",
        ConnState::Tcp(TcpState::Established),
        false,
        &d,
    );
    n.timeout_ms = Some(850_000);
    let c = match t.sync_apply(n, secs(10)).unwrap() {
        SyncOutcome::Created(c) => c,
        other => panic!("{other:?}"),
    };
    assert!(c.flags.has(ConnFlags::SYNC) && c.flags.no_output() && !c.flags.is_inactive());
    assert_eq!((c.state.name(), c.expires), ("ESTABLISHED", secs(860)));
    assert_eq!((d.snapshot().active, d.snapshot().inactive), (1, 0));

    // The master says it is now in FIN_WAIT (inactive), without a timeout (v0).
    let n = synced(
        "10.1.9.1:4000",
        "10.0.2.11:80",
        ConnState::Tcp(TcpState::FinWait),
        true,
        &d,
    );
    let c = match t.sync_apply(n, secs(20)).unwrap() {
        SyncOutcome::Updated(c) => c,
        other => panic!("{other:?}"),
    };
    assert_eq!((c.state.name(), c.expires), ("FIN_WAIT", secs(140)));
    assert_eq!((d.snapshot().active, d.snapshot().inactive), (0, 1));

    // A late "ended" message for another real server is ignored...
    let n = synced(
        "10.1.9.1:4000",
        "10.0.2.12:80",
        ConnState::Tcp(TcpState::TimeWait),
        true,
        &d,
    );
    assert_eq!(t.sync_apply(n, secs(21)).unwrap(), SyncOutcome::Ignored);
    // ...an active one replaces the entry.
    let n = synced(
        "10.1.9.1:4000",
        "10.0.2.12:80",
        ConnState::Tcp(TcpState::Established),
        false,
        &d,
    );
    let c = match t.sync_apply(n, secs(22)).unwrap() {
        SyncOutcome::Created(c) => c,
        other => panic!("{other:?}"),
    };
    assert_eq!(c.dest, ep("10.0.2.12:80"));
    assert_eq!(t.len(), 1);
    assert_eq!((d.snapshot().active, d.snapshot().inactive), (1, 0));

    // A template without a timeout gets 3 minutes.
    let mut tn = synced("10.1.9.0:0", "10.0.2.12:80", ConnState::Template, false, &d);
    tn.template = true;
    let c = match t.sync_apply(tn, secs(30)).unwrap() {
        SyncOutcome::Created(c) => c,
        other => panic!("{other:?}"),
    };
    assert_eq!((c.is_template(), c.expires), (true, secs(210)));
    assert_eq!(d.snapshot().persistent, 1);
}

#[test]
fn listing_rows() {
    let t = table(64, 1);
    let d = Arc::new(DestCounters::new(0, 0));
    let c = t
        .insert(
            new_conn(17, "10.1.10.1:53", ForwardMethod::Masq, &d),
            secs(0),
        )
        .unwrap();
    let (c, _) = t
        .on_packet(c.id, Direction::In, PacketEvent::Udp, secs(0))
        .unwrap();
    let row = c.to_status(secs(100));
    assert_eq!(
        (row.state.as_str(), row.expires_ms, row.ip_proto),
        ("UDP", 200_000, 17)
    );
    assert_eq!(
        (row.client_port, row.virt_port, row.dest_port),
        (53, 80, 8080)
    );
}

#[test]
fn workers_share_the_table_without_losing_accounting() {
    // Four threads insert, look up in both directions, link to shared templates and
    // expire, all at once; at the end every counter must be back to zero.
    let t = Arc::new(table(1 << 14, 8));
    let d = Arc::new(DestCounters::new(0, 0));
    let key = |w: u32| InKey {
        proto: 6,
        client: Endpoint::new(IpAddr::from([10, 9, w as u8, 0]), 0),
        virt: ep("10.0.0.100:80"),
    };
    // One template per worker, controlling that worker's connections.
    let mut tpls = Vec::new();
    for w in 0..4u32 {
        let k = key(w);
        let mut tn =
            NewConn::scheduled(6, k.client, k.virt, ep("10.0.2.11:80"), ForwardMethod::Masq);
        tn.template = true;
        // Longer than the run: each thread has its own clock, and one thread's sweep at
        // its later `now` must not take another's template while it is briefly unused.
        tn.timeout_ms = Some(100_000);
        tn.counters = Some(d.clone());
        tpls.push(t.insert(tn, secs(0)).unwrap().id);
    }
    let handles: Vec<_> = (0..4u32)
        .map(|w| {
            let (t, d, tpl) = (t.clone(), d.clone(), tpls[w as usize]);
            std::thread::spawn(move || {
                for i in 0..5_000u32 {
                    // The threads' clocks drift apart as they run: kept within 1.25 s of
                    // each other, less than a new entry's first timeout (state NONE,
                    // 2 s), so that one thread's sweep cannot take another's entry
                    // between its insertion and its first packet.
                    let now = Instant::from_millis(u64::from(i / 4));
                    let client = Endpoint::new(
                        IpAddr::from([10, 8, w as u8, (i % 200) as u8]),
                        1024 + (i / 200) as u16,
                    );
                    let mut n = NewConn::scheduled(
                        6,
                        client,
                        ep("10.0.0.100:80"),
                        ep("10.0.2.11:8080"),
                        ForwardMethod::Masq,
                    );
                    n.counters = Some(d.clone());
                    n.control = Some(tpl);
                    let c = t.insert(n, now).expect("room");
                    t.on_packet(c.id, Direction::In, tcp(SYN), now).unwrap();
                    let out = OutKey {
                        proto: 6,
                        server: ep("10.0.2.11:8080"),
                        client,
                    };
                    assert!(t.process_out(&out, tcp(SYNACK), now).is_some());
                    if i % 3 == 0 {
                        assert!(t.expire_now(c.id));
                    }
                    t.expire(now, 64);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let s = d.snapshot();
    assert_eq!(s.persistent, 4);
    assert_eq!(u64::from(s.active + s.inactive), t.len() as u64 - 4);
    // Everything ends: SYN_RECV entries time out after 60 s, then the templates.
    t.expire(secs(100), 1 << 20);
    t.expire(secs(1000), 1 << 20);
    assert!(t.is_empty(), "{} left", t.len());
    assert_eq!(d.snapshot(), Default::default());
}

#[test]
fn secure_tcp_waits_for_the_server_before_established() {
    let t = table(64, 1);
    t.set_secure_tcp(true);
    let d = Arc::new(DestCounters::new(0, 0));
    let c = t
        .insert(new_conn(6, "10.1.11.1:1", ForwardMethod::Masq, &d), secs(0))
        .unwrap();
    let k = in_key(6, "10.1.11.1:1");
    let out = OutKey {
        proto: 6,
        server: ep("10.0.2.11:8080"),
        client: ep("10.1.11.1:1"),
    };
    let step = |dir, bits| match dir {
        Direction::In => t.process_in(&k, tcp(bits), secs(0)).unwrap().0.state.name(),
        Direction::Out => t
            .process_out(&out, tcp(bits), secs(0))
            .unwrap()
            .0
            .state
            .name(),
    };
    assert_eq!(t.get(c.id).unwrap().state.name(), "NONE");
    assert_eq!(step(Direction::In, SYN), "SYN_RECV");
    assert_eq!(
        step(Direction::In, ACK),
        "SYN_RECV",
        "a client ACK alone proves nothing"
    );
    assert_eq!(step(Direction::Out, SYNACK), "SYNACK");
    assert_eq!(step(Direction::In, ACK), "SYNACK");
    assert_eq!(step(Direction::Out, ACK), "ESTABLISHED");
    t.set_secure_tcp(false);
    assert!(!t.secure_tcp());
}

#[test]
fn half_open_entries_count_as_active_like_linux_6_1() {
    // Observed on the lab's Linux 6.1.0-56 (scenario conn-states.sh): a client SYN the
    // real server never answers leaves the entry in SYN_RECV for 60 s, counted in
    // ActiveConn, both for NAT (Masq) and DR (Route):
    //   -> 10.0.2.11:8000  Masq  1  1  0   /  TCP 00:56 SYN_RECV ...
    //   -> 10.0.2.12:8000  Route 1  1  0   /  TCP 00:58 SYN_RECV ...
    for method in [ForwardMethod::Masq, ForwardMethod::Route] {
        let t = table(64, 1);
        let d = Arc::new(DestCounters::new(0, 0));
        let c = t
            .insert(new_conn(6, "10.1.0.7:59975", method, &d), secs(0))
            .unwrap();
        let (c, _) = t.on_packet(c.id, Direction::In, tcp(SYN), secs(0)).unwrap();
        // The client retransmits its SYN a second later.
        let (c2, _) = t.on_packet(c.id, Direction::In, tcp(SYN), secs(1)).unwrap();
        assert_eq!(c.state.name(), "SYN_RECV");
        assert_eq!(c2.expires, secs(61));
        assert_eq!(
            (d.snapshot().active, d.snapshot().inactive),
            (1, 0),
            "{method:?}"
        );
    }
}

#[test]
fn template_becomes_assured_when_a_connection_is_established() {
    // Observed on the lab's Linux 6.1 (scenario conn-template.sh, `-p 10`):
    //   TCP 00:07  ASSURED  10.1.0.9:0  10.0.0.100:82  10.0.2.11:8000   (t = 2 s)
    //   TCP 00:55  ASSURED  ...                                         (t = 14 s)
    // The template's timer ran out at 10 s while it controlled an established
    // connection and was re-armed with 60 s.
    let t = table(64, 1);
    let d = Arc::new(DestCounters::new(0, 0));
    let key = InKey {
        proto: 6,
        client: ep("10.1.0.9:0"),
        virt: ep("10.0.0.100:82"),
    };
    let mut tn = NewConn::scheduled(
        6,
        key.client,
        key.virt,
        ep("10.0.2.11:8000"),
        ForwardMethod::Masq,
    );
    tn.template = true;
    tn.timeout_ms = Some(10_000);
    tn.counters = Some(d.clone());
    let tpl = t.insert(tn, secs(0)).unwrap();
    assert_eq!((tpl.state_name(), tpl.raw_state()), ("NONE", 0));
    let mut n = new_conn(6, "10.1.0.9:39473", ForwardMethod::Masq, &d);
    n.control = Some(tpl.id);
    let c = t.insert(n, secs(0)).unwrap();
    t.on_packet(c.id, Direction::In, tcp(SYN), secs(0));
    assert_eq!(
        t.get(tpl.id).unwrap().state_name(),
        "NONE",
        "SYN_RECV is not enough"
    );
    t.on_packet(c.id, Direction::Out, tcp(SYNACK), secs(0));
    t.on_packet(c.id, Direction::In, tcp(ACK), secs(0));
    let tpl_now = t.get(tpl.id).unwrap();
    assert_eq!((tpl_now.state_name(), tpl_now.raw_state()), ("ASSURED", 1));
    assert_eq!(tpl_now.to_status(secs(2)).state, "ASSURED");
    assert_eq!(tpl_now.expires_in_ms(secs(2)), 8_000);
    // t = 14 s: re-armed at 10 s with 60 s.
    assert!(t.lookup_template(&key, secs(14)).is_some());
    assert_eq!(t.get(tpl.id).unwrap().expires_in_ms(secs(14)), 56_000);
    assert_eq!((d.snapshot().persistent, d.snapshot().active), (1, 1));
}

#[test]
fn links_to_a_vanished_template_are_dropped_and_failed_inserts_unlink() {
    let t = table(2, 1);
    let key = InKey {
        proto: 17,
        client: ep("10.1.12.0:0"),
        virt: ep("10.0.0.100:53"),
    };
    let mut tn = NewConn::scheduled(
        17,
        key.client,
        key.virt,
        ep("10.0.2.11:53"),
        ForwardMethod::Masq,
    );
    tn.template = true;
    tn.timeout_ms = Some(60_000);
    let tpl = t.insert(tn.clone(), secs(0)).unwrap();
    // A failed insert (the key exists) leaves the template's count alone.
    let mut n = NewConn::scheduled(
        17,
        ep("10.1.12.1:1"),
        key.virt,
        ep("10.0.2.11:53"),
        ForwardMethod::Masq,
    );
    n.control = Some(tpl.id);
    let c = t.insert(n.clone(), secs(1)).unwrap();
    assert_eq!(c.control, Some(tpl.id));
    assert!(matches!(
        t.insert(n.clone(), secs(1)),
        Err(InsertError::Exists(_))
    ));
    assert_eq!(t.get(tpl.id).unwrap().n_control, 1);
    // So does a refused one (the table holds two entries).
    let mut n2 = n.clone();
    n2.client = ep("10.1.12.2:1");
    assert_eq!(t.insert(n2.clone(), secs(1)), Err(InsertError::Full));
    assert_eq!(t.get(tpl.id).unwrap().n_control, 1);
    // Once the template is gone, new connections do not point at it.
    assert_eq!(t.remove_where(|c| c.is_template()), 1);
    assert!(t.expire_now(c.id));
    let c2 = t.insert(n2, secs(2)).unwrap();
    assert_eq!(c2.control, None);
}
