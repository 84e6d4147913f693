//! The neighbour resolver against a real kernel (root only): IPv6 neighbours,
//! on-link requirements, gateways and unreachable next hops.

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::*;
use rvs_dataplane::neigh::{NextHop, Resolution, Resolver};
use rvs_dataplane::IoDrop;

fn mac_of(ns: &Netns, ifname: &str) -> [u8; 6] {
    let text = ns.sh(&["cat", &format!("/sys/class/net/{ifname}/address")]);
    let v: Vec<u8> = text
        .trim()
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    v.try_into().unwrap()
}

#[test]
fn resolves_ipv6_gateways_and_refuses_what_it_must() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let a = Netns::new(&name("ra"));
    let b = Netns::new(&name("rb"));
    let (ia, ib) = (name("rx"), name("ry"));
    veth(&a, &ia, &b, &ib);
    a.sh(&["ip", "addr", "add", "fd00:77::1/64", "dev", &ia, "nodad"]);
    b.sh(&["ip", "addr", "add", "fd00:77::2/64", "dev", &ib, "nodad"]);
    a.sh(&["ip", "addr", "add", "10.78.0.1/24", "dev", &ia]);
    b.sh(&["ip", "addr", "add", "10.78.0.2/24", "dev", &ib]);
    // Beyond the peer: reached through it as a gateway.
    a.sh(&["ip", "route", "add", "10.79.0.0/16", "via", "10.78.0.2"]);
    let peer_mac = mac_of(&b, &ib);
    let own_mac = mac_of(&a, &ia);
    let ifindex: u32 = a
        .sh(&["cat", &format!("/sys/class/net/{ia}/ifindex")])
        .trim()
        .parse()
        .unwrap();

    let results = a.run(move || {
        let resolver = Resolver::start().expect("resolver");
        let mut cache = resolver.cache();
        let ask = |cache: &mut rvs_dataplane::neigh::NeighCache, addr: &str, on_link: bool| {
            let key = (addr.parse::<IpAddr>().unwrap(), on_link);
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                cache.refresh();
                let r = cache.lookup(key, Instant::now());
                if r != Resolution::Pending || Instant::now() > deadline {
                    return r;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        vec![
            ask(&mut cache, "fd00:77::2", false),
            ask(&mut cache, "10.79.1.1", false),
            ask(&mut cache, "10.79.1.1", true),
            ask(&mut cache, "192.0.2.1", false),
        ]
    });
    let ready = Resolution::Ready(NextHop {
        ifindex,
        src_mac: own_mac,
        dst_mac: peer_mac,
    });
    // IPv6 neighbour discovery, triggered by the resolver.
    assert_eq!(results[0], ready);
    // Through the gateway: the gateway's MAC.
    assert_eq!(results[1], ready);
    // DR needs the next hop on-link: a gateway route is refused.
    assert_eq!(results[2], Resolution::Failed(IoDrop::NoRoute));
    // No route at all.
    assert_eq!(results[3], Resolution::Failed(IoDrop::NoRoute));
}
