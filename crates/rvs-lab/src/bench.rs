//! `rvs-lab bench`: rvs next to its peers on one topology, in one run.
//!
//! ```text
//!  cli c0 10.77.1.2 ---- d0 10.77.1.1 (+ VIPs)  dir  d1 10.77.2.1 (+ FULLNAT 10.77.2.5)
//!                                                     |  bridge in ns "sw"
//!                                        rs1 r0 10.77.2.11      rs2 r0 10.77.2.12
//! ```
//! Scenarios (the same as ../shared/bench/peers.sh, plus rvs):
//! - direct: client to rs1, routed by the director's kernel (the ceiling);
//! - nftnat: nftables DNAT, round robin over rs1/rs2;
//! - haproxy / nginxs: HAProxy TCP mode and nginx stream, round robin;
//! - rvs-nat / rvs-dr / rvs-fullnat: rvsd with rr over rs1/rs2.
//!
//! Load: wrk with keep-alive and with `Connection: close`, and one iperf3 stream to
//! rs1. Every load is bounded in time; all traffic stays inside the namespaces.
//! rvsd runs only while an rvs scenario is measured (its taps would tax the others).

use crate::bins;
use crate::director::Director;
use crate::netns::{run, Lab, LabError, Result};
use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

const RS: [&str; 2] = ["10.77.2.11", "10.77.2.12"];
const FULLNAT_LOCAL: &str = "10.77.2.5";
const NGINX_STREAM: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

/// One load-balancing scenario and the address clients use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Direct,
    NftNat,
    Haproxy,
    NginxStream,
    RvsNat,
    RvsDr,
    RvsFullNat,
}

impl Scenario {
    pub const ALL: [Scenario; 7] = [
        Scenario::Direct,
        Scenario::NftNat,
        Scenario::Haproxy,
        Scenario::NginxStream,
        Scenario::RvsNat,
        Scenario::RvsDr,
        Scenario::RvsFullNat,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Direct => "direct",
            Scenario::NftNat => "nftnat",
            Scenario::Haproxy => "haproxy",
            Scenario::NginxStream => "nginxs",
            Scenario::RvsNat => "rvs-nat",
            Scenario::RvsDr => "rvs-dr",
            Scenario::RvsFullNat => "rvs-fullnat",
        }
    }

    /// rvsd must run (and only then: see [`Rvsd`]).
    fn is_rvs(self) -> bool {
        matches!(
            self,
            Scenario::RvsNat | Scenario::RvsDr | Scenario::RvsFullNat
        )
    }

    fn target(self) -> &'static str {
        match self {
            Scenario::Direct => RS[0],
            Scenario::NftNat => "10.77.1.10",
            Scenario::Haproxy => "10.77.1.11",
            Scenario::NginxStream => "10.77.1.12",
            Scenario::RvsNat => "10.77.1.20",
            Scenario::RvsDr => "10.77.1.21",
            Scenario::RvsFullNat => "10.77.1.22",
        }
    }
}

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub reps: usize,
    pub duration: Duration,
    pub connections: u32,
    pub iperf_seconds: u32,
    pub scenarios: Vec<Scenario>,
    /// rvsd's worker threads.
    pub workers: u16,
}

/// The figures of one wrk run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WrkResult {
    pub requests_per_sec: f64,
    pub p99_ms: f64,
    pub errors: u64,
}

/// Parse wrk's report (`Requests/sec:`, the 99% latency line, socket errors and
/// non-2xx responses).
pub fn parse_wrk(text: &str) -> Option<WrkResult> {
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))?
        .trim()
        .parse()
        .ok()?;
    let p99_ms = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .and_then(|v| latency_ms(v.trim()))
        .unwrap_or(f64::NAN);
    let mut errors = 0;
    if let Some(l) = text.lines().find(|l| l.contains("Socket errors:")) {
        errors += l
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse::<u64>().ok())
            .sum::<u64>();
    }
    if let Some(l) = text.lines().find(|l| l.contains("Non-2xx")) {
        errors += l
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse::<u64>().ok())
            .next_back()
            .unwrap_or(0);
    }
    Some(WrkResult {
        requests_per_sec: rps,
        p99_ms,
        errors,
    })
}

fn latency_ms(v: &str) -> Option<f64> {
    let split = v.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = v.split_at(split);
    let n: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        _ => return None,
    })
}

/// Gbit/s received, from iperf3's JSON report.
pub fn parse_iperf_gbps(json: &str) -> Option<f64> {
    let at = json.find("\"sum_received\"")?;
    let rest = &json[at..];
    let b = rest.find("\"bits_per_second\"")?;
    let v = rest[b + 17..].trim_start_matches([':', ' ', '\t', '\n']);
    let end = v.find([',', '\n', '}']).unwrap_or(v.len());
    v[..end].trim().parse::<f64>().ok().map(|b| b / 1e9)
}

struct Bed {
    lab: Lab,
    cli: String,
    dir: String,
    rs: Vec<String>,
    work: std::path::PathBuf,
}

fn need_tools() -> Result<()> {
    if !std::path::Path::new(NGINX_STREAM).exists() {
        return Err(LabError(format!(
            "rvs-lab bench needs nginx's stream module {NGINX_STREAM} (apt-get install libnginx-mod-stream)"
        )));
    }
    for t in ["wrk", "iperf3", "nginx", "haproxy", "nft"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            return Err(LabError(format!(
                "rvs-lab bench needs {t} (apt-get install wrk iperf3 nginx haproxy nftables)"
            )));
        }
    }
    Ok(())
}

fn build(lab: &Lab) -> Result<Bed> {
    let cli = lab.add_netns("cli")?;
    let dir = lab.add_netns("dir")?;
    let sw = lab.add_netns("sw")?;
    let rt = lab.add_netns("rt")?;
    let rs = vec![lab.add_netns("rs1")?, lab.add_netns("rs2")?];
    lab.veth(&cli, "c0", &dir, "d0")?;
    lab.veth(&dir, "d1", &sw, "s0")?;
    lab.exec(&sw, &["ip", "link", "add", "br0", "type", "bridge"])?;
    lab.exec(&sw, &["ip", "link", "set", "br0", "up"])?;
    lab.exec(&sw, &["ip", "link", "set", "s0", "master", "br0"])?;
    // DR replies come from the VIP, an address of the director: they must reach the
    // client around it, through a router of their own (as on a real LAN).
    lab.veth(&rt, "t0", &sw, "st")?;
    lab.exec(&sw, &["ip", "link", "set", "st", "master", "br0"])?;
    lab.veth(&rt, "t1", &cli, "c1")?;
    lab.exec(&rt, &["ip", "addr", "add", "10.77.2.254/24", "dev", "t0"])?;
    lab.exec(&rt, &["ip", "addr", "add", "10.77.3.1/24", "dev", "t1"])?;
    lab.exec(
        &rt,
        &["ip", "route", "add", "10.77.1.0/24", "via", "10.77.3.2"],
    )?;
    lab.sysctl(&rt, "net.ipv4.ip_forward=1")?;
    lab.sysctl(&rt, "net.ipv4.conf.all.rp_filter=0")?;
    lab.exec(&cli, &["ip", "addr", "add", "10.77.3.2/24", "dev", "c1"])?;
    lab.sysctl(&cli, "net.ipv4.conf.all.rp_filter=0")?;
    lab.sysctl(&cli, "net.ipv4.conf.c1.rp_filter=0")?;
    for (i, r) in rs.iter().enumerate() {
        let port = format!("s{}", i + 1);
        lab.veth(r, "r0", &sw, &port)?;
        lab.exec(&sw, &["ip", "link", "set", &port, "master", "br0"])?;
        lab.exec(
            r,
            &["ip", "addr", "add", &format!("{}/24", RS[i]), "dev", "r0"],
        )?;
        lab.exec(r, &["ip", "route", "add", "default", "via", "10.77.2.1"])?;
        // DR: the VIP on lo, hidden from ARP; its replies leave through the router.
        lab.exec(r, &["ip", "addr", "add", "10.77.1.21/32", "dev", "lo"])?;
        lab.exec(
            r,
            &["ip", "rule", "add", "from", "10.77.1.21", "lookup", "100"],
        )?;
        lab.exec(
            r,
            &[
                "ip",
                "route",
                "add",
                "default",
                "via",
                "10.77.2.254",
                "table",
                "100",
            ],
        )?;
        for kv in [
            "net.ipv4.conf.all.arp_ignore=1",
            "net.ipv4.conf.all.arp_announce=2",
            "net.ipv4.ip_local_port_range=10000 65000",
            "net.core.somaxconn=8192",
            "net.ipv4.tcp_max_syn_backlog=8192",
        ] {
            lab.sysctl(r, kv)?;
        }
    }
    lab.exec(&cli, &["ip", "addr", "add", "10.77.1.2/24", "dev", "c0"])?;
    lab.exec(&cli, &["ip", "route", "add", "default", "via", "10.77.1.1"])?;
    lab.exec(&dir, &["ip", "addr", "add", "10.77.1.1/24", "dev", "d0"])?;
    for v in [10, 11, 12, 20, 21, 22] {
        lab.exec(
            &dir,
            &["ip", "addr", "add", &format!("10.77.1.{v}/32"), "dev", "d0"],
        )?;
    }
    lab.exec(&dir, &["ip", "addr", "add", "10.77.2.1/24", "dev", "d1"])?;
    lab.exec(
        &dir,
        &[
            "ip",
            "addr",
            "add",
            &format!("{FULLNAT_LOCAL}/32"),
            "dev",
            "d1",
        ],
    )?;
    lab.sysctl(&dir, "net.ipv4.ip_forward=1")?;
    for ns in [&cli, &dir] {
        lab.sysctl(ns, "net.ipv4.ip_local_port_range=10000 65000")?;
        lab.sysctl(ns, "net.ipv4.tcp_tw_reuse=1")?;
    }
    let work = std::env::temp_dir().join(format!("{}bench", lab.prefix()));
    std::fs::create_dir_all(&work)?;
    Ok(Bed {
        lab: lab.clone(),
        cli,
        dir,
        rs,
        work,
    })
}

fn start_servers(bed: &Bed) -> Result<()> {
    let w = &bed.work;
    for (i, r) in bed.rs.iter().enumerate() {
        let www = w.join(format!("www{}", i + 1));
        std::fs::create_dir_all(&www)?;
        std::fs::write(www.join("index.html"), format!("hello from rs{}\n", i + 1))?;
        let conf = w.join(format!("rs{}.conf", i + 1));
        std::fs::write(
            &conf,
            format!(
                "daemon off;\nworker_processes auto;\npid {p}/nginx-rs{n}.pid;\nerror_log {p}/nginx-rs{n}.err warn;\n\
                 events {{ worker_connections 8192; }}\nhttp {{ access_log off; keepalive_requests 10000000;\n\
                 client_body_temp_path {p}/cb{n}; proxy_temp_path {p}/pt{n}; fastcgi_temp_path {p}/ft{n};\n\
                 uwsgi_temp_path {p}/ut{n}; scgi_temp_path {p}/st{n};\n\
                 server {{ listen 80 backlog=8192 reuseport; listen 8080 backlog=8192 reuseport; root {www}; location / {{ }} }} }}\n",
                p = w.display(),
                n = i + 1,
                www = www.display()
            ),
        )?;
        bed.lab.spawn(
            &format!("nginx-rs{}", i + 1),
            r,
            "nginx",
            &["-c", &conf.display().to_string()],
        )?;
        for port in ["5201", "5202"] {
            bed.lab.spawn(
                &format!("iperf{port}-rs{}", i + 1),
                r,
                "iperf3",
                &["-s", "-p", port],
            )?;
        }
    }
    let hap = w.join("haproxy.cfg");
    std::fs::write(
        &hap,
        format!(
            "global\n  maxconn 8000\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
             frontend web\n  bind 10.77.1.11:80 backlog 8192\n  default_backend web\n\
             backend web\n  balance roundrobin\n  server rs1 {a}:80\n  server rs2 {b}:80\n\
             frontend bulk\n  bind 10.77.1.11:5201\n  default_backend bulk\nbackend bulk\n  server rs1 {a}:5201\n",
            a = RS[0],
            b = RS[1]
        ),
    )?;
    bed.lab.spawn(
        "haproxy",
        &bed.dir,
        "haproxy",
        &["-db", "-f", &hap.display().to_string()],
    )?;
    let ngx = w.join("nginx-lb.conf");
    std::fs::write(
        &ngx,
        format!(
            "load_module {NGINX_STREAM};\ndaemon off;\nworker_processes auto;\n\
             pid {p}/nginx-lb.pid;\nerror_log {p}/nginx-lb.err warn;\nevents {{ worker_connections 16384; }}\n\
             stream {{ upstream web {{ server {a}:80; server {b}:80; }}\n\
             server {{ listen 10.77.1.12:80 backlog=8192; proxy_pass web; }}\n\
             upstream bulk {{ server {a}:5201; }}\nserver {{ listen 10.77.1.12:5201; proxy_pass bulk; }} }}\n",
            p = w.display(),
            a = RS[0],
            b = RS[1]
        ),
    )?;
    bed.lab.spawn(
        "nginx-lb",
        &bed.dir,
        "nginx",
        &["-c", &ngx.display().to_string()],
    )?;
    Ok(())
}

fn start_rvs(bed: &Bed, workers: u16) -> Result<Director> {
    let workers = workers.to_string();
    let d = Director::start(
        &bed.lab,
        &bed.dir,
        &["d0", "d1"],
        &[
            "--fullnat-pool",
            FULLNAT_LOCAL,
            "--log-level",
            "warn",
            "--workers",
            &workers,
        ],
    )?;
    // NAT and FULLNAT real servers answer on ports of their own (8080, 5202): rvsd
    // claims the replies from RIP:port, which must not catch the other scenarios'.
    let mut script = String::new();
    for (vip, flag, http, bulk) in [
        ("10.77.1.20", "-m", 8080, 5202),
        ("10.77.1.21", "-g", 80, 5201),
        ("10.77.1.22", "--fullnat", 8080, 5202),
    ] {
        writeln!(script, "-A -t {vip}:80 -s rr").ok();
        for rs in RS {
            writeln!(script, "-a -t {vip}:80 -r {rs}:{http} {flag}").ok();
        }
        writeln!(script, "-A -t {vip}:5201 -s rr").ok();
        writeln!(script, "-a -t {vip}:5201 -r {}:{bulk} {flag}", RS[0]).ok();
    }
    d.restore(&script)?;
    Ok(d)
}

/// rvsd, started for the rvs scenarios and stopped for the others: its packet
/// rings see every frame on the director's interfaces (taps come before steering),
/// and copying and handing over the other scenarios' frames would tax them.
struct Rvsd<'a> {
    bed: &'a Bed,
    workers: u16,
    running: Option<Director>,
}

impl Rvsd<'_> {
    fn set(&mut self, on: bool) -> Result<()> {
        if on && self.running.is_none() {
            self.running = Some(start_rvs(self.bed, self.workers)?);
            std::thread::sleep(Duration::from_millis(300));
        } else if !on {
            if let Some(d) = self.running.take() {
                d.stop();
            }
        }
        Ok(())
    }
}

fn nft_dnat(bed: &Bed, on: bool) -> Result<()> {
    if on {
        let rules = format!(
            "table ip rvsbench {{\n chain pre {{\n  type nat hook prerouting priority dstnat; policy accept;\n\
             ip daddr 10.77.1.10 tcp dport 80 dnat to numgen inc mod 2 map {{ 0 : {a}, 1 : {b} }}\n\
             ip daddr 10.77.1.10 tcp dport 5201 dnat to {a}\n }}\n}}\n",
            a = RS[0],
            b = RS[1]
        );
        let path = bed.work.join("nft.rules");
        std::fs::write(&path, rules)?;
        bed.lab
            .exec(&bed.dir, &["nft", "-f", &path.display().to_string()])?;
    } else {
        let _ = bed
            .lab
            .exec(&bed.dir, &["nft", "delete", "table", "ip", "rvsbench"]);
    }
    Ok(())
}

fn wrk(bed: &Bed, target: &str, close: bool, o: &BenchOptions) -> Result<WrkResult> {
    let url = format!("http://{target}/");
    let dur = format!("{}s", o.duration.as_secs().max(1));
    let conns = o.connections.to_string();
    let mut args = vec![
        "timeout",
        "120",
        "wrk",
        "-t1",
        "-c",
        &conns,
        "-d",
        &dur,
        "--latency",
    ];
    if close {
        args.extend(["-H", "Connection: close"]);
    }
    args.push(&url);
    let out = bed.lab.exec(&bed.cli, &args)?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_wrk(&text).ok_or_else(|| LabError(format!("unreadable wrk output: {text}")))
}

fn iperf(bed: &Bed, target: &str, o: &BenchOptions) -> Result<f64> {
    let secs = o.iperf_seconds.to_string();
    let out = run(Command::new("ip").args([
        "netns", "exec", &bed.cli, "timeout", "60", "iperf3", "-c", target, "-p", "5201", "-t",
        &secs, "-J",
    ]))?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_iperf_gbps(&text).ok_or_else(|| LabError("unreadable iperf3 output".into()))
}

fn smoke(bed: &Bed, s: Scenario) -> String {
    let rvs_lab = bins::find("rvs-lab").unwrap_or_default();
    let out = bed.lab.exec(
        &bed.cli,
        &[
            &rvs_lab.display().to_string(),
            "fetch",
            "--target",
            &format!("{}:80", s.target()),
            "--count",
            "4",
        ],
    );
    match out {
        Ok(o) => String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| l.rsplit(' ').next().unwrap_or("?").to_string())
            .collect::<Vec<_>>()
            .join(" "),
        Err(e) => format!("FAILED: {e}"),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

/// Run the whole benchmark and return the report (also printed as it goes).
pub fn run_bench(o: &BenchOptions, lab: &Lab) -> Result<String> {
    need_tools()?;
    let bed = build(lab)?;
    start_servers(&bed)?;
    // Let nginx and HAProxy bind before the first smoke test.
    std::thread::sleep(Duration::from_millis(500));
    let mut rvsd = Rvsd {
        bed: &bed,
        workers: o.workers,
        running: None,
    };
    let mut report = String::new();
    writeln!(
        report,
        "# rvs-lab bench: {} reps, {} s per wrk run, {} connections, iperf3 {} s, rvsd {} worker(s); kernel {}, {} cpus",
        o.reps,
        o.duration.as_secs(),
        o.connections,
        o.iperf_seconds,
        o.workers,
        String::from_utf8_lossy(&Command::new("uname").arg("-r").output()?.stdout).trim(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    )
    .ok();
    for &s in &o.scenarios {
        rvsd.set(s.is_rvs())?;
        if s == Scenario::NftNat {
            nft_dnat(&bed, true)?;
        }
        let line = format!("smoke {:<12} {}", s.name(), smoke(&bed, s));
        if s == Scenario::NftNat {
            nft_dnat(&bed, false)?;
        }
        println!("{line}");
        writeln!(report, "{line}").ok();
    }
    let mut http: Vec<(Scenario, bool, WrkResult)> = Vec::new();
    let mut bulk: Vec<(Scenario, f64)> = Vec::new();
    for rep in 1..=o.reps {
        for close in [false, true] {
            for &s in &o.scenarios {
                rvsd.set(s.is_rvs())?;
                if s == Scenario::NftNat {
                    nft_dnat(&bed, true)?;
                }
                let r = wrk(&bed, s.target(), close, o);
                if s == Scenario::NftNat {
                    nft_dnat(&bed, false)?;
                }
                let r = r?;
                println!(
                    "rep {rep} {:<12} {:<9} {:>9.0} req/s  p99 {:.2} ms  errors {}",
                    s.name(),
                    if close { "close" } else { "keepalive" },
                    r.requests_per_sec,
                    r.p99_ms,
                    r.errors
                );
                http.push((s, close, r));
            }
        }
        for &s in &o.scenarios {
            rvsd.set(s.is_rvs())?;
            if s == Scenario::NftNat {
                nft_dnat(&bed, true)?;
            }
            let g = iperf(&bed, s.target(), o);
            if s == Scenario::NftNat {
                nft_dnat(&bed, false)?;
            }
            match g {
                Ok(g) => {
                    println!("rep {rep} {:<12} iperf3 {g:.2} Gbit/s", s.name());
                    bulk.push((s, g));
                }
                Err(e) => println!("rep {rep} {:<12} iperf3 failed: {e}", s.name()),
            }
        }
    }
    for close in [false, true] {
        writeln!(
            report,
            "\n| HTTP {} | req/s (median) | vs direct | vs nftnat | vs haproxy | p99 ms | errors |\n|---|---:|---:|---:|---:|---:|---:|",
            if close { "Connection: close" } else { "keep-alive" }
        )
        .ok();
        let med = |s: Scenario| {
            median(
                http.iter()
                    .filter(|(x, c, _)| *x == s && *c == close)
                    .map(|(_, _, r)| r.requests_per_sec)
                    .collect(),
            )
        };
        for &s in &o.scenarios {
            let m = med(s);
            let p99 = median(
                http.iter()
                    .filter(|(x, c, _)| *x == s && *c == close)
                    .map(|(_, _, r)| r.p99_ms)
                    .collect(),
            );
            let errors: u64 = http
                .iter()
                .filter(|(x, c, _)| *x == s && *c == close)
                .map(|(_, _, r)| r.errors)
                .sum();
            writeln!(
                report,
                "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
                s.name(),
                m,
                m / med(Scenario::Direct),
                m / med(Scenario::NftNat),
                m / med(Scenario::Haproxy),
                p99,
                errors
            )
            .ok();
        }
    }
    writeln!(
        report,
        "\n| iperf3, 1 stream | Gbit/s (median) | vs direct |\n|---|---:|---:|"
    )
    .ok();
    let gb = |s: Scenario| {
        median(
            bulk.iter()
                .filter(|(x, _)| *x == s)
                .map(|(_, g)| *g)
                .collect(),
        )
    };
    for &s in &o.scenarios {
        writeln!(
            report,
            "| {} | {:.2} | {:.2} |",
            s.name(),
            gb(s),
            gb(s) / gb(Scenario::Direct)
        )
        .ok();
    }
    if let Some(d) = &rvsd.running {
        writeln!(
            report,
            "\nrvsd's view after its last run:\n```\n{}```",
            d.rvsadm(&["-Ln", "--stats"])?
        )
        .ok();
    }
    rvsd.set(false)?;
    let _ = std::fs::remove_dir_all(&bed.work);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK: &str = "Running 10s test @ http://10.77.1.20/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   812.00us  200.00us   5.00ms   90.00%
  Latency Distribution
     50%  790.00us
     75%  850.00us
     90%  900.00us
     99%    1.50ms
  612345 requests in 10.00s, 90.00MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec:  61234.50
Transfer/sec:      9.00MB
";

    #[test]
    fn wrk_reports_are_read() {
        let r = parse_wrk(WRK).unwrap();
        assert_eq!(r.requests_per_sec, 61234.5);
        assert_eq!(r.p99_ms, 1.5);
        assert_eq!(r.errors, 3 + 2 + 7);
        assert!(parse_wrk("garbage").is_none());
    }

    #[test]
    fn iperf_json_is_read() {
        let j = r#"{"end": {"sum_sent": {"bits_per_second": 1.0e9}, "sum_received": {"seconds": 5, "bits_per_second": 12500000000.0, "x": 1}}}"#;
        assert_eq!(parse_iperf_gbps(j), Some(12.5));
        assert_eq!(parse_iperf_gbps("{}"), None);
    }

    #[test]
    fn latency_units() {
        assert_eq!(latency_ms("250.00us"), Some(0.25));
        assert_eq!(latency_ms("2.00s"), Some(2000.0));
        assert_eq!(latency_ms("x"), None);
    }
}
