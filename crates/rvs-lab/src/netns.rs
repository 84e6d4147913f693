//! Network namespaces and veth links that clean themselves up.
//!
//! Everything the lab creates is recorded in a [`Lab`]; dropping it deletes the
//! namespaces (which takes their interfaces with them) and ends the processes it
//! started, by PID. Names carry a per-lab prefix so parallel labs never collide.

use std::io;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};

/// An error from a command the lab ran, with what it printed.
#[derive(Debug)]
pub struct LabError(pub String);

impl std::fmt::Display for LabError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LabError {}

impl From<io::Error> for LabError {
    fn from(e: io::Error) -> Self {
        LabError(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, LabError>;

/// Run a command to completion; fail with its stderr if it exits non-zero.
pub fn run(cmd: &mut Command) -> Result<Output> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LabError(format!("{:?}: {e}", cmd.get_program())))?;
    if !out.status.success() {
        return Err(LabError(format!(
            "`{}` failed ({}): {}",
            describe(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out)
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// `ip ARGS...` in the lab's own namespace (the caller's).
pub fn ip(args: &[&str]) -> Result<Output> {
    run(Command::new("ip").args(args))
}

/// What a lab owns: namespaces and child processes, released in reverse order.
#[derive(Debug, Default)]
struct Owned {
    namespaces: Vec<String>,
    children: Vec<(String, Child)>,
    files: Vec<std::path::PathBuf>,
}

/// A set of namespaces and processes with a common name prefix.
/// Cloning shares the same ownership (cleanup happens once, at [`Lab::cleanup`] or
/// when the last clone drops).
#[derive(Debug, Clone)]
pub struct Lab {
    prefix: String,
    owned: Arc<Mutex<Owned>>,
}

impl Lab {
    /// A lab whose names start with `prefix` (keep it short: interface names are
    /// limited to 15 bytes).
    pub fn new(prefix: &str) -> Lab {
        Lab {
            prefix: prefix.to_string(),
            owned: Arc::new(Mutex::new(Owned::default())),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Full name of a lab object: `<prefix><name>`.
    pub fn name(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }

    /// Create namespace `<prefix><name>` with loopback up; returns its full name.
    pub fn add_netns(&self, name: &str) -> Result<String> {
        let full = self.name(name);
        // A leftover of a killed earlier run with the same name goes first.
        let _ = Command::new("ip")
            .args(["netns", "del", &full])
            .stderr(Stdio::null())
            .status();
        ip(&["netns", "add", &full])?;
        self.lock().namespaces.push(full.clone());
        self.exec(&full, &["ip", "link", "set", "lo", "up"])?;
        Ok(full)
    }

    /// A veth pair between two namespaces: `a_if` in `a`, `b_if` in `b`, both up.
    pub fn veth(&self, a: &str, a_if: &str, b: &str, b_if: &str) -> Result<()> {
        ip(&[
            "link", "add", a_if, "netns", a, "type", "veth", "peer", "name", b_if, "netns", b,
        ])?;
        self.exec(a, &["ip", "link", "set", a_if, "up"])?;
        self.exec(b, &["ip", "link", "set", b_if, "up"])?;
        Ok(())
    }

    /// Run a command inside namespace `ns` and wait for it.
    pub fn exec(&self, ns: &str, args: &[&str]) -> Result<Output> {
        run(Command::new("ip").args(["netns", "exec", ns]).args(args))
    }

    /// `sysctl -qw K=V` inside `ns`.
    pub fn sysctl(&self, ns: &str, kv: &str) -> Result<()> {
        self.exec(ns, &["sysctl", "-qw", kv]).map(|_| ())
    }

    /// Start a long-running process inside `ns`; it is ended (by PID) at cleanup.
    pub fn spawn(&self, label: &str, ns: &str, program: &str, args: &[&str]) -> Result<u32> {
        self.spawn_with(label, ns, program, args, Stdio::null(), Stdio::inherit())
    }

    /// Like [`Lab::spawn`], choosing where stdout and stderr go.
    pub fn spawn_with(
        &self,
        label: &str,
        ns: &str,
        program: &str,
        args: &[&str],
        stdout: Stdio,
        stderr: Stdio,
    ) -> Result<u32> {
        let child = Command::new("ip")
            .args(["netns", "exec", ns, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| LabError(format!("starting {label} ({program}): {e}")))?;
        let pid = child.id();
        self.lock().children.push((label.to_string(), child));
        Ok(pid)
    }

    /// A file the lab's tools wrote that cleanup removes.
    pub fn track_file(&self, path: std::path::PathBuf) {
        self.lock().files.push(path);
    }

    /// Stop one process started by this lab (SIGTERM, then SIGKILL after 3 s).
    /// Returns false if the lab has no such process.
    pub fn stop(&self, label: &str) -> bool {
        let child = {
            let mut owned = self.lock();
            let Some(i) = owned.children.iter().position(|(l, _)| l == label) else {
                return false;
            };
            owned.children.remove(i).1
        };
        terminate(child);
        true
    }

    /// Whether a process started by this lab is still running.
    pub fn is_running(&self, label: &str) -> bool {
        let mut owned = self.lock();
        owned
            .children
            .iter_mut()
            .find(|(l, _)| l == label)
            .is_some_and(|(_, c)| matches!(c.try_wait(), Ok(None)))
    }

    /// End every process and delete every namespace of this lab. Idempotent.
    pub fn cleanup(&self) {
        let (children, namespaces, files) = {
            let mut owned = self.lock();
            (
                std::mem::take(&mut owned.children),
                std::mem::take(&mut owned.namespaces),
                std::mem::take(&mut owned.files),
            )
        };
        for f in files {
            let _ = std::fs::remove_file(f);
        }
        for (_, child) in children.into_iter().rev() {
            terminate(child);
        }
        for ns in namespaces.into_iter().rev() {
            let _ = Command::new("ip")
                .args(["netns", "del", &ns])
                .stderr(Stdio::null())
                .status();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Owned> {
        // A panic while holding the lock leaves consistent data: keep going.
        self.owned.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if Arc::strong_count(&self.owned) == 1 {
            self.cleanup();
        }
    }
}

/// SIGTERM a child we started (the `ip netns exec` wrapper execs the program, so the
/// PID is the program's), wait up to 3 s, then SIGKILL.
fn terminate(mut child: Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    for _ in 0..30 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Whether we can build namespaces here (root, with `ip`).
pub fn can_build_labs() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.trim_ascii() == b"0")
        .unwrap_or(false);
    root && Command::new("ip")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_ok()
}
