//! lblcr: locality-based least connection with replication (ip_vs_lblcr.c).
//!
//! Each destination address maps to a *set* of servers. A decision takes the
//! weighted-least-loaded member; when that member is missing or busier than
//! its weight (while some server is below half of its own), a wlc pick over
//! all servers is used and added to the set. A set of two or more that has
//! not changed for the expiration time (24 h) loses its most loaded member.
//! Members are kept newest first, as the kernel adds them at the list head.

use super::lblc::{busier_than_weight, index_of};
use super::locality::LocalityTable;
use super::{weighted_least, DestLoad, SchedInput, Scheduler};
use crate::model::SchedulerKind;
use crate::time::Instant;
use core::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct ServerSet {
    /// Member ids, oldest first (iterate in reverse for the kernel's order).
    members: Vec<u32>,
    lastmod: Instant,
}

impl ServerSet {
    fn insert(&mut self, id: u32, now: Instant) {
        if !self.members.contains(&id) {
            self.members.push(id);
            self.lastmod = now;
        }
    }

    /// `ip_vs_dest_set_min`: weighted least loaded listed member.
    fn min(&self, dests: &[DestLoad]) -> Option<usize> {
        let mut least: Option<usize> = None;
        for &id in self.members.iter().rev() {
            let Some(i) = index_of(dests, id) else {
                continue;
            };
            let d = &dests[i];
            if d.overloaded {
                continue;
            }
            match least {
                None if d.weight > 0 => least = Some(i),
                None => {}
                Some(l) => {
                    let (loh, doh) = (d_load(&dests[l]), d_load(d));
                    if loh * i64::from(d.weight) > doh * i64::from(dests[l].weight) {
                        least = Some(i);
                    }
                }
            }
        }
        least
    }

    /// `ip_vs_dest_set_max`: weighted most loaded member with weight > 0.
    /// A member no longer listed counts as weight 0 (rvs keeps no counters for it).
    fn max(&self, dests: &[DestLoad]) -> Option<u32> {
        let mut most: Option<usize> = None;
        for &id in self.members.iter().rev() {
            let Some(i) = index_of(dests, id) else {
                continue;
            };
            let d = &dests[i];
            if d.weight <= 0 {
                continue;
            }
            match most {
                None => most = Some(i),
                Some(m) => {
                    let (moh, doh) = (d_load(&dests[m]), d_load(d));
                    if moh * i64::from(d.weight) < doh * i64::from(dests[m].weight) {
                        most = Some(i);
                    }
                }
            }
        }
        most.map(|i| dests[i].id)
    }

    fn erase(&mut self, id: u32, now: Instant) {
        if let Some(p) = self.members.iter().position(|&m| m == id) {
            self.members.remove(p);
            self.lastmod = now;
        }
    }
}

fn d_load(d: &DestLoad) -> i64 {
    d.overhead() as i64
}

fn reset(set: &mut ServerSet) {
    set.members.clear();
}

#[derive(Debug, Clone)]
pub struct Lblcr {
    table: LocalityTable<ServerSet>,
}

impl Default for Lblcr {
    fn default() -> Self {
        Self::new()
    }
}

impl Lblcr {
    pub fn new() -> Self {
        Lblcr {
            table: LocalityTable::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.len() == 0
    }
}

impl Scheduler for Lblcr {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::Lblcr
    }

    fn update(&mut self, dests: &[DestLoad], now: Instant) {
        self.table.arm(now);
        // Sets rarely grow past a few members; reserve that much per slot.
        let reserve = dests.len().clamp(1, 8);
        self.table.preallocate(|| ServerSet {
            members: Vec::with_capacity(reserve),
            lastmod: Instant::ZERO,
        });
    }

    fn schedule(&mut self, dests: &[DestLoad], input: &SchedInput, now: Instant) -> Option<usize> {
        let expiration = self.table.expiration;
        if let Some(e) = self.table.get(&input.dst) {
            let en = self.table.entry_mut(e);
            en.lastuse = now;
            let set = &mut en.value;
            let least = set.min(dests);
            if set.members.len() > 1 && now > set.lastmod + expiration {
                if let Some(m) = set.max(dests) {
                    set.erase(m, now);
                }
            }
            if let Some(i) = least {
                if !busier_than_weight(&dests[i], dests) {
                    return Some(i);
                }
            }
            let pick = weighted_least(dests, DestLoad::overhead)?;
            self.table.entry_mut(e).value.insert(dests[pick].id, now);
            return Some(pick);
        }
        let pick = weighted_least(dests, DestLoad::overhead)?;
        let n = self.table.insert(input.dst, now);
        let set = &mut self.table.entry_mut(n).value;
        set.members.clear();
        set.insert(dests[pick].id, now);
        Some(pick)
    }

    fn set_expiration(&mut self, expiration: Duration) {
        self.table.expiration = expiration;
    }

    fn tick(&mut self, now: Instant) {
        self.table.collect(now, reset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testutil::{client, dests};

    #[test]
    fn grows_the_set_under_load_and_uses_its_least_loaded_member() {
        let mut d = dests(&[1, 1, 1]);
        let mut s = Lblcr::new();
        s.update(&d, Instant::ZERO);
        let c = client(0, 1, 1);
        assert_eq!(s.schedule(&d, &c, Instant::ZERO), Some(0));
        d[0].active = 2; // busier than weight 1 while server 1 is idle
        assert_eq!(s.schedule(&d, &c, Instant::ZERO), Some(1));
        d[1].active = 1; // set {1, 0}: 1 is least loaded and not busier than its weight
        assert_eq!(s.schedule(&d, &c, Instant::ZERO), Some(1));
        d[1].active = 3;
        d[2].active = 3;
        d[0].active = 1;
        // Members 1 (768) and 0 (256): 0 is least, not busier than weight.
        assert_eq!(s.schedule(&d, &c, Instant::ZERO), Some(0));
    }

    #[test]
    fn an_unchanged_set_sheds_its_busiest_member_after_expiration() {
        let mut d = dests(&[1, 1]);
        let mut s = Lblcr::new();
        s.set_expiration(Duration::from_secs(100));
        s.update(&d, Instant::ZERO);
        let c = client(0, 1, 1);
        s.schedule(&d, &c, Instant::ZERO);
        d[0].active = 2;
        assert_eq!(s.schedule(&d, &c, Instant::ZERO), Some(1)); // set {1, 0}
        d[0].active = 0;
        d[1].active = 1;
        // At 101 s: least member is 0; then the busiest (1) is dropped.
        assert_eq!(s.schedule(&d, &c, Instant::from_secs(101)), Some(0));
        let e = s.table.get(&c.dst).unwrap();
        assert_eq!(s.table.entry_mut(e).value.members, [1u32]);
    }

    #[test]
    fn nothing_usable_is_none() {
        let mut d = dests(&[1]);
        let mut s = Lblcr::new();
        s.update(&d, Instant::ZERO);
        d[0].overloaded = true;
        assert_eq!(s.schedule(&d, &client(0, 1, 1), Instant::ZERO), None);
    }
}
