//! fo: weighted failover (ip_vs_fo.c): the usable server with the highest
//! weight; the first one in list order wins ties.

use super::{DestLoad, SchedInput, Scheduler};
use crate::model::SchedulerKind;
use crate::time::Instant;

#[derive(Debug, Clone, Copy, Default)]
pub struct Fo;

impl Scheduler for Fo {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::Fo
    }

    fn update(&mut self, _dests: &[DestLoad], _now: Instant) {}

    fn schedule(
        &mut self,
        dests: &[DestLoad],
        _input: &SchedInput,
        _now: Instant,
    ) -> Option<usize> {
        let mut best: Option<usize> = None;
        let mut hw = 0;
        for (i, d) in dests.iter().enumerate() {
            if !d.overloaded && d.weight > hw {
                best = Some(i);
                hw = d.weight;
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testutil::{client, dests};

    #[test]
    fn highest_weight_first_wins_ties() {
        let mut d = dests(&[2, 5, 5, 1]);
        let c = client(0, 1, 1);
        assert_eq!(Fo.schedule(&d, &c, Instant::ZERO), Some(1));
        d[1].overloaded = true;
        assert_eq!(Fo.schedule(&d, &c, Instant::ZERO), Some(2));
        d[2].active = 1000; // load does not matter
        assert_eq!(Fo.schedule(&d, &c, Instant::ZERO), Some(2));
        let z = dests(&[0, 0]);
        assert_eq!(Fo.schedule(&z, &c, Instant::ZERO), None);
    }
}
