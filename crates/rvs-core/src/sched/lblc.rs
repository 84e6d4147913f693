//! lblc: locality-based least connection (ip_vs_lblc.c).
//!
//! Each destination address is bound to one server, chosen by weighted least
//! connection the first time. The binding holds while that server is listed,
//! has weight > 0 and is not "overloaded" in lblc's own sense (more active
//! connections than its weight while some server has fewer than half its
//! weight active); otherwise a new wlc pick replaces it. Note that the
//! binding does not look at the OVERLOAD threshold flag, as in the kernel.

use super::locality::LocalityTable;
use super::{weighted_least, DestLoad, SchedInput, Scheduler};
use crate::model::SchedulerKind;
use crate::time::Instant;
use core::time::Duration;

#[derive(Debug, Clone)]
pub struct Lblc {
    /// Destination address -> id of the bound server.
    table: LocalityTable<u32>,
}

impl Default for Lblc {
    fn default() -> Self {
        Self::new()
    }
}

/// lblc/lblcr's `is_overloaded`: busier than its weight while another server
/// is below half of its own.
pub(crate) fn busier_than_weight(d: &DestLoad, dests: &[DestLoad]) -> bool {
    i64::from(d.active) > i64::from(d.weight)
        && dests
            .iter()
            .any(|m| i64::from(m.active) * 2 < i64::from(m.weight))
}

pub(crate) fn index_of(dests: &[DestLoad], id: u32) -> Option<usize> {
    dests.iter().position(|d| d.id == id)
}

impl Lblc {
    pub fn new() -> Self {
        Lblc {
            table: LocalityTable::new(),
        }
    }

    /// Number of cached destination addresses.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.len() == 0
    }
}

impl Scheduler for Lblc {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::Lblc
    }

    fn update(&mut self, _dests: &[DestLoad], now: Instant) {
        self.table.arm(now);
        self.table.preallocate(|| 0);
    }

    fn schedule(&mut self, dests: &[DestLoad], input: &SchedInput, now: Instant) -> Option<usize> {
        let cached = self.table.get(&input.dst);
        if let Some(e) = cached {
            let en = self.table.entry_mut(e);
            en.lastuse = now;
            if let Some(i) = index_of(dests, en.value) {
                if dests[i].weight > 0 && !busier_than_weight(&dests[i], dests) {
                    return Some(i);
                }
            }
        }
        let pick = weighted_least(dests, DestLoad::overhead)?;
        let id = dests[pick].id;
        match cached {
            Some(e) if self.table.entry_mut(e).value == id => {}
            Some(e) => {
                self.table.remove(e, |_| {});
                let n = self.table.insert(input.dst, now);
                self.table.entry_mut(n).value = id;
            }
            None => {
                let n = self.table.insert(input.dst, now);
                self.table.entry_mut(n).value = id;
            }
        }
        Some(pick)
    }

    fn set_expiration(&mut self, expiration: Duration) {
        self.table.expiration = expiration;
    }

    fn tick(&mut self, now: Instant) {
        self.table.collect(now, |_| {});
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testutil::{client, dests};
    use core::net::{IpAddr, Ipv4Addr};

    #[test]
    fn sticks_to_the_bound_server_until_it_is_busier_than_its_weight() {
        let mut d = dests(&[1, 2]);
        let mut s = Lblc::new();
        s.update(&d, Instant::ZERO);
        let c = client(0, 1, 1);
        assert_eq!(s.schedule(&d, &c, Instant::ZERO), Some(0));
        d[0].active = 1;
        d[1].active = 1; // wlc would now pick 1, but the binding holds
        assert_eq!(s.schedule(&d, &c, Instant::ZERO), Some(0));
        d[0].active = 2; // 2 > 1 and server 1 has 1*2 < 2? no: not below half
        assert_eq!(s.schedule(&d, &c, Instant::ZERO), Some(0));
        d[1].active = 0; // now someone is below half its weight: rebind
        assert_eq!(s.schedule(&d, &c, Instant::ZERO), Some(1));
        assert_eq!(s.len(), 1);
        // Another destination address gets its own binding.
        let mut c2 = c;
        c2.dst = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 101));
        assert_eq!(s.schedule(&d, &c2, Instant::ZERO), Some(1));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn removed_or_quiesced_server_is_replaced_and_none_when_nothing_usable() {
        let mut d = dests(&[1, 1]);
        let mut s = Lblc::new();
        s.update(&d, Instant::ZERO);
        let c = client(0, 1, 1);
        assert_eq!(s.schedule(&d, &c, Instant::ZERO), Some(0));
        d[0].weight = 0;
        assert_eq!(s.schedule(&d, &c, Instant::ZERO), Some(1));
        d.remove(1);
        assert_eq!(s.schedule(&d, &c, Instant::ZERO), None);
    }

    #[test]
    fn idle_bindings_expire_on_the_thirtieth_collection() {
        let d = dests(&[1]);
        let mut s = Lblc::new();
        s.set_expiration(Duration::from_secs(60));
        s.update(&d, Instant::ZERO);
        s.schedule(&d, &client(0, 1, 1), Instant::ZERO);
        s.tick(Instant::from_secs(29 * 60));
        assert_eq!(s.len(), 1);
        s.tick(Instant::from_secs(30 * 60));
        assert!(s.is_empty());
    }
}
