//! dh: destination hashing (ip_vs_dh.c).
//!
//! A 256-bucket table filled with the servers in list order, one bucket each,
//! round and round (weights are ignored). A packet's destination address picks
//! the bucket; if that server is unusable the connection is refused.

use super::hash::{fold, hash_32};
use super::{DestLoad, SchedInput, Scheduler};
use crate::model::SchedulerKind;
use crate::time::Instant;

const DH_TABLE_BITS: u32 = 8;
pub const DH_TABLE_SIZE: usize = 1 << DH_TABLE_BITS;

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
        let i = self.buckets[hash_32(fold(&input.dst), DH_TABLE_BITS)]? as usize;
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
        // 10.0.0.100: hash_32(0x0a000064, 8) = 248 -> server 248 % 3 = 2.
        assert_eq!(dh.schedule(&d, &c, Instant::ZERO), Some(2));
        c.src = IpAddr::V4(Ipv4Addr::new(10, 9, 9, 9)); // the source does not matter
        assert_eq!(dh.schedule(&d, &c, Instant::ZERO), Some(2));
        d[2].overloaded = true;
        assert_eq!(dh.schedule(&d, &c, Instant::ZERO), None);
        d[2].overloaded = false;
        d[2].weight = 0;
        assert_eq!(dh.schedule(&d, &c, Instant::ZERO), None);
    }
}
