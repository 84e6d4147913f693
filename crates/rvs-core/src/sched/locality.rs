//! The per-service cache of lblc and lblcr: destination address -> value, in
//! 1024 buckets (`hash_32` of the address), with the kernel's garbage collection driven by the
//! injected clock.
//!
//! Collection runs every 60 s (a timer started with the service). Every 30th
//! run drops all entries unused for longer than the expiration (24 h by
//! default, the `lblc_expiration`/`lblcr_expiration` sysctls). The other runs
//! act only when more than 16384 entries exist: they drop entries unused for
//! 6 minutes, bucket by bucket from a rover, until 4/3 of the excess (at most
//! 8192) is gone.
//!
//! Entries live in a slab whose first 1024 slots are made in `update`, with
//! free-list reuse, so decisions do not allocate while at most 1024
//! destination addresses are cached; past that the slab grows (amortized),
//! where the kernel would kmalloc a new entry.

use crate::time::Instant;
use core::net::IpAddr;
use core::time::Duration;

pub const LOCALITY_TABLE_SIZE: usize = 1024;
const MASK: usize = LOCALITY_TABLE_SIZE - 1;
/// CHECK_EXPIRE_INTERVAL.
pub const LOCALITY_GC_INTERVAL: Duration = Duration::from_secs(60);
/// ENTRY_TIMEOUT: idle time after which an over-full table may drop an entry.
const ENTRY_TIMEOUT: Duration = Duration::from_secs(6 * 60);
/// DEFAULT_EXPIRATION of the sysctls.
pub const LOCALITY_DEFAULT_EXPIRATION: Duration = Duration::from_secs(24 * 60 * 60);
const COUNT_FOR_FULL_EXPIRATION: u32 = 30;
const MAX_SIZE: usize = LOCALITY_TABLE_SIZE * 16;
const PREALLOCATED: usize = 1024;
const NIL: u32 = u32::MAX;

fn bucket(addr: &IpAddr) -> usize {
    super::hash::hash_32(super::hash::fold(addr), 10)
}

#[derive(Debug, Clone)]
pub struct Entry<V> {
    pub addr: IpAddr,
    pub lastuse: Instant,
    pub value: V,
    next: u32,
}

#[derive(Debug, Clone)]
pub struct LocalityTable<V> {
    heads: Box<[u32]>,
    slab: Vec<Entry<V>>,
    free: Vec<u32>,
    entries: usize,
    rover: usize,
    counter: u32,
    /// When the next collection is due; set by the first call that sees a clock.
    next_check: Option<Instant>,
    pub expiration: Duration,
}

impl<V: Default> LocalityTable<V> {
    pub fn new() -> Self {
        LocalityTable {
            heads: vec![NIL; LOCALITY_TABLE_SIZE].into_boxed_slice(),
            slab: Vec::new(),
            free: Vec::new(),
            entries: 0,
            rover: 0,
            counter: 1,
            next_check: None,
            expiration: LOCALITY_DEFAULT_EXPIRATION,
        }
    }

    pub fn len(&self) -> usize {
        self.entries
    }

    /// Create the first `PREALLOCATED` slots up front (called from `update`, off
    /// the data path), so that decisions reuse them instead of allocating.
    pub fn preallocate(&mut self, make: impl Fn() -> V) {
        let unspecified = IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED);
        let have = self.slab.len();
        if have >= PREALLOCATED {
            return;
        }
        self.slab.reserve_exact(PREALLOCATED - have);
        self.free.reserve(PREALLOCATED);
        for id in have..PREALLOCATED {
            self.slab.push(Entry {
                addr: unspecified,
                lastuse: Instant::ZERO,
                value: make(),
                next: NIL,
            });
            self.free.push(id as u32);
        }
        // Hand out low ids first.
        self.free.sort_unstable_by(|a, b| b.cmp(a));
    }

    /// Start the collection timer (the kernel arms it in init_service).
    pub fn arm(&mut self, now: Instant) {
        if self.next_check.is_none() {
            self.next_check = Some(now + LOCALITY_GC_INTERVAL);
        }
    }

    pub fn get(&self, addr: &IpAddr) -> Option<u32> {
        let mut e = self.heads[bucket(addr)];
        while e != NIL {
            let en = &self.slab[e as usize];
            if en.addr == *addr {
                return Some(e);
            }
            e = en.next;
        }
        None
    }

    pub fn entry_mut(&mut self, id: u32) -> &mut Entry<V> {
        &mut self.slab[id as usize]
    }

    /// A new entry at the head of its bucket (hlist_add_head), value reset.
    pub fn insert(&mut self, addr: IpAddr, now: Instant) -> u32 {
        let b = bucket(&addr);
        let head = self.heads[b];
        let id = match self.free.pop() {
            Some(id) => {
                let en = &mut self.slab[id as usize];
                en.addr = addr;
                en.lastuse = now;
                en.next = head;
                id
            }
            None => {
                self.slab.push(Entry {
                    addr,
                    lastuse: now,
                    value: V::default(),
                    next: head,
                });
                (self.slab.len() - 1) as u32
            }
        };
        self.heads[b] = id;
        self.entries += 1;
        id
    }

    /// Unlink an entry; `reset` clears its value for reuse without freeing memory.
    pub fn remove(&mut self, id: u32, reset: impl Fn(&mut V)) {
        let b = bucket(&self.slab[id as usize].addr);
        let next = self.slab[id as usize].next;
        if self.heads[b] == id {
            self.heads[b] = next;
        } else {
            let mut e = self.heads[b];
            while e != NIL {
                if self.slab[e as usize].next == id {
                    self.slab[e as usize].next = next;
                    break;
                }
                e = self.slab[e as usize].next;
            }
        }
        let en = &mut self.slab[id as usize];
        en.next = NIL;
        reset(&mut en.value);
        self.free.push(id);
        self.entries -= 1;
    }

    /// Run the collections due by `now` (the kernel's periodic timer).
    pub fn collect(&mut self, now: Instant, reset: impl Fn(&mut V) + Copy) {
        let Some(mut due) = self.next_check else {
            self.next_check = Some(now + LOCALITY_GC_INTERVAL);
            return;
        };
        // A clock that jumped far ahead runs the timer a bounded number of times.
        let mut runs = 0;
        while due <= now && runs < 2 * COUNT_FOR_FULL_EXPIRATION {
            self.check_expire(due, reset);
            due = due + LOCALITY_GC_INTERVAL;
            runs += 1;
        }
        if due <= now {
            due = now + LOCALITY_GC_INTERVAL;
        }
        self.next_check = Some(due);
    }

    fn check_expire(&mut self, now: Instant, reset: impl Fn(&mut V) + Copy) {
        if self.counter % COUNT_FOR_FULL_EXPIRATION == 0 {
            let expiration = self.expiration;
            self.sweep(usize::MAX, |lastuse| now >= lastuse + expiration, reset);
            self.counter = 1;
            return;
        }
        if self.entries <= MAX_SIZE {
            self.counter += 1;
            return;
        }
        let goal = ((self.entries - MAX_SIZE) * 4 / 3).min(MAX_SIZE / 2);
        self.sweep(goal, |lastuse| now >= lastuse + ENTRY_TIMEOUT, reset);
    }

    /// Walk the buckets from the rover, dropping stale entries, and stop after
    /// the bucket in which `goal` drops were reached.
    fn sweep(
        &mut self,
        goal: usize,
        stale: impl Fn(Instant) -> bool,
        reset: impl Fn(&mut V) + Copy,
    ) {
        let mut dropped = 0usize;
        let mut j = self.rover;
        for _ in 0..LOCALITY_TABLE_SIZE {
            j = (j + 1) & MASK;
            let mut e = self.heads[j];
            while e != NIL {
                let next = self.slab[e as usize].next;
                if stale(self.slab[e as usize].lastuse) {
                    self.remove(e, reset);
                    dropped += 1;
                }
                e = next;
            }
            if goal != usize::MAX && dropped >= goal {
                break;
            }
        }
        self.rover = j;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    fn addr(i: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i))
    }

    #[test]
    fn insert_get_remove_reuse() {
        let mut t: LocalityTable<u32> = LocalityTable::new();
        let a = t.insert(addr(1), Instant::ZERO);
        t.entry_mut(a).value = 7;
        let b = t.insert(addr(2), Instant::ZERO);
        assert_eq!(t.get(&addr(1)), Some(a));
        assert_eq!(t.get(&addr(2)), Some(b));
        t.remove(a, |v| *v = 0);
        assert_eq!(t.get(&addr(1)), None);
        assert_eq!(t.len(), 1);
        let c = t.insert(addr(3), Instant::ZERO);
        assert_eq!(c, a, "freed slot reused");
        assert_eq!(t.entry_mut(c).value, 0);
    }

    #[test]
    fn full_expiration_every_thirtieth_run() {
        let mut t: LocalityTable<u32> = LocalityTable::new();
        t.expiration = Duration::from_secs(10 * 60);
        t.arm(Instant::ZERO);
        t.insert(addr(1), Instant::ZERO);
        // Runs at 60 s .. 29*60 s only count (the table is far from full).
        t.collect(Instant::from_secs(29 * 60), |_| {});
        assert_eq!(t.len(), 1);
        // The 30th run, at 30 min, drops what was idle for 10 min.
        t.collect(Instant::from_secs(30 * 60), |_| {});
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn overfull_table_drops_idle_entries_down_toward_the_limit() {
        let mut t: LocalityTable<u32> = LocalityTable::new();
        t.arm(Instant::ZERO);
        for i in 0..(MAX_SIZE as u32 + 300) {
            t.insert(addr(i), Instant::ZERO);
        }
        t.collect(Instant::from_secs(60), |_| {});
        assert_eq!(t.len(), MAX_SIZE + 300, "nothing idle for 6 min yet");
        t.collect(Instant::from_secs(7 * 60), |_| {});
        // goal 400: stops after the bucket in which the 400th drop happened.
        assert!(
            t.len() <= MAX_SIZE - 100 && t.len() > MAX_SIZE - 200,
            "{}",
            t.len()
        );
    }
}
