//! End to end, as root: what must not disturb established traffic — a weight set to
//! 0, hostile frames on the wire — and what the director's kernel must not do (answer
//! claimed packets itself).

mod common;

use common::{lab, setup, vip_tcp};
use rvs_lab::topology::{rip, Mode, CLIENT, VIP};
use std::process::{Command, Stdio};
use std::time::Duration;

fn answers(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| l.split_once("-> ").map(|x| x.1).unwrap_or(l).to_string())
        .collect()
}

/// Start `rvs-lab fetch ARGS` in the client namespace, in the background.
fn fetch_in_background(s: &common::Setup, args: &[&str]) -> std::process::Child {
    Command::new("ip")
        .args([
            "netns",
            "exec",
            &s.topo.client,
            env!("CARGO_BIN_EXE_rvs-lab"),
            "fetch",
        ])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("client")
}

/// Weight 0 quiesces a real server: its established connections continue, new ones
/// go elsewhere.
#[test]
fn weight_zero_lets_established_connections_continue() {
    let Some(lab) = lab("w0est") else { return };
    let s = setup(lab, Mode::Nat, 2);
    s.service(&vip_tcp(80), "-s rr", Mode::Nat, 80, &[]);
    let target = format!("{VIP}:80");
    // rr's first pick is rs2 (the newest real server heads the list).
    let long = fetch_in_background(
        &s,
        &[
            "--target",
            &target,
            "--count",
            "6",
            "--keepalive",
            "--interval-ms",
            "400",
        ],
    );
    std::thread::sleep(Duration::from_millis(600));
    s.director
        .rvsadm(&[
            "-e",
            "-t",
            &target,
            "-r",
            &format!("{}:80", rip(2)),
            "-m",
            "-w",
            "0",
        ])
        .unwrap();
    assert_eq!(
        s.fetch(80, 3),
        ["rs1", "rs1", "rs1"],
        "new connections avoid rs2"
    );
    let out = long.wait_with_output().unwrap();
    assert_eq!(
        answers(&out.stdout),
        ["rs2"; 6],
        "the established connection stays"
    );
}

/// Malformed frames, fragments, unknown protocols, spoofed replies and stray ACKs sent
/// to the director while a client makes requests: every request is answered.
#[test]
fn bad_input_during_load_disturbs_nobody() {
    let Some(lab) = lab("garbage") else { return };
    let s = setup(lab, Mode::Nat, 2);
    s.service(&vip_tcp(80), "-s rr", Mode::Nat, 80, &[]);
    s.service(&common::vip_udp(53), "-s rr", Mode::Nat, 53, &[]);
    let dir_mac = s
        .lab
        .exec(&s.topo.director, &["cat", "/sys/class/net/eth0/address"])
        .unwrap();
    let dir_mac = String::from_utf8_lossy(&dir_mac.stdout).trim().to_string();
    let load = fetch_in_background(
        &s,
        &[
            "--target",
            &format!("{VIP}:80"),
            "--count",
            "40",
            "--interval-ms",
            "25",
        ],
    );
    let (src, vip, rip2, client) = (
        rip(1).to_string(),
        VIP.to_string(),
        rip(2).to_string(),
        CLIENT.to_string(),
    );
    let garbage = s
        .lab
        .exec(
            &s.topo.real_servers[0],
            &[
                env!("CARGO_BIN_EXE_rvs-lab"),
                "garbage",
                "--iface",
                "eth0",
                "--dst-mac",
                &dir_mac,
                "--src",
                &src,
                "--vip",
                &vip,
                "--rip",
                &rip2,
                "--client",
                &client,
                "--count",
                "20000",
            ],
        )
        .expect("garbage sender");
    assert!(String::from_utf8_lossy(&garbage.stdout).contains("sent"));
    let out = load.wait_with_output().unwrap();
    let got = answers(&out.stdout);
    assert_eq!(got.len(), 40, "{got:?}");
    assert!(got.iter().all(|a| a == "rs1" || a == "rs2"), "{got:?}");
    // And the director still works for new traffic of both protocols.
    assert_eq!(s.ask_udp(53, 2).len(), 2);
    assert!(s.fetch(80, 2).iter().all(|a| a.starts_with("rs")));
}

/// The kernel of the director never answers the claimed VIP port itself (no RST),
/// though it holds the VIP.
#[test]
fn director_kernel_sends_no_rst_for_the_vip_port() {
    let Some(lab) = lab("norst") else { return };
    let s = setup(lab, Mode::Nat, 1);
    s.service(&vip_tcp(80), "-s rr", Mode::Nat, 80, &[]);
    let filter = format!("tcp[tcpflags] & tcp-rst != 0 and src host {VIP}");
    let capture = Command::new("ip")
        .args([
            "netns",
            "exec",
            &s.topo.director,
            "timeout",
            "4",
            "tcpdump",
            "-n",
            "-l",
            "-i",
            "eth0",
        ])
        .arg(&filter)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(capture) = capture else {
        eprintln!("skipping: tcpdump not available");
        return;
    };
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(s.fetch(80, 10), ["rs1"; 10]);
    let out = capture.wait_with_output().unwrap();
    let rsts = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("Flags [R"))
        .count();
    assert_eq!(
        rsts,
        0,
        "the director's kernel sent RSTs:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
