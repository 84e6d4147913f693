//! dh: destination hashing (ip_vs_dh.c).
//!
//! A 256-bucket table filled with the servers in list order, one bucket each,
//! round and round (weights are ignored). A packet's destination address picks
//! the bucket; if that server is unusable the connection is refused.

use super::hash::multiplicative;
use super::{DestLoad, SchedInput, Scheduler};
use crate::model::SchedulerKind;
use crate::time::Instant;

pub const DH_TABLE_SIZE: usize = 256;

#[derive(Debug, Clone)]
pub struct Dh {
    /// Index into the server slice per bucket; `None` while the list is empty.
    buckets: Box<[Option<u32>; DH_TABLE_SIZE]>,
}

impl Default for Dh {
    fn default() -> Self {
        Self::new()
    }
}

impl Dh {
    pub fn new() -> Self {
        Dh {
            buckets: Box::new([None; DH_TABLE_SIZE]),
        }
    }
}

impl Scheduler for Dh {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::Dh
    }

    fn update(&mut self, dests: &[DestLoad], _now: Instant) {
        let n = dests.len();
        for (i, b) in self.buckets.iter_mut().enumerate() {
            *b = (n > 0).then(|| (i % n.max(1)) as u32);
        }
    }

    fn schedule(&mut self, dests: &[DestLoad], input: &SchedInput, _now: Instant) -> Option<usize> {
        let i = self.buckets[multiplicative(&input.dst, (DH_TABLE_SIZE - 1) as u32)]? as usize;
        dests.get(i).filter(|d| d.usable()).map(|_| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testutil::{client, dests};
    use core::net::{IpAddr, Ipv4Addr};

    #[test]
    fn destination_address_picks_a_fixed_server() {
        let mut d = dests(&[1, 5, 1]);
        let mut dh = Dh::new();
        let mut c = client(0, 1, 1);
        assert_eq!(dh.schedule(&d, &c, Instant::ZERO), None, "empty table");
        dh.update(&d, Instant::ZERO);
        // 10.0.0.100 = 0x0a000064; low byte of 0x64 * 0x9e3779b1 = 36; bucket 36 -> server 36 % 3 = 0.
        assert_eq!(dh.schedule(&d, &c, Instant::ZERO), Some(0));
        c.src = IpAddr::V4(Ipv4Addr::new(10, 9, 9, 9)); // the source does not matter
        assert_eq!(dh.schedule(&d, &c, Instant::ZERO), Some(0));
        d[0].overloaded = true;
        assert_eq!(dh.schedule(&d, &c, Instant::ZERO), None);
        d[0].overloaded = false;
        d[0].weight = 0;
        assert_eq!(dh.schedule(&d, &c, Instant::ZERO), None);
    }
}
