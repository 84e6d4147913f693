//! Runtime state of services and real servers that outlives one configuration
//! snapshot: scheduler instances, connection counters, overload flags, statistics.
//! Shared by all workers, so everything here is atomic or behind a per-service lock
//! taken only to schedule a new connection.

use super::registry::Dest;
use crate::conn::reuse::DestStatus;
use crate::conn::DestCounters;
use crate::estimator::Estimator;
use crate::model::{DestConfig, ServiceConfig, Stats};
use crate::sched::{new_scheduler, DestLoad, SchedInput, Scheduler};
use crate::stats::StatsCounters;
use crate::time::Instant;
use core::net::IpAddr;
use core::sync::atomic::{AtomicBool, AtomicI32, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// A scheduler with the scratch space it is fed from (no allocation per decision).
#[derive(Debug)]
struct SchedSlot {
    sched: Box<dyn Scheduler>,
    loads: Vec<DestLoad>,
}

/// The part of a service that survives reloads.
#[derive(Debug)]
pub(crate) struct ServiceRt {
    /// Unique in the engine (connections record it).
    pub id: u32,
    sched: Mutex<SchedSlot>,
    seed: u64,
    pub stats: StatsCounters,
    pub est: Mutex<Estimator>,
    /// Removed real servers that connections still point to; a real server added back
    /// while here gets its old counters back (the kernel's dest trash).
    trash: Mutex<Vec<Arc<DestRt>>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take the data path down with it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ServiceRt {
    pub fn new(
        id: u32,
        config: &ServiceConfig,
        workers: usize,
        seed: u64,
        now: Instant,
    ) -> ServiceRt {
        ServiceRt {
            id,
            sched: Mutex::new(SchedSlot {
                sched: new_scheduler(config.scheduler, config.sched_flags, seed),
                loads: Vec::new(),
            }),
            seed,
            stats: StatsCounters::new(workers),
            est: Mutex::new(Estimator::new(now, Stats::default())),
            trash: Mutex::new(Vec::new()),
        }
    }

    pub fn bury(&self, dest: Arc<DestRt>) {
        let mut trash = lock(&self.trash);
        // Entries nobody points to any more are forgotten (the kernel's trash expiry).
        trash.retain(|d| Arc::strong_count(d) > 1);
        trash.push(dest);
    }

    pub fn revive(&self, addr: IpAddr, port: u16) -> Option<Arc<DestRt>> {
        let mut trash = lock(&self.trash);
        let i = trash
            .iter()
            .position(|d| d.addr == addr && d.port == port)?;
        let d = trash.swap_remove(i);
        d.set_available(true);
        Some(d)
    }

    /// Apply a configuration change: a new scheduler when the algorithm or its flags
    /// changed, and the scheduler's `update` when the list or weights changed.
    pub fn reconfigure(
        &self,
        config: &ServiceConfig,
        loads: &[DestLoad],
        new_sched: bool,
        dests_changed: bool,
        now: Instant,
    ) {
        let mut slot = lock(&self.sched);
        if new_sched {
            slot.sched = new_scheduler(config.scheduler, config.sched_flags, self.seed);
        }
        slot.loads.clear();
        slot.loads.extend_from_slice(loads);
        if new_sched || dests_changed {
            slot.sched.update(loads, now);
        }
    }

    /// Choose a real server among `dests` (the snapshot's list) for a new connection.
    pub fn schedule<'a>(
        &self,
        dests: &'a [Dest],
        input: &SchedInput,
        now: Instant,
    ) -> Option<&'a Dest> {
        let mut slot = lock(&self.sched);
        let slot = &mut *slot;
        slot.loads.clear();
        slot.loads.extend(dests.iter().map(|d| d.rt.load()));
        let i = slot.sched.schedule(&slot.loads, input, now)?;
        dests.get(i)
    }

    pub fn tick(&self, now: Instant) {
        lock(&self.sched).sched.tick(now);
    }
}

/// The part of a real server that survives reloads: identity, load counters (bound
/// to its connections by the table), weight, statistics.
#[derive(Debug)]
pub(crate) struct DestRt {
    /// Unique in the engine (connections record it).
    pub id: u32,
    pub addr: IpAddr,
    pub port: u16,
    pub counters: Arc<DestCounters>,
    available: AtomicBool,
    weight: AtomicI32,
    last_weight: AtomicI32,
    pub stats: StatsCounters,
    pub est: Mutex<Estimator>,
}

impl DestRt {
    pub fn new(id: u32, config: &DestConfig, workers: usize, now: Instant) -> DestRt {
        DestRt {
            id,
            addr: config.addr,
            port: config.port,
            counters: Arc::new(DestCounters::new(config.u_threshold, config.l_threshold)),
            available: AtomicBool::new(true),
            weight: AtomicI32::new(0),
            last_weight: AtomicI32::new(0),
            stats: StatsCounters::new(workers),
            est: Mutex::new(Estimator::new(now, Stats::default())),
        }
    }

    /// Take the configured weight and thresholds (a new or edited real server).
    pub fn configure(&self, c: &DestConfig) {
        let w = i32::try_from(c.weight).unwrap_or(i32::MAX);
        self.weight.store(w, Relaxed);
        if w > 0 {
            self.last_weight.store(w, Relaxed);
        }
        if self.counters.thresholds() != (c.u_threshold, c.l_threshold) {
            self.counters.set_thresholds(c.u_threshold, c.l_threshold);
        }
    }

    pub fn set_available(&self, yes: bool) {
        self.available.store(yes, Relaxed);
    }

    pub fn available(&self) -> bool {
        self.available.load(Relaxed)
    }

    pub fn weight(&self) -> i32 {
        self.weight.load(Relaxed)
    }

    pub fn status(&self) -> DestStatus {
        DestStatus {
            available: self.available(),
            weight: self.weight(),
        }
    }

    pub fn load(&self) -> DestLoad {
        let l = self.counters.snapshot();
        DestLoad {
            id: self.id,
            addr: self.addr,
            port: self.port,
            weight: self.weight.load(Relaxed),
            last_weight: self.last_weight.load(Relaxed),
            active: l.active,
            inactive: l.inactive,
            overloaded: l.overloaded,
        }
    }
}
