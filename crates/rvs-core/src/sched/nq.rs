//! nq: never queue (ip_vs_nq.c): the first usable server with no active
//! connection, otherwise the shortest expected delay (as sed).

use super::sed::expected_delay;
use super::{DestLoad, SchedInput, Scheduler};
use crate::model::SchedulerKind;
use crate::time::Instant;

#[derive(Debug, Clone, Copy, Default)]
pub struct Nq;

impl Scheduler for Nq {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::Nq
    }

    fn update(&mut self, _dests: &[DestLoad], _now: Instant) {}

    fn schedule(
        &mut self,
        dests: &[DestLoad],
        _input: &SchedInput,
        _now: Instant,
    ) -> Option<usize> {
        let mut least: Option<(usize, i64)> = None;
        for (i, d) in dests.iter().enumerate() {
            if !d.usable() {
                continue;
            }
            if d.active == 0 {
                return Some(i);
            }
            let doh = expected_delay(d) as i64;
            let better = match least {
                None => true,
                Some((l, loh)) => loh * i64::from(d.weight) > doh * i64::from(dests[l].weight),
            };
            if better {
                least = Some((i, doh));
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
    fn idle_first_then_expected_delay() {
        let mut d = dests(&[1, 1, 4]);
        let c = client(0, 1, 1);
        d[0].active = 1;
        d[1].inactive = 9;
        assert_eq!(Nq.schedule(&d, &c, Instant::ZERO), Some(1));
        d[1].active = 1;
        d[2].active = 1;
        // 2/1, 2/1, 2/4
        assert_eq!(Nq.schedule(&d, &c, Instant::ZERO), Some(2));
        d[2].active = 7; // 8/4 = 2/1: tie, the first wins
        assert_eq!(Nq.schedule(&d, &c, Instant::ZERO), Some(0));
        d[2].weight = 0;
        d[0].overloaded = true;
        d[1].overloaded = true;
        assert_eq!(Nq.schedule(&d, &c, Instant::ZERO), None);
    }
}
