//! Namespace helpers of rvs-realserver's root tests.
#![allow(dead_code)]

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_rvs-realserver");

pub fn skip_reason() -> Option<&'static str> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root");
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("ip (iproute2) is not installed");
    }
    None
}

pub fn nft_missing() -> bool {
    Command::new("nft").arg("--version").output().is_err()
}

pub fn sh(args: &[&str]) -> std::process::Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

pub fn ok(args: &[&str]) -> String {
    let out = sh(args);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub struct Netns(pub String);

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = format!("dp{tag}{}", std::process::id() % 100_000);
        let _ = sh(&["ip", "netns", "del", &name]);
        ok(&["ip", "netns", "add", &name]);
        let ns = Netns(name);
        ns.ok(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    pub fn cmd(&self, args: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = ["ip", "netns", "exec", &self.0].map(String::from).to_vec();
        v.extend(args.iter().map(|s| s.to_string()));
        v
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let v = self.cmd(args);
        let refs: Vec<&str> = v.iter().map(String::as_str).collect();
        ok(&refs)
    }

    pub fn run(&self, args: &[&str]) -> std::process::Output {
        let v = self.cmd(args);
        let refs: Vec<&str> = v.iter().map(String::as_str).collect();
        sh(&refs)
    }

    pub fn sysctl(&self, iface: &str, name: &str) -> String {
        self.ok(&["cat", &format!("/proc/sys/net/ipv4/conf/{iface}/{name}")])
            .trim()
            .to_string()
    }

    pub fn lo_addrs(&self) -> String {
        self.ok(&["ip", "-o", "addr", "show", "dev", "lo"])
    }

    /// Run `f` on a thread inside this namespace.
    pub fn within<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/var/run/netns/{}", self.0);
        std::thread::spawn(move || {
            let ns = File::open(&path).expect("netns file");
            // SAFETY: setns on a valid namespace descriptor changes only this thread.
            assert_eq!(
                unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) },
                0
            );
            f()
        })
        .join()
        .expect("namespace thread")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = sh(&["ip", "netns", "del", &self.0]);
    }
}

pub struct TempFile(pub String);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
