//! Namespace topologies and a tiny NAT processor for the data plane's root tests.
#![allow(dead_code)]

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::Command;

use rvs_core::time::Instant;
use rvs_core::verdict::{Egress, Frame, Verdict};
use rvs_dataplane::checksum::finish_l4_checksum;
use rvs_dataplane::{FrameProcessor, WorkerProcessor};

/// Why a root test cannot run here, if it cannot.
pub fn skip_reason() -> Option<&'static str> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root");
    }
    if !rvs_dataplane::steering::nft_available() {
        return Some("nft is not installed");
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("ip (iproute2) is not installed");
    }
    None
}

/// Run a command, panicking with its output if it fails.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run a command inside namespace `ns`.
pub fn ns_sh(ns: &str, args: &[&str]) -> String {
    let mut full = vec!["ip", "netns", "exec", ns];
    full.extend_from_slice(args);
    sh(&full)
}

/// A network namespace, deleted (with its interfaces) when dropped.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(name: &str) -> Netns {
        let _ = Command::new("ip").args(["netns", "del", name]).output();
        sh(&["ip", "netns", "add", name]);
        let ns = Netns {
            name: name.to_string(),
        };
        ns.sh(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    pub fn sh(&self, args: &[&str]) -> String {
        ns_sh(&self.name, args)
    }

    /// Run `f` on a thread that lives in this namespace (sockets it opens and
    /// threads it starts belong here).
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::spawn(move || {
            enter(&path);
            f()
        })
        .join()
        .expect("namespace thread panicked")
    }

    /// Like `run` but without waiting.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::spawn(move || {
            enter(&path);
            f()
        })
    }
}

/// Move the calling thread into the namespace at `path`.
pub fn enter(path: &str) {
    let f = File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    // SAFETY: setns on a valid namespace descriptor affects only this thread.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A veth pair from `a` (named `a_if`) to `b` (named `b_if`), both up.
pub fn veth(a: &Netns, a_if: &str, b: &Netns, b_if: &str) {
    sh(&[
        "ip", "link", "add", a_if, "netns", &a.name, "type", "veth", "peer", "name", b_if, "netns",
        &b.name,
    ]);
    a.sh(&["ip", "link", "set", a_if, "up"]);
    b.sh(&["ip", "link", "set", b_if, "up"]);
}

/// Names unique to this process and test: `dp` + tag + pid digits (≤ 15 chars).
pub fn name(tag: &str) -> String {
    format!("dp{tag}{}", std::process::id() % 100_000)
}

/// Client — director — server: addresses of the test topology.
pub struct Topology {
    pub client: Netns,
    pub director: Netns,
    pub server: Netns,
    pub dir_client_if: String,
    pub dir_server_if: String,
    /// The client's and the server's interface towards the director.
    pub client_if: String,
    pub server_if: String,
}

pub const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 2);
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 100);
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 77, 2, 2);

impl Topology {
    /// `tag`: one or two letters making the names unique per test.
    pub fn new(tag: &str) -> Topology {
        let client = Netns::new(&name(&format!("{tag}c")));
        let director = Netns::new(&name(&format!("{tag}d")));
        let server = Netns::new(&name(&format!("{tag}s")));
        let (c0, d0) = (name(&format!("{tag}a")), name(&format!("{tag}b")));
        let (d1, s0) = (name(&format!("{tag}e")), name(&format!("{tag}f")));
        veth(&client, &c0, &director, &d0);
        veth(&director, &d1, &server, &s0);
        client.sh(&["ip", "addr", "add", "10.77.1.2/24", "dev", &c0]);
        client.sh(&["ip", "route", "add", "default", "via", "10.77.1.1"]);
        director.sh(&["ip", "addr", "add", "10.77.1.1/24", "dev", &d0]);
        director.sh(&["ip", "addr", "add", "10.77.1.100/32", "dev", &d0]);
        director.sh(&["ip", "addr", "add", "10.77.2.1/24", "dev", &d1]);
        server.sh(&["ip", "addr", "add", "10.77.2.2/24", "dev", &s0]);
        server.sh(&["ip", "route", "add", "default", "via", "10.77.2.1"]);
        Topology {
            client,
            director,
            server,
            dir_client_if: d0,
            dir_server_if: d1,
            client_if: c0,
            server_if: s0,
        }
    }

    /// Count TCP RSTs the director's own stack sends (an nft counter in output).
    pub fn watch_director_rsts(&self) {
        self.director.sh(&["nft", "add", "table", "inet", "dprst"]);
        self.director.sh(&[
            "nft",
            "add",
            "chain",
            "inet",
            "dprst",
            "out",
            "{ type filter hook output priority 0; }",
        ]);
        self.director.sh(&[
            "nft", "add", "rule", "inet", "dprst", "out", "tcp", "flags", "rst", "counter",
        ]);
    }

    pub fn director_rsts(&self) -> u64 {
        let text = self.director.sh(&["nft", "list", "table", "inet", "dprst"]);
        let at = text.find("packets ").expect("counter in listing") + "packets ".len();
        text[at..]
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .expect("counter value")
    }
}

/// A static NAT: `vip:vport` to `rip:rport` for one protocol, and the reverse for
/// replies; everything else is passed.
#[derive(Clone, Copy)]
pub struct StaticNat {
    pub proto: u8,
    pub vip: Ipv4Addr,
    pub vport: u16,
    pub rip: Ipv4Addr,
    pub rport: u16,
}

impl FrameProcessor for StaticNat {
    type Worker = StaticNat;
    fn worker(&self, _index: usize) -> StaticNat {
        *self
    }
}

fn ipv4_header_checksum(ip: &mut [u8], ihl: usize) {
    ip[10] = 0;
    ip[11] = 0;
    let mut sum: u32 = 0;
    for c in ip[..ihl].chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
}

impl WorkerProcessor for StaticNat {
    fn process(&mut self, frame: &mut Frame<'_>, _now: Instant) -> Verdict {
        let f = frame.bytes_mut();
        if f.len() < 14 + 20 + 8 || f[12..14] != [0x08, 0x00] {
            return Verdict::Pass;
        }
        let ip = &mut f[14..];
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        if ip[9] != self.proto || ihl < 20 || ip.len() < ihl + 8 {
            return Verdict::Pass;
        }
        let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
        let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        let sport = u16::from_be_bytes([ip[ihl], ip[ihl + 1]]);
        let dport = u16::from_be_bytes([ip[ihl + 2], ip[ihl + 3]]);
        let next_hop = if dst == self.vip && dport == self.vport {
            ip[16..20].copy_from_slice(&self.rip.octets());
            ip[ihl + 2..ihl + 4].copy_from_slice(&self.rport.to_be_bytes());
            self.rip
        } else if src == self.rip && sport == self.rport {
            ip[12..16].copy_from_slice(&self.vip.octets());
            ip[ihl..ihl + 2].copy_from_slice(&self.vport.to_be_bytes());
            dst
        } else {
            return Verdict::Pass;
        };
        ip[8] = ip[8].saturating_sub(1);
        ipv4_header_checksum(ip, ihl);
        finish_l4_checksum(f);
        Verdict::Forward(Egress {
            next_hop: next_hop.into(),
            on_link: false,
        })
    }
}

/// Send one ICMP echo request to `dst` from the calling thread's namespace and wait
/// up to 2 s for the reply (a raw socket: no `ping` binary needed).
pub fn icmp_echo(dst: Ipv4Addr) -> bool {
    // SAFETY: plain syscalls on a descriptor owned by this function; buffers are
    // live locals of the sizes passed.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP);
        assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
        let tv = libc::timeval {
            tv_sec: 2,
            tv_usec: 0,
        };
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            core::mem::size_of::<libc::timeval>() as u32,
        );
        let mut req = [8u8, 0, 0, 0, 0x12, 0x34, 0, 1, b'r', b'v', b's', b'!'];
        let mut sum: u32 = 0;
        for c in req.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        req[2..4].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        let mut sa: libc::sockaddr_in = core::mem::zeroed();
        sa.sin_family = libc::AF_INET as u16;
        sa.sin_addr.s_addr = u32::from_ne_bytes(dst.octets());
        libc::sendto(
            fd,
            req.as_ptr().cast(),
            req.len(),
            0,
            (&sa as *const libc::sockaddr_in).cast(),
            core::mem::size_of::<libc::sockaddr_in>() as u32,
        );
        let mut ok = false;
        let mut buf = [0u8; 256];
        for _ in 0..8 {
            let n = libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0);
            if n <= 0 {
                break;
            }
            let n = n as usize;
            let ihl = usize::from(buf[0] & 0x0f) * 4;
            if n >= ihl + 8 && buf[ihl] == 0 && buf[ihl + 4..ihl + 6] == [0x12, 0x34] {
                ok = true;
                break;
            }
        }
        libc::close(fd);
        ok
    }
}
