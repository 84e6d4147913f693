//! Egress resolution: from a next-hop address to (interface, source MAC,
//! destination MAC), using the kernel's routing and neighbour tables.
//!
//! One resolver thread owns the netlink sockets and a shared table; workers keep a
//! private copy of what they used and drop it when the table's generation changes,
//! so a worker reads the shared table (under a lock) only on a miss. An unknown
//! neighbour is resolved by the kernel itself (NTF_USE), never guessed; frames for it
//! wait in the worker meanwhile.

mod netlink;
mod resolver;

pub use netlink::{Neigh, Route, RtNetlink};
pub use resolver::{Resolver, ResolverHandle, RESOLVE_TIMEOUT};

use core::net::IpAddr;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use crate::counters::IoDrop;

/// The source address the kernel would use towards `dst` (in the calling thread's
/// network namespace): what rvsd gives the engine as the outer source of tunnels
/// (`EngineConfig::tunnel_src_v4/v6`). `None` when `dst` is unreachable.
pub fn route_source(dst: IpAddr) -> std::io::Result<Option<IpAddr>> {
    Ok(RtNetlink::open()?.route_get(dst)?.and_then(|r| r.prefsrc))
}

/// Where to send a frame at layer 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextHop {
    pub ifindex: u32,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
}

/// The state of one (next hop, on-link) key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Ready(NextHop),
    /// The kernel is resolving; frames wait.
    Pending,
    /// No usable route or neighbour, for this reason; retried after a while.
    Failed(IoDrop),
}

/// Key of a resolution: the address and whether it must be on-link (DR).
pub type Key = (IpAddr, bool);

/// The table the resolver writes and workers read.
#[derive(Debug, Default)]
pub struct Shared {
    table: RwLock<HashMap<Key, Resolution>>,
    generation: AtomicU64,
}

impl Shared {
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn get(&self, key: &Key) -> Option<Resolution> {
        let t = self.table.read().unwrap_or_else(|p| p.into_inner());
        t.get(key).copied()
    }
}

/// A worker's view: a private cache in front of the shared table.
pub struct NeighCache {
    shared: Arc<Shared>,
    requests: SyncSender<Key>,
    wake: Arc<resolver::Waker>,
    local: HashMap<Key, Resolution>,
    generation: u64,
    /// When this worker last asked for each key it saw missing (so a burst of frames
    /// asks once).
    asked: HashMap<Key, Instant>,
}

impl NeighCache {
    /// Whether the shared table changed since the last call (and the private cache
    /// was dropped).
    pub fn refresh(&mut self) -> bool {
        let g = self.shared.generation();
        if g != self.generation {
            self.generation = g;
            self.local.clear();
            true
        } else {
            false
        }
    }

    /// Resolve `key` without blocking.
    pub fn lookup(&mut self, key: Key, now: Instant) -> Resolution {
        if let Some(r) = self.local.get(&key) {
            return *r;
        }
        match self.shared.get(&key) {
            Some(r) => {
                self.local.insert(key, r);
                r
            }
            None => {
                let recently = self
                    .asked
                    .get(&key)
                    .is_some_and(|t| now.duration_since(*t).as_millis() < 200);
                if !recently {
                    // A full channel means the resolver is busy with many requests;
                    // the key will be asked again by a later frame.
                    if self.requests.try_send(key).is_ok() {
                        self.wake.wake();
                    }
                    if self.asked.len() > 4096 {
                        self.asked.clear();
                    }
                    self.asked.insert(key, now);
                }
                Resolution::Pending
            }
        }
    }
}

#[cfg(test)]
impl Shared {
    /// Set the table as the resolver would publish it.
    pub(crate) fn publish_for_test(&self, entries: &[(Key, Resolution)]) {
        {
            let mut t = self.table.write().unwrap_or_else(|p| p.into_inner());
            t.clear();
            t.extend(entries.iter().copied());
        }
        self.bump();
    }
}

#[cfg(test)]
impl NeighCache {
    /// A cache over `shared` whose requests land in the returned receiver.
    pub(crate) fn for_test(shared: Arc<Shared>) -> (NeighCache, std::sync::mpsc::Receiver<Key>) {
        let (tx, rx) = std::sync::mpsc::sync_channel(16);
        let cache = NeighCache {
            generation: shared.generation(),
            shared,
            requests: tx,
            wake: Arc::new(resolver::Waker::new().expect("pipe")),
            local: HashMap::new(),
            asked: HashMap::new(),
        };
        (cache, rx)
    }
}
