//! mh: Maglev hashing (ip_vs_mh.c).
//!
//! Each server gets a preference order over the 4093 slots of a lookup table
//! (offset and skip from two keyed hashes of its address and port); servers
//! take turns claiming their next free preferred slot, each taking as many
//! slots per round as its scaled `last_weight`. `last_weight` (the last
//! non-zero weight) is used so that quiescing a server keeps the table, and
//! the unusable server then refuses its clients, unless mh-fallback probes on.

use super::hash::fold;
use super::hsiphash::{hsiphash_u32, HsipKey};
use super::{gcd_of_positive, DestLoad, SchedInput, Scheduler};
use crate::model::{SchedFlags, SchedulerKind};
use crate::time::Instant;
use core::net::IpAddr;

/// primes[CONFIG_IP_VS_MH_TAB_INDEX - 8] with the default index 12.
pub const MH_TABLE_SIZE: usize = 4093;
/// CONFIG_IP_VS_MH_TAB_INDEX / 2: weights/gcd above 6 bits are scaled down.
const MH_TAB_BITS: u32 = 6;
const KEY1: HsipKey = HsipKey([2_654_435_761, 2_654_435_761]);
const KEY2: HsipKey = HsipKey([2_654_446_892, 2_654_446_892]);
const EMPTY: u32 = u32::MAX;

#[derive(Debug, Clone)]
pub struct Mh {
    flags: SchedFlags,
    /// Index into the server slice per slot, `EMPTY` when no server has weight.
    lookup: Box<[u32]>,
}

/// `ip_vs_mh_hashkey`: hsiphash of (offset + port + folded address) as a u32.
fn hashkey(addr: &IpAddr, port: u16, key: &HsipKey, offset: u32) -> u32 {
    let v = offset
        .wrapping_add(u32::from(port))
        .wrapping_add(fold(addr));
    hsiphash_u32(v, key)
}

impl Mh {
    pub fn new(flags: SchedFlags) -> Self {
        Mh {
            flags,
            lookup: vec![EMPTY; MH_TABLE_SIZE].into_boxed_slice(),
        }
    }

    /// The slot's server if it is usable; `Err(true)` for an unusable server,
    /// `Err(false)` for an empty slot.
    fn at(&self, dests: &[DestLoad], slot: usize) -> Result<usize, bool> {
        let i = self.lookup[slot];
        match dests.get(i as usize) {
            Some(d) if d.usable() => Ok(i as usize),
            Some(_) => Err(true),
            None => Err(false),
        }
    }
}

impl Scheduler for Mh {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::Mh
    }

    fn update(&mut self, dests: &[DestLoad], _now: Instant) {
        let gcd = gcd_of_positive(dests.iter().map(|d| d.last_weight));
        if gcd < 1 || dests.len() > MH_TABLE_SIZE {
            // No weighted server (or more servers than slots, which the kernel
            // refuses): every client is refused.
            self.lookup.fill(EMPTY);
            return;
        }
        let max = dests.iter().map(|d| d.last_weight).fold(0, i32::max);
        let shift = (32 - ((max / gcd) as u32).leading_zeros()).saturating_sub(MH_TAB_BITS);
        let size = MH_TABLE_SIZE as u32;
        // (next preferred slot, skip, turns per round)
        let mut setup: Vec<(u32, u32, i32)> = dests
            .iter()
            .map(|d| {
                let offset = hashkey(&d.addr, d.port, &KEY1, 0) % size;
                let skip = hashkey(&d.addr, d.port, &KEY2, 0) % (size - 1) + 1;
                let lw = d.last_weight;
                let scaled = (lw / gcd) >> shift;
                let turns = if scaled != 0 {
                    scaled
                } else {
                    i32::from(lw != 0)
                };
                (offset, skip, turns)
            })
            .collect();
        let mut taken = vec![false; MH_TABLE_SIZE];
        let mut filled = 0;
        'fill: loop {
            for (i, s) in setup.iter_mut().enumerate() {
                for _ in 0..s.2.max(0) {
                    while taken[s.0 as usize] {
                        s.0 += s.1;
                        if s.0 >= size {
                            s.0 -= size;
                        }
                    }
                    taken[s.0 as usize] = true;
                    self.lookup[s.0 as usize] = i as u32;
                    filled += 1;
                    if filled == MH_TABLE_SIZE {
                        break 'fill;
                    }
                }
            }
        }
    }

    fn schedule(&mut self, dests: &[DestLoad], input: &SchedInput, _now: Instant) -> Option<usize> {
        let port = if self.flags.port() { input.src_port } else { 0 };
        let size = MH_TABLE_SIZE as u32;
        let first = (hashkey(&input.src, port, &KEY1, 0) % size) as usize;
        match self.at(dests, first) {
            Ok(i) => return Some(i),
            Err(true) if self.flags.fallback() => {}
            Err(_) => return None,
        }
        for offset in 0..MH_TABLE_SIZE {
            let roffset = ((offset + first) % MH_TABLE_SIZE) as u32;
            let slot = (hashkey(&input.src, port, &KEY1, roffset) % size) as usize;
            match self.at(dests, slot) {
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

    fn shares(mh: &Mh) -> Vec<usize> {
        let mut n = vec![0; 4];
        for &i in mh.lookup.iter() {
            n[(i as usize).min(3)] += 1;
        }
        n
    }

    #[test]
    fn slots_follow_weights() {
        let d = dests(&[1, 2, 3]);
        let mut mh = Mh::new(SchedFlags::default());
        mh.update(&d, Instant::ZERO);
        let s = shares(&mh);
        assert_eq!(s.iter().sum::<usize>(), MH_TABLE_SIZE);
        assert_eq!(s[3], 0, "every slot is filled");
        // Turns 1:2:3 per round give close to 1/6, 2/6, 3/6 of the slots.
        assert!(
            s[0] > 600 && s[0] < 760 && s[2] > 1950 && s[2] < 2150,
            "{s:?}"
        );
    }

    #[test]
    fn quiesced_server_keeps_its_slots_and_refuses() {
        let mut d = dests(&[1, 1, 1]);
        let mut mh = Mh::new(SchedFlags::default());
        mh.update(&d, Instant::ZERO);
        let before = mh.lookup.clone();
        let c = client(0, 7, 1);
        let pick = mh.schedule(&d, &c, Instant::ZERO).unwrap();
        d[pick].weight = 0; // last_weight stays 1
        mh.update(&d, Instant::ZERO);
        assert_eq!(mh.lookup, before);
        assert_eq!(mh.schedule(&d, &c, Instant::ZERO), None);
        let mut fb = Mh::new(SchedFlags(SchedFlags::FLAG1));
        fb.update(&d, Instant::ZERO);
        let other = fb.schedule(&d, &c, Instant::ZERO).unwrap();
        assert_ne!(other, pick);
    }

    #[test]
    fn no_weight_at_all_refuses() {
        let mut d = dests(&[0, 0]);
        for x in d.iter_mut() {
            x.last_weight = 0;
        }
        let mut mh = Mh::new(SchedFlags(SchedFlags::FLAG1));
        mh.update(&d, Instant::ZERO);
        assert_eq!(mh.schedule(&d, &client(0, 1, 1), Instant::ZERO), None);
    }
}
