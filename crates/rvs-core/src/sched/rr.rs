//! rr: round robin (ip_vs_rr.c).
//!
//! The kernel keeps a pointer into the server list: the last server picked, or
//! the list head before the first pick. A decision walks on from there, wrapping
//! once, and takes the first usable server. Adding servers does not move the
//! pointer (a new server lands at the head, so it is reached after the tail);
//! removing the pointed-to server moves the pointer to its predecessor, so the
//! walk resumes with the server that followed it. Weight edits leave it alone.

use super::{DestLoad, SchedInput, Scheduler};
use crate::model::SchedulerKind;
use crate::time::Instant;

#[derive(Debug, Clone, Default)]
pub struct Rr {
    /// Id of the last server picked; `None` = the list head.
    last: Option<u32>,
    /// Index of `last` in the slice as of the last update/decision (a hint, checked).
    last_index: usize,
    /// Server ids in list order as of the last update, to find a removed
    /// server's predecessor.
    order: Vec<u32>,
}

impl Rr {
    pub fn new() -> Self {
        Self::default()
    }

    /// Index of the remembered server in `dests`, `None` for the head.
    fn position(&self, dests: &[DestLoad]) -> Option<usize> {
        let id = self.last?;
        match dests.get(self.last_index) {
            Some(d) if d.id == id => Some(self.last_index),
            _ => dests.iter().position(|d| d.id == id),
        }
    }
}

impl Scheduler for Rr {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::Rr
    }

    fn update(&mut self, dests: &[DestLoad], _now: Instant) {
        if let Some(id) = self.last {
            if !dests.iter().any(|d| d.id == id) {
                // ip_vs_rr_del_dest: step back to the nearest predecessor still listed.
                let at = self.order.iter().position(|&o| o == id).unwrap_or(0);
                self.last = self.order[..at]
                    .iter()
                    .rev()
                    .copied()
                    .find(|&o| dests.iter().any(|d| d.id == o));
            }
        }
        self.order.clear();
        self.order.extend(dests.iter().map(|d| d.id));
        self.last_index = self.position(dests).unwrap_or(0);
    }

    fn schedule(
        &mut self,
        dests: &[DestLoad],
        _input: &SchedInput,
        _now: Instant,
    ) -> Option<usize> {
        let n = dests.len();
        // From the head: one pass over the list. From a server: the servers after
        // it, then from the head up to and including it.
        let (start, span) = match self.position(dests) {
            None => (0, n),
            Some(p) => (p + 1, n),
        };
        let pick = (0..span)
            .map(|k| (start + k) % n.max(1))
            .find(|&i| dests[i].usable())?;
        self.last = Some(dests[pick].id);
        self.last_index = pick;
        Some(pick)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testutil::{client, dests};

    fn run(rr: &mut Rr, d: &[DestLoad], n: usize) -> Vec<Option<usize>> {
        (0..n)
            .map(|_| rr.schedule(d, &client(0, 1, 1), Instant::ZERO))
            .collect()
    }

    #[test]
    fn cycles_in_list_order_skipping_unusable() {
        let mut d = dests(&[1, 0, 3, 2]);
        d[3].overloaded = true;
        let mut rr = Rr::new();
        rr.update(&d, Instant::ZERO);
        assert_eq!(run(&mut rr, &d, 4), [Some(0), Some(2), Some(0), Some(2)]);
    }

    #[test]
    fn nothing_usable_is_none_and_keeps_position() {
        let mut d = dests(&[1, 1]);
        let mut rr = Rr::new();
        rr.update(&d, Instant::ZERO);
        assert_eq!(run(&mut rr, &d, 1), [Some(0)]);
        d[0].weight = 0;
        d[1].overloaded = true;
        assert_eq!(run(&mut rr, &d, 1), [None]);
        d[0].weight = 1;
        d[1].overloaded = false;
        assert_eq!(run(&mut rr, &d, 1), [Some(1)]);
        assert_eq!(run(&mut rr, &[], 1), [None]);
    }

    #[test]
    fn removing_the_last_pick_resumes_with_its_successor() {
        let d = dests(&[1, 1, 1, 1]);
        let mut rr = Rr::new();
        rr.update(&d, Instant::ZERO);
        assert_eq!(run(&mut rr, &d, 2), [Some(0), Some(1)]);
        // Remove server id 2 (index 1): the next pick is the one after it (id 3).
        let d2: Vec<_> = d.iter().copied().filter(|x| x.id != 2).collect();
        rr.update(&d2, Instant::ZERO);
        assert_eq!(run(&mut rr, &d2, 1), [Some(1)]);
        assert_eq!(d2[1].id, 3);
    }

    #[test]
    fn an_added_server_at_the_head_comes_after_the_tail() {
        let d = dests(&[1, 1, 1]);
        let mut rr = Rr::new();
        rr.update(&d, Instant::ZERO);
        assert_eq!(run(&mut rr, &d, 2), [Some(0), Some(1)]);
        let mut d2 = dests(&[1, 1, 1, 1]);
        d2.rotate_right(1); // id 4 now heads the list
        rr.update(&d2, Instant::ZERO);
        let ids: Vec<u32> = run(&mut rr, &d2, 4)
            .into_iter()
            .map(|i| d2[i.unwrap()].id)
            .collect();
        assert_eq!(ids, [3, 4, 1, 2]);
    }
}
