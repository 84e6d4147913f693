//! End to end, as root: rvsd started from a keepalived.conf runs its health checkers
//! against the lab's NAT real servers and takes failed ones out of (and back into)
//! the service, as keepalived does.

mod common;

use common::{lab, Setup};
use rvs_lab::director::Director;
use rvs_lab::netns::Lab;
use rvs_lab::topology::{rip, Mode, Topology, VIP};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Checker timing of every test: a failure is seen at the next probe (delay_loop),
/// confirmed by one retry after delay_before_retry; each probe takes at most
/// connect_timeout. A stopped responder refuses connections at once.
const TIMING: &str = "    connect_timeout 1\n    retry 1\n    delay_before_retry 1\n";
/// delay_loop + (delay_before_retry + connect_timeout) × retry, and a margin for a
/// loaded machine.
const DETECT: Duration = Duration::from_secs(1 + 2 + 3);

fn responder_args(name: &str) -> Vec<String> {
    ["serve", "--name", name, "--tcp", "0.0.0.0:80"]
        .map(String::from)
        .to_vec()
}

/// Starts (again) the responder of real server `i` (1-based), labelled "rsI".
fn spawn_responder(lab: &Lab, topo: &Topology, i: usize) {
    let name = format!("rs{i}");
    let args = responder_args(&name);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    lab.spawn(
        &name,
        &topo.real_servers[i - 1],
        env!("CARGO_BIN_EXE_rvs-lab"),
        &argv,
    )
    .expect("responder");
}

/// A NAT lab with `servers` real servers answering HTTP on :80, and rvsd started
/// from `conf` (a keepalived.conf).
fn setup_from_file(lab: Lab, servers: usize, conf: &str) -> Setup {
    let topo = Topology::build(&lab, Mode::Nat, servers).expect("topology");
    for i in 1..=servers {
        spawn_responder(&lab, &topo, i);
    }
    let path = conf_path(&lab);
    std::fs::write(&path, conf).expect("keepalived.conf");
    lab.track_file(path.clone());
    let file = path.display().to_string();
    let director = Director::start(&lab, &topo.director, &["eth0"], &["-f", &file]).expect("rvsd");
    Setup {
        lab,
        topo,
        director,
    }
}

fn conf_path(lab: &Lab) -> PathBuf {
    std::env::temp_dir().join(format!("{}keepalived.conf", lab.prefix()))
}

/// SIGHUP to the lab's rvsd (found by name among its namespace's processes).
fn reload(s: &Setup) {
    let out = std::process::Command::new("ip")
        .args(["netns", "pids", &s.topo.director])
        .output()
        .expect("ip netns pids");
    let pids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "rvsd")
        })
        .map(String::from)
        .collect();
    assert_eq!(pids.len(), 1, "one rvsd in {}", s.topo.director);
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pids[0]])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// The real servers `rvsadm -Ln` lists, as (address, weight).
fn listed(s: &Setup) -> Vec<(String, u32)> {
    let out = s.director.rvsadm(&["-Ln"]).expect("rvsadm -Ln");
    out.lines()
        .filter_map(|l| l.trim_start().strip_prefix("-> "))
        .filter(|l| !l.starts_with("RemoteAddress"))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let addr = f.next()?.to_string();
            let weight = f.nth(1)?.parse().ok()?;
            Some((addr, weight))
        })
        .collect()
}

fn rs(i: usize) -> String {
    format!("{}:80", rip(i))
}

/// Polls the listing until `want` holds (printing how long it took); panics with the
/// last listing after `limit`.
fn wait_listing(s: &Setup, limit: Duration, what: &str, want: impl Fn(&[(String, u32)]) -> bool) {
    let start = Instant::now();
    loop {
        let now = listed(s);
        if want(&now) {
            eprintln!("{what}: after {:?}", start.elapsed());
            return;
        }
        assert!(
            start.elapsed() < limit,
            "{what}: not within {limit:?}: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn has(list: &[(String, u32)], addr: &str) -> bool {
    list.iter().any(|(a, _)| a == addr)
}

fn weight_of(list: &[(String, u32)], addr: &str) -> Option<u32> {
    list.iter().find(|(a, _)| a == addr).map(|(_, w)| *w)
}

fn tcp_check_conf(servers: usize, extra_vs: &str, extra_rs: &str) -> String {
    let mut conf = format!(
        "virtual_server {VIP} 80 {{\n  delay_loop 1\n  lb_algo rr\n  lb_kind NAT\n  \
         protocol TCP\n{extra_vs}"
    );
    for i in 1..=servers {
        conf.push_str(&format!(
            "  real_server {} 80 {{\n    weight 1\n{extra_rs}    TCP_CHECK {{\n{TIMING}    }}\n  }}\n",
            rip(i)
        ));
    }
    conf.push_str("}\n");
    conf
}

#[test]
fn chk_tcp_check_takes_a_dead_real_server_out_and_back() {
    let Some(lab) = lab("chktcp") else { return };
    let s = setup_from_file(lab, 2, &tcp_check_conf(2, "", ""));
    // keepalived's start: real servers with checkers are alive until a check fails.
    let all = listed(&s);
    assert!(has(&all, &rs(1)) && has(&all, &rs(2)), "{all:?}");
    let answers = s.fetch(80, 4);
    assert!(answers.iter().any(|a| a == "rs1"), "{answers:?}");

    assert!(s.lab.stop("rs1"));
    wait_listing(&s, DETECT, "rs1 removed", |l| {
        !has(l, &rs(1)) && has(l, &rs(2))
    });
    assert_eq!(s.fetch(80, 4), ["rs2"; 4], "no request may reach rs1");

    // A reload (rs2's weight changed) keeps the failed rs1 out.
    let conf = tcp_check_conf(2, "", "").replace("weight 1", "weight 2");
    std::fs::write(conf_path(&s.lab), conf).expect("keepalived.conf");
    reload(&s);
    wait_listing(&s, DETECT, "reloaded", |l| weight_of(l, &rs(2)) == Some(2));
    assert!(!has(&listed(&s), &rs(1)), "the reload brought rs1 back");

    spawn_responder(&s.lab, &s.topo, 1);
    wait_listing(&s, DETECT, "rs1 back", |l| weight_of(l, &rs(1)) == Some(2));
    let answers = s.fetch(80, 4);
    assert!(answers.iter().any(|a| a == "rs1"), "{answers:?}");
}

#[test]
fn chk_inhibit_on_failure_quiesces_instead_of_removing() {
    let Some(lab) = lab("chkinh") else { return };
    let s = setup_from_file(lab, 2, &tcp_check_conf(2, "", "    inhibit_on_failure\n"));
    assert!(s.lab.stop("rs2"));
    wait_listing(&s, DETECT, "rs2 at weight 0", |l| {
        weight_of(l, &rs(2)) == Some(0) && weight_of(l, &rs(1)) == Some(1)
    });
    assert_eq!(s.fetch(80, 4), ["rs1"; 4], "no request may reach rs2");
    spawn_responder(&s.lab, &s.topo, 2);
    wait_listing(&s, DETECT, "rs2 at weight 1", |l| {
        weight_of(l, &rs(2)) == Some(1)
    });
}

/// md5 of a real server's answer body ("rsN\n"), as HTTP_GET's digest wants it.
fn body_digest(name: &str) -> Option<String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("md5sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    child
        .stdin
        .take()?
        .write_all(format!("{name}\n").as_bytes())
        .ok()?;
    let out = child.wait_with_output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    Some(text.split_whitespace().next()?.to_string())
}

#[test]
fn chk_http_get_wrong_status_or_digest_marks_the_server_down() {
    let Some(good) = body_digest("rs1") else {
        assert!(std::env::var_os("CI").is_none(), "CI needs md5sum");
        eprintln!("skipping chk_http_get_wrong_status_or_digest_marks_the_server_down: no md5sum");
        return;
    };
    let Some(lab) = lab("chkhttp") else { return };
    let url = |rule: &str| {
        format!(
            "    HTTP_GET {{\n      url {{\n        path /\n        {rule}\n      }}\n{TIMING}    }}\n"
        )
    };
    let wrong = "0123456789abcdef0123456789abcdef";
    let checks = [
        url(&format!("digest {good}")), // the right body
        url("status_code 404"),         // the responder answers 200
        url(&format!("digest {wrong}")),
    ];
    let mut conf = format!(
        "virtual_server {VIP} 80 {{\n  delay_loop 1\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n"
    );
    for (i, check) in checks.iter().enumerate() {
        conf.push_str(&format!(
            "  real_server {} 80 {{\n    weight 1\n{check}  }}\n",
            rip(i + 1)
        ));
    }
    conf.push_str("}\n");
    let s = setup_from_file(lab, 3, &conf);
    wait_listing(&s, DETECT, "rs2 and rs3 removed", |l| {
        has(l, &rs(1)) && !has(l, &rs(2)) && !has(l, &rs(3))
    });
    assert_eq!(s.fetch(80, 3), ["rs1"; 3]);
    // A passing check keeps its server in, round after round.
    std::thread::sleep(Duration::from_secs(2));
    assert!(has(&listed(&s), &rs(1)));
}

#[test]
fn chk_sorry_server_takes_over_when_every_real_server_is_down() {
    let Some(lab) = lab("chksorry") else { return };
    // rs3 runs a responder but is only the sorry server.
    let conf = tcp_check_conf(2, &format!("  sorry_server {} 80\n", rip(3)), "");
    let s = setup_from_file(lab, 3, &conf);
    assert!(!has(&listed(&s), &rs(3)));
    assert!(s.lab.stop("rs1"));
    assert!(s.lab.stop("rs2"));
    wait_listing(&s, DETECT, "sorry server in", |l| {
        l.len() == 1 && has(l, &rs(3))
    });
    assert_eq!(s.fetch(80, 2), ["rs3"; 2]);
    spawn_responder(&s.lab, &s.topo, 1);
    wait_listing(&s, DETECT, "sorry server out", |l| {
        l.len() == 1 && has(l, &rs(1))
    });
    assert_eq!(s.fetch(80, 2), ["rs1"; 2]);
}
