//! rvsd running in a lab's director namespace, driven with rvsadm.

use crate::bins;
use crate::netns::{run, Lab, LabError, Result};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A running rvsd and the socket to reach it.
#[derive(Debug)]
pub struct Director {
    lab: Lab,
    label: String,
    socket: PathBuf,
    rvsadm: PathBuf,
}

impl Director {
    /// Start rvsd in namespace `ns` on `ifaces`, with extra arguments, and wait until
    /// its control socket answers.
    pub fn start(lab: &Lab, ns: &str, ifaces: &[&str], extra: &[&str]) -> Result<Director> {
        let rvsd = bins::find("rvsd").map_err(LabError)?;
        let rvsadm = bins::find("rvsadm").map_err(LabError)?;
        let socket = PathBuf::from(format!("/run/rvs/{ns}.sock"));
        let label = format!("rvsd@{ns}");
        let mut args: Vec<String> = vec!["--socket".into(), socket.display().to_string()];
        for i in ifaces {
            args.push("--iface".into());
            args.push((*i).to_string());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        lab.spawn_with(
            &label,
            ns,
            &rvsd.display().to_string(),
            &argv,
            Stdio::null(),
            Stdio::inherit(),
        )?;
        let director = Director {
            lab: lab.clone(),
            label,
            socket,
            rvsadm,
        };
        director.wait_ready(Duration::from_secs(10))?;
        Ok(director)
    }

    fn wait_ready(&self, limit: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            if self.rvsadm(&["-Ln"]).is_ok() {
                return Ok(());
            }
            if !self.lab.is_running(&self.label) {
                return Err(LabError(
                    "rvsd exited during start-up (see its log above)".into(),
                ));
            }
            if start.elapsed() > limit {
                return Err(LabError(format!(
                    "rvsd did not answer on {} in time",
                    self.socket.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Run `rvsadm ARGS` against this director; returns its stdout.
    pub fn rvsadm(&self, args: &[&str]) -> Result<String> {
        let out = run(Command::new(&self.rvsadm)
            .arg("--socket")
            .arg(&self.socket)
            .args(args))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Feed lines to `rvsadm -R`.
    pub fn restore(&self, lines: &str) -> Result<()> {
        use std::io::Write;
        let mut child = Command::new(&self.rvsadm)
            .arg("--socket")
            .arg(&self.socket)
            .arg("-R")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(lines.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        if out.status.success() {
            Ok(())
        } else {
            Err(LabError(format!(
                "rvsadm -R failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    pub fn socket(&self) -> &PathBuf {
        &self.socket
    }

    /// Stop rvsd (SIGTERM, as an operator would).
    pub fn stop(&self) -> bool {
        self.lab.stop(&self.label)
    }
}
