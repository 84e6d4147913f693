//! lc: least connection (ip_vs_lc.c): the usable server with the smallest
//! overhead (active * 256 + inactive); the first one in list order wins ties.

use super::{DestLoad, SchedInput, Scheduler};
use crate::model::SchedulerKind;
use crate::time::Instant;

#[derive(Debug, Clone, Copy, Default)]
pub struct Lc;

impl Scheduler for Lc {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::Lc
    }

    fn update(&mut self, _dests: &[DestLoad], _now: Instant) {}

    fn schedule(
        &mut self,
        dests: &[DestLoad],
        _input: &SchedInput,
        _now: Instant,
    ) -> Option<usize> {
        let mut least: Option<(usize, u64)> = None;
        for (i, d) in dests.iter().enumerate() {
            if !d.usable() {
                continue;
            }
            let oh = d.overhead();
            if least.is_none_or(|(_, l)| oh < l) {
                least = Some((i, oh));
            }
        }
        least.map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testutil::{client, dests};

    #[test]
    fn least_overhead_first_wins_ties() {
        let mut d = dests(&[1, 1, 1]);
        let c = client(0, 1, 1);
        assert_eq!(Lc.schedule(&d, &c, Instant::ZERO), Some(0));
        d[0].inactive = 300;
        d[1].active = 1;
        d[2].inactive = 256;
        // overheads 300, 256, 256: the earlier of the tied pair.
        assert_eq!(Lc.schedule(&d, &c, Instant::ZERO), Some(1));
        d[1].overloaded = true;
        assert_eq!(Lc.schedule(&d, &c, Instant::ZERO), Some(2));
        d[2].weight = 0;
        assert_eq!(Lc.schedule(&d, &c, Instant::ZERO), Some(0));
        d[0].weight = 0;
        assert_eq!(Lc.schedule(&d, &c, Instant::ZERO), None);
    }
}
