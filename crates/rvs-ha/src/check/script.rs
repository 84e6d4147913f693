//! Running configured scripts (notify_up/down, quorum_up/down, MISC_CHECK) with
//! `/bin/sh -c`, always bounded in time.

use core::time::Duration;
use std::process::Stdio;

/// How long a notify script may run before it is killed.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `command`; `None` if it could not start or ran out of time (it is killed).
pub async fn run(command: &str, timeout: Duration) -> Option<std::process::ExitStatus> {
    let mut child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => Some(status),
        _ => {
            let _ = child.kill().await;
            None
        }
    }
}

/// Starts a notify script in the background (the engine never waits for it).
pub fn notify(command: &str) {
    let command = command.to_string();
    tokio::spawn(async move {
        let _ = run(&command, NOTIFY_TIMEOUT).await;
    });
}
