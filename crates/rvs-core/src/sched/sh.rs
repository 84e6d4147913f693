//! sh: source hashing (ip_vs_sh.c).
//!
//! A 256-bucket table filled in list order, each server taking `weight`
//! consecutive buckets (at least one, even at weight 0), round and round. The
//! client address (plus its port with sh-port) picks the bucket. An unusable
//! server refuses the connection, unless sh-fallback probes further buckets.

use super::hash::{fold, hash_32};
use super::{DestLoad, SchedInput, Scheduler};
use crate::model::{SchedFlags, SchedulerKind};
use crate::time::Instant;

pub const SH_TABLE_SIZE: usize = 256;
const SH_TABLE_BITS: u32 = 8;
const MASK: usize = SH_TABLE_SIZE - 1;

#[derive(Debug, Clone)]
pub struct Sh {
    flags: SchedFlags,
    buckets: Box<[Option<u32>; SH_TABLE_SIZE]>,
}

impl Sh {
    pub fn new(flags: SchedFlags) -> Self {
        Sh {
            flags,
            buckets: Box::new([None; SH_TABLE_SIZE]),
        }
    }

    /// `ip_vs_sh_hashkey`: (offset + hash_32(port + addr, 8)) & 255.
    fn bucket(key: u32, offset: usize) -> usize {
        (offset + hash_32(key, SH_TABLE_BITS)) & MASK
    }

    fn usable_at(&self, dests: &[DestLoad], bucket: usize) -> Result<usize, bool> {
        // Err(true): an unusable server; Err(false): an empty bucket.
        let i = self.buckets[bucket].ok_or(false)? as usize;
        match dests.get(i) {
            Some(d) if d.usable() => Ok(i),
            Some(_) => Err(true),
            None => Err(false),
        }
    }
}

impl Scheduler for Sh {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::Sh
    }

    fn update(&mut self, dests: &[DestLoad], _now: Instant) {
        let mut p = 0usize;
        let mut count = 0i32;
        for b in self.buckets.iter_mut() {
            let Some(d) = dests.get(p) else {
                *b = None;
                continue;
            };
            *b = Some(p as u32);
            count += 1;
            if count >= d.weight {
                p = (p + 1) % dests.len();
                count = 0;
            }
        }
    }

    fn schedule(&mut self, dests: &[DestLoad], input: &SchedInput, _now: Instant) -> Option<usize> {
        let port = if self.flags.port() {
            u32::from(input.src_port)
        } else {
            0
        };
        let key = port.wrapping_add(fold(&input.src));
        let first = Self::bucket(key, 0);
        match self.usable_at(dests, first) {
            Ok(i) => return Some(i),
            Err(true) if self.flags.fallback() => {}
            Err(_) => return None,
        }
        for offset in 0..SH_TABLE_SIZE {
            let roffset = (offset + first) % SH_TABLE_SIZE;
            match self.usable_at(dests, Self::bucket(key, roffset)) {
                Ok(i) => return Some(i),
                Err(true) => continue,
                Err(false) => return None,
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testutil::{client, dests};

    #[test]
    fn weights_fill_consecutive_buckets() {
        let d = dests(&[2, 0, 1]);
        let mut sh = Sh::new(SchedFlags::default());
        sh.update(&d, Instant::ZERO);
        let head: Vec<_> = sh.buckets[..8].iter().map(|b| b.unwrap()).collect();
        assert_eq!(head, [0, 0, 1, 2, 0, 0, 1, 2]);
    }

    #[test]
    fn same_client_same_server_and_no_fallback_refuses() {
        let mut d = dests(&[1, 1, 1]);
        let mut sh = Sh::new(SchedFlags::default());
        sh.update(&d, Instant::ZERO);
        let c = client(0, 1, 1000);
        let first = sh.schedule(&d, &c, Instant::ZERO).unwrap();
        let mut c2 = c;
        c2.src_port = 2000; // the port is not hashed without sh-port
        assert_eq!(sh.schedule(&d, &c2, Instant::ZERO), Some(first));
        d[first].overloaded = true;
        assert_eq!(sh.schedule(&d, &c, Instant::ZERO), None);
        let mut fb = Sh::new(SchedFlags(SchedFlags::FLAG1));
        fb.update(&d, Instant::ZERO);
        let other = fb.schedule(&d, &c, Instant::ZERO).unwrap();
        assert_ne!(other, first);
        for x in d.iter_mut() {
            x.weight = 0;
        }
        fb.update(&d, Instant::ZERO);
        assert_eq!(fb.schedule(&d, &c, Instant::ZERO), None);
    }

    #[test]
    fn port_flag_spreads_one_address() {
        let d = dests(&[1, 1, 1]);
        let mut sh = Sh::new(SchedFlags(SchedFlags::FLAG2));
        sh.update(&d, Instant::ZERO);
        let picks: std::collections::BTreeSet<_> = (0..16)
            .map(|p| sh.schedule(&d, &client(0, 1, 20000 + p), Instant::ZERO))
            .collect();
        assert!(picks.len() == 3, "{picks:?}");
    }
}
