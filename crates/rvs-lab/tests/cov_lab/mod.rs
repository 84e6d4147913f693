//! Shared set-up of the coverage tests (IPv6, GUE tunnels, SCTP): the seeds'
//! topology, responders on every real server, real servers prepared with
//! rvs-realserver for any VIPs and tunnel, rvsd on the director.

#![allow(dead_code)]

use rvs_lab::director::Director;
use rvs_lab::netns::{Lab, Result};
use rvs_lab::topology::{Mode, Topology};
use std::process::{Command, Stdio};
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
    Some(Lab::new(&format!("cov{}-{n}-{test}-", std::process::id())))
}

/// What the real servers hold and decapsulate.
pub struct RealServers<'a> {
    /// VIPs put on lo in DR and TUN.
    pub vips: &'a [String],
    /// GUE port the TUN decapsulator listens on, if any.
    pub gue_port: Option<u16>,
    /// Responder arguments (`--tcp ADDR`, `--udp ADDR`, ...) besides `--name`.
    pub serve: &'a [&'a str],
}

pub struct Setup {
    pub lab: Lab,
    pub topo: Topology,
    pub director: Director,
}

/// Build the topology (with IPv6 when `ipv6`), start the responders, prepare the
/// real servers and start rvsd with `rvsd_args`.
pub fn setup(
    lab: Lab,
    mode: Mode,
    servers: usize,
    ipv6: bool,
    rs: &RealServers<'_>,
    rvsd_args: &[&str],
) -> Setup {
    let topo = Topology::build(&lab, mode, servers).expect("topology");
    if ipv6 {
        topo.add_ipv6(&lab).expect("IPv6 addresses");
    }
    let me = env!("CARGO_BIN_EXE_rvs-lab");
    for (i, ns) in topo.real_servers.iter().enumerate() {
        let name = format!("rs{}", i + 1);
        let mut args = vec!["serve", "--name", &name];
        args.extend_from_slice(rs.serve);
        lab.spawn(&name, ns, me, &args).expect("responder");
        prepare(&lab, ns, mode, rs).expect("real server set-up");
    }
    let director = Director::start(&lab, &topo.director, &["eth0"], rvsd_args).expect("rvsd");
    Setup {
        lab,
        topo,
        director,
    }
}

/// rvs-realserver in `ns`: the VIPs on lo (DR, TUN) and a decapsulator (TUN).
fn prepare(lab: &Lab, ns: &str, mode: Mode, rs: &RealServers<'_>) -> Result<()> {
    if !matches!(mode, Mode::Dr | Mode::Tun) {
        return Ok(());
    }
    let tool = rvs_lab::bins::find("rvs-realserver").map_err(rvs_lab::netns::LabError)?;
    let tool = tool.display().to_string();
    let state = std::path::PathBuf::from(format!("/run/rvs/{ns}.realserver.json"));
    lab.track_file(state.clone());
    let state = state.display().to_string();
    let mut args = vec![
        tool.as_str(),
        "setup",
        "--mode",
        mode.name(),
        "--state",
        &state,
    ];
    for v in rs.vips {
        args.extend_from_slice(&["--vip", v]);
    }
    lab.exec(ns, &args)?;
    if mode == Mode::Tun {
        let port = rs.gue_port.map(|p| p.to_string());
        let mut decap = vec!["decap", "--iface", "eth0"];
        if let Some(p) = &port {
            decap.extend_from_slice(&["--gue-port", p]);
        }
        lab.spawn(&format!("decap@{ns}"), ns, &tool, &decap)?;
    }
    Ok(())
}

impl Setup {
    /// Run `rvs-lab fetch --target TARGET --count N EXTRA...` in the client
    /// namespace; who answered each request, or "error: ..." lines.
    pub fn fetch(&self, target: &str, count: usize, extra: &[&str]) -> Vec<String> {
        let me = env!("CARGO_BIN_EXE_rvs-lab");
        let out = Command::new("ip")
            .args(["netns", "exec", &self.topo.client, me, "fetch"])
            .args(["--target", target, "--count", &count.to_string()])
            .args(["--timeout-ms", "2000"])
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .expect("client");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split_once("-> ").map(|x| x.1).unwrap_or(l).to_string())
            .collect()
    }

    /// Add service `spec` (e.g. `-t [fd00::1]:80`) with `sched` and the real
    /// servers `rips` (rvsadm -r syntax, e.g. `[fd00::11]:80`) by `flag`.
    pub fn service(&self, spec: &str, sched: &str, rips: &[String], flag: &str) {
        let mut script = format!("-A {spec} {sched}\n");
        for r in rips {
            script.push_str(&format!("-a {spec} -r {r} {flag} -w 1\n"));
        }
        self.director.restore(&script).expect("rvsadm -R");
    }
}

/// rr over rs1, rs2, rs3 added in that order: the kernel puts a new real server at
/// the head of the list, so the first pick is rs3.
pub const RR3: [&str; 6] = ["rs3", "rs2", "rs1", "rs3", "rs2", "rs1"];

/// Whether a system tool is installed.
pub fn has_tool(name: &str) -> bool {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .any(|d| std::path::Path::new(d).join(name).is_file())
}

/// tcpdump -vv in a namespace, to a file removed with the lab.
pub struct Capture {
    file: std::path::PathBuf,
}

impl Capture {
    /// Capture `filter` on `dev` in `ns` (tag names the files); returns once
    /// tcpdump listens.
    pub fn start(lab: &Lab, ns: &str, dev: &str, filter: &str, tag: &str) -> Capture {
        let file = std::env::temp_dir().join(format!("{}{tag}.txt", lab.prefix()));
        let err = std::env::temp_dir().join(format!("{}{tag}.err", lab.prefix()));
        lab.track_file(file.clone());
        lab.track_file(err.clone());
        lab.spawn_with(
            &format!("tcpdump-{tag}"),
            ns,
            "tcpdump",
            &["-i", dev, "-n", "-vv", "-x", "-l", "-U", filter],
            std::fs::File::create(&file).expect("capture file").into(),
            std::fs::File::create(&err).expect("capture log").into(),
        )
        .expect("tcpdump");
        let listening = (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            std::fs::read_to_string(&err).is_ok_and(|t| t.contains("listening on"))
        });
        assert!(listening, "tcpdump did not start listening");
        Capture { file }
    }

    pub fn text(&self) -> String {
        std::fs::read_to_string(&self.file).unwrap_or_default()
    }
}
