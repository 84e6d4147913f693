//! SCTP through rvsd end to end, as root. This kernel has no SCTP module, so both
//! ends speak SCTP over raw sockets (rvs-lab's minimal peer: INIT, INIT ACK with
//! a cookie naming the real server, COOKIE ECHO, COOKIE ACK, ABORT): each
//! association is balanced, NATed both ways with its CRC32c rewritten, and
//! reaches ESTABLISHED through the director.

mod cov_lab;

use cov_lab::{lab, setup, RealServers, RR3};
use rvs_lab::topology::{rip, rip6, Mode, VIP, VIP6};

fn nat_balances_sctp(name: &str, ipv6: bool) {
    let Some(lab) = lab(name) else { return };
    let serve_on = if ipv6 { "[::]:5000" } else { "0.0.0.0:5000" };
    let rs = RealServers {
        vips: &[],
        gue_port: None,
        serve: &["--sctp", serve_on],
    };
    let s = setup(lab, Mode::Nat, 3, ipv6, &rs, &[]);
    let (vip, rips): (String, Vec<String>) = if ipv6 {
        (
            format!("[{VIP6}]:5000"),
            (1..=3).map(|i| format!("[{}]:5000", rip6(i))).collect(),
        )
    } else {
        (
            format!("{VIP}:5000"),
            (1..=3).map(|i| format!("{}:5000", rip(i))).collect(),
        )
    };
    s.service(&format!("--sctp-service {vip}"), "-s rr", &rips, "-m");
    assert_eq!(s.fetch(&vip, 6, &["--sctp"]), RR3, "SCTP through NAT");
    let listing = s.director.rvsadm(&["-Ln"]).unwrap();
    assert!(listing.contains(&format!("SCTP {vip} rr")), "{listing}");
    let stats = s.director.rvsadm(&["-Ln", "--stats"]).unwrap();
    // Every real server took two associations of 3 packets in, 2 out.
    let rs1 = stats
        .lines()
        .find(|l| l.contains(&rips[0]))
        .unwrap_or_else(|| panic!("{}: not listed:\n{stats}", rips[0]));
    let figures: Vec<&str> = rs1.split_whitespace().skip(2).take(3).collect();
    assert_eq!(figures, ["2", "6", "4"], "conns, in, out for rs1:\n{stats}");
}

#[test]
fn sctp_nat_balances_associations() {
    nat_balances_sctp("sctp", false);
}

#[test]
fn sctp_nat_balances_associations_over_ipv6() {
    nat_balances_sctp("sctp6", true);
}
