//! End to end, as root: real TCP connections and UDP datagrams from a client
//! namespace through rvsd to real-server namespaces, in each forwarding method.

mod common;

use common::{lab, setup, vip_tcp, vip_udp};
use rvs_lab::topology::Mode;

/// rr over rs1, rs2, rs3 added in that order: the kernel puts a new real server at
/// the head of the list, so the first pick is rs3.
const RR3: [&str; 6] = ["rs3", "rs2", "rs1", "rs3", "rs2", "rs1"];

fn balances_tcp_and_udp(mode: Mode, name: &str) {
    let Some(lab) = lab(name) else { return };
    let s = setup(lab, mode, 3);
    s.service(&vip_tcp(80), "-s rr", mode, 80, &[]);
    assert_eq!(s.fetch(80, 6), RR3, "TCP through {mode:?}");
    s.service(&vip_udp(53), "-s rr", mode, 53, &[]);
    assert_eq!(s.ask_udp(53, 3), RR3[..3], "UDP through {mode:?}");
    let listing = s.director.rvsadm(&["-Ln"]).unwrap();
    assert!(listing.contains(mode_word(mode)), "{listing}");
}

fn mode_word(mode: Mode) -> &'static str {
    match mode {
        Mode::Nat => "Masq",
        Mode::Dr => "Route",
        Mode::Tun => "Tunnel",
        Mode::FullNat => "FullNat",
    }
}

#[test]
fn nat_balances_tcp_and_udp() {
    balances_tcp_and_udp(Mode::Nat, "nat");
}

#[test]
fn dr_balances_tcp_and_udp() {
    balances_tcp_and_udp(Mode::Dr, "dr");
}

#[test]
fn tun_balances_tcp_and_udp() {
    balances_tcp_and_udp(Mode::Tun, "tun");
}

#[test]
fn fullnat_balances_tcp_and_udp() {
    balances_tcp_and_udp(Mode::FullNat, "fnat");
}

/// Seed 000, sections 5.6-5.7: NAT rr, then wrr with weights 1:3 — three of four
/// requests go to the heavier server.
#[test]
fn seed000_nat_rr_then_wrr() {
    let Some(lab) = lab("s000nat") else { return };
    let s = setup(lab, Mode::Nat, 2);
    s.service(&vip_tcp(80), "-s rr", Mode::Nat, 80, &[]);
    assert_eq!(s.fetch(80, 4), ["rs2", "rs1", "rs2", "rs1"]);
    let vip = vip_tcp(80);
    s.director
        .restore(&format!(
            "-E {vip} -s wrr\n-e {vip} -r 10.201.2.11:80 -w 1 -m\n-e {vip} -r 10.201.2.12:80 -w 3 -m\n"
        ))
        .unwrap();
    let answers = s.fetch(80, 4);
    assert_eq!(
        answers.iter().filter(|a| *a == "rs2").count(),
        3,
        "{answers:?}"
    );
    assert_eq!(
        answers.iter().filter(|a| *a == "rs1").count(),
        1,
        "{answers:?}"
    );
}

/// Weight 0 quiesces a real server: no new connections go to it.
#[test]
fn weight_zero_stops_new_connections() {
    let Some(lab) = lab("w0") else { return };
    let s = setup(lab, Mode::Nat, 2);
    s.service(&vip_tcp(80), "-s rr", Mode::Nat, 80, &[]);
    s.director
        .rvsadm(&[
            "-e",
            "-t",
            "10.201.2.100:80",
            "-r",
            "10.201.2.12:80",
            "-m",
            "-w",
            "0",
        ])
        .unwrap();
    assert_eq!(s.fetch(80, 4), ["rs1", "rs1", "rs1", "rs1"]);
}

/// Persistence keeps a client on its real server.
#[test]
fn persistence_keeps_a_client_on_its_real_server() {
    let Some(lab) = lab("persist") else { return };
    let s = setup(lab, Mode::Dr, 3);
    s.service(&vip_tcp(80), "-s rr -p 60", Mode::Dr, 80, &[]);
    let answers = s.fetch(80, 5);
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    assert!(answers[0].starts_with("rs"), "{answers:?}");
}

/// Seed 003: DR, wrr, `-p 20`, `--set 30 5 60`: timeouts are listed as set and a
/// client sticks to one real server.
#[test]
fn seed003_dr_wrr_persistent_with_timeouts() {
    let Some(lab) = lab("s003") else { return };
    let s = setup(lab, Mode::Dr, 2);
    s.director
        .restore(
            "-C\n--set 30 5 60\n-A -t 10.201.2.100:80 -s wrr -p 20\n\
             -a -t 10.201.2.100:80 -r 10.201.2.11:80 -g -w 1\n\
             -a -t 10.201.2.100:80 -r 10.201.2.12:80 -g -w 1\n",
        )
        .unwrap();
    assert_eq!(
        s.director.rvsadm(&["-L", "--timeout"]).unwrap(),
        "Timeout (tcp tcpfin udp): 30 5 60\n"
    );
    let answers = s.fetch(80, 4);
    assert!(
        answers
            .iter()
            .all(|a| *a == answers[0] && a.starts_with("rs")),
        "{answers:?}"
    );
    let listing = s.director.rvsadm(&["-Ln"]).unwrap();
    assert!(listing.contains("wrr persistent 20"), "{listing}");
}

/// Stopping rvsd leaves no steering rules behind on the director.
#[test]
fn stopping_rvsd_removes_steering() {
    let Some(lab) = lab("stop") else { return };
    let s = setup(lab, Mode::Nat, 1);
    s.service(&vip_tcp(80), "-s rr", Mode::Nat, 80, &[]);
    assert_eq!(s.fetch(80, 1), ["rs1"]);
    assert!(s.director.stop());
    let tables = s
        .lab
        .exec(&s.topo.director, &["nft", "list", "tables"])
        .unwrap();
    let tables = String::from_utf8_lossy(&tables.stdout);
    assert!(!tables.contains("rvs"), "steering left behind: {tables}");
}
