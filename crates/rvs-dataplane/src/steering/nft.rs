//! Applying a steering ruleset with the `nft` tool, and taking it away again.

use std::fs::File;
use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};

use super::Steering;

/// Why nft refused or could not run.
#[derive(Debug)]
pub enum SteeringError {
    /// `nft` could not be started (not installed?).
    Spawn(std::io::Error),
    /// `nft` ran and rejected the script: its message.
    Rejected(String),
    /// A table name nft would not accept (letters, digits and `_` only, ≤ 64).
    BadName(String),
}

impl core::fmt::Display for SteeringError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SteeringError::Spawn(e) => write!(f, "cannot run nft: {e}"),
            SteeringError::Rejected(msg) => write!(f, "nft rejected the steering rules: {msg}"),
            SteeringError::BadName(n) => write!(
                f,
                "bad steering table name {n:?}: use 1 to 64 letters, digits or '_', starting with a letter"
            ),
        }
    }
}

impl std::error::Error for SteeringError {}

fn check_name(name: &str) -> Result<(), SteeringError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(SteeringError::BadName(name.to_string()))
    }
}

/// Whether the `nft` tool can be run.
pub fn nft_available() -> bool {
    Command::new("nft")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// An `nft` command that runs in network namespace `netns` (the namespace the
/// steering was installed in, whichever thread later updates or removes it).
fn nft_command(netns: Option<&File>) -> Command {
    let mut cmd = Command::new("nft");
    if let Some(ns) = netns {
        let fd = ns.as_raw_fd();
        // SAFETY: the closure runs in the forked child before exec and only makes
        // the async-signal-safe setns(2) call on a descriptor the parent keeps open.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    cmd
}

fn run_nft(script: &str, netns: Option<&File>) -> Result<(), SteeringError> {
    let mut child = nft_command(netns)
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(SteeringError::Spawn)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(SteeringError::Spawn)?;
    }
    let out = child.wait_with_output().map_err(SteeringError::Spawn)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(SteeringError::Rejected(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

/// Remove table `netdev <name>` if it exists: the leftovers of a killed instance.
/// Returns whether a table was there.
pub fn cleanup_stale(name: &str) -> Result<bool, SteeringError> {
    cleanup_in(name, None)
}

fn cleanup_in(name: &str, netns: Option<&File>) -> Result<bool, SteeringError> {
    check_name(name)?;
    let exists = nft_command(netns)
        .args(["list", "table", "netdev", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(SteeringError::Spawn)?
        .success();
    if exists {
        run_nft(&format!("delete table netdev {name}\n"), netns)?;
    }
    Ok(exists)
}

/// Remove the `rvs_<pid>` tables (the default names) whose process is gone: what
/// killed instances left behind, which would otherwise keep hiding packets from
/// the kernel. Returns the names removed.
pub fn cleanup_dead_instances() -> Result<Vec<String>, SteeringError> {
    let out = Command::new("nft")
        .args(["list", "tables", "netdev"])
        .stderr(Stdio::null())
        .output()
        .map_err(SteeringError::Spawn)?;
    let mut removed = Vec::new();
    for name in dead_instance_tables(&String::from_utf8_lossy(&out.stdout), |pid| {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
    }) {
        if cleanup_stale(&name)? {
            removed.push(name);
        }
    }
    Ok(removed)
}

/// The `rvs_<pid>` tables of an `nft list tables` listing whose pid is not alive.
fn dead_instance_tables(listing: &str, alive: impl Fn(u32) -> bool) -> Vec<String> {
    listing
        .lines()
        .filter_map(|l| l.trim().strip_prefix("table netdev "))
        .filter(|name| {
            name.strip_prefix("rvs_")
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| !alive(pid))
        })
        .map(str::to_string)
        .collect()
}

/// The installed steering table of one rvsd instance. Dropping it removes the
/// table; [`SteeringGuard::shutdown`] does the same and reports errors.
#[derive(Debug)]
pub struct SteeringGuard {
    table: String,
    interfaces: Vec<String>,
    installed: bool,
    /// The network namespace of the installing thread.
    netns: Option<File>,
}

impl SteeringGuard {
    /// Install `steering` (in the calling thread's network namespace) as table `netdev <table>` with one ingress chain per
    /// interface, replacing any table of that name.
    pub fn install(
        table: &str,
        interfaces: &[String],
        steering: &Steering,
    ) -> Result<SteeringGuard, SteeringError> {
        check_name(table)?;
        let mut guard = SteeringGuard {
            table: table.to_string(),
            interfaces: interfaces.to_vec(),
            installed: false,
            netns: File::open("/proc/thread-self/ns/net").ok(),
        };
        guard.update(steering)?;
        Ok(guard)
    }

    /// Replace the claim atomically: packets are never unclaimed in between. On
    /// error the previous rules stay in force.
    pub fn update(&mut self, steering: &Steering) -> Result<(), SteeringError> {
        run_nft(
            &steering.ruleset(&self.table, &self.interfaces),
            self.netns.as_ref(),
        )?;
        self.installed = true;
        Ok(())
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Remove the table now.
    pub fn shutdown(mut self) -> Result<(), SteeringError> {
        self.remove()
    }

    fn remove(&mut self) -> Result<(), SteeringError> {
        if !self.installed {
            return Ok(());
        }
        self.installed = false;
        cleanup_in(&self.table, self.netns.as_ref()).map(|_| ())
    }
}

impl Drop for SteeringGuard {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            eprintln!("rvs-dataplane: removing steering table {}: {e}", self.table);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_default_names_of_dead_processes_are_stale() {
        let listing = "table netdev rvs_100\ntable netdev rvs_200\ntable netdev rvs_main\n\
                       table netdev rvs_dp1\ntable inet rvs_300\ntable netdev other_400\n";
        let dead = dead_instance_tables(listing, |pid| pid == 200);
        assert_eq!(dead, vec!["rvs_100".to_string()]);
    }

    #[test]
    fn table_names_are_checked() {
        assert!(check_name("rvs_123").is_ok());
        for bad in [
            "",
            "1rvs",
            "rvs-1",
            "rvs 1",
            "rvs;flush ruleset",
            &"a".repeat(65),
        ] {
            assert!(
                matches!(check_name(bad), Err(SteeringError::BadName(_))),
                "{bad}"
            );
        }
    }
}
