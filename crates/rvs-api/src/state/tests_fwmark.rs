//! Firewall-mark rules in the desired state: validation, normalization, order,
//! duplicates, deletion, flush, batches and diffs.

use super::*;
use rvs_core::model::{Prefix, Protocol};

const VIP: &str = "172.16.100.9";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Seed 000's `iptables -t mangle -A PREROUTING -d VIP -p tcp --dport PORT -j MARK
/// --set-mark MARK`.
fn rule(mark: u32, port: u16) -> FwmarkRule {
    FwmarkRule {
        mark,
        family: Family::V4,
        proto: Some(Protocol::Tcp),
        dst: Prefix::new(ip(VIP), 32),
        dst_ports: Some((port, port)),
        src: None,
    }
}

fn add(s: &mut ConfigState, r: FwmarkRule) -> Result<Reply, ApiError> {
    s.dispatch(Request::AddFwmarkRule(r))
}

#[test]
fn rules_keep_the_order_they_were_added_in() {
    let mut s = ConfigState::new();
    add(&mut s, rule(99, 443)).unwrap();
    add(&mut s, rule(99, 80)).unwrap();
    add(&mut s, rule(5, 80)).unwrap();
    assert_eq!(
        s.fwmark_rules(),
        &[rule(99, 443), rule(99, 80), rule(5, 80)]
    );
    assert_eq!(s.snapshot(4096).fwmark_rules, s.fwmark_rules());
}

#[test]
fn duplicate_is_eexist_and_missing_is_enoent() {
    let mut s = ConfigState::new();
    add(&mut s, rule(99, 80)).unwrap();
    let before = s.clone();
    let e = add(&mut s, rule(99, 80)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Exists, "{e}");
    assert!(e.message.contains("mark 99"), "{e}");
    let e = s
        .dispatch(Request::DelFwmarkRule(rule(99, 443)))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
    assert_eq!(s, before);
    s.dispatch(Request::DelFwmarkRule(rule(99, 80))).unwrap();
    assert!(s.fwmark_rules().is_empty());
}

#[test]
fn rules_that_match_the_same_packets_are_the_same_rule() {
    let mut s = ConfigState::new();
    // Host bits are dropped, as iptables drops them.
    let mut wide = rule(7, 80);
    wide.dst = Prefix::new(ip("172.16.100.77"), 24);
    wide.dst_ports = Some((0, 65535));
    wide.src = Some(Prefix::new(ip("10.1.2.3"), 0));
    add(&mut s, wide).unwrap();
    let stored = s.fwmark_rules()[0];
    assert_eq!(stored.dst, Prefix::new(ip("172.16.100.0"), 24));
    assert_eq!(stored.dst_ports, None, "all ports is any port");
    assert_eq!(stored.src, None, "a /0 source is any source");
    let mut same = rule(7, 0);
    same.dst = Prefix::new(ip("172.16.100.0"), 24);
    same.dst_ports = None;
    assert_eq!(add(&mut s, same).unwrap_err().kind, ErrorKind::Exists);
    // And deletion finds it by any of its spellings.
    s.dispatch(Request::DelFwmarkRule(wide)).unwrap();
    assert!(s.fwmark_rules().is_empty());
}

#[test]
fn malformed_rules_are_refused_and_change_nothing() {
    let v6 = |mut r: FwmarkRule| {
        r.family = Family::V6;
        r
    };
    let cases: Vec<(FwmarkRule, &str)> = vec![
        (rule(0, 80), "mark 0"),
        (
            FwmarkRule {
                dst: Prefix::new(ip(VIP), 33),
                ..rule(1, 80)
            },
            "longer than /32",
        ),
        (
            FwmarkRule {
                dst_ports: Some((90, 80)),
                ..rule(1, 80)
            },
            "90-80 is empty",
        ),
        (
            FwmarkRule {
                proto: None,
                ..rule(1, 80)
            },
            "needs a protocol",
        ),
        (v6(rule(1, 80)), "not an IPv6 address"),
        (
            FwmarkRule {
                dst: Prefix::new(ip("2001:db8::1"), 129),
                ..v6(rule(1, 80))
            },
            "longer than /128",
        ),
        (
            FwmarkRule {
                src: Some(Prefix::new(ip("2001:db8::1"), 64)),
                ..rule(1, 80)
            },
            "source 2001:db8::1 is not an IPv4",
        ),
        (
            FwmarkRule {
                src: Some(Prefix::new(ip("10.0.0.0"), 40)),
                ..rule(1, 80)
            },
            "source prefix 10.0.0.0/40",
        ),
    ];
    let mut s = ConfigState::new();
    add(&mut s, rule(99, 80)).unwrap();
    let before = s.clone();
    for (r, words) in cases {
        for request in [Request::AddFwmarkRule(r), Request::DelFwmarkRule(r)] {
            let e = s.dispatch(request).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Invalid, "{r:?}: {e}");
            assert!(e.message.contains(words), "{r:?}: {e}");
            assert_eq!(s, before);
        }
    }
}

#[test]
fn ipv6_rules_and_protocol_free_rules() {
    let mut s = ConfigState::new();
    let r6 = FwmarkRule {
        mark: 99,
        family: Family::V6,
        proto: Some(Protocol::Udp),
        dst: Prefix::new(ip("2001:db8::1:2"), 64),
        dst_ports: Some((5000, 5010)),
        src: Some(Prefix::new(ip("2001:db8:ffff::"), 48)),
    };
    add(&mut s, r6).unwrap();
    assert_eq!(s.fwmark_rules()[0].dst.addr, ip("2001:db8::"));
    let any = FwmarkRule {
        proto: None,
        dst_ports: None,
        ..rule(5, 0)
    };
    add(&mut s, any).unwrap();
    assert_eq!(s.fwmark_rules().len(), 2);
}

#[test]
fn flush_clears_rules_with_services() {
    let mut s = ConfigState::new();
    add(&mut s, rule(99, 80)).unwrap();
    s.dispatch(Request::Flush).unwrap();
    assert_eq!(s, ConfigState::new());
}

#[test]
fn batch_with_a_refused_rule_changes_nothing() {
    let mut s = ConfigState::new();
    add(&mut s, rule(99, 80)).unwrap();
    let before = s.clone();
    let e = s
        .dispatch(Request::Batch(vec![
            Request::AddFwmarkRule(rule(99, 443)),
            Request::AddFwmarkRule(rule(99, 80)),
        ]))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Exists);
    assert!(e.message.starts_with("request 2 of the batch"), "{e}");
    assert_eq!(s, before);
}

#[test]
fn too_many_rules_is_enomem() {
    let mut s = ConfigState::new();
    for n in 0..validate::MAX_FWMARK_RULES {
        add(&mut s, rule(1, n as u16 + 1)).unwrap();
    }
    let e = add(&mut s, rule(2, 1)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::NoMemory);
}

#[test]
fn diff_keeps_the_common_head_and_the_order() {
    let mut from = ConfigState::new();
    for r in [rule(99, 80), rule(99, 443), rule(5, 8080)] {
        add(&mut from, r).unwrap();
    }
    let mut to = ConfigState::new();
    for r in [rule(99, 80), rule(5, 8080), rule(99, 443)] {
        add(&mut to, r).unwrap();
    }
    let d = from.diff(&to);
    assert_eq!(
        d,
        vec![
            Request::DelFwmarkRule(rule(99, 443)),
            Request::DelFwmarkRule(rule(5, 8080)),
            Request::AddFwmarkRule(rule(5, 8080)),
            Request::AddFwmarkRule(rule(99, 443)),
        ]
    );
    let mut applied = from.clone();
    applied.dispatch(Request::Batch(d)).unwrap();
    assert_eq!(applied, to);
    assert!(to.diff(&to).is_empty());
    let mut back = to.clone();
    back.dispatch(Request::Batch(to.diff(&from))).unwrap();
    assert_eq!(back, from);
}
