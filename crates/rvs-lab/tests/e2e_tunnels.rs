//! TUN with GUE and GRE encapsulation end to end, as root: rvsd wraps the client's
//! packets in UDP to the real server's GUE port (or in GRE), rvs-realserver strips it
//! in userspace and the real server answers the client directly from the VIP. (IPIP
//! is covered by e2e_modes.rs; IPv6-in-IPv6 here too.)

mod cov_lab;

use cov_lab::{has_tool, lab, setup, Capture, RealServers, RR3};
use rvs_lab::topology::{rip, rip6, Mode, CLIENT, DIRECTOR, VIP, VIP6};

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
    // The decapsulator does not check the outer UDP checksum and the kernel never
    // sees these packets: tcpdump on rs1 checks it.
    let capture = has_tool("tcpdump").then(|| {
        let filter = format!("udp dst port {GUE_PORT}");
        Capture::start(&s.lab, &s.topo.real_servers[0], "eth0", &filter, "gue")
    });
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
    if let Some(capture) = capture {
        let verdicts_of = |text: &str| -> Vec<&'static str> {
            text.lines()
                .filter(|l| l.contains(&format!(".{GUE_PORT}: [")))
                .map(|l| {
                    if l.contains("[udp sum ok]") {
                        "ok"
                    } else if l.contains("[no cksum]") {
                        "none"
                    } else {
                        "bad"
                    }
                })
                .collect()
        };
        // tcpdump writes what it saw a moment later.
        let mut text = capture.text();
        for _ in 0..40 {
            if verdicts_of(&text).len() >= 3 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
            text = capture.text();
        }
        let verdicts = verdicts_of(&text);
        // rs1 took 2 TCP connections (several packets each) and 1 datagram.
        assert!(verdicts.len() >= 3, "too few GUE packets captured:\n{text}");
        let want = if csum == "--tun-csum" { "ok" } else { "none" };
        assert!(
            verdicts.iter().all(|v| *v == want),
            "{csum}: {verdicts:?}\n{text}"
        );
    }
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

/// TUN over GRE (the kernel's `ipvs_gre_encap`): rvsd wraps the client's packets in
/// GRE, rvs-realserver strips it in userspace (this kernel has no `ip_gre`) and the
/// real servers answer the client from the VIP: HTTP and UDP in rr order. On the wire
/// at rs1 (tcpdump), every GRE packet carries the header `csum` asks for (with
/// `--tun-csum` a checksum over GRE header and payload that adds up), around the
/// client's packets to the VIP with correct inner checksums.
fn gre_balances_tcp_and_udp(name: &str, csum: &str) {
    let Some(lab) = lab(name) else { return };
    let vips = [VIP.to_string()];
    let rs = RealServers {
        vips: &vips,
        gue_port: None,
        serve: &["--tcp", "0.0.0.0:80", "--udp", "0.0.0.0:53"],
    };
    let s = setup(lab, Mode::Tun, 3, false, &rs, &[]);
    let capture = if has_tool("tcpdump") {
        Some(Capture::start(
            &s.lab,
            &s.topo.real_servers[0],
            "eth0",
            "proto 47",
            name,
        ))
    } else {
        assert!(std::env::var_os("CI").is_none(), "CI must have tcpdump");
        eprintln!("{name}: no tcpdump, the wire is not checked");
        None
    };
    let flag = format!("-i --tun-type gre {csum}");
    let rips =
        |port: u16| -> Vec<String> { (1..=3).map(|i| format!("{}:{port}", rip(i))).collect() };
    s.service(&format!("-t {VIP}:80"), "-s rr", &rips(80), &flag);
    assert_eq!(s.fetch(&format!("{VIP}:80"), 6, &[]), RR3, "HTTP over GRE");
    s.service(&format!("-u {VIP}:53"), "-s rr", &rips(53), &flag);
    assert_eq!(
        s.fetch(&format!("{VIP}:53"), 3, &["--udp"]),
        RR3[..3],
        "UDP over GRE"
    );
    let rules = s.director.rvsadm(&["-Sn"]).unwrap();
    let want = format!(
        "-a -t {VIP}:80 -r {}:80 -i -w 1 --tun-type gre {csum}",
        rip(1)
    );
    assert!(rules.contains(&want), "{want:?} not in:\n{rules}");
    let Some(capture) = capture else { return };
    // rs1 took 2 HTTP connections (several packets each) and 1 datagram, the last
    // thing sent; tcpdump writes what it saw a moment later.
    let datagram = format!(" > {VIP}.53: ");
    let mut text = capture.text();
    for _ in 0..40 {
        if text.contains(&datagram) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        text = capture.text();
    }
    let packets = hex_packets(&text);
    assert!(packets.len() >= 7, "too few GRE packets captured:\n{text}");
    let with_csum = csum == "--tun-csum";
    let header: &[u8] = if with_csum {
        &[0x80, 0, 0x08, 0]
    } else {
        &[0, 0, 0x08, 0]
    };
    for p in &packets {
        let ihl = usize::from(p[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
        assert_eq!(p[9], 47, "not GRE: {p:02x?}");
        let gre = &p[ihl..total];
        assert_eq!(&gre[..4], header, "GRE flags/protocol: {p:02x?}");
        if with_csum {
            assert_eq!(ones_complement_sum(gre), 0xffff, "GRE checksum: {p:02x?}");
        }
    }
    let outer = format!("{} > {}: GREv0", DIRECTOR, rip(1));
    let http = format!(" > {VIP}.80: Flags [S], cksum");
    let dns = format!("{datagram}[udp sum ok]");
    assert!(text.contains(&outer), "no {outer:?} in:\n{text}");
    for inner in [http, dns] {
        assert!(
            text.lines().any(|l| l.contains(&format!("{CLIENT}."))
                && l.contains(&inner)
                && (l.contains("(correct)") || l.contains("sum ok"))),
            "no {CLIENT} -> {inner:?} with a correct checksum in:\n{text}"
        );
    }
}

#[test]
fn tun_gre_csum_balances_tcp_and_udp() {
    gre_balances_tcp_and_udp("grec", "--tun-csum");
}

#[test]
fn tun_gre_nocsum_balances_tcp_and_udp() {
    gre_balances_tcp_and_udp("gre", "--tun-nocsum");
}

/// TUN over IPv6 with GRE (ip6gre's framing: next header 47, GRE protocol 0x0800 or
/// 0x86DD): HTTP to an IPv6 VIP in rr order through rvs-realserver's decapsulator.
#[test]
fn tun_gre_over_ipv6_balances_tcp() {
    let Some(lab) = lab("gre6") else { return };
    let vips = [VIP6.to_string()];
    let rs = RealServers {
        vips: &vips,
        gue_port: None,
        serve: &["--tcp", "[::]:80"],
    };
    let s = setup(lab, Mode::Tun, 3, true, &rs, &[]);
    let rips: Vec<String> = (1..=3).map(|i| format!("[{}]:80", rip6(i))).collect();
    let tcp = format!("[{VIP6}]:80");
    s.service(
        &format!("-t {tcp}"),
        "-s rr",
        &rips,
        "-i --tun-type gre --tun-csum",
    );
    assert_eq!(s.fetch(&tcp, 6, &[]), RR3, "HTTP over IPv6 GRE");
}

/// The packets of a `tcpdump -x` dump (IP header onwards).
fn hex_packets(text: &str) -> Vec<Vec<u8>> {
    let mut packets: Vec<Vec<u8>> = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        let Some(rest) = t.strip_prefix("0x") else {
            continue;
        };
        let Some((offset, hex)) = rest.split_once(':') else {
            continue;
        };
        if offset == "0000" {
            packets.push(Vec::new());
        }
        let Some(p) = packets.last_mut() else {
            continue;
        };
        for word in hex.split_whitespace() {
            for i in (0..word.len()).step_by(2) {
                if let Ok(b) = u8::from_str_radix(&word[i..(i + 2).min(word.len())], 16) {
                    p.push(b);
                }
            }
        }
    }
    packets
}

fn ones_complement_sum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}
