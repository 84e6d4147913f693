//! TUN with GUE encapsulation end to end, as root: rvsd wraps the client's packets
//! in UDP to the real server's GUE port, rvs-realserver strips it in userspace and
//! the real server answers the client directly from the VIP. (IPIP is covered by
//! e2e_modes.rs; IPv6-in-IPv6 here too.)

mod cov_lab;

use cov_lab::{lab, setup, RealServers, RR3};
use rvs_lab::topology::{rip, rip6, Mode, VIP, VIP6};

const GUE_PORT: u16 = 6080;

fn gue_balances_tcp_and_udp(name: &str, csum: &str) {
    let Some(lab) = lab(name) else { return };
    let vips = [VIP.to_string()];
    let rs = RealServers {
        vips: &vips,
        gue_port: Some(GUE_PORT),
        serve: &["--tcp", "0.0.0.0:80", "--udp", "0.0.0.0:53"],
    };
    let s = setup(lab, Mode::Tun, 3, false, &rs, &[]);
    let flag = format!("-i --tun-type gue --tun-port {GUE_PORT} {csum}");
    let rips =
        |port: u16| -> Vec<String> { (1..=3).map(|i| format!("{}:{port}", rip(i))).collect() };
    s.service(&format!("-t {VIP}:80"), "-s rr", &rips(80), &flag);
    assert_eq!(s.fetch(&format!("{VIP}:80"), 6, &[]), RR3, "TCP over GUE");
    s.service(&format!("-u {VIP}:53"), "-s rr", &rips(53), &flag);
    assert_eq!(
        s.fetch(&format!("{VIP}:53"), 3, &["--udp"]),
        RR3[..3],
        "UDP over GUE"
    );
    let rules = s.director.rvsadm(&["-Sn"]).unwrap();
    let want = format!(
        "-a -t {VIP}:80 -r {}:80 -i -w 1 --tun-type gue --tun-port {GUE_PORT} {csum}",
        rip(1)
    );
    assert!(rules.contains(&want), "{want:?} not in:\n{rules}");
}

#[test]
fn tun_gue_nocsum_balances_tcp_and_udp() {
    gue_balances_tcp_and_udp("gue", "--tun-nocsum");
}

#[test]
fn tun_gue_csum_balances_tcp_and_udp() {
    gue_balances_tcp_and_udp("guec", "--tun-csum");
}

/// TUN over IPv6: IPv6-in-IPv6 (next header 41) to the real servers.
#[test]
fn tun_ipv6_in_ipv6_balances_tcp_and_udp() {
    let Some(lab) = lab("tun6") else { return };
    let vips = [VIP6.to_string()];
    let rs = RealServers {
        vips: &vips,
        gue_port: None,
        serve: &["--tcp", "[::]:80", "--udp", "[::]:53"],
    };
    let s = setup(lab, Mode::Tun, 3, true, &rs, &[]);
    let rips =
        |port: u16| -> Vec<String> { (1..=3).map(|i| format!("[{}]:{port}", rip6(i))).collect() };
    let tcp = format!("[{VIP6}]:80");
    s.service(&format!("-t {tcp}"), "-s rr", &rips(80), "-i");
    assert_eq!(s.fetch(&tcp, 6, &[]), RR3, "TCP over IPv6-in-IPv6");
    let udp = format!("[{VIP6}]:53");
    s.service(&format!("-u {udp}"), "-s rr", &rips(53), "-i");
    assert_eq!(
        s.fetch(&udp, 3, &["--udp"]),
        RR3[..3],
        "UDP over IPv6-in-IPv6"
    );
}

/// TUN over IPv6 with GUE: the outer packet is IPv6/UDP.
#[test]
fn tun_gue_over_ipv6_balances_tcp() {
    let Some(lab) = lab("gue6") else { return };
    let vips = [VIP6.to_string()];
    let rs = RealServers {
        vips: &vips,
        gue_port: Some(GUE_PORT),
        serve: &["--tcp", "[::]:80"],
    };
    let s = setup(lab, Mode::Tun, 3, true, &rs, &[]);
    let rips: Vec<String> = (1..=3).map(|i| format!("[{}]:80", rip6(i))).collect();
    let tcp = format!("[{VIP6}]:80");
    let flag = format!("-i --tun-type gue --tun-port {GUE_PORT} --tun-nocsum");
    s.service(&format!("-t {tcp}"), "-s rr", &rips, &flag);
    assert_eq!(s.fetch(&tcp, 6, &[]), RR3, "TCP over IPv6 GUE");
}
