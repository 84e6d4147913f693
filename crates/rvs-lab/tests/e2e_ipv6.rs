//! End to end over IPv6, as root: TCP connections and UDP datagrams from the
//! client namespace to the IPv6 VIP through rvsd, in NAT, DR and FULLNAT, with the
//! rr order checked as in e2e_modes.rs.

mod cov_lab;

use cov_lab::{lab, setup, RealServers, RR3};
use rvs_lab::topology::{rip6, Mode, FULLNAT_LOCAL, FULLNAT_LOCAL6, VIP6};

fn balances_tcp_and_udp_over_ipv6(mode: Mode, name: &str) {
    let Some(lab) = lab(name) else { return };
    let vips = [VIP6.to_string()];
    let rs = RealServers {
        vips: &vips,
        gue_port: None,
        // [::] is dual-stack: one listener for both families.
        serve: &["--tcp", "[::]:80", "--udp", "[::]:53"],
    };
    let pool = format!("{FULLNAT_LOCAL},{FULLNAT_LOCAL6}");
    let rvsd_args: Vec<&str> = if mode == Mode::FullNat {
        vec!["--fullnat-pool", &pool]
    } else {
        vec![]
    };
    let s = setup(lab, mode, 3, true, &rs, &rvsd_args);
    let rips =
        |port: u16| -> Vec<String> { (1..=3).map(|i| format!("[{}]:{port}", rip6(i))).collect() };
    let tcp = format!("[{VIP6}]:80");
    s.service(&format!("-t {tcp}"), "-s rr", &rips(80), mode.rvsadm_flag());
    assert_eq!(s.fetch(&tcp, 6, &[]), RR3, "TCP over IPv6 through {mode:?}");
    let udp = format!("[{VIP6}]:53");
    s.service(&format!("-u {udp}"), "-s rr", &rips(53), mode.rvsadm_flag());
    assert_eq!(
        s.fetch(&udp, 3, &["--udp"]),
        RR3[..3],
        "UDP over IPv6 through {mode:?}"
    );
    let listing = s.director.rvsadm(&["-Ln"]).unwrap();
    assert!(listing.contains(&format!("TCP  {tcp} rr")), "{listing}");
    assert!(
        listing.contains(&format!("-> {}", rips(80)[0])),
        "{listing}"
    );
    let conns = s.director.rvsadm(&["-Lnc"]).unwrap();
    assert!(conns.contains(&VIP6.to_string()), "{conns}");
}

#[test]
fn ipv6_nat_balances_tcp_and_udp() {
    balances_tcp_and_udp_over_ipv6(Mode::Nat, "nat6");
}

#[test]
fn ipv6_dr_balances_tcp_and_udp() {
    balances_tcp_and_udp_over_ipv6(Mode::Dr, "dr6");
}

#[test]
fn ipv6_fullnat_balances_tcp_and_udp() {
    balances_tcp_and_udp_over_ipv6(Mode::FullNat, "fnat6");
}

/// An IPv6 firewall-mark service (`-f 66 -6`) with persistence, its marks given as
/// rules: HTTP and HTTPS of one client stick to one real server.
#[test]
fn ipv6_fwmark_persistence_binds_ports_in_dr() {
    let Some(lab) = lab("fwm6") else { return };
    let vips = [VIP6.to_string()];
    let rs = RealServers {
        vips: &vips,
        gue_port: None,
        serve: &["--tcp", "[::]:80", "--tcp", "[::]:443"],
    };
    let s = setup(lab, Mode::Dr, 2, true, &rs, &[]);
    let (rs1, rs2) = (rip6(1), rip6(2));
    s.director
        .restore(&format!(
            "--add-mark -f 66 -6 -t [{VIP6}]:80\n\
             --add-mark -f 66 -6 -t [{VIP6}]:443\n\
             -A -f 66 -6 -s rr -p\n\
             -a -f 66 -6 -r {rs1} -g\n\
             -a -f 66 -6 -r {rs2} -g\n"
        ))
        .expect("rvsadm -R");
    let mut answers = s.fetch(&format!("[{VIP6}]:80"), 2, &[]);
    answers.extend(s.fetch(&format!("[{VIP6}]:443"), 2, &[]));
    assert!(
        answers[0].starts_with("rs") && answers.iter().all(|a| *a == answers[0]),
        "{answers:?}"
    );
    let listing = s.director.rvsadm(&["-Ln"]).unwrap();
    assert!(listing.contains("FWM  66 IPv6 rr persistent"), "{listing}");
}
