//! Shared set-up of the end-to-end tests: a lab per test, with unique names.

#![allow(dead_code)]

use rvs_lab::director::Director;
use rvs_lab::netns::Lab;
use rvs_lab::topology::{rip, Mode, Topology, FULLNAT_LOCAL, VIP};
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A lab named after the test, or `None` (with a note) where labs cannot be built.
/// In CI (root, tools installed) labs are always built.
pub fn lab(test: &str) -> Option<Lab> {
    if let Err(e) = rvs_lab::demo::preflight() {
        if std::env::var_os("CI").is_some() {
            panic!("CI must be able to build labs: {e}");
        }
        eprintln!("skipping {test}: {e}");
        return None;
    }
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Some(Lab::new(&format!("e2e{}-{n}-{test}-", std::process::id())))
}

/// A ready lab: topology, responders on every real server (HTTP :80 and :443,
/// UDP :53), real servers prepared for `mode`, rvsd started on the director.
pub struct Setup {
    pub lab: Lab,
    pub topo: Topology,
    pub director: Director,
}

pub fn setup(lab: Lab, mode: Mode, servers: usize) -> Setup {
    let topo = Topology::build(&lab, mode, servers).expect("topology");
    let me = env!("CARGO_BIN_EXE_rvs-lab");
    for (i, rs) in topo.real_servers.iter().enumerate() {
        let name = format!("rs{}", i + 1);
        lab.spawn(
            &name,
            rs,
            me,
            &[
                "serve",
                "--name",
                &name,
                "--tcp",
                "0.0.0.0:80",
                "--tcp",
                "0.0.0.0:443",
                "--udp",
                "0.0.0.0:53",
            ],
        )
        .expect("responder");
        rvs_lab::realserver::prepare(&lab, rs, mode).expect("real server set-up");
    }
    let pool = FULLNAT_LOCAL.to_string();
    let extra: Vec<&str> = if mode == Mode::FullNat {
        vec!["--fullnat-pool", &pool]
    } else {
        vec![]
    };
    let director = Director::start(&lab, &topo.director, &["eth0"], &extra).expect("rvsd");
    Setup {
        lab,
        topo,
        director,
    }
}

impl Setup {
    /// `count` HTTP requests (one new connection each) from the client to VIP:port;
    /// returns who answered each, or "error: ..." lines.
    pub fn fetch(&self, port: u16, count: usize) -> Vec<String> {
        self.fetch_args(&[
            "--target",
            &format!("{VIP}:{port}"),
            "--count",
            &count.to_string(),
        ])
    }

    /// `count` UDP questions to VIP:port, each from a new source port.
    pub fn ask_udp(&self, port: u16, count: usize) -> Vec<String> {
        self.fetch_args(&[
            "--target",
            &format!("{VIP}:{port}"),
            "--count",
            &count.to_string(),
            "--udp",
        ])
    }

    fn fetch_args(&self, args: &[&str]) -> Vec<String> {
        let me = env!("CARGO_BIN_EXE_rvs-lab");
        let mut argv = vec![me, "fetch"];
        argv.extend_from_slice(args);
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &self.topo.client])
            .args(&argv)
            .output()
            .expect("client");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split_once("-> ").map(|x| x.1).unwrap_or(l).to_string())
            .collect()
    }

    /// Add a service with the real servers rs1..=n (weights given, default 1).
    pub fn service(&self, spec: &str, sched_opts: &str, mode: Mode, port: u16, weights: &[u32]) {
        let mut script = format!("-A {spec} {sched_opts}\n");
        for (i, _) in self.topo.real_servers.iter().enumerate() {
            let w = weights.get(i).copied().unwrap_or(1);
            let rport = if port == 0 {
                String::new()
            } else {
                format!(":{port}")
            };
            script.push_str(&format!(
                "-a {spec} -r {}{rport} {} -w {w}\n",
                rip(i + 1),
                mode.rvsadm_flag()
            ));
        }
        self.director.restore(&script).expect("rvsadm -R");
    }
}

pub fn vip_tcp(port: u16) -> String {
    format!("-t {VIP}:{port}")
}

pub fn vip_udp(port: u16) -> String {
    format!("-u {VIP}:{port}")
}
