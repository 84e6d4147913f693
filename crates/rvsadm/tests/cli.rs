//! Command lines to requests: the corners of ipvsadm's parsing that the lab
//! captures do not reach, and rvs's FULLNAT extension.

use core::net::IpAddr;
use rvs_api::request::Request;
use rvs_core::model::{
    DestConfig, Family, ForwardMethod, Persistence, Protocol, ServiceKey, SyncRole, Timeouts,
};
use rvsadm::cli::{parse, Action, Format, Listing};
use rvsadm::resolve::TableResolver;

fn names() -> TableResolver {
    let mut r = TableResolver::lab();
    r.hosts
        .push(("web.example".into(), "192.0.2.80".parse().unwrap()));
    r
}

fn request(line: &str) -> Request {
    let args: Vec<String> = line.split_whitespace().map(String::from).collect();
    match parse(&args, &names(), false) {
        Ok(p) => match p.action {
            Action::Apply(r) => r,
            other => panic!("{line}: {other:?}"),
        },
        Err(e) => panic!("{line}: {}", e.stderr),
    }
}

fn refused(line: &str) -> (i32, String) {
    let args: Vec<String> = line.split_whitespace().map(String::from).collect();
    let e = parse(&args, &names(), false).expect_err(line);
    (e.code, e.stderr)
}

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

fn dest(line: &str) -> DestConfig {
    match request(line) {
        Request::AddDest(_, d) | Request::EditDest(_, d) => d,
        other => panic!("{other:?}"),
    }
}

#[test]
fn fullnat_is_a_forwarding_method_that_keeps_the_port() {
    let d = dest("ipvsadm -a -t 10.0.0.1:80 -r 10.0.2.1:8080 -j -w 3");
    assert_eq!(
        (d.method, d.port, d.weight),
        (ForwardMethod::FullNat, 8080, 3)
    );
    let d = dest("ipvsadm -a -t 10.0.0.1:80 -r 10.0.2.1 --fullnat");
    assert_eq!((d.method, d.port), (ForwardMethod::FullNat, 80));
    assert_eq!(
        refused("ipvsadm -a -t 10.0.0.1:80 -r 10.0.2.1 -j -m").1,
        "multiple 'forwarding-method' options specified\n"
    );
    assert_eq!(
        refused("ipvsadm -a -t 10.0.0.1:80 -r [2001:db8::1]:80 -j").1,
        "Different address family is allowed only for tunneling servers\n"
    );
}

#[test]
fn direct_routing_and_tunnels_take_the_virtual_port() {
    assert_eq!(
        dest("ipvsadm -a -t 10.0.0.1:80 -r 10.0.2.1:8080 -g").port,
        80
    );
    assert_eq!(dest("ipvsadm -a -t 10.0.0.1:80 -r 10.0.2.1:8080").port, 80);
    assert_eq!(
        dest("ipvsadm -a -t 10.0.0.1:80 -r 10.0.2.1:8080 -i").port,
        80
    );
    assert_eq!(
        dest("ipvsadm -a -t 10.0.0.1:80 -r 10.0.2.1:8080 -m").port,
        8080
    );
    // Deleting keeps the port as written, whatever the method.
    assert_eq!(
        request("ipvsadm -d -t 10.0.0.1:80 -r 10.0.2.1:8080"),
        Request::DelDest(tcp("10.0.0.1", 80), ip("10.0.2.1"), 8080)
    );
    // A fwmark service has no port to copy.
    assert_eq!(dest("ipvsadm -a -f 5 -r 10.0.2.1 -g").port, 0);
}

#[test]
fn option_order_matters_as_in_ipvsadm() {
    // -r before -t: the real server's default port is the service's port so far (0).
    assert_eq!(dest("ipvsadm -a -r 10.0.2.1 -t 10.0.0.1:80 -m").port, 0);
    // -M before an IPv6 -t is read as an IPv4 mask, then -t resets it to /128.
    match request("ipvsadm -A -M 64 -p -t [2001:db8::1]:80") {
        Request::AddService(cfg) => assert_eq!(
            cfg.persistence,
            Some(Persistence {
                timeout: 360,
                prefix_len: 128
            })
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        refused("ipvsadm -A -t [2001:db8::1]:80 -p -M 255.255.255.0").1,
        "illegal ipv6 netmask specified\n"
    );
}

#[test]
fn addresses_ports_and_names() {
    // A bracketed IPv4 address keeps no port (ipvsadm re-reads the inside).
    assert_eq!(
        refused("ipvsadm -A -t [10.0.0.1]:80").1,
        "Zero port specified for non-persistent service\n"
    );
    assert_eq!(
        request("ipvsadm -D -t web.example:http"),
        Request::DelService(tcp("192.0.2.80", 80))
    );
    assert_eq!(
        request("ipvsadm -D -u 10.0.0.1:domain"),
        Request::DelService(ServiceKey::Addr {
            proto: Protocol::Udp,
            addr: ip("10.0.0.1"),
            port: 53
        })
    );
    // A service name of another protocol does not count.
    assert_eq!(
        refused("ipvsadm -D -u 10.0.0.1:http-alt").1,
        "illegal virtual server address[:port] specified\n"
    );
    assert_eq!(
        request("ipvsadm -D -t 10.1:+0080"),
        Request::DelService(tcp("10.0.0.1", 80))
    );
    assert_eq!(
        request("ipvsadm -D -f 7 -6"),
        Request::DelService(ServiceKey::Fwmark {
            mark: 7,
            family: Family::V6
        })
    );
}

#[test]
fn popt_forms() {
    let add = request("ipvsadm --add-service --tcp-service=10.0.0.1:80 --scheduler=sh --sched-flags=sh-port --persistent=30");
    let Request::AddService(cfg) = add else {
        panic!()
    };
    assert_eq!(cfg.scheduler.name(), "sh");
    assert_eq!(cfg.sched_flags.0, rvs_core::model::SchedFlags::FLAG2);
    assert_eq!(cfg.persistence.map(|p| p.timeout), Some(30));
    let Request::AddService(cfg) = request("ipvsadm -Au10.0.0.1:53 -srr -p -o") else {
        panic!()
    };
    assert_eq!(
        (cfg.one_packet, cfg.persistence.map(|p| p.timeout)),
        (true, Some(360))
    );
    assert_eq!(
        refused("ipvsadm -At10.0.0.1:80 -u 10.0.0.1:53"),
        (
            2,
            "multiple 'service-address' options specified\n".to_string()
        )
    );
}

#[test]
fn listings_and_settings() {
    let list = |line: &str| {
        let args: Vec<String> = line.split_whitespace().map(String::from).collect();
        parse(&args, &names(), false).unwrap().action
    };
    assert_eq!(
        list("ipvsadm -Lcn"),
        Action::List(
            Listing::Connections,
            Format {
                numeric: true,
                ..Format::default()
            }
        )
    );
    assert_eq!(
        list("ipvsadm -l --sort --exact --stats -t 10.0.0.1:80"),
        Action::List(
            Listing::Service(tcp("10.0.0.1", 80)),
            Format {
                exact: true,
                stats: true,
                ..Format::default()
            }
        )
    );
    assert_eq!(request("ipvsadm -Z"), Request::Zero(None));
    assert_eq!(
        request("ipvsadm --set 0 60 0"),
        Request::SetTimeouts(Timeouts {
            tcp: 0,
            tcp_fin: 60,
            udp: 0
        })
    );
    match request("ipvsadm --start-daemon backup") {
        Request::StartDaemon(d) => {
            assert_eq!(
                (d.role, d.mcast_ifn.as_str(), d.syncid),
                (SyncRole::Backup, "eth0", 0)
            );
            assert_eq!(
                (d.mcast_group, d.mcast_port, d.mcast_ttl, d.sync_maxlen),
                (None, 0, 0, 0)
            );
        }
        other => panic!("{other:?}"),
    }
    match request("ipvsadm --start-daemon master --mcast-group ff02::81 --mcast-port 9000 --mcast-ttl 3 --sync-maxlen 1400 --syncid 9 --mcast-interface br0") {
        Request::StartDaemon(d) => {
            assert_eq!(d.mcast_group, Some(ip("ff02::81")));
            assert_eq!((d.mcast_port, d.mcast_ttl, d.sync_maxlen, d.syncid), (9000, 3, 1400, 9));
            assert_eq!(d.mcast_ifn, "br0");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        request("ipvsadm --stop-daemon master"),
        Request::StopDaemon(SyncRole::Master)
    );
}

#[test]
fn edit_sends_every_setting_with_its_default() {
    let d = dest("ipvsadm -e -t 10.0.0.1:80 -r 10.0.2.1");
    assert_eq!(
        d,
        DestConfig {
            addr: ip("10.0.2.1"),
            port: 80,
            method: ForwardMethod::Route,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0
        }
    );
}
