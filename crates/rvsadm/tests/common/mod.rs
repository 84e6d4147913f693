//! Shared helpers of rvsadm's integration tests: running command lines against an
//! in-process director, reading the lab's captures, and feeding captured figures.
#![allow(dead_code)]

use core::net::IpAddr;
use rvs_api::request::{Reply, Request};
use rvs_core::model::{Rates, ServiceKey, Stats};
use rvs_core::status::Snapshot;
use rvsadm::exec::{run, Backend, CallError, LocalBackend, Output};
use rvsadm::resolve::{Resolver, TableResolver};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Splits a shell-free command line into argv.
pub fn argv(line: &str) -> Vec<String> {
    line.split_whitespace().map(String::from).collect()
}

/// Runs `line` (starting with `ipvsadm`) with `stdin` as standard input.
pub fn sh_in(backend: &mut dyn Backend, names: &dyn Resolver, line: &str, stdin: &str) -> Output {
    run(&argv(line), &mut stdin.as_bytes(), backend, names)
}

pub fn sh(backend: &mut dyn Backend, names: &dyn Resolver, line: &str) -> Output {
    sh_in(backend, names, line, "")
}

/// Runs each line and insists it succeeds.
pub fn setup(backend: &mut dyn Backend, names: &dyn Resolver, lines: &[&str]) {
    for line in lines {
        let out = sh(backend, names, line);
        assert_eq!(out.code, 0, "{line}: {}", out.stderr);
    }
}

/// One captured command: the command line, what it printed, and its exit status
/// when the capture recorded it.
pub struct Capture {
    pub command: String,
    pub body: String,
    pub rc: Option<i32>,
}

pub fn capture(path: &Path) -> Capture {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let command = first.strip_prefix("$ ").unwrap_or(first).to_string();
    let mut body = rest.to_string();
    let mut rc = None;
    if let Some(pos) = body
        .trim_end_matches('\n')
        .rfind('\n')
        .map(|p| p + 1)
        .or(Some(0))
    {
        let last = body[pos..].trim_end_matches('\n');
        if let Some(n) = last.strip_prefix("rc=") {
            rc = n.parse().ok();
            body.truncate(pos);
        }
    }
    Capture { command, body, rc }
}

/// The lab's names: the hosts the edge scenario adds to /etc/hosts, and the
/// /etc/services entries its captures show.
pub fn lab_names() -> TableResolver {
    let mut r = TableResolver::lab();
    for (n, a) in [
        ("vip.example", "10.0.0.100"),
        ("rs1.example", "10.0.2.11"),
        ("rs6.example", "2001:db8::10"),
        ("localhost", "127.0.0.1"),
    ] {
        r.hosts.push((n.to_string(), a.parse().unwrap()));
    }
    r
}

/// Live figures of one service (dest `None`) or real server, as captured.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub stats: Stats,
    pub rates: Rates,
    pub active: u32,
    pub inactive: u32,
    pub persistent: u32,
}

/// Figures keyed by the listing's names: ("TCP 10.0.0.100:80", Some("10.0.2.11:80")).
pub type FigureMap = HashMap<(String, Option<String>), Figures>;

fn rows(path: &Path) -> Vec<(String, Option<String>, Vec<String>)> {
    let cap = capture(path);
    let mut out = Vec::new();
    let mut service = String::new();
    for line in cap.body.lines() {
        let words: Vec<String> = line.split_whitespace().map(String::from).collect();
        if words.len() < 2 || line.starts_with("Prot") || line.starts_with("IP Virtual") {
            continue;
        }
        if words[0] == "->" {
            if words[1] == "RemoteAddress:Port" {
                continue;
            }
            out.push((service.clone(), Some(words[1].clone()), words[2..].to_vec()));
        } else {
            service = format!("{} {}", words[0], words[1]);
            out.push((service.clone(), None, words[2..].to_vec()));
        }
    }
    out
}

fn last5(w: &[String]) -> [u64; 5] {
    let n = w.len();
    let v: Vec<u64> = w[n - 5..].iter().map(|x| x.parse().unwrap()).collect();
    [v[0], v[1], v[2], v[3], v[4]]
}

/// Reads the figures of a capture set (`Ln-exact`, `Ln-rate`, `Ln`, `Ln-persistent`).
pub fn figures(dir: &Path) -> FigureMap {
    figures_from(dir, "Ln.txt", Some("Ln-persistent.txt"))
}

/// As [`figures`], with the connection counts from `conns` (`-Ln` or
/// `--persistent-conn`: both have them in the same columns) and the persistent
/// counts from `persistent`.
pub fn figures_from(dir: &Path, conns: &str, persistent: Option<&str>) -> FigureMap {
    let mut map = FigureMap::new();
    for (svc, dest, w) in rows(&dir.join("Ln-exact.txt")) {
        let [conns, in_pkts, out_pkts, in_bytes, out_bytes] = last5(&w);
        map.entry((svc, dest)).or_default().stats = Stats {
            conns,
            in_pkts,
            out_pkts,
            in_bytes,
            out_bytes,
        };
    }
    for (svc, dest, w) in rows(&dir.join("Ln-rate.txt")) {
        let [cps, in_pps, out_pps, in_bps, out_bps] = last5(&w);
        map.entry((svc, dest)).or_default().rates = Rates {
            cps,
            in_pps,
            out_pps,
            in_bps,
            out_bps,
        };
    }
    for (svc, dest, w) in rows(&dir.join(conns)) {
        if dest.is_some() {
            let f = map.entry((svc, dest)).or_default();
            f.active = w[2].parse().unwrap();
            f.inactive = w[3].parse().unwrap();
        }
    }
    for (svc, dest, w) in persistent.map(|p| rows(&dir.join(p))).unwrap_or_default() {
        if dest.is_some() {
            map.entry((svc, dest)).or_default().persistent = w[1].parse().unwrap();
        }
    }
    map
}

fn bracketed(addr: IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

pub fn service_name(key: &ServiceKey) -> String {
    match *key {
        ServiceKey::Addr { proto, addr, port } => {
            format!("{} {}", proto.name(), bracketed(addr, port))
        }
        ServiceKey::Fwmark { mark, .. } => format!("FWM {}", mark as i32),
    }
}

/// Puts the figures into a snapshot; panics if a captured row has no counterpart.
pub fn apply_figures(snap: &mut Snapshot, map: &FigureMap) {
    let mut used = 0;
    for svc in &mut snap.services {
        let name = service_name(&svc.config.key);
        if let Some(f) = map.get(&(name.clone(), None)) {
            svc.stats = f.stats;
            svc.rates = f.rates;
            used += 1;
        }
        for d in &mut svc.dests {
            let key = (name.clone(), Some(bracketed(d.config.addr, d.config.port)));
            if let Some(f) = map.get(&key) {
                d.stats = f.stats;
                d.rates = f.rates;
                d.active_conns = f.active;
                d.inactive_conns = f.inactive;
                d.persistent_conns = f.persistent;
                used += 1;
            }
        }
    }
    assert_eq!(
        used,
        map.len(),
        "every captured row matches a service or real server"
    );
}

/// A director whose listings carry captured figures; `-Z` clears the counters.
pub struct Lab {
    pub inner: LocalBackend,
    pub figures: FigureMap,
    pub table_size: u32,
}

impl Lab {
    pub fn new(figures: FigureMap) -> Lab {
        Lab {
            inner: LocalBackend::default(),
            figures,
            table_size: 4096,
        }
    }
}

impl Backend for Lab {
    fn call(&mut self, request: Request) -> Result<Reply, CallError> {
        match request {
            Request::GetSnapshot => {
                let mut snap = self.inner.state.snapshot(self.table_size);
                apply_figures(&mut snap, &self.figures);
                Ok(Reply::Snapshot(snap))
            }
            Request::Zero(None) => {
                let reply = self.inner.call(Request::Zero(None))?;
                for f in self.figures.values_mut() {
                    f.stats = Stats::default();
                }
                Ok(reply)
            }
            other => self.inner.call(other),
        }
    }
}
