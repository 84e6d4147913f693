//! The connection table: sharded, bounded, allocation-free on the packet path.
//!
//! Layout. The table has a power-of-two number of shards, each behind its own mutex
//! (held for a few hundred nanoseconds at most; no global lock is ever taken per
//! packet). A shard owns a slab of fixed-size entries (two cache lines each) reserved up
//! front, a free list, and one index of cache-line buckets holding, for each entry, its
//! in-key and (NAT/FULLNAT) its out-key (see `index.rs`). Nothing grows after
//! construction: the packet path never allocates, and a lookup costs one bucket read
//! plus one entry read.
//!
//! Sharding. A connection lives in the shard of its client endpoint, which both of its
//! keys contain (the source of client packets, the destination of NAT replies), so one
//! lock covers both lookups. FULLNAT replies are addressed to the local endpoint
//! instead: the FULLNAT port allocator must pick a local port whose
//! [`ConnTable::shard_of`] equals the client's (about `shards` tries on average, the way
//! DPVS matches local ports to cores). Templates live in the shard of their own key.
//!
//! Memory bound and full-table policy. `max_entries` is split evenly between shards.
//! When a shard is full, an insert first reclaims expired entries of that shard (up to
//! [`RECLAIM_SCAN`] slots from its sweep cursor); if none is free after that, the new
//! connection is refused with [`InsertError::Full`] and counted in
//! [`TableCounters::refused_full`]. Existing connections are never evicted.
//!
//! Expiry. Time is injected. A lookup that finds an expired entry removes it and reports
//! a miss (lazy expiry); [`ConnTable::expire`] sweeps a bounded number of slots for
//! entries nobody looked up. Removal unbinds the entry from its real server's counters,
//! drops its link to a controlling template, and calls the expiry hook (set at
//! construction; the engine uses it to release FULLNAT ports). A template that still
//! controls connections is not removed when its timer runs out: its timer restarts, as
//! in the kernel.

mod config;
mod hot;
mod index;
mod insert;
mod packet;
mod shard;
mod slot;
mod sync;
mod view;
mod walk;

pub use hot::FastTicket;
pub use sync::SyncOutcome;
pub use view::ConnView;

/// Timeout of a template synced without one (sync protocol v0): 3 minutes.
const SYNC_TEMPLATE_TIMEOUT_MS: u32 = 180_000;

pub use config::{
    ConfigError, ConnTableConfig, ExpiryHook, InsertError, TableCounters, MAX_SHARDS, RECLAIM_SCAN,
};
use shard::{PacketUnlinks, Shard, ShardInner, SweepUnlinks};
use slot::{
    Entry, RawInKey, RawOutKey, AF_V6, DAF_V6, IN_HASHED, LIVE, NO_SLOT, OUT_BIT, OUT_HASHED,
};

use super::entry::{Conn, ConnFlags, ConnId, NewConn};
use super::key::{InKey, OutKey, RawAddr};
use super::sctp::SctpState;
use super::state::{self, ConnState, Direction, PacketEvent, TimeoutTable, Transition};
use super::tcp::TcpState;
use crate::model::{ForwardMethod, Timeouts};
use crate::time::Instant;
use core::fmt;
use core::hash::BuildHasher;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use hashbrown::DefaultHashBuilder;
use hot::HotSlot;
use index::BucketIndex;
use std::sync::Mutex;

/// The connection table. Shared by every worker (`&ConnTable` is `Sync`).
pub struct ConnTable {
    shards: Box<[Shard]>,
    shard_bits: u32,
    per_shard: usize,
    max_entries: usize,
    hasher: DefaultHashBuilder,
    /// A second, independent seed for shard selection: sharing the index hasher would
    /// correlate the shard bits with the index tag bits.
    shard_hasher: DefaultHashBuilder,
    /// `secure_tcp`: use the anti-DoS TCP tables.
    secure_tcp: AtomicBool,
    timeouts: TimeoutTable,
    hook: Option<ExpiryHook>,
    len: AtomicUsize,
    sweep_shard: AtomicUsize,
}

impl fmt::Debug for ConnTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnTable")
            .field("shards", &self.shards.len())
            .field("max_entries", &self.max_entries)
            .field("len", &self.len())
            .finish()
    }
}

impl ConnTable {
    /// A table with no expiry hook.
    pub fn new(config: ConnTableConfig) -> Result<ConnTable, ConfigError> {
        Self::with_hook(config, None)
    }

    /// A table whose `hook` sees every entry that leaves it.
    pub fn with_hook(
        config: ConnTableConfig,
        hook: Option<ExpiryHook>,
    ) -> Result<ConnTable, ConfigError> {
        let n = config.shards;
        if n == 0 || !n.is_power_of_two() {
            return Err(ConfigError::ShardsNotPowerOfTwo(n));
        }
        if n > MAX_SHARDS {
            return Err(ConfigError::TooManyShards(n));
        }
        if config.max_entries == 0 || config.max_entries > (1 << 31) {
            return Err(ConfigError::BadMaxEntries(config.max_entries));
        }
        let per_shard = config.max_entries.div_ceil(n);
        let shards = (0..n)
            .map(|_| Shard {
                inner: Mutex::new(ShardInner {
                    slab: Vec::with_capacity(per_shard),
                    free: Vec::with_capacity(per_shard),
                    // At most two keys per entry (in and out).
                    index: BucketIndex::with_capacity(per_shard * 2),
                    len: 0,
                    cursor: 0,
                    inserted: 0,
                    expired: 0,
                    refused_full: 0,
                }),
                hot: (0..per_shard).map(|_| HotSlot::default()).collect(),
            })
            .collect();
        Ok(ConnTable {
            shards,
            shard_bits: n.trailing_zeros(),
            per_shard,
            max_entries: config.max_entries,
            hasher: DefaultHashBuilder::default(),
            shard_hasher: DefaultHashBuilder::default(),
            secure_tcp: AtomicBool::new(false),
            timeouts: TimeoutTable::default(),
            hook,
            len: AtomicUsize::new(0),
            sweep_shard: AtomicUsize::new(0),
        })
    }

    /// Live entries (connections and templates).
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Per-state timeouts (`--set`, `--timeout`).
    pub fn timeouts(&self) -> &TimeoutTable {
        &self.timeouts
    }

    /// `--set tcp tcpfin udp` (0 keeps a value).
    pub fn set_timeouts(&self, t: Timeouts) {
        self.timeouts.set(t)
    }

    /// Switch the TCP state tables to the `secure_tcp` (anti-DoS) ones, or back. The
    /// kernel's sysctl maps to this as: 3 → on, 0 → off, 1 and 2 → on only while memory
    /// is short (for rvs: while the table is nearly full, which the caller watches with
    /// [`ConnTable::len`]).
    pub fn set_secure_tcp(&self, on: bool) {
        self.secure_tcp.store(on, Ordering::Relaxed);
    }

    pub fn secure_tcp(&self) -> bool {
        self.secure_tcp.load(Ordering::Relaxed)
    }

    /// The shard of a client endpoint (also of a FULLNAT local endpoint).
    pub fn shard_of(&self, addr: core::net::IpAddr, port: u16) -> usize {
        let a = RawAddr::from_ip(addr);
        self.shard_of_raw(a.bytes, a.v6, port)
    }

    /// Restart the timer of `id` with its current timeout. `false` if it is gone.
    pub fn touch(&self, id: ConnId, now: Instant) -> bool {
        self.with_entry(id, |e| {
            e.expires = now.as_millis().saturating_add(e.timeout_ms as u64);
        })
        .is_some()
    }

    /// A copy of the entry `id`, if it is still there.
    pub fn get(&self, id: ConnId) -> Option<Conn> {
        let (shard, local) = self.split(id);
        let inner = self.lock(shard);
        let e = inner.slab.get(local as usize)?;
        (e.live & LIVE != 0 && e.gen == id.gen).then(|| e.to_conn(id, self.hot(shard, local)))
    }

    /// The kernel's `ip_vs_conn_expire_now`: remove the entry at once, unless it still
    /// controls connections (a template in use: it is left alone). Returns whether it
    /// was removed.
    pub fn expire_now(&self, id: ConnId) -> bool {
        let (shard, local) = self.split(id);
        let mut unlinks = PacketUnlinks::new();
        let removed = {
            let mut inner = self.lock(shard);
            match inner.slab.get(local as usize) {
                Some(e) if e.live & LIVE != 0 && e.gen == id.gen && e.n_control == 0 => {
                    unlinks.push(self.remove_slot(&mut inner, shard, local), 0);
                    true
                }
                _ => false,
            }
        };
        self.run_unlinks(&unlinks);
        removed
    }

    /// Take a template out of the index (the kernel's template invalidation in
    /// `ip_vs_check_template`): lookups no longer find it, so the next connection
    /// creates a fresh template; the old one stays, listed, until the connections it
    /// controls are gone and its timer runs out. `false` if it is gone.
    pub fn invalidate_template(&self, id: ConnId) -> bool {
        let (shard, local) = self.split(id);
        let mut inner = self.lock(shard);
        match inner.slab.get(local as usize) {
            Some(e) if e.live & LIVE != 0 && e.gen == id.gen => {
                if e.live & IN_HASHED != 0 {
                    self.unindex(&mut inner, local);
                }
                true
            }
            _ => false,
        }
    }

    /// Size of one slab entry in bytes.
    pub const fn entry_size() -> usize {
        core::mem::size_of::<Entry>()
    }
}
