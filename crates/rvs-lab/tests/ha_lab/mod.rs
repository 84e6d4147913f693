//! Shared set-up of the HA tests: two routers (rvsd, keepalived) on one LAN, the
//! seeds' topology with a second director, keepalived runs, VIP checks and ARP
//! captures. Everything lives in the test's [`Lab`] and goes with it.

#![allow(dead_code)]

use rvs_lab::netns::{Lab, LabError, Result};
use rvs_lab::topology::{Mode, Topology, DIRECTOR, DIRECTOR2, GW_LAN_SIDE, VIP};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A lab named after the test, or `None` (with a note) where HA labs cannot be
/// built: not root, or a tool missing. In CI (env CI set) that is a failure.
pub fn lab(test: &str, tools: &[&str]) -> Option<Lab> {
    let mut problem = rvs_lab::demo::preflight().err();
    for tool in tools {
        if problem.is_none() && !has_tool(tool) {
            problem = Some(format!("{tool} is not installed"));
        }
    }
    if let Some(e) = problem {
        if std::env::var_os("CI").is_some() {
            panic!("CI must be able to run the HA tests: {e}");
        }
        eprintln!("skipping {test}: {e}");
        return None;
    }
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Some(Lab::new(&format!("ha{}-{n}-{test}-", std::process::id())))
}

fn has_tool(name: &str) -> bool {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin"]
        .iter()
        .any(|d| Path::new(d).join(name).is_file())
}

/// A directory for the test's files (configurations, pid files, logs), removed
/// with the returned guard.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(lab: &Lab) -> TempDir {
        let dir = std::env::temp_dir().join(format!("{}files", lab.prefix()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temporary directory");
        TempDir(dir)
    }

    /// Write `name` with `text`; returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write a test file");
        path
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One LAN (a bridge in namespace "sw") with a router namespace per name, each
/// with `eth0` at 10.201.2.2, .4, .6...
pub struct Lan {
    pub switch: String,
    pub routers: Vec<String>,
}

impl Lan {
    pub fn build(lab: &Lab, names: &[&str]) -> Result<Lan> {
        let switch = lab.add_netns("sw")?;
        lab.exec(&switch, &["ip", "link", "add", "br0", "type", "bridge"])?;
        lab.exec(&switch, &["ip", "link", "set", "br0", "up"])?;
        let mut routers = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let ns = lab.add_netns(name)?;
            let port = format!("p{i}");
            lab.veth(&ns, "eth0", &switch, &port)?;
            lab.exec(&switch, &["ip", "link", "set", &port, "master", "br0"])?;
            let addr = format!("10.201.2.{}/24", 2 + 2 * i);
            lab.exec(&ns, &["ip", "addr", "add", &addr, "dev", "eth0"])?;
            routers.push(ns);
        }
        Ok(Lan { switch, routers })
    }
}

/// The seeds' topology (client, router, LAN, real servers) with two directors,
/// "dir" (10.201.2.2) and "dir2" (10.201.2.4), neither holding the VIP: VRRP
/// gives it to one of them.
pub struct HaTopology {
    pub topo: Topology,
    pub director2: String,
}

impl HaTopology {
    pub fn build(lab: &Lab, mode: Mode, servers: usize) -> Result<HaTopology> {
        let topo = Topology::build(lab, mode, servers)?;
        lab.exec(
            &topo.director,
            &["ip", "addr", "del", &format!("{VIP}/32"), "dev", "eth0"],
        )?;
        let director2 = lab.add_netns("dir2")?;
        lab.veth(&director2, "eth0", &topo.switch, "pdir2")?;
        lab.exec(
            &topo.switch,
            &["ip", "link", "set", "pdir2", "master", "br0"],
        )?;
        lab.exec(
            &director2,
            &[
                "ip",
                "addr",
                "add",
                &format!("{DIRECTOR2}/24"),
                "dev",
                "eth0",
            ],
        )?;
        lab.exec(
            &director2,
            &[
                "ip",
                "route",
                "add",
                "default",
                "via",
                &GW_LAN_SIDE.to_string(),
            ],
        )?;
        let _ = lab.exec(
            &director2,
            &["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0"],
        );
        debug_assert_eq!(DIRECTOR.octets()[3], 2);
        Ok(HaTopology { topo, director2 })
    }

    /// Responders (HTTP :80, named rs1, rs2...) on every real server, prepared for
    /// `mode` with rvs-realserver.
    pub fn serve(&self, lab: &Lab, mode: Mode) -> Result<()> {
        let me = env!("CARGO_BIN_EXE_rvs-lab");
        for (i, rs) in self.topo.real_servers.iter().enumerate() {
            let name = format!("rs{}", i + 1);
            lab.spawn(
                &name,
                rs,
                me,
                &["serve", "--name", &name, "--tcp", "0.0.0.0:80"],
            )?;
            rvs_lab::realserver::prepare(lab, rs, mode)?;
        }
        Ok(())
    }

    /// `count` HTTP requests from the client to VIP:80, each on a new connection;
    /// who answered, or "error: ..." lines.
    pub fn fetch(&self, count: usize) -> Vec<String> {
        let me = env!("CARGO_BIN_EXE_rvs-lab");
        let out = Command::new("ip")
            .args(["netns", "exec", &self.topo.client, me, "fetch"])
            .args(["--target", &format!("{VIP}:80"), "--count"])
            .arg(count.to_string())
            .args(["--timeout-ms", "2000"])
            .stdin(Stdio::null())
            .output()
            .expect("client");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split_once("-> ").map(|x| x.1).unwrap_or(l).to_string())
            .collect()
    }
}

/// Whether `eth0` in `ns` holds `addr`.
pub fn holds(lab: &Lab, ns: &str, addr: &str) -> bool {
    lab.exec(ns, &["ip", "-o", "-4", "addr", "show", "dev", "eth0"])
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(&format!(" {addr}/")))
        .unwrap_or(false)
}

/// The namespaces among `all` whose eth0 holds `addr`.
pub fn holders<'a>(lab: &Lab, all: &[&'a str], addr: &str) -> Vec<&'a str> {
    all.iter()
        .copied()
        .filter(|ns| holds(lab, ns, addr))
        .collect()
}

/// Poll `f` every 50 ms until it is true or `limit` passes; how long it took.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if f() {
            return Some(start.elapsed());
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The MAC address of `eth0` in `ns`.
pub fn mac(lab: &Lab, ns: &str) -> String {
    let out = lab
        .exec(ns, &["cat", "/sys/class/net/eth0/address"])
        .expect("eth0 address");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// SIGKILL every process in `ns` (only processes this test started run there): a
/// crash, with no goodbye and nothing cleaned up. The control socket rvsd leaves
/// behind goes with the lab.
pub fn kill_all_in(lab: &Lab, ns: &str) {
    lab.track_file(PathBuf::from(format!("/run/rvs/{ns}.sock")));
    let pids = Command::new("ip")
        .args(["netns", "pids", ns])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    for pid in pids.split_whitespace() {
        let _ = Command::new("kill").args(["-KILL", pid]).status();
    }
}

/// Real keepalived (VRRP only) in a namespace.
pub struct Keepalived {
    lab: Lab,
    label: String,
    vrrp_pid_file: PathBuf,
    pub log: PathBuf,
}

impl Keepalived {
    /// Start `keepalived -n -l -D --vrrp -R` on `config` in `ns`, with its own pid
    /// files and log under `dir`.
    pub fn start(lab: &Lab, ns: &str, dir: &TempDir, config: &str) -> Result<Keepalived> {
        let tag = ns.rsplit('-').next().unwrap_or("ka");
        let conf = dir.write(&format!("keepalived-{tag}.conf"), config);
        let pid_file = dir.path(&format!("keepalived-{tag}.pid"));
        let vrrp_pid_file = dir.path(&format!("keepalived-{tag}.vrrp.pid"));
        let log = dir.path(&format!("keepalived-{tag}.log"));
        let out = std::fs::File::create(&log)?;
        let err = out.try_clone()?;
        let label = format!("keepalived@{ns}");
        let args = [
            "-n",
            "-l",
            "-D",
            "--vrrp",
            "-R",
            "-f",
            &conf.display().to_string(),
            "-p",
            &pid_file.display().to_string(),
            "-r",
            &vrrp_pid_file.display().to_string(),
            "-i",
            tag,
        ]
        .map(String::from);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        lab.spawn_with(&label, ns, "keepalived", &argv, out.into(), err.into())?;
        Ok(Keepalived {
            lab: lab.clone(),
            label,
            vrrp_pid_file,
            log,
        })
    }

    /// SIGTERM: keepalived's masters send priority 0 and release their addresses.
    pub fn stop(&self) -> bool {
        self.lab.stop(&self.label)
    }

    /// SIGKILL the VRRP process (keepalived runs with --dont-respawn): a crashed
    /// router, whose addresses stay where they were.
    pub fn crash(&self) -> Result<()> {
        let pid = std::fs::read_to_string(&self.vrrp_pid_file)
            .map_err(|e| LabError(format!("keepalived VRRP pid file: {e}")))?;
        let pid = pid.trim();
        let status = Command::new("kill").args(["-KILL", pid]).status()?;
        if status.success() {
            Ok(())
        } else {
            Err(LabError(format!("kill -KILL {pid} failed")))
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// tcpdump of the ARP on a bridge, to a file.
pub struct ArpCapture {
    lab: Lab,
    label: String,
    file: PathBuf,
}

impl ArpCapture {
    /// Capture ARP on `dev` in `ns`; returns once tcpdump listens.
    pub fn start(lab: &Lab, ns: &str, dev: &str, dir: &TempDir) -> Result<ArpCapture> {
        let file = dir.path(&format!("arp-{dev}.txt"));
        let err_file = dir.path(&format!("arp-{dev}.err"));
        let out = std::fs::File::create(&file)?;
        let err = std::fs::File::create(&err_file)?;
        let label = format!("tcpdump@{ns}");
        lab.spawn_with(
            &label,
            ns,
            "tcpdump",
            &["-i", dev, "-n", "-e", "-l", "-U", "arp"],
            out.into(),
            err.into(),
        )?;
        let ready = wait_until(Duration::from_secs(5), || {
            std::fs::read_to_string(&err_file).is_ok_and(|t| t.contains("listening on"))
        });
        if ready.is_none() {
            return Err(LabError("tcpdump did not start listening".into()));
        }
        Ok(ArpCapture {
            lab: lab.clone(),
            label,
            file,
        })
    }

    /// The captured lines so far.
    pub fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.file)
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    /// Whether a gratuitous ARP for `addr` was broadcast from `mac`.
    pub fn saw_garp(&self, mac: &str, addr: &str) -> bool {
        let from = format!("{mac} > ff:ff:ff:ff:ff:ff");
        self.lines()
            .iter()
            .any(|l| l.contains(&from) && l.contains(addr))
    }

    pub fn stop(&self) {
        self.lab.stop(&self.label);
    }
}

/// A keepalived.conf `vrrp_instance` block.
pub fn vrrp_instance(name: &str, vrid: u8, priority: u8, vip: &str, nopreempt: bool) -> String {
    format!(
        "vrrp_instance {name} {{\n    state BACKUP\n    interface eth0\n    virtual_router_id {vrid}\n    \
         priority {priority}\n    advert_int 1\n{}    authentication {{\n        auth_type PASS\n        \
         auth_pass rvs1\n    }}\n    virtual_ipaddress {{\n        {vip}/24\n    }}\n}}\n",
        if nopreempt { "    nopreempt\n" } else { "" }
    )
}
