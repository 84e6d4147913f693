//! SCTP through rvsd end to end, as root. This kernel has no SCTP module, so both
//! ends speak SCTP over raw sockets (rvs-lab's minimal peer: INIT, INIT ACK with
//! a cookie naming the real server, COOKIE ECHO, COOKIE ACK, ABORT): each
//! association is balanced, forwarded (NAT and FULLNAT both ways with the CRC32c
//! rewritten, DR one way with the answers from the VIP) and reaches ESTABLISHED
//! through the director.

mod cov_lab;

use cov_lab::{lab, setup, RealServers, RR3};
use rvs_lab::topology::{rip, rip6, Mode, FULLNAT_LOCAL, FULLNAT_LOCAL6, VIP, VIP6};

fn balances_sctp(mode: Mode, name: &str, ipv6: bool) {
    let Some(lab) = lab(name) else { return };
    let serve_on = if ipv6 { "[::]:5000" } else { "0.0.0.0:5000" };
    let vips = [if ipv6 {
        VIP6.to_string()
    } else {
        VIP.to_string()
    }];
    let rs = RealServers {
        vips: &vips,
        gue_port: None,
        serve: &["--sctp", serve_on],
    };
    let pool = format!("{FULLNAT_LOCAL},{FULLNAT_LOCAL6}");
    let rvsd_args: Vec<&str> = if mode == Mode::FullNat {
        vec!["--fullnat-pool", &pool]
    } else {
        vec![]
    };
    let s = setup(lab, mode, 3, ipv6, &rs, &rvsd_args);
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
    s.service(
        &format!("--sctp-service {vip}"),
        "-s rr",
        &rips,
        mode.rvsadm_flag(),
    );
    // The client only takes answers from the VIP itself.
    assert_eq!(s.fetch(&vip, 6, &["--sctp"]), RR3, "SCTP through {mode:?}");
    let listing = s.director.rvsadm(&["-Ln"]).unwrap();
    assert!(listing.contains(&format!("SCTP {vip} rr")), "{listing}");
    let stats = s.director.rvsadm(&["-Ln", "--stats"]).unwrap();
    let rs1 = stats
        .lines()
        .find(|l| l.contains(&rips[0]))
        .unwrap_or_else(|| panic!("{}: not listed:\n{stats}", rips[0]));
    let figures: Vec<&str> = rs1.split_whitespace().skip(2).take(3).collect();
    // rs1 took two associations: INIT, COOKIE ECHO, ABORT in each; INIT ACK and
    // COOKIE ACK back through the director except in DR.
    let out = if mode == Mode::Dr { "0" } else { "4" };
    assert_eq!(figures, ["2", "6", out], "conns, in, out for rs1:\n{stats}");
}

#[test]
fn sctp_nat_balances_associations() {
    balances_sctp(Mode::Nat, "sctp", false);
}

#[test]
fn sctp_nat_balances_associations_over_ipv6() {
    balances_sctp(Mode::Nat, "sctp6", true);
}

#[test]
fn sctp_dr_balances_associations() {
    balances_sctp(Mode::Dr, "sctpdr", false);
}

#[test]
fn sctp_fullnat_balances_associations() {
    balances_sctp(Mode::FullNat, "sctpfn", false);
}
