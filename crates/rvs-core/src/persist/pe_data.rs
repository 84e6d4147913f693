//! Persistence-engine data of templates (the kernel's `pe_data`: the SIP Call-ID),
//! kept in fixed memory beside the connection table: see [`PeDataStore`].

use crate::conn::{ConnId, InKey};
use core::hash::BuildHasher;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use hashbrown::{DefaultHashBuilder, HashTable};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

/// The kernel's `IP_VS_PEDATA_MAXLEN`.
pub const PE_DATA_MAX: usize = 255;

/// No record for a table slot.
const NONE: u64 = u64::MAX;

#[derive(Clone)]
struct Record {
    owner: ConnId,
    /// The template key with client port 0.
    key: InKey,
    port: u16,
    hash: u64,
    /// Whether lookups find it (a replaced record stays for its template's
    /// listing until that template leaves the table).
    indexed: bool,
    len: u8,
    data: [u8; PE_DATA_MAX],
}

impl Record {
    fn data(&self) -> &[u8] {
        &self.data[..self.len as usize]
    }
}

struct Shard {
    index: HashTable<u32>,
    records: Vec<Record>,
    free: Vec<u32>,
}

struct Inner {
    shards: Box<[Mutex<Shard>]>,
    /// Per connection-table slot: (shard << 32 | record) of its template's record.
    by_slot: Box<[AtomicU64]>,
}

/// The Call-IDs (PE data) of persistence templates.
///
/// # Design
///
/// The connection table keys a template by ⟨proto, masked client, port, virtual
/// address, vport⟩ and knows nothing of PE data. A SIP template is stored there with a
/// *probe port* in place of the client port (always 0 for other templates): a keyed
/// hash (foldhash, randomly seeded per engine) of the template key and the Call-ID,
/// folded to 1..=65535, moved on by one when another Call-ID's template already holds
/// it. This store is the index from ⟨template key, Call-ID⟩ to that template and its
/// port, and holds the Call-ID bytes for the listing:
///
/// - memory is fixed once SIP is first configured ([`PeDataStore::ensure`]): sharded
///   slabs of records of 255 data bytes each, a hash index per shard sized for its
///   slab, and one `u64` per connection-table slot to find a template's record when
///   it leaves the table. Nothing is allocated per packet; a full shard refuses new
///   records (the caller then goes without persistence, as for a full table);
/// - lookups take one shard mutex (shards chosen by the same keyed hash), never held
///   while the connection table is called; the table's expiry hook calls
///   [`PeDataStore::release`] under a table lock, so the order is always table, then
///   store;
/// - the table stays the authority on a template's life: a record whose template is
///   gone (expired, or invalidated by `ip_vs_check_template`) is replaced by the next
///   template of the same Call-ID, and freed when its template leaves the table.
pub struct PeDataStore {
    hasher: DefaultHashBuilder,
    inner: OnceLock<Inner>,
    /// Some service of the running configuration uses a persistence engine
    /// (the kernel's `conn_out_counter`, as a flag).
    in_use: AtomicBool,
}

impl core::fmt::Debug for PeDataStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PeDataStore")
            .field("ready", &self.inner.get().is_some())
            .finish()
    }
}

impl Default for PeDataStore {
    fn default() -> Self {
        Self::new()
    }
}

fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl PeDataStore {
    /// An empty store that holds nothing until [`PeDataStore::ensure`].
    pub fn new() -> PeDataStore {
        PeDataStore {
            hasher: DefaultHashBuilder::default(),
            inner: OnceLock::new(),
            in_use: AtomicBool::new(false),
        }
    }

    /// Say whether the running configuration has a service with a persistence
    /// engine (set on every configuration change).
    pub fn set_in_use(&self, yes: bool) {
        self.in_use.store(yes, Relaxed);
    }

    /// Whether real servers' packets without a connection must be checked for
    /// `conn_out` (one relaxed load).
    pub fn conn_out_enabled(&self) -> bool {
        self.in_use.load(Relaxed)
    }

    /// Reserve the memory, once: room for `capacity` records in `shards` shards
    /// (a power of two), for a connection table whose slot numbers are below
    /// `slot_space`. Later calls do nothing.
    pub fn ensure(&self, capacity: usize, shards: usize, slot_space: usize) {
        self.inner.get_or_init(|| {
            let shards = shards.max(1).next_power_of_two();
            let per = capacity.div_ceil(shards).max(1);
            let empty = Record {
                owner: ConnId { slot: 0, gen: 0 },
                key: InKey {
                    proto: 0,
                    client: crate::conn::Endpoint::new(core::net::Ipv4Addr::UNSPECIFIED.into(), 0),
                    virt: crate::conn::Endpoint::new(core::net::Ipv4Addr::UNSPECIFIED.into(), 0),
                },
                port: 0,
                hash: 0,
                indexed: false,
                len: 0,
                data: [0; PE_DATA_MAX],
            };
            Inner {
                shards: (0..shards)
                    .map(|_| {
                        Mutex::new(Shard {
                            // Twice the records: a table at most half full
                            // clears its tombstones in place, never growing.
                            index: HashTable::with_capacity(per * 2),
                            records: vec![empty.clone(); per],
                            free: (0..per as u32).rev().collect(),
                        })
                    })
                    .collect(),
                by_slot: (0..slot_space).map(|_| AtomicU64::new(NONE)).collect(),
            }
        });
    }

    /// Whether [`PeDataStore::ensure`] ran.
    pub fn is_ready(&self) -> bool {
        self.inner.get().is_some()
    }

    fn hash(&self, key: &InKey, data: &[u8]) -> u64 {
        self.hasher.hash_one((key, data))
    }

    /// The first probe port of a template: 1..=65535 from the keyed hash.
    pub fn first_port(&self, key: &InKey, data: &[u8]) -> u16 {
        let h = self.hash(key, data);
        ((h >> 48) as u16).max(1)
    }

    fn shard(inner: &Inner, hash: u64) -> &Mutex<Shard> {
        &inner.shards[hash as usize & (inner.shards.len() - 1)]
    }

    /// The template recorded for ⟨`key`, `data`⟩ (`key` with client port 0) and its
    /// probe port.
    pub fn find(&self, key: &InKey, data: &[u8]) -> Option<(ConnId, u16)> {
        let inner = self.inner.get()?;
        let hash = self.hash(key, data);
        let s = lock(Self::shard(inner, hash));
        let &i = s.index.find(hash, |&i| {
            let r = &s.records[i as usize];
            r.key == *key && r.data() == data
        })?;
        let r = &s.records[i as usize];
        Some((r.owner, r.port))
    }

    /// Record `owner` as the template of ⟨`key`, `data`⟩ at `port`. A record of the
    /// same pair is replaced only if its template is `stale` (the caller found it
    /// gone); if another one was recorded meanwhile, nothing changes and `false`
    /// is returned, as when there is no room or `data` is too long.
    pub fn record(
        &self,
        key: &InKey,
        data: &[u8],
        port: u16,
        owner: ConnId,
        stale: Option<ConnId>,
    ) -> bool {
        let Some(inner) = self.inner.get() else {
            return false;
        };
        let Some(slot_ref) = inner.by_slot.get(owner.slot as usize) else {
            return false;
        };
        if data.is_empty() || data.len() > PE_DATA_MAX {
            return false;
        }
        let hash = self.hash(key, data);
        let si = hash as usize & (inner.shards.len() - 1);
        let mut guard = lock(&inner.shards[si]);
        let s = &mut *guard;
        let records = &s.records;
        let existing = s.index.find_entry(hash, |&i| {
            let r = &records[i as usize];
            r.key == *key && r.data() == data
        });
        if let Ok(entry) = existing {
            let i = *entry.get() as usize;
            if stale != Some(s.records[i].owner) {
                return false;
            }
            entry.remove();
            s.records[i].indexed = false;
        }
        let Some(i) = s.free.pop() else {
            return false;
        };
        let r = &mut s.records[i as usize];
        r.owner = owner;
        r.key = *key;
        r.port = port;
        r.hash = hash;
        r.indexed = true;
        r.len = data.len() as u8;
        r.data[..data.len()].copy_from_slice(data);
        let records = &s.records;
        s.index
            .insert_unique(hash, i, |&j| records[j as usize].hash);
        slot_ref.store(((si as u64) << 32) | u64::from(i), Relaxed);
        true
    }

    fn locate(&self, id: ConnId) -> Option<(&Inner, usize, usize)> {
        let inner = self.inner.get()?;
        let loc = inner.by_slot.get(id.slot as usize)?.load(Relaxed);
        (loc != NONE).then_some((inner, (loc >> 32) as usize, loc as u32 as usize))
    }

    /// Forget the record of template `id`, if it has one (call when it leaves the
    /// connection table).
    pub fn release(&self, id: ConnId) {
        let Some((inner, si, i)) = self.locate(id) else {
            return;
        };
        let Some(m) = inner.shards.get(si) else {
            return;
        };
        let mut guard = lock(m);
        let s = &mut *guard;
        match s.records.get(i) {
            Some(r) if r.owner == id && (r.len > 0) => {}
            _ => return,
        }
        if s.records[i].indexed {
            let hash = s.records[i].hash;
            if let Ok(e) = s.index.find_entry(hash, |&j| j as usize == i) {
                e.remove();
            }
        }
        s.records[i].indexed = false;
        s.records[i].len = 0;
        s.free.push(i as u32);
        if let Some(b) = inner.by_slot.get(id.slot as usize) {
            b.store(NONE, Relaxed);
        }
    }

    /// Call `f` with the data of template `id` (listings).
    pub fn with_data<R>(&self, id: ConnId, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let (inner, si, i) = self.locate(id)?;
        let s = lock(inner.shards.get(si)?);
        let r = s.records.get(i)?;
        (r.owner == id && r.len > 0).then(|| f(r.data()))
    }

    /// Whether template `id` is recorded with `data` for `key`.
    pub fn holds(&self, id: ConnId, key: &InKey, data: &[u8]) -> bool {
        let Some((inner, si, i)) = self.locate(id) else {
            return false;
        };
        let Some(m) = inner.shards.get(si) else {
            return false;
        };
        let s = lock(m);
        s.records
            .get(i)
            .is_some_and(|r| r.owner == id && r.len > 0 && r.key == *key && r.data() == data)
    }

    /// Records in use (tests, figures).
    pub fn len(&self) -> usize {
        self.inner.get().map_or(0, |inner| {
            inner
                .shards
                .iter()
                .map(|m| {
                    let s = lock(m);
                    s.records.len() - s.free.len()
                })
                .sum()
        })
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
