use super::*;
use rvs_core::model::{DestConfig, SchedFlags, SchedulerKind, ServiceConfig, Tunnel};

fn no_pool() -> FullNatPool {
    FullNatPool::default()
}

fn service(key: ServiceKey, dests: &[(&str, u16, ForwardMethod)]) -> VirtualService {
    VirtualService {
        config: ServiceConfig {
            key,
            scheduler: SchedulerKind::Wlc,
            sched_flags: SchedFlags::default(),
            persistence: None,
            one_packet: false,
            pe_name: None,
        },
        dests: dests
            .iter()
            .map(|(a, port, method)| DestConfig {
                addr: a.parse().unwrap(),
                port: *port,
                method: *method,
                weight: 1,
                u_threshold: 0,
                l_threshold: 0,
            })
            .collect(),
    }
}

fn addr_key(proto: Protocol, addr: &str, port: u16) -> ServiceKey {
    ServiceKey::Addr {
        proto,
        addr: addr.parse().unwrap(),
        port,
    }
}

fn ifs(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn nat_service_claims_vip_and_replies_only() {
    let vs = service(
        addr_key(Protocol::Tcp, "10.0.0.100", 80),
        &[
            ("10.1.0.2", 8080, ForwardMethod::Masq),
            ("10.1.0.3", 80, ForwardMethod::Route),
            ("10.1.0.4", 80, ForwardMethod::Tunnel(Tunnel::default())),
        ],
    );
    let text = Steering::compute(&[vs], &[], &no_pool()).ruleset("rvs_7", &ifs(&["eth0"]));
    let expected = "\
table netdev rvs_7
delete table netdev rvs_7
table netdev rvs_7 {
\tset svc4 { type ipv4_addr . inet_proto . inet_service; elements = { 10.0.0.100 . tcp . 80 } }
\tset svcall4 { type ipv4_addr . inet_proto; }
\tset rs4 { type ipv4_addr . inet_proto . inet_service; elements = { 10.1.0.2 . tcp . 8080 } }
\tset rsall4 { type ipv4_addr . inet_proto; }
\tset rsaddr4 { type ipv4_addr; elements = { 10.1.0.2 } }
\tset local4 { type ipv4_addr; }
\tset svc6 { type ipv6_addr . inet_proto . inet_service; }
\tset svcall6 { type ipv6_addr . inet_proto; }
\tset rs6 { type ipv6_addr . inet_proto . inet_service; }
\tset rsall6 { type ipv6_addr . inet_proto; }
\tset rsaddr6 { type ipv6_addr; }
\tset local6 { type ipv6_addr; }
\tchain ingress0 {
\t\ttype filter hook ingress device \"eth0\" priority -500; policy accept;
\t\tip daddr . meta l4proto . th dport @svc4 drop
\t\tip daddr . meta l4proto @svcall4 drop
\t\tip saddr . meta l4proto . th sport @rs4 fib daddr type != local drop
\t\tip saddr . meta l4proto @rsall4 fib daddr type != local drop
\t\tip daddr @local4 meta l4proto { tcp, udp, sctp } th dport 1024-65535 drop
\t\tip saddr @rsaddr4 fib daddr type != local icmp type { destination-unreachable, time-exceeded, parameter-problem } drop
\t\tip daddr @local4 icmp type { destination-unreachable, time-exceeded, parameter-problem } drop
\t\tip6 daddr . meta l4proto . th dport @svc6 drop
\t\tip6 daddr . meta l4proto @svcall6 drop
\t\tip6 saddr . meta l4proto . th sport @rs6 fib daddr type != local drop
\t\tip6 saddr . meta l4proto @rsall6 fib daddr type != local drop
\t\tip6 daddr @local6 meta l4proto { tcp, udp, sctp } th dport 1024-65535 drop
\t\tip6 saddr @rsaddr6 fib daddr type != local icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem } drop
\t\tip6 daddr @local6 icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem } drop
\t}
}
";
    assert_eq!(text, expected);
}

#[test]
fn port_zero_ipv6_fullnat_and_fwmark() {
    let all_ports = service(
        addr_key(Protocol::Udp, "2001:db8::1", 0),
        &[("2001:db8:1::2", 0, ForwardMethod::FullNat)],
    );
    let fwm = service(
        ServiceKey::Fwmark {
            mark: 5,
            family: Family::V4,
        },
        &[("10.1.0.9", 0, ForwardMethod::Masq)],
    );
    let rules = [
        FwmarkRule {
            mark: 5,
            family: Family::V4,
            proto: Some(Protocol::Tcp),
            dst: Prefix::new("10.0.0.0".parse().unwrap(), 24),
            dst_ports: Some((80, 90)),
            src: None,
        },
        FwmarkRule {
            mark: 5,
            family: Family::V4,
            proto: None,
            dst: Prefix::new("10.0.1.7".parse().unwrap(), 32),
            dst_ports: None,
            src: Some(Prefix::new("192.0.2.0".parse().unwrap(), 24)),
        },
        // Another mark that no service uses: not claimed.
        FwmarkRule {
            mark: 6,
            family: Family::V4,
            proto: None,
            dst: Prefix::new("10.9.0.0".parse().unwrap(), 16),
            dst_ports: None,
            src: None,
        },
        // Mixed families: matches nothing, so it is left out.
        FwmarkRule {
            mark: 5,
            family: Family::V4,
            proto: None,
            dst: Prefix::new("2001:db8::".parse().unwrap(), 64),
            dst_ports: None,
            src: None,
        },
    ];
    let pool = FullNatPool {
        addrs: vec!["2001:db8:2::1".parse().unwrap()],
        ports: (2000, 3000),
    };
    let s = Steering::compute(&[all_ports, fwm], &rules, &pool);
    let text = s.ruleset("rvs_x", &ifs(&["a", "b"]));
    for line in [
        "\tset svcall6 { type ipv6_addr . inet_proto; elements = { 2001:db8::1 . udp } }",
        "\tset rsall6 { type ipv6_addr . inet_proto; elements = { 2001:db8:1::2 . udp } }",
        "\tset rsall4 { type ipv4_addr . inet_proto; elements = { 10.1.0.9 . tcp, 10.1.0.9 . udp, 10.1.0.9 . sctp } }",
        "\tset local6 { type ipv6_addr; elements = { 2001:db8:2::1 } }",
        "\t\tip daddr 10.0.0.0/24 meta l4proto tcp th dport 80-90 drop comment \"fwmark 5\"",
        "\t\tip daddr 10.0.1.7/32 ip saddr 192.0.2.0/24 meta l4proto { tcp, udp, sctp } drop comment \"fwmark 5\"",
        "\t\tip6 daddr @local6 meta l4proto { tcp, udp, sctp } th dport 2000-3000 drop",
        "\t\ttype filter hook ingress device \"b\" priority -500; policy accept;",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    assert!(!text.contains("10.9.0.0"), "unused fwmark claimed:\n{text}");
    assert!(
        !text.contains("2001:db8::/64"),
        "incoherent rule claimed:\n{text}"
    );
    // Two chains, each with the same two rules.
    assert_eq!(text.matches("fwmark 5").count(), 4);
}

#[test]
fn same_config_same_text_and_empty_claims_nothing() {
    let a = service(addr_key(Protocol::Tcp, "10.0.0.1", 443), &[]);
    let b = service(addr_key(Protocol::Tcp, "10.0.0.2", 443), &[]);
    let one = Steering::compute(&[a.clone(), b.clone()], &[], &no_pool());
    let two = Steering::compute(&[b, a], &[], &no_pool());
    assert_eq!(one, two);
    assert!(!one.is_empty());
    let empty = Steering::compute(&[], &[], &no_pool());
    assert!(empty.is_empty());
    assert!(!empty.ruleset("t", &ifs(&["x"])).contains("elements"));
}
