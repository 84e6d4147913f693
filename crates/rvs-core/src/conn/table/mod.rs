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
mod index;
mod shard;
mod slot;
mod sync;

pub use sync::SyncOutcome;

/// Timeout of a template synced without one (sync protocol v0): 3 minutes.
const SYNC_TEMPLATE_TIMEOUT_MS: u32 = 180_000;

pub use config::{
    ConfigError, ConnTableConfig, ExpiryHook, InsertError, TableCounters, MAX_SHARDS, RECLAIM_SCAN,
};
use shard::{Shard, ShardInner, Unlinks};
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
        self.shard_from_hash(self.shard_hasher.hash_one((a.bytes, a.v6, port)))
    }

    /// Look up the connection of a client → virtual packet. Expired entries are removed
    /// and reported as misses.
    pub fn lookup_in(&self, key: &InKey, now: Instant) -> Option<Conn> {
        let k = RawInKey::new(key, false)?;
        self.lookup_raw(self.in_shard(&k), now, |t, inner| t.find_in(inner, &k))
    }

    /// Look up the connection of a real server → client reply (NAT, FULLNAT).
    pub fn lookup_out(&self, key: &OutKey, now: Instant) -> Option<Conn> {
        let k = RawOutKey::new(key);
        let shard = self.shard_of_raw(k.caddr, k.cv6, k.cport);
        self.lookup_raw(shard, now, |t, inner| t.find_out(inner, &k))
    }

    /// Look up a persistence template by its key ([`crate::persist::template_key`]).
    pub fn lookup_template(&self, key: &InKey, now: Instant) -> Option<Conn> {
        let k = RawInKey::new(key, true)?;
        self.lookup_raw(self.in_shard(&k), now, |t, inner| t.find_in(inner, &k))
    }

    fn lookup_raw(
        &self,
        shard: usize,
        now: Instant,
        find: impl Fn(&Self, &ShardInner) -> Option<u32>,
    ) -> Option<Conn> {
        let mut unlinks = Unlinks::new();
        let found = {
            let mut inner = self.lock(shard);
            match find(self, &inner) {
                Some(local) => {
                    if self.expire_if_due(&mut inner, shard, local, now, &mut unlinks) {
                        None
                    } else {
                        let e = &inner.slab[local as usize];
                        Some(e.to_conn(self.id_of(shard, local, e.gen)))
                    }
                }
                None => None,
            }
        };
        self.run_unlinks(&unlinks);
        found
    }

    /// Look up and apply a packet in one step (the data path's usual call): finds the
    /// entry by `key`, moves its state, restarts its timer, and returns the entry as it
    /// is after the packet together with the transition.
    pub fn process_in(
        &self,
        key: &InKey,
        event: PacketEvent,
        now: Instant,
    ) -> Option<(Conn, Transition)> {
        let k = RawInKey::new(key, false)?;
        self.process_raw(self.in_shard(&k), Direction::In, event, now, |t, inner| {
            t.find_in(inner, &k)
        })
    }

    /// Like [`ConnTable::process_in`] for a reply (NAT, FULLNAT).
    pub fn process_out(
        &self,
        key: &OutKey,
        event: PacketEvent,
        now: Instant,
    ) -> Option<(Conn, Transition)> {
        let k = RawOutKey::new(key);
        let shard = self.shard_of_raw(k.caddr, k.cv6, k.cport);
        self.process_raw(shard, Direction::Out, event, now, |t, inner| {
            t.find_out(inner, &k)
        })
    }

    /// Apply a packet to the entry `id` (e.g. the first packet of a connection just
    /// inserted). `None` if the entry is gone.
    pub fn on_packet(
        &self,
        id: ConnId,
        dir: Direction,
        event: PacketEvent,
        now: Instant,
    ) -> Option<(Conn, Transition)> {
        let (shard, local) = self.split(id);
        self.process_raw(shard, dir, event, now, |_, inner| {
            let e = inner.slab.get(local as usize)?;
            (e.live & LIVE != 0 && e.gen == id.gen).then_some(local)
        })
    }

    fn process_raw(
        &self,
        shard: usize,
        dir: Direction,
        event: PacketEvent,
        now: Instant,
        find: impl Fn(&Self, &ShardInner) -> Option<u32>,
    ) -> Option<(Conn, Transition)> {
        let mut unlinks = Unlinks::new();
        let result = {
            let mut inner = self.lock(shard);
            match find(self, &inner) {
                Some(local) if !self.expire_if_due(&mut inner, shard, local, now, &mut unlinks) => {
                    let e = &mut inner.slab[local as usize];
                    let t = state::apply_with(
                        self.secure_tcp.load(Ordering::Relaxed),
                        e.state(),
                        e.flags().no_output(),
                        e.flags().is_inactive(),
                        dir,
                        event,
                    );
                    if t.cleared_no_output {
                        e.flags &= !ConnFlags::NOOUTPUT;
                    }
                    if t.to != t.from {
                        e.state = t.to.to_raw() as u8;
                    }
                    if let Some(change) = t.activity {
                        match change {
                            state::Activity::BecameActive => e.flags &= !ConnFlags::INACTIVE,
                            state::Activity::BecameInactive => e.flags |= ConnFlags::INACTIVE,
                        }
                        if let Some(c) = &e.counters {
                            c.apply(change);
                        }
                    }
                    if !e.flags().is_template() {
                        // Each packet re-arms the timer with the (new) state's timeout.
                        e.timeout_ms = self.timeouts.millis(t.to);
                    }
                    e.expires = now.as_millis().saturating_add(e.timeout_ms as u64);
                    let conn = e.to_conn(self.id_of(shard, local, e.gen));
                    Some((conn, t))
                }
                _ => None,
            }
        };
        self.run_unlinks(&unlinks);
        if let Some((conn, t)) = &result {
            // `ip_vs_control_assure_ct`: a controlled connection that becomes
            // established marks its template ASSURED.
            let established = matches!(
                t.to,
                ConnState::Tcp(TcpState::Established) | ConnState::Sctp(SctpState::Established)
            );
            if let (true, true, Some(ctl)) = (established, t.to != t.from, conn.control) {
                self.with_entry(ctl, |tpl| {
                    if tpl.flags & ConnFlags::TEMPLATE != 0 {
                        tpl.flags |= ConnFlags::TEMPLATE_ASSURED;
                    }
                });
            }
        }
        result
    }

    /// Create an entry. Binds it to its real server's counters (as inactive, or as
    /// persistent for a template) and links it to its controlling template, whose
    /// timer restarts.
    pub fn insert(&self, new: NewConn, now: Instant) -> Result<Conn, InsertError> {
        let c = RawAddr::from_ip(new.client.addr);
        let v = RawAddr::from_ip(new.virt.addr);
        let d = RawAddr::from_ip(new.dest.addr);
        if c.v6 != v.v6 {
            return Err(InsertError::FamilyMismatch);
        }
        let fullnat = matches!(new.method, ForwardMethod::FullNat) && !new.template;
        let l = if fullnat {
            let local = new.local.ok_or(InsertError::MissingLocal)?;
            let l = RawAddr::from_ip(local.addr);
            if l.v6 != d.v6 {
                return Err(InsertError::FamilyMismatch);
            }
            Some((l, local.port))
        } else {
            None
        };
        let kin = RawInKey {
            template: new.template,
            proto: new.proto,
            v6: c.v6,
            caddr: c.bytes,
            cport: new.client.port,
            vaddr: v.bytes,
            vport: new.virt.port,
        };
        let shard = self.in_shard(&kin);
        if let Some((l, lport)) = l {
            if self.shard_of_raw(l.bytes, l.v6, lport) != shard {
                return Err(InsertError::LocalShardMismatch);
            }
        }

        // The kernel's `dest->conn_flags`: method, NOOUTPUT unless replies come back,
        // INACTIVE. A synced connection keeps the activity of its message instead.
        let mut flags = ConnFlags::for_new(new.method, new.template, false).0;
        let mut st = ConnState::initial(new.proto, new.template);
        if let Some(s) = new.synced {
            flags |= ConnFlags::SYNC;
            if new.template {
                flags |= s.flags.0 & ConnFlags::TEMPLATE_ASSURED;
            } else {
                flags = (flags & !ConnFlags::INACTIVE) | (s.flags.0 & ConnFlags::INACTIVE);
                st = s.state;
            }
        }
        let timeout_ms = new.timeout_ms.unwrap_or(match (st, new.synced) {
            // A new entry waits 3 s for its first packet to set a real state (kernel).
            (_, None) if !new.template => 3000,
            // Synced without a timeout (sync v0): the state's, 3 min for templates.
            (ConnState::Template, _) => SYNC_TEMPLATE_TIMEOUT_MS,
            (s, _) => self.timeouts.millis(s),
        });

        let mut unlinks = Unlinks::new();
        let result = {
            let mut inner = self.lock(shard);
            if let Some(local) = self.find_in(&inner, &kin) {
                if !self.expire_if_due(&mut inner, shard, local, now, &mut unlinks) {
                    let gen = inner.slab[local as usize].gen;
                    return Err(InsertError::Exists(self.id_of(shard, local, gen)));
                }
            }
            if inner.len >= self.per_shard {
                self.reclaim(&mut inner, shard, now, RECLAIM_SCAN, &mut unlinks);
            }
            if inner.len >= self.per_shard {
                inner.refused_full += 1;
                Err(InsertError::Full)
            } else {
                let local = match inner.free.pop() {
                    Some(s) => s,
                    None => {
                        inner.slab.push(Entry::default());
                        (inner.slab.len() - 1) as u32
                    }
                };
                let e = &mut inner.slab[local as usize];
                let gen = e.gen;
                let (laddr, lport) = l.map(|(a, p)| (a.bytes, p)).unwrap_or(([0; 16], 0));
                *e = Entry {
                    caddr: c.bytes,
                    vaddr: v.bytes,
                    daddr: d.bytes,
                    laddr,
                    expires: now.as_millis().saturating_add(timeout_ms as u64),
                    counters: new.counters.clone(),
                    control_slot: new.control.map_or(NO_SLOT, |c| c.slot),
                    control_gen: new.control.map_or(0, |c| c.gen),
                    gen,
                    timeout_ms,
                    fwmark: new.fwmark,
                    service: new.service,
                    dest_id: new.dest_id,
                    n_control: 0,
                    flags,
                    cport: new.client.port,
                    vport: new.virt.port,
                    dport: new.dest.port,
                    lport,
                    proto: new.proto,
                    state: st.to_raw() as u8,
                    fam: (if c.v6 { AF_V6 } else { 0 }) | (if d.v6 { DAF_V6 } else { 0 }),
                    live: LIVE | IN_HASHED,
                };
                let replies =
                    !new.template && (fullnat || ConnFlags::replies_through_director(new.method));
                if replies {
                    e.live |= OUT_HASHED;
                }
                if let Some(cnt) = &e.counters {
                    cnt.bind(e.load_kind());
                }
                let conn = e.to_conn(self.id_of(shard, local, gen));
                let hin = self.hasher.hash_one(kin);
                let hout = replies.then(|| self.hasher.hash_one(e.out_key()));
                // Cannot fail: a shard holds at most `per_shard` entries of two keys each.
                let indexed = inner.index.insert(hin, local << 1)
                    && hout.is_none_or(|h| inner.index.insert(h, (local << 1) | OUT_BIT));
                debug_assert!(indexed, "index sized for two keys per entry");
                inner.len += 1;
                inner.inserted += 1;
                self.len.fetch_add(1, Ordering::Relaxed);
                Ok(conn)
            }
        };
        self.run_unlinks(&unlinks);
        if let (Ok(_), Some(ctl)) = (&result, new.control) {
            self.link(ctl, now);
        }
        result
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
        (e.live & LIVE != 0 && e.gen == id.gen).then(|| e.to_conn(id))
    }

    /// The kernel's `ip_vs_conn_expire_now`: remove the entry at once, unless it still
    /// controls connections (a template in use: it is left alone). Returns whether it
    /// was removed.
    pub fn expire_now(&self, id: ConnId) -> bool {
        let (shard, local) = self.split(id);
        let mut unlinks = Unlinks::new();
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
                let mut unlinks = Unlinks::new();
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
                        f(&e.to_conn(self.id_of(shard, local as u32, e.gen)));
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
                let mut unlinks = Unlinks::new();
                let more = {
                    let mut inner = self.lock(shard);
                    while local < inner.slab.len() && !unlinks.is_full() {
                        let e = &inner.slab[local];
                        if e.live & LIVE != 0
                            && pred(&e.to_conn(self.id_of(shard, local as u32, e.gen)))
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
        }
        total
    }

    /// Size of one slab entry in bytes.
    pub const fn entry_size() -> usize {
        core::mem::size_of::<Entry>()
    }
}
