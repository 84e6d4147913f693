//! One shard's storage and the table's internal operations on it: index upkeep,
//! removal with unbinding, expiry and reclaim. Every function here runs with the
//! shard's lock held, except the control-link upkeep which runs after it is released.

use super::hot::HotSlot;
use super::index::BucketIndex;
use super::slot::{
    Entry, RawInKey, RawOutKey, EXPIRE_LATER_MS, IN_HASHED, LIVE, NO_SLOT, OUT_BIT, OUT_HASHED,
};
use super::ConnTable;
use crate::conn::entry::ConnId;
use crate::time::Instant;
use core::hash::BuildHasher;
use core::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard};

pub(super) struct ShardInner {
    pub(super) slab: Vec<Entry>,
    pub(super) free: Vec<u32>,
    pub(super) index: BucketIndex,
    pub(super) len: usize,
    pub(super) cursor: usize,
    pub(super) inserted: u64,
    pub(super) expired: u64,
    pub(super) refused_full: u64,
}

#[repr(align(128))]
pub(super) struct Shard {
    pub(super) inner: Mutex<ShardInner>,
    /// One per slab slot, read and written without the lock (see `hot.rs`).
    pub(super) hot: Box<[HotSlot]>,
}

/// Control links to drop once the shard lock is released (templates may live in other
/// shards; never holding two shard locks at once rules out deadlocks). Each link comes
/// with the time its connection went away: the deadline for an expiry, 0 for an
/// explicit removal.
pub(super) struct Unlinks<const N: usize> {
    links: [(ConnId, u64); N],
    n: usize,
}

/// The packet path expires at most the one entry it looked up: a one-place list keeps
/// it from zeroing the 512 bytes of the sweep's list on every packet.
pub(super) type PacketUnlinks = Unlinks<1>;

/// What a sweep or a reclaim may collect before it stops to release the lock.
pub(super) type SweepUnlinks = Unlinks<32>;

impl<const N: usize> Unlinks<N> {
    pub(super) fn new() -> Self {
        let none = ConnId {
            slot: NO_SLOT,
            gen: 0,
        };
        Unlinks {
            links: [(none, 0); N],
            n: 0,
        }
    }

    pub(super) fn push(&mut self, control: Option<ConnId>, at_ms: u64) {
        if let Some(id) = control {
            if self.n < self.links.len() {
                self.links[self.n] = (id, at_ms);
                self.n += 1;
            }
        }
    }

    pub(super) fn is_full(&self) -> bool {
        self.n == self.links.len()
    }
}

/// The kernel's `expire_later` applied to a deadline: the timer of an entry that still
/// controls connections fires and is re-armed every 60 s; return the first deadline of
/// that chain after `at_ms`.
fn rearmed(deadline: u64, at_ms: u64) -> u64 {
    let period = EXPIRE_LATER_MS as u64;
    let late = at_ms.saturating_sub(deadline);
    deadline.saturating_add((late / period + 1) * period)
}

/// What picks a shard: a client (or FULLNAT local) endpoint, hashed as two wide words
/// rather than field by field (the derived `Hash` of a byte array feeds the hasher a
/// length and sixteen bytes, which cost more than the rest of a lookup's hashing).
struct ShardKey {
    bytes: [u8; 16],
    v6: bool,
    port: u16,
}

impl core::hash::Hash for ShardKey {
    #[inline]
    fn hash<H: core::hash::Hasher>(&self, h: &mut H) {
        h.write_u128(u128::from_ne_bytes(self.bytes));
        h.write_u32(u32::from(self.port) | u32::from(self.v6) << 16);
    }
}

impl ConnTable {
    #[inline]
    pub(super) fn shard_from_hash(&self, h: u64) -> usize {
        if self.shard_bits == 0 {
            0
        } else {
            (h >> (64 - self.shard_bits)) as usize
        }
    }

    #[inline]
    pub(super) fn shard_of_raw(&self, bytes: [u8; 16], v6: bool, port: u16) -> usize {
        self.shard_from_hash(self.shard_hasher.hash_one(ShardKey { bytes, v6, port }))
    }

    #[inline]
    pub(super) fn in_shard(&self, k: &RawInKey) -> usize {
        if k.template {
            self.shard_from_hash(self.hasher.hash_one(k))
        } else {
            self.shard_of_raw(k.caddr, k.v6, k.cport)
        }
    }

    #[inline]
    pub(super) fn lock(&self, shard: usize) -> MutexGuard<'_, ShardInner> {
        // A panic while holding a shard lock would be a bug; the shard's data stays
        // consistent between operations, so keep serving rather than propagate poison.
        self.shards[shard]
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The hot part of slot `local` of `shard` (allocated for every slot up front).
    #[inline]
    pub(super) fn hot(&self, shard: usize, local: u32) -> &HotSlot {
        &self.shards[shard].hot[local as usize]
    }

    pub(super) fn id_of(&self, shard: usize, local: u32, gen: u32) -> ConnId {
        ConnId {
            slot: (local << self.shard_bits) | shard as u32,
            gen,
        }
    }

    pub(super) fn split(&self, id: ConnId) -> (usize, u32) {
        let mask = (1u32 << self.shard_bits) - 1;
        ((id.slot & mask) as usize, id.slot >> self.shard_bits)
    }

    #[inline]
    pub(super) fn find_in(&self, inner: &ShardInner, k: &RawInKey) -> Option<u32> {
        let h = self.hasher.hash_one(k);
        inner
            .index
            .find(h, |v| {
                v & OUT_BIT == 0
                    && inner
                        .slab
                        .get((v >> 1) as usize)
                        .is_some_and(|e| e.has_in_key(k))
            })
            .map(|v| v >> 1)
    }

    pub(super) fn find_out(&self, inner: &ShardInner, k: &RawOutKey) -> Option<u32> {
        let h = self.hasher.hash_one(k);
        inner
            .index
            .find(h, |v| {
                let e = &inner.slab[(v >> 1) as usize];
                v & OUT_BIT != 0 && !e.flags().is_template() && e.out_key() == *k
            })
            .map(|v| v >> 1)
    }

    pub(super) fn with_entry<R>(&self, id: ConnId, f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        let (shard, local) = self.split(id);
        let mut inner = self.lock(shard);
        let e = inner.slab.get_mut(local as usize)?;
        (e.live & LIVE != 0 && e.gen == id.gen).then(|| f(e))
    }

    /// Count one more connection controlled by `template` and restart its timer.
    /// Returns false if the template is gone.
    pub(super) fn link(&self, template: ConnId, now: Instant) -> bool {
        self.with_entry(template, |t| {
            t.n_control = t.n_control.saturating_add(1);
            t.expires = now.as_millis().saturating_add(t.timeout_ms as u64);
        })
        .is_some()
    }

    #[inline]
    pub(super) fn run_unlinks<const N: usize>(&self, unlinks: &Unlinks<N>) {
        if unlinks.n != 0 {
            self.run_unlinks_slow(unlinks);
        }
    }

    #[cold]
    fn run_unlinks_slow<const N: usize>(&self, unlinks: &Unlinks<N>) {
        for &(id, at_ms) in &unlinks.links[..unlinks.n] {
            self.with_entry(id, |t| {
                t.n_control = t.n_control.saturating_sub(1);
                // The template's own timer may have run out while this connection was
                // still alive (it is noticed only now): in the kernel it would have been
                // re-armed then, so it lives on past the connection's end.
                if t.n_control == 0 && at_ms != 0 && t.expires <= at_ms {
                    t.timeout_ms = EXPIRE_LATER_MS;
                    t.expires = rearmed(t.expires, at_ms);
                }
            });
        }
    }

    pub(super) fn unindex(&self, inner: &mut ShardInner, local: u32) {
        let ShardInner { slab, index, .. } = inner;
        let e = &slab[local as usize];
        if e.live & IN_HASHED != 0 {
            let h = self.hasher.hash_one(e.in_key());
            index.remove(h, local << 1);
        }
        if e.live & OUT_HASHED != 0 {
            let h = self.hasher.hash_one(e.out_key());
            index.remove(h, (local << 1) | OUT_BIT);
        }
        slab[local as usize].live &= !(IN_HASHED | OUT_HASHED);
    }

    /// Remove a live slot; returns the control link to drop after unlocking.
    pub(super) fn remove_slot(
        &self,
        inner: &mut ShardInner,
        shard: usize,
        local: u32,
    ) -> Option<ConnId> {
        self.unindex(inner, local);
        let e = &mut inner.slab[local as usize];
        let hot = self.hot(shard, local);
        if let Some(hook) = &self.hook {
            hook(&e.to_conn(self.id_of(shard, local, e.gen), hot));
        }
        if let Some(c) = e.counters.take() {
            c.unbind(e.load_kind());
        }
        let control = (e.control_slot != NO_SLOT).then_some(ConnId {
            slot: e.control_slot,
            gen: e.control_gen,
        });
        e.live = 0;
        e.gen = e.gen.wrapping_add(1);
        // Void every worker's ticket for it.
        hot.publish(0);
        e.control_slot = NO_SLOT;
        inner.free.push(local);
        inner.len -= 1;
        self.len.fetch_sub(1, Ordering::Relaxed);
        control
    }

    /// If the entry's timer has run out: remove it (true), or restart the timer of a
    /// template that still controls connections (false).
    #[inline]
    pub(super) fn expire_if_due<const N: usize>(
        &self,
        inner: &mut ShardInner,
        shard: usize,
        local: u32,
        now: Instant,
        unlinks: &mut Unlinks<N>,
    ) -> bool {
        let hot = &self.shards[shard].hot[local as usize];
        let e = &mut inner.slab[local as usize];
        if e.live & LIVE == 0 || now.as_millis() < e.deadline(hot) {
            return false;
        }
        if e.n_control > 0 {
            // The kernel's `expire_later`: the timer fired while the entry still
            // controls connections, so it is re-armed with a 60 s timeout (kept for the
            // rest of its life). The new deadline counts from the old one, however late
            // we notice.
            e.timeout_ms = EXPIRE_LATER_MS;
            e.expires = rearmed(e.expires, now.as_millis());
            return false;
        }
        let deadline = e.deadline(hot);
        unlinks.push(self.remove_slot(inner, shard, local), deadline);
        inner.expired += 1;
        true
    }

    /// Scan up to `budget` slots from the shard's cursor, removing what has expired.
    pub(super) fn reclaim(
        &self,
        inner: &mut ShardInner,
        shard: usize,
        now: Instant,
        budget: usize,
        unlinks: &mut SweepUnlinks,
    ) -> usize {
        let n = inner.slab.len();
        if n == 0 {
            return 0;
        }
        let mut removed = 0;
        for _ in 0..budget.min(n) {
            if unlinks.is_full() {
                break;
            }
            let local = inner.cursor % n;
            inner.cursor = (local + 1) % n;
            if self.expire_if_due(inner, shard, local as u32, now, unlinks) {
                removed += 1;
            }
        }
        removed
    }
}
