//! sed: shortest expected delay (ip_vs_sed.c): the smallest (active + 1)/weight;
//! inactive connections are ignored.

use super::{weighted_least, DestLoad, SchedInput, Scheduler};
use crate::model::SchedulerKind;
use crate::time::Instant;

#[derive(Debug, Clone, Copy, Default)]
pub struct Sed;

/// `ip_vs_sed_dest_overhead`, shared with nq.
pub(crate) fn expected_delay(d: &DestLoad) -> u64 {
    u64::from(d.active) + 1
}

impl Scheduler for Sed {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::Sed
    }

    fn update(&mut self, _dests: &[DestLoad], _now: Instant) {}

    fn schedule(
        &mut self,
        dests: &[DestLoad],
        _input: &SchedInput,
        _now: Instant,
    ) -> Option<usize> {
        weighted_least(dests, expected_delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testutil::{client, dests};

    #[test]
    fn expected_delay_ignores_inactive() {
        let mut d = dests(&[1, 3]);
        let c = client(0, 1, 1);
        // 1/1 vs 1/3: the heavier server.
        assert_eq!(Sed.schedule(&d, &c, Instant::ZERO), Some(1));
        d[1].active = 2; // 3/3 = 1/1: tie, the first wins
        d[0].inactive = 1000;
        assert_eq!(Sed.schedule(&d, &c, Instant::ZERO), Some(0));
        d[0].weight = 0;
        d[1].overloaded = true;
        assert_eq!(Sed.schedule(&d, &c, Instant::ZERO), None);
    }
}
