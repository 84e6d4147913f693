//! Whole-table work: the expiry sweep, iteration for listings and sync, bulk removal,
//! counters and memory figures.

use super::*;

impl ConnTable {
    /// Incremental sweep: examine about `budget` slots (spread over the shards, resuming
    /// where the previous call stopped) and remove the expired entries. Returns how many
    /// were removed. Call it regularly (e.g. every 100 ms with a budget sized so the
    /// whole table is covered within a second or so).
    pub fn expire(&self, now: Instant, budget: usize) -> usize {
        let n = self.shards.len();
        let per = budget.div_ceil(n).max(1);
        let mut removed = 0;
        let start = self.sweep_shard.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            let shard = (start + i) % n;
            let mut left = per;
            while left > 0 {
                let mut unlinks = SweepUnlinks::new();
                let step = left.min(64);
                {
                    let mut inner = self.lock(shard);
                    removed += self.reclaim(&mut inner, shard, now, step, &mut unlinks);
                }
                self.run_unlinks(&unlinks);
                left -= step;
            }
        }
        removed
    }

    /// Visit every entry (listings, sync export), shard by shard, releasing each lock
    /// every few hundred entries so the data path is never held up for long.
    pub fn for_each(&self, mut f: impl FnMut(&Conn)) {
        const CHUNK: usize = 512;
        for shard in 0..self.shards.len() {
            let mut pos = 0;
            loop {
                let inner = self.lock(shard);
                let end = (pos + CHUNK).min(inner.slab.len());
                for local in pos..end {
                    let e = &inner.slab[local];
                    if e.live & LIVE != 0 {
                        let hot = self.hot(shard, local as u32);
                        f(&e.to_conn(self.id_of(shard, local as u32, e.gen), hot));
                    }
                }
                let done = end >= inner.slab.len();
                drop(inner);
                if done {
                    break;
                }
                pos = end;
            }
        }
    }

    /// Remove every entry for which `pred` holds (service or real-server removal,
    /// `ipvsadm -C`), including templates that still control connections. Returns how
    /// many were removed.
    pub fn remove_where(&self, mut pred: impl FnMut(&Conn) -> bool) -> usize {
        let mut removed = 0;
        for shard in 0..self.shards.len() {
            let mut local = 0usize;
            loop {
                let mut unlinks = SweepUnlinks::new();
                let more = {
                    let mut inner = self.lock(shard);
                    while local < inner.slab.len() && !unlinks.is_full() {
                        let e = &inner.slab[local];
                        if e.live & LIVE != 0
                            && pred(&e.to_conn(
                                self.id_of(shard, local as u32, e.gen),
                                self.hot(shard, local as u32),
                            ))
                        {
                            unlinks.push(self.remove_slot(&mut inner, shard, local as u32), 0);
                            removed += 1;
                        }
                        local += 1;
                    }
                    local < inner.slab.len()
                };
                self.run_unlinks(&unlinks);
                if !more {
                    break;
                }
            }
        }
        removed
    }

    /// Event counters summed over the shards.
    pub fn counters(&self) -> TableCounters {
        let mut t = TableCounters::default();
        for shard in 0..self.shards.len() {
            let inner = self.lock(shard);
            t.inserted += inner.inserted;
            t.expired += inner.expired;
            t.refused_full += inner.refused_full;
        }
        t
    }

    /// Bytes of memory reserved by the table (slabs, free lists, indexes).
    pub fn reserved_bytes(&self) -> usize {
        let mut total =
            core::mem::size_of::<Self>() + self.shards.len() * core::mem::size_of::<Shard>();
        for shard in 0..self.shards.len() {
            let inner = self.lock(shard);
            total += inner.slab.capacity() * core::mem::size_of::<Entry>();
            total += inner.free.capacity() * 4;
            total += inner.index.reserved_bytes();
            total += self.shards[shard].hot.len() * core::mem::size_of::<HotSlot>();
        }
        total
    }
}
