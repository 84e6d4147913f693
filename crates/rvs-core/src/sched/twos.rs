//! twos: power of two choices (ip_vs_twos.c, Linux 6.12).
//!
//! Two independent weighted-random picks among the usable servers, each a draw
//! in [0, total weight] walked down the list; the second pick wins only with a
//! strictly lower overhead/weight. The random source is seeded by the caller
//! so runs are reproducible.

use super::{DestLoad, SchedInput, Scheduler};
use crate::model::SchedulerKind;
use crate::time::Instant;

#[derive(Debug, Clone)]
pub struct Twos {
    rng: fastrand::Rng,
}

impl Twos {
    pub fn new(seed: u64) -> Self {
        Twos {
            rng: fastrand::Rng::with_seed(seed),
        }
    }
}

impl Scheduler for Twos {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::Twos
    }

    fn update(&mut self, _dests: &[DestLoad], _now: Instant) {}

    fn schedule(
        &mut self,
        dests: &[DestLoad],
        _input: &SchedInput,
        _now: Instant,
    ) -> Option<usize> {
        let total: i64 = dests
            .iter()
            .filter(|d| d.usable())
            .map(|d| i64::from(d.weight))
            .sum();
        let fallback = dests.iter().rposition(DestLoad::usable)?;
        // Draws are inclusive of the total, as the kernel's `% (total + 1)`.
        let mut r1 = self.rng.i64(0..=total);
        let mut r2 = self.rng.i64(0..=total);
        let mut choice1: Option<usize> = None;
        let mut choice2: Option<usize> = None;
        for (i, d) in dests.iter().enumerate() {
            if !d.usable() {
                continue;
            }
            r1 -= i64::from(d.weight);
            r2 -= i64::from(d.weight);
            if r1 <= 0 && choice1.is_none() {
                choice1 = Some(i);
            }
            if r2 <= 0 && choice2.is_none() {
                choice2 = Some(i);
            }
            if choice1.is_some() && choice2.is_some() {
                break;
            }
        }
        let c1 = choice1.unwrap_or(fallback);
        match choice2 {
            Some(c2) => {
                let (a, b) = (&dests[c1], &dests[c2]);
                let lhs = i128::from(b.weight) * i128::from(a.overhead());
                let rhs = i128::from(a.weight) * i128::from(b.overhead());
                Some(if lhs > rhs { c2 } else { c1 })
            }
            None => Some(c1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testutil::{client, dests};

    #[test]
    fn follows_weights_and_never_picks_weight_zero() {
        let d = dests(&[5, 1, 0]);
        let mut t = Twos::new(7);
        let mut n = [0usize; 3];
        for _ in 0..6000 {
            n[t.schedule(&d, &client(0, 1, 1), Instant::ZERO).unwrap()] += 1;
        }
        assert_eq!(n[2], 0);
        // With equal (zero) loads the first pick stands: P(first) = 6/7 (draws 0..=5 land on it).
        assert!(n[0] > 4800 && n[0] < 5500, "{n:?}");
    }

    #[test]
    fn lower_load_of_the_two_wins_and_none_when_unusable() {
        let mut d = dests(&[1, 1]);
        d[0].active = 10;
        let mut t = Twos::new(1);
        let picks: Vec<_> = (0..200)
            .map(|_| t.schedule(&d, &client(0, 1, 1), Instant::ZERO).unwrap())
            .collect();
        let loaded = picks.iter().filter(|&&i| i == 0).count();
        // It wins only when both draws land on it: 2/3 * 2/3 = 4/9.
        assert!(loaded > 60 && loaded < 120, "{loaded}");
        d[0].overloaded = true;
        d[1].weight = 0;
        assert_eq!(t.schedule(&d, &client(0, 1, 1), Instant::ZERO), None);
    }

    #[test]
    fn same_seed_same_sequence() {
        let d = dests(&[1, 2, 3]);
        let run = |seed| {
            let mut t = Twos::new(seed);
            (0..50)
                .map(|_| t.schedule(&d, &client(0, 1, 1), Instant::ZERO))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }
}
