//! keepalived's checker timing, resolved per checker, and its retry rules as a small
//! I/O-free state machine.

use core::time::Duration;

use crate::config::model::{CheckerConfig, CheckerKind, RealServer, Timing, VirtualServer};

/// The timing of one checker after inheritance (virtual server → real server →
/// checker) and the checker type's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckTiming {
    pub delay_loop: Duration,
    pub connect_timeout: Duration,
    pub retry: u32,
    pub delay_before_retry: Duration,
    /// The first probe waits a random time up to this.
    pub warmup: Duration,
}

impl CheckTiming {
    pub fn resolve(vs: &VirtualServer, rs: &RealServer, c: &CheckerConfig) -> CheckTiming {
        let t: Timing = c.timing.over(&rs.timing.over(&vs.timing));
        let delay_loop = t.delay_loop.unwrap_or(Duration::from_secs(60));
        let (retry, dbr) = match c.kind {
            CheckerKind::Http(_) => (1, Duration::from_secs(3)),
            CheckerKind::Dns { .. } => (3, delay_loop),
            CheckerKind::Misc(_) => (0, Duration::from_secs(1)),
            _ => (1, Duration::from_secs(1)),
        };
        CheckTiming {
            delay_loop,
            connect_timeout: t.connect_timeout.unwrap_or(Duration::from_secs(5)),
            retry: t.retry.unwrap_or(retry),
            delay_before_retry: t.delay_before_retry.unwrap_or(dbr),
            warmup: t.warmup.unwrap_or(delay_loop),
        }
    }

    /// The longest a server that dies just after a successful probe can stay "up":
    /// the wait to the next probe, then every attempt timing out, with the pauses
    /// between retries.
    pub fn worst_detection(&self) -> Duration {
        self.delay_loop
            + self.connect_timeout * (self.retry + 1)
            + self.delay_before_retry * self.retry
    }
}

/// keepalived's per-checker state: an up checker that fails is retried `retry` times,
/// `delay_before_retry` apart, before it is declared down; a down checker is probed
/// every `delay_loop` and comes up on its first success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryState {
    is_up: bool,
    has_run: bool,
    retry_it: u32,
}

impl RetryState {
    /// `alpha`: start down (keepalived's alpha mode).
    pub fn new(alpha: bool) -> RetryState {
        RetryState {
            is_up: !alpha,
            has_run: false,
            retry_it: 0,
        }
    }

    pub fn is_up(&self) -> bool {
        self.is_up
    }

    /// Feeds one probe result; returns the new state if it changed (or if this first
    /// probe confirms it) and the delay before the next probe.
    pub fn on_result(&mut self, success: bool, t: &CheckTiming) -> (Option<bool>, Duration) {
        let mut delay = t.delay_loop;
        let mut report = None;
        let first = !self.has_run;
        if success || ((self.is_up || first) && self.retry_it >= t.retry) {
            self.retry_it = 0;
            if success && (!self.is_up || first) {
                self.is_up = true;
                report = Some(true);
            } else if !success && (self.is_up || first) {
                self.is_up = false;
                report = Some(false);
            }
        } else if self.is_up {
            delay = t.delay_before_retry;
            self.retry_it += 1;
        }
        self.has_run = true;
        (report, delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(retry: u32) -> CheckTiming {
        CheckTiming {
            delay_loop: Duration::from_secs(6),
            connect_timeout: Duration::from_secs(3),
            retry,
            delay_before_retry: Duration::from_secs(2),
            warmup: Duration::ZERO,
        }
    }

    #[test]
    fn retries_before_declaring_down() {
        let t = t(2);
        let mut s = RetryState::new(false);
        assert_eq!(s.on_result(true, &t), (Some(true), t.delay_loop));
        assert_eq!(s.on_result(false, &t), (None, t.delay_before_retry));
        assert_eq!(s.on_result(false, &t), (None, t.delay_before_retry));
        assert_eq!(s.on_result(false, &t), (Some(false), t.delay_loop));
        // Down: no retries, one success brings it back.
        assert_eq!(s.on_result(false, &t), (None, t.delay_loop));
        assert_eq!(s.on_result(true, &t), (Some(true), t.delay_loop));
        // A success in the middle of retries resets the count.
        assert_eq!(s.on_result(false, &t), (None, t.delay_before_retry));
        assert_eq!(s.on_result(true, &t), (None, t.delay_loop));
        assert_eq!(s.on_result(false, &t), (None, t.delay_before_retry));
        assert_eq!(s.on_result(false, &t), (None, t.delay_before_retry));
        assert_eq!(s.on_result(false, &t), (Some(false), t.delay_loop));
    }

    #[test]
    fn alpha_starts_down_and_zero_retry_fails_at_once() {
        let t0 = t(0);
        let mut s = RetryState::new(true);
        assert!(!s.is_up());
        assert_eq!(s.on_result(false, &t0), (Some(false), t0.delay_loop));
        assert_eq!(s.on_result(true, &t0), (Some(true), t0.delay_loop));
        assert_eq!(s.on_result(false, &t0), (Some(false), t0.delay_loop));
        assert_eq!(t(1).worst_detection(), Duration::from_secs(6 + 3 * 2 + 2));
    }
}
