//! wrr: weighted round robin (ip_vs_wrr.c).
//!
//! State: a position in the list (`cl`, the head or the last pick), the current
//! weight bar `cw`, the step `di` = gcd of the positive weights and the top
//! `mw` = max weight - (di - 1), so that the last pass asks for weight >= 1.
//! Each pass from the position to the list end takes the first usable server
//! with weight >= cw; reaching the end lowers cw by di, and cw <= 0 starts over
//! at mw. Any list or weight change puts the position back at the head and
//! re-aligns cw to the new step.

use super::{gcd_of_positive, DestLoad, SchedInput, Scheduler};
use crate::model::SchedulerKind;
use crate::time::Instant;

#[derive(Debug, Clone, Default)]
pub struct Wrr {
    /// Index of the last pick; `None` = the list head.
    cl: Option<usize>,
    cw: i32,
    mw: i32,
    di: i32,
}

impl Wrr {
    pub fn new() -> Self {
        Wrr {
            cl: None,
            cw: 0,
            mw: 0,
            di: 1,
        }
    }
}

impl Scheduler for Wrr {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::Wrr
    }

    fn update(&mut self, dests: &[DestLoad], _now: Instant) {
        self.cl = None;
        self.di = match gcd_of_positive(dests.iter().map(|d| d.weight)) {
            0 => 1,
            g => g,
        };
        let max = dests.iter().map(|d| d.weight).fold(0, i32::max);
        self.mw = max - (self.di - 1);
        if self.cw > self.mw || self.cw == 0 {
            self.cw = self.mw;
        } else if self.di > 1 {
            self.cw = (self.cw / self.di) * self.di + 1;
        }
    }

    fn schedule(
        &mut self,
        dests: &[DestLoad],
        _input: &SchedInput,
        _now: Instant,
    ) -> Option<usize> {
        if self.mw <= 0 {
            return None;
        }
        let last = self.cl.filter(|&i| i < dests.len());
        let mut pos = last;
        let mut stop: Option<usize> = None;
        let (mut last_pass, mut restarted) = (false, false);
        // The kernel's loop ends after at most about 2 * mw / di passes; the bound
        // only guards against a state the kernel cannot reach.
        let max_passes = 2 * (self.mw / self.di.max(1)) as usize + 4;
        for _ in 0..max_passes {
            let start = pos.map_or(0, |p| p + 1);
            for (i, d) in dests.iter().enumerate().skip(start) {
                if !d.overloaded && d.weight >= self.cw {
                    self.cl = Some(i);
                    return Some(i);
                }
                if stop == Some(i) {
                    self.cl = Some(i);
                    return None;
                }
            }
            pos = None;
            self.cw -= self.di;
            if self.cw <= 0 {
                self.cw = self.mw;
                if last_pass || last.is_none() {
                    self.cl = None;
                    return None;
                }
                restarted = true;
            }
            last_pass = self.cw <= self.di;
            if last_pass && restarted && last.is_some() {
                stop = last;
            }
        }
        self.cl = None;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testutil::{client, dests};

    fn seq(w: &mut Wrr, d: &[DestLoad], n: usize) -> String {
        (0..n)
            .map(|_| match w.schedule(d, &client(0, 1, 1), Instant::ZERO) {
                Some(i) => char::from(b'a' + i as u8),
                None => '-',
            })
            .collect()
    }

    #[test]
    fn weights_3_2_1_interleave() {
        let d = dests(&[3, 2, 1]);
        let mut w = Wrr::new();
        w.update(&d, Instant::ZERO);
        assert_eq!(seq(&mut w, &d, 12), "aababcaababc");
    }

    #[test]
    fn gcd_steps_and_zero_weight() {
        let d = dests(&[4, 0, 2]);
        let mut w = Wrr::new();
        w.update(&d, Instant::ZERO);
        assert_eq!(seq(&mut w, &d, 6), "aacaac");
    }

    #[test]
    fn all_zero_or_overloaded_is_none() {
        let mut d = dests(&[0, 0]);
        let mut w = Wrr::new();
        w.update(&d, Instant::ZERO);
        assert_eq!(seq(&mut w, &d, 2), "--");
        d = dests(&[2, 1]);
        w.update(&d, Instant::ZERO);
        d[0].overloaded = true;
        d[1].overloaded = true;
        assert_eq!(seq(&mut w, &d, 2), "--");
        d[1].overloaded = false;
        assert_eq!(seq(&mut w, &d, 3), "bbb");
    }

    #[test]
    fn update_restarts_from_the_head() {
        let d = dests(&[1, 1, 1]);
        let mut w = Wrr::new();
        w.update(&d, Instant::ZERO);
        assert_eq!(seq(&mut w, &d, 2), "ab");
        w.update(&d, Instant::ZERO);
        assert_eq!(seq(&mut w, &d, 2), "ab");
    }
}
