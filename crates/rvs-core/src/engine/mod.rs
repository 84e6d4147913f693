//! The engine: configuration snapshots, the connection table and the per-packet path
//! shared by every data-plane worker.
//!
//! Shape (quinn-proto style): no I/O, no clock; the caller passes frames and `now`.
//! - The control plane calls [`Engine::apply`] with the whole desired state; the engine
//!   diffs it against the running one and publishes an immutable snapshot that workers
//!   pick up with one atomic load per packet (never a lock).
//! - Each data-plane thread owns a [`Worker`] and calls [`Worker::process`] per frame.
//!   Packets that only restart a connection's timer (established TCP without SYN, FIN
//!   or RST; UDP) take the worker's flow cache (`flow_cache.rs`): no lookup, no lock,
//!   no state machine, checked against the entry's version word. The rest take the
//!   locked path: full parse, the connection table under its shard's lock, scheduling.
//! - The control plane reads figures with [`Engine::status`] / [`Engine::connections`]
//!   and drives housekeeping with [`Engine::tick`].

mod config;
mod fwmark;
mod registry;
mod runtime;

pub use config::{EngineConfig, FullNatPool, Sysctls};
mod fast_path;
mod flow_cache;
mod fullnat;
mod icmp;
mod mtu;
mod pe_sip;
mod read;
mod schedule;
mod sync;
mod tunnel;
mod worker;
mod xmit;

pub use crate::conn::ConnFlags;
pub use sync::{SyncConn, SyncImportError, SyncPe, PE_NAME_MAX};
pub use worker::Worker;

use crate::conn::{ConnTable, ConnTableConfig, ExpiryHook};
use crate::model::{FwmarkRule, Timeouts, VirtualService};
use crate::persist::PeDataStore;
use crate::time::Instant;
use arc_swap::ArcSwap;
use fullnat::PortPool;
use registry::{IdGen, Registry};
use runtime::lock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Why an engine could not be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineError {
    /// `workers` must be at least 1.
    NoWorkers,
    /// The connection table refused the sizing.
    Table(crate::conn::ConfigError),
}

impl core::fmt::Display for EngineError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EngineError::NoWorkers => f.write_str("the engine needs at least one worker"),
            EngineError::Table(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for EngineError {}

/// Control-plane-only state, behind one lock taken by `apply`, `tick` and `zero`.
#[derive(Debug)]
struct Control {
    last_tick: Option<Instant>,
}

/// What the engine's workers and its control side share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub cfg: EngineConfig,
    pub registry: ArcSwap<Registry>,
    /// Bumped after every publication, so workers notice with one relaxed load.
    pub generation: AtomicU64,
    pub conns: ConnTable,
    pub pool: Arc<PortPool>,
    /// The Call-IDs of SIP templates (`--pe sip`).
    pub pe_data: Arc<PeDataStore>,
    pub sync_queues: Box<[sync::SyncQueue]>,
    pub sync_master: AtomicBool,
    pub ids: IdGen,
    control: Mutex<Control>,
}

/// The virtual-server engine, shared (`Send + Sync`) by the control plane and every
/// data-plane worker. Cloning is cheap and gives another handle on the same engine.
#[derive(Debug, Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

/// Most SIP templates with their Call-IDs at once (about 21 MiB, plus 8 bytes per
/// connection-table entry, reserved when a SIP service is first configured).
const PE_DATA_RECORDS: usize = 1 << 16;

/// Per-worker capacity of the sync queue.
const SYNC_QUEUE_CAP: usize = 8192;

impl Engine {
    pub fn new(cfg: EngineConfig) -> Result<Engine, EngineError> {
        if cfg.workers == 0 {
            return Err(EngineError::NoWorkers);
        }
        let pool = Arc::new(PortPool::new(&cfg.fullnat_pool));
        let hook_pool = pool.clone();
        let pe_data = Arc::new(PeDataStore::new());
        let hook_pe_data = pe_data.clone();
        let hook: ExpiryHook = Box::new(move |c| {
            if let Some(local) = c.local {
                hook_pool.free(local);
            }
            if c.is_template() {
                hook_pe_data.release(c.id);
            }
        });
        // Enough shards that workers rarely meet on one lock, few enough that a FULLNAT
        // local port for a given shard is found quickly.
        let shards = (cfg.workers * 16).next_power_of_two().clamp(16, 256);
        let conns = ConnTable::with_hook(
            ConnTableConfig {
                max_entries: cfg.max_conns.max(1),
                shards,
            },
            Some(hook),
        )
        .map_err(EngineError::Table)?;
        pool.init(conns.shard_count(), |a, p| conns.shard_of(a, p));
        let sync_queues = (0..cfg.workers)
            .map(|_| sync::SyncQueue::new(SYNC_QUEUE_CAP))
            .collect();
        Ok(Engine {
            shared: Arc::new(Shared {
                cfg,
                registry: ArcSwap::from_pointee(Registry::default()),
                generation: AtomicU64::new(0),
                conns,
                pool,
                pe_data,
                sync_queues,
                sync_master: AtomicBool::new(false),
                ids: IdGen::new(),
                control: Mutex::new(Control { last_tick: None }),
            }),
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.shared.cfg
    }

    /// Make `services` (each with its real servers in the kernel's list order),
    /// `fwmark_rules` and `timeouts` the running configuration. Services and real
    /// servers that stay keep their scheduler state, counters and connections; a
    /// changed scheduler or flags get a fresh scheduler; weight or list changes call
    /// the scheduler's `update`. Connections of removed real servers stay in the table
    /// and follow `expire_nodest_conn` when their next packet comes.
    pub fn apply(
        &self,
        services: &[VirtualService],
        fwmark_rules: &[FwmarkRule],
        timeouts: Timeouts,
        now: Instant,
    ) {
        let sh = &*self.shared;
        let _control = lock(&sh.control);
        let old = sh.registry.load_full();
        let next = registry::rebuild(
            &old,
            services,
            fwmark_rules,
            &sh.ids,
            sh.cfg.workers,
            sh.cfg.seed,
            now,
        );
        sh.conns.set_timeouts(timeouts);
        let sip = services.iter().any(|s| pe_sip::is_sip(&s.config));
        if sip {
            // Reserved before workers can see a SIP service: the packet path never
            // allocates for it.
            let n = sh.conns.shard_count();
            let slots = sh.conns.max_entries().div_ceil(n) * n;
            sh.pe_data
                .ensure(sh.conns.max_entries().min(PE_DATA_RECORDS), 16, slots);
        }
        sh.pe_data.set_in_use(sip);
        sh.registry.store(Arc::new(next));
        sh.generation.fetch_add(1, Ordering::Release);
    }

    /// The handle of data-plane worker `index` (0..workers; larger values are taken
    /// modulo the worker count). Each worker thread owns one.
    pub fn worker(&self, index: usize) -> Worker {
        Worker::new(self.shared.clone(), index % self.shared.cfg.workers)
    }

    /// Housekeeping, to call every 100 ms to 1 s: the rate estimators (every 2 s), an
    /// incremental expiry sweep of the connection table, the schedulers' own upkeep
    /// (lblc/lblcr garbage collection).
    pub fn tick(&self, now: Instant) {
        let sh = &*self.shared;
        let mut control = lock(&sh.control);
        let reg = sh.registry.load_full();
        for svc in &reg.services {
            lock(&svc.rt.est).tick(now, svc.rt.stats.total());
            for d in &svc.dests {
                lock(&d.rt.est).tick(now, d.rt.stats.total());
            }
            svc.rt.tick(now);
        }
        // Sweep about the whole table every ~10 s at one call per 100 ms.
        let budget = (sh.conns.max_entries() / 100).clamp(1024, 1 << 16);
        sh.conns.expire(now, budget);
        control.last_tick = Some(now);
    }

    /// `ipvsadm -Z [service]`: zero the counters and rates of one service (and its real
    /// servers) or of everything.
    pub fn zero(&self, service: Option<crate::model::ServiceKey>) {
        let sh = &*self.shared;
        let _control = lock(&sh.control);
        let reg = sh.registry.load_full();
        for svc in &reg.services {
            if service.is_some_and(|k| k != svc.config.key) {
                continue;
            }
            svc.rt.stats.zero();
            lock(&svc.rt.est).reset(svc.rt.stats.total());
            for d in &svc.dests {
                d.rt.stats.zero();
                lock(&d.rt.est).reset(d.rt.stats.total());
            }
        }
    }

    /// Turn the master side of connection sync on or off: while on, workers queue
    /// connections per the kernel's rules for [`Engine::drain_sync`].
    pub fn set_sync_master(&self, on: bool) {
        self.shared.sync_master.store(on, Ordering::Relaxed);
    }

    /// Move every queued connection to sync into `out` (oldest first per worker).
    pub fn drain_sync(&self, out: &mut Vec<SyncConn>) {
        for q in self.shared.sync_queues.iter() {
            q.drain_into(out);
        }
    }

    /// The connection timeouts in force (`ipvsadm -L --timeout`).
    pub fn timeouts(&self) -> Timeouts {
        self.shared.conns.timeouts().get()
    }

    /// Entries in the connection table (connections and templates).
    pub fn conn_count(&self) -> usize {
        self.shared.conns.len()
    }

    /// Director-wide counters: the sum over every service (what
    /// `/proc/net/ip_vs_stats` shows). Summed on read, so workers pay nothing for it.
    pub fn total_stats(&self) -> crate::model::Stats {
        let reg = self.shared.registry.load();
        let mut t = crate::model::Stats::default();
        for s in reg.services.iter().map(|s| s.rt.stats.total()) {
            t.conns += s.conns;
            t.in_pkts += s.in_pkts;
            t.out_pkts += s.out_pkts;
            t.in_bytes += s.in_bytes;
            t.out_bytes += s.out_bytes;
        }
        t
    }

    /// Remove every connection and template (`ipvsadm -C` flushes services, and with
    /// them, in time, their connections; this is the immediate form).
    pub fn flush_connections(&self) -> usize {
        self.shared.conns.remove_where(|_| true)
    }
}
