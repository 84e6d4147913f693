//! wlc: weighted least connection (ip_vs_wlc.c): the smallest overhead/weight,
//! compared crosswise (`loh * w_d > doh * w_l`) so no division is needed.

use super::{weighted_least, DestLoad, SchedInput, Scheduler};
use crate::model::SchedulerKind;
use crate::time::Instant;

#[derive(Debug, Clone, Copy, Default)]
pub struct Wlc;

impl Scheduler for Wlc {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::Wlc
    }

    fn update(&mut self, _dests: &[DestLoad], _now: Instant) {}

    fn schedule(
        &mut self,
        dests: &[DestLoad],
        _input: &SchedInput,
        _now: Instant,
    ) -> Option<usize> {
        weighted_least(dests, DestLoad::overhead)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testutil::{client, dests};

    #[test]
    fn overhead_per_weight_with_ties_to_the_first() {
        let mut d = dests(&[1, 2, 3]);
        let c = client(0, 1, 1);
        assert_eq!(Wlc.schedule(&d, &c, Instant::ZERO), Some(0));
        d[0].active = 1; // 256/1
        d[1].active = 2; // 512/2 = 256: tie, the first stays
        d[2].active = 3; // 768/3 = 256
        assert_eq!(Wlc.schedule(&d, &c, Instant::ZERO), Some(0));
        d[0].inactive = 1;
        assert_eq!(Wlc.schedule(&d, &c, Instant::ZERO), Some(1));
        d[1].overloaded = true;
        assert_eq!(Wlc.schedule(&d, &c, Instant::ZERO), Some(2));
        d[2].weight = 0;
        assert_eq!(Wlc.schedule(&d, &c, Instant::ZERO), Some(0));
        d[0].overloaded = true;
        assert_eq!(Wlc.schedule(&d, &c, Instant::ZERO), None);
    }
}
