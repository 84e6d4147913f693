//! The kernel's rate estimator (`ip_vs_est.c`, Linux 6.1), driven by the injected clock.
//!
//! Every 2 seconds the counters are sampled; the difference since the previous sample is
//! scaled (×2^9 for connections and packets, ×2^4 for bytes) and folded into a moving
//! average with weight 1/4: `avg += (sample − avg) >> 2` (about an 8-second window).
//! The rates read back are per second: `(avg + 0x1FF) >> 10` and `(avg + 0xF) >> 5`
//! (the extra shift by one divides the 2-second difference by two).

use crate::model::{Rates, Stats};
use crate::time::Instant;

/// Sampling period of the estimator.
pub const INTERVAL_MS: u64 = 2000;

/// Smoothed rates of one counted object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimator {
    last: Stats,
    cps: i64,
    in_pps: i64,
    out_pps: i64,
    in_bps: i64,
    out_bps: i64,
    next: Instant,
}

fn fold(avg: &mut i64, now: u64, last: u64, shift: u32) {
    let sample = (now.wrapping_sub(last) as i64).wrapping_shl(shift);
    *avg += (sample - *avg) >> 2;
}

impl Estimator {
    /// Start estimating from the counters `current` at `now`; the first sample is
    /// taken at `now + 2 s`.
    pub fn new(now: Instant, current: Stats) -> Self {
        Estimator {
            last: current,
            cps: 0,
            in_pps: 0,
            out_pps: 0,
            in_bps: 0,
            out_bps: 0,
            next: Instant::from_millis(now.as_millis().saturating_add(INTERVAL_MS)),
        }
    }

    /// Take the samples that are due at `now`. The counters' growth since the last
    /// sample goes into the first due sample; further missed periods (a late caller)
    /// count as periods without traffic. Returns how many samples were taken.
    pub fn tick(&mut self, now: Instant, current: Stats) -> u32 {
        let mut taken = 0;
        while now >= self.next {
            self.sample(current);
            self.next = Instant::from_millis(self.next.as_millis().saturating_add(INTERVAL_MS));
            taken += 1;
            if taken >= 64 {
                // After this many periods every average has decayed to its floor;
                // realign the grid instead of looping through a long pause.
                self.next = Instant::from_millis(now.as_millis().saturating_add(INTERVAL_MS));
                break;
            }
        }
        taken
    }

    fn sample(&mut self, s: Stats) {
        fold(&mut self.cps, s.conns, self.last.conns, 9);
        fold(&mut self.in_pps, s.in_pkts, self.last.in_pkts, 9);
        fold(&mut self.out_pps, s.out_pkts, self.last.out_pkts, 9);
        fold(&mut self.in_bps, s.in_bytes, self.last.in_bytes, 4);
        fold(&mut self.out_bps, s.out_bytes, self.last.out_bytes, 4);
        self.last = s;
    }

    /// The rates as ipvsadm shows them.
    pub fn rates(&self) -> Rates {
        let r =
            |avg: i64, round: i64, shift: u32| (avg.max(0).saturating_add(round) >> shift) as u64;
        Rates {
            cps: r(self.cps, 0x1FF, 10),
            in_pps: r(self.in_pps, 0x1FF, 10),
            out_pps: r(self.out_pps, 0x1FF, 10),
            in_bps: r(self.in_bps, 0xF, 5),
            out_bps: r(self.out_bps, 0xF, 5),
        }
    }

    /// `ipvsadm -Z`: forget the averages and restart from `current`.
    pub fn reset(&mut self, current: Stats) {
        let next = self.next;
        *self = Estimator::new(Instant::ZERO, current);
        self.next = next;
    }
}
