//! ovf: overflow-connection (ip_vs_ovf.c): the highest-weight usable server
//! whose active connections do not exceed its weight; the first wins ties.

use super::{DestLoad, SchedInput, Scheduler};
use crate::model::SchedulerKind;
use crate::time::Instant;

#[derive(Debug, Clone, Copy, Default)]
pub struct Ovf;

impl Scheduler for Ovf {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::Ovf
    }

    fn update(&mut self, _dests: &[DestLoad], _now: Instant) {}

    fn schedule(
        &mut self,
        dests: &[DestLoad],
        _input: &SchedInput,
        _now: Instant,
    ) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (i, d) in dests.iter().enumerate() {
            if !d.usable() || i64::from(d.active) > i64::from(d.weight) {
                continue;
            }
            if best.is_none_or(|b| d.weight > dests[b].weight) {
                best = Some(i);
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
    fn highest_weight_until_active_exceeds_it() {
        let mut d = dests(&[1, 3, 3]);
        let c = client(0, 1, 1);
        assert_eq!(Ovf.schedule(&d, &c, Instant::ZERO), Some(1));
        d[1].active = 3; // still not above its weight
        assert_eq!(Ovf.schedule(&d, &c, Instant::ZERO), Some(1));
        d[1].active = 4;
        assert_eq!(Ovf.schedule(&d, &c, Instant::ZERO), Some(2));
        d[2].active = 4;
        assert_eq!(Ovf.schedule(&d, &c, Instant::ZERO), Some(0));
        d[0].active = 2;
        assert_eq!(Ovf.schedule(&d, &c, Instant::ZERO), None);
    }
}
