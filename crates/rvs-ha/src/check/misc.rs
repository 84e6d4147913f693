//! MISC_CHECK: run a command with `/bin/sh -c`. Exit 0 is up; with misc_dynamic an
//! exit status 2..=255 is up with weight status − 2; anything else (and running out
//! of misc_timeout) is down.

use core::time::Duration;

use super::{script, HealthCheck, Outcome, ProbeFuture};

pub struct MiscCheck {
    pub command: String,
    pub timeout: Duration,
    pub dynamic: bool,
}

impl HealthCheck for MiscCheck {
    fn probe(&self) -> ProbeFuture<'_> {
        Box::pin(async move {
            match script::run(&self.command, self.timeout).await {
                None => Outcome::Down(format!(
                    "MISC_CHECK '{}' did not finish within {:?}",
                    self.command, self.timeout
                )),
                Some(status) => outcome_of(status.code(), self.dynamic),
            }
        })
    }

    fn describe(&self) -> String {
        format!("MISC_CHECK '{}'", self.command)
    }
}

/// `code` is `None` when the script was killed by a signal.
pub fn outcome_of(code: Option<i32>, dynamic: bool) -> Outcome {
    match code {
        Some(0) => Outcome::Up,
        Some(c @ 2..=255) if dynamic => Outcome::UpWithWeight((c - 2) as u32),
        Some(c) => Outcome::Down(format!("MISC_CHECK exited with status {c}")),
        None => Outcome::Down("MISC_CHECK killed by a signal".to_string()),
    }
}
