//! `setup` and `teardown`: the real-server configuration and its exact undo.

use core::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::args::{Mode, SetupArgs};
use crate::sysctl;

/// One sysctl changed by setup, with the value it had before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysctlChange {
    pub path: PathBuf,
    pub previous: String,
}

/// Everything setup changed, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub mode: Mode,
    /// VIPs setup added to lo (VIPs that were already there are not listed).
    pub added_vips: Vec<IpAddr>,
    pub sysctls: Vec<SysctlChange>,
    /// setup brought tunl0 up (it was down).
    pub tunl0_raised: bool,
    /// The kernel has no ipip module: `rvs-realserver decap` must run.
    pub needs_userspace_decap: bool,
}

fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn prefix(vip: &IpAddr) -> String {
    match vip {
        IpAddr::V4(_) => format!("{vip}/32"),
        IpAddr::V6(_) => format!("{vip}/128"),
    }
}

fn on_lo(vip: &IpAddr) -> Result<bool, String> {
    let text = ip(&["-o", "addr", "show", "dev", "lo"])?;
    let needle = format!(" {} ", prefix(vip));
    Ok(text.lines().any(|l| l.contains(&needle)))
}

fn ipip_available() -> bool {
    if Path::new("/sys/module/ipip").exists() {
        return true;
    }
    Command::new("modprobe")
        .arg("ipip")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
        && Path::new("/sys/module/ipip").exists()
}

fn link_is_up(name: &str) -> Result<Option<bool>, String> {
    match ip(&["-o", "link", "show", "dev", name]) {
        Ok(text) => Ok(Some(text.contains("<") && text.contains(",UP"))),
        Err(_) => Ok(None),
    }
}

impl State {
    fn new(mode: Mode) -> State {
        State {
            mode,
            added_vips: Vec::new(),
            sysctls: Vec::new(),
            tunl0_raised: false,
            needs_userspace_decap: false,
        }
    }

    fn set_sysctl(&mut self, path: PathBuf, value: &str) -> Result<(), String> {
        let previous = sysctl::read(&path)?;
        if previous != value {
            sysctl::write(&path, value)?;
            self.sysctls.push(SysctlChange { path, previous });
        }
        Ok(())
    }

    /// Undo everything recorded, newest first; returns the errors met (it goes on
    /// after an error so as much as possible is restored).
    fn undo(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if self.tunl0_raised {
            if let Err(e) = ip(&["link", "set", "tunl0", "down"]) {
                errors.push(e);
            }
        }
        for c in self.sysctls.iter().rev() {
            if let Err(e) = sysctl::write(&c.path, &c.previous) {
                errors.push(e);
            }
        }
        for vip in self.added_vips.iter().rev() {
            if let Err(e) = ip(&["addr", "del", &prefix(vip), "dev", "lo"]) {
                errors.push(e);
            }
        }
        errors
    }

    fn apply(&mut self, args: &SetupArgs) -> Result<(), String> {
        for vip in &args.vips {
            if !on_lo(vip)? {
                let p = prefix(vip);
                let mut cmd = vec!["addr", "add", p.as_str(), "dev", "lo"];
                if vip.is_ipv6() {
                    cmd.push("nodad");
                }
                ip(&cmd)?;
                self.added_vips.push(*vip);
            }
        }
        // Never answer ARP for the VIP, and never announce it as an ARP source.
        let mut ifaces = vec!["all", "lo"];
        if let Some(i) = &args.iface {
            ifaces.push(i);
        }
        for i in ifaces {
            self.set_sysctl(sysctl::ipv4_conf(i, "arp_ignore"), "1")?;
            self.set_sysctl(sysctl::ipv4_conf(i, "arp_announce"), "2")?;
        }
        if args.mode == Mode::Tun {
            // Inner packets come from clients that are routed through other
            // interfaces; the kernel applies max(all, device), so `all` must allow
            // it (each interface keeps its own setting).
            self.set_sysctl(sysctl::ipv4_conf("all", "rp_filter"), "0")?;
            if ipip_available() && link_is_up("tunl0")?.is_some() {
                if link_is_up("tunl0")? == Some(false) {
                    ip(&["link", "set", "tunl0", "up"])?;
                    self.tunl0_raised = true;
                }
                self.set_sysctl(sysctl::ipv4_conf("tunl0", "rp_filter"), "0")?;
                self.set_sysctl(sysctl::ipv4_conf("tunl0", "arp_ignore"), "1")?;
                self.set_sysctl(sysctl::ipv4_conf("tunl0", "arp_announce"), "2")?;
            } else {
                self.needs_userspace_decap = true;
            }
        }
        Ok(())
    }
}

fn save(path: &Path, state: &State) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(state).map_err(|e| e.to_string())?;
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Configure the host; on any error undo what was done and change nothing.
pub fn setup(args: &SetupArgs) -> Result<State, String> {
    if args.state.exists() {
        return Err(format!(
            "already set up (state file {} exists): run teardown first",
            args.state.display()
        ));
    }
    let mut state = State::new(args.mode);
    let result = state.apply(args).and_then(|()| save(&args.state, &state));
    if let Err(e) = result {
        let undo = state.undo();
        return Err(if undo.is_empty() {
            e
        } else {
            format!("{e} (and undoing: {})", undo.join("; "))
        });
    }
    Ok(state)
}

/// What `status` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    NotSetUp,
    /// Set up; the list says what no longer matches (empty: all in place).
    SetUp {
        state: State,
        drift: Vec<String>,
    },
}

/// Compare what setup recorded with the host now.
pub fn status(state_path: &Path) -> Result<Status, String> {
    let text = match std::fs::read_to_string(state_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Status::NotSetUp),
        Err(e) => return Err(format!("{}: {e}", state_path.display())),
    };
    let state: State = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a state file: {e}", state_path.display()))?;
    let mut drift = Vec::new();
    for vip in &state.added_vips {
        if !on_lo(vip)? {
            drift.push(format!("VIP {vip} is no longer on lo"));
        }
    }
    for c in &state.sysctls {
        let want = expected_value(&c.path);
        match (sysctl::read(&c.path), want) {
            (Ok(now), Some(want)) if now != want => {
                drift.push(format!("{} is {now}, setup set {want}", c.path.display()))
            }
            (Err(e), _) => drift.push(e),
            _ => {}
        }
    }
    Ok(Status::SetUp { state, drift })
}

/// The value setup writes to a sysctl of this name.
fn expected_value(path: &Path) -> Option<&'static str> {
    match path.file_name()?.to_str()? {
        "arp_ignore" => Some("1"),
        "arp_announce" => Some("2"),
        "rp_filter" => Some("0"),
        _ => None,
    }
}

/// Undo what the setup recorded in `state_path`, then delete the file.
pub fn teardown(state_path: &Path) -> Result<State, String> {
    let text = std::fs::read_to_string(state_path)
        .map_err(|e| format!("no setup to undo ({}: {e})", state_path.display()))?;
    let state: State = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a state file: {e}", state_path.display()))?;
    let errors = state.undo();
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    std::fs::remove_file(state_path)
        .map_err(|e| format!("removing {}: {e}", state_path.display()))?;
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_through_json() {
        let s = State {
            mode: Mode::Tun,
            added_vips: vec!["10.0.0.1".parse().unwrap()],
            sysctls: vec![SysctlChange {
                path: "/proc/sys/net/ipv4/conf/all/arp_ignore".into(),
                previous: "0".into(),
            }],
            tunl0_raised: false,
            needs_userspace_decap: true,
        };
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<State>(&text).unwrap(), s);
    }

    #[test]
    fn vip_prefixes_are_host_routes() {
        assert_eq!(prefix(&"10.1.2.3".parse().unwrap()), "10.1.2.3/32");
        assert_eq!(prefix(&"2001:db8::5".parse().unwrap()), "2001:db8::5/128");
    }
}
