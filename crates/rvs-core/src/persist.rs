//! Persistence templates (`-p`, `-M`): how the kernel's `ip_vs_sched_persist` keys
//! them and when an existing template may still be used.
//!
//! A template is an entry of the connection table flagged TEMPLATE, found by its
//! [`InKey`] through [`crate::conn::ConnTable::lookup_template`]:
//! ⟨proto, client address masked to the granularity, port 0, virtual address, vport⟩,
//! where proto is IPPROTO_IP (0) and the virtual address is the mark for firewall-mark
//! services, and vport is 0 for port-0 services, FTP (port 21) and firewall marks.
//! Its timeout is the persistence timeout; it counts in its real server's PersistConn;
//! each new connection scheduled through it links to it (`control`) and restarts its
//! timer; it outlives its timeout while it still controls connections.
//!
//! A service with a persistence engine (`--pe sip`) adds the engine's data to the
//! key: [`PeDataStore`] holds it and maps ⟨key, data⟩ to the template, whose client
//! port is then a probe port instead of 0 (listed as 0).

use crate::conn::reuse::DestStatus;
use crate::conn::{Endpoint, InKey, NewConn};
use crate::model::{Family, ForwardMethod, Persistence, ServiceKey};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The FTP control port, whose templates cover every port (the kernel's FTPPORT).
pub const FTP_PORT: u16 = 21;

/// `addr` with only its first `prefix_len` bits kept (IPv4 /0..32, IPv6 /0..128; larger
/// lengths keep the whole address).
pub fn mask_addr(addr: IpAddr, prefix_len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let mask = match prefix_len {
                0 => 0,
                p if p >= 32 => u32::MAX,
                p => u32::MAX << (32 - p),
            };
            IpAddr::V4(Ipv4Addr::from(bits & mask))
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let mask = match prefix_len {
                0 => 0,
                p if p >= 128 => u128::MAX,
                p => u128::MAX << (128 - p),
            };
            IpAddr::V6(Ipv6Addr::from(bits & mask))
        }
    }
}

/// How the kernel writes a firewall mark where an address goes: the mark in the first
/// four bytes (network order), the rest zero.
pub fn fwmark_addr(mark: u32, family: Family) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::from(mark)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from((mark as u128) << 96)),
    }
}

/// The packet fields a template key is built from (client → virtual packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketTuple {
    /// IP protocol of the packet.
    pub proto: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub dst_port: u16,
}

/// The template key for a packet of a persistent service.
pub fn template_key(svc: &ServiceKey, p: &Persistence, pkt: &PacketTuple) -> InKey {
    let client = Endpoint::new(mask_addr(pkt.src, p.prefix_len), 0);
    let (svc_port, fwmark) = match *svc {
        ServiceKey::Addr { port, .. } => (port, None),
        ServiceKey::Fwmark { mark, family } => (0, Some((mark, family))),
    };
    let (proto, virt) = if pkt.dst_port == svc_port {
        // <proto, caddr, 0, vaddr, vport>; FTP templates cover every port.
        let vport = if svc_port != FTP_PORT {
            pkt.dst_port
        } else {
            0
        };
        (pkt.proto, Endpoint::new(pkt.dst, vport))
    } else if let Some((mark, family)) = fwmark {
        // <IPPROTO_IP, caddr, 0, fwmark, 0>
        (0, Endpoint::new(fwmark_addr(mark, family), 0))
    } else {
        // Port-zero service: <proto, caddr, 0, vaddr, 0>
        (pkt.proto, Endpoint::new(pkt.dst, 0))
    };
    InKey {
        proto,
        client,
        virt,
    }
}

/// The real-server port recorded in a template: the server's port when the packet's
/// port is the service's, else 0 (port-zero and firewall-mark services).
pub fn template_dest_port(svc: &ServiceKey, dst_port: u16, dest_port: u16) -> u16 {
    let svc_port = match *svc {
        ServiceKey::Addr { port, .. } => port,
        ServiceKey::Fwmark { .. } => 0,
    };
    if dst_port == svc_port {
        dest_port
    } else {
        0
    }
}

/// A template entry for `key` pointing at a real server.
pub fn new_template(
    key: &InKey,
    dest: Endpoint,
    method: ForwardMethod,
    p: &Persistence,
    fwmark: u32,
) -> NewConn {
    let mut n = NewConn::scheduled(key.proto, key.client, key.virt, dest, method);
    n.template = true;
    n.fwmark = fwmark;
    n.timeout_ms = Some(p.timeout.saturating_mul(1000));
    n
}

/// `ip_vs_check_template`: whether a found template may still direct new connections.
/// When not, the engine invalidates it ([`crate::conn::ConnTable::invalidate_template`])
/// and schedules afresh.
pub fn template_usable(dest: Option<DestStatus>, expire_quiescent_template: bool) -> bool {
    match dest {
        None => false,
        Some(d) => d.available && !(expire_quiescent_template && d.weight == 0),
    }
}

pub use pe_data::{PeDataStore, PE_DATA_MAX};

/// Persistence-engine data of templates (the kernel's `pe_data`: the SIP Call-ID).
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
mod pe_data {
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

    /// See the [module documentation](self).
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
                        client: crate::conn::Endpoint::new(
                            core::net::Ipv4Addr::UNSPECIFIED.into(),
                            0,
                        ),
                        virt: crate::conn::Endpoint::new(
                            core::net::Ipv4Addr::UNSPECIFIED.into(),
                            0,
                        ),
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
}
