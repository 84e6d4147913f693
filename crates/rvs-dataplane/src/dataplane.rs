//! Starting and stopping the data plane: rings, steering, resolver, workers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant as StdInstant};

use crate::afpacket::{self, AfPacketIo, RingConfig, RxRing, TxSocket};
use crate::counters::{Counters, WorkerCounters};
use crate::neigh::{Resolver, ResolverHandle};
use crate::offload::OffloadGuard;
use crate::processor::FrameProcessor;
use crate::steering::{
    cleanup_dead_instances, cleanup_stale, Steering, SteeringError, SteeringGuard,
};
use crate::worker::{Worker, WorkerTuning};

/// Everything the data plane needs to start.
#[derive(Debug, Clone)]
pub struct DataplaneConfig {
    /// Interfaces rvsd owns: frames are received on them, steering rules hook them.
    pub interfaces: Vec<String>,
    /// Worker threads (each reads every interface through a fanout group).
    pub workers: usize,
    /// nft table (`netdev` family) of this instance, e.g. `rvs_<pid>`.
    pub steering_table: String,
    /// The claim to install at start.
    pub steering: Steering,
    pub ring: RingConfig,
    /// Turn GRO/LRO off on the interfaces (restored at shutdown).
    pub disable_receive_offloads: bool,
    /// Send around the queueing discipline (faster; invisible to tc shaping).
    pub qdisc_bypass: bool,
    pub batch: usize,
    /// Bytes of headroom in front of every frame (outer IPv6 + UDP + GUE fits in 64).
    pub headroom: usize,
    /// Largest frame accepted, Ethernet header included.
    pub max_frame: usize,
    /// Empty ring checks (a few hundred nanoseconds of spinning each) before a worker
    /// sleeps in poll().
    pub spin_rounds: u32,
    pub poll_timeout: Duration,
    pub pending_capacity: usize,
    pub housekeeping_interval: Duration,
    /// Origin of the engine's `Instant` (so rvsd and the workers agree on time).
    pub clock_origin: StdInstant,
}

impl DataplaneConfig {
    /// Defaults for `interfaces`, one worker, table `rvs_<pid>`.
    pub fn new(interfaces: Vec<String>) -> DataplaneConfig {
        DataplaneConfig {
            interfaces,
            workers: 1,
            steering_table: format!("rvs_{}", std::process::id()),
            steering: Steering::default(),
            ring: RingConfig::default(),
            disable_receive_offloads: true,
            qdisc_bypass: false,
            batch: 64,
            headroom: 128,
            max_frame: 9216 + 18,
            spin_rounds: 64,
            poll_timeout: Duration::from_millis(10),
            pending_capacity: 256,
            housekeeping_interval: Duration::from_millis(100),
            clock_origin: StdInstant::now(),
        }
    }
}

/// Why the data plane could not start or stop cleanly.
#[derive(Debug)]
pub enum DataplaneError {
    Config(String),
    Io {
        what: String,
        source: std::io::Error,
    },
    Steering(SteeringError),
    /// A worker thread panicked.
    WorkerPanicked(usize),
}

impl core::fmt::Display for DataplaneError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DataplaneError::Config(m) => write!(f, "data plane configuration: {m}"),
            DataplaneError::Io { what, source } => write!(f, "{what}: {source}"),
            DataplaneError::Steering(e) => write!(f, "{e}"),
            DataplaneError::WorkerPanicked(i) => write!(f, "data plane worker {i} panicked"),
        }
    }
}

impl std::error::Error for DataplaneError {}

impl From<SteeringError> for DataplaneError {
    fn from(e: SteeringError) -> Self {
        DataplaneError::Steering(e)
    }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DataplaneError {
    let what = what.into();
    move |source| DataplaneError::Io { what, source }
}

fn check_ifname(name: &str) -> Result<(), DataplaneError> {
    let ok = !name.is_empty()
        && name.len() < libc::IFNAMSIZ
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'));
    if ok {
        Ok(())
    } else {
        Err(DataplaneError::Config(format!(
            "bad interface name {name:?}"
        )))
    }
}

/// Entry point: see [`Dataplane::start`].
pub struct Dataplane;

impl Dataplane {
    /// Start the data plane in the calling thread's network namespace: open a
    /// receive ring per interface and worker, install the steering table, start the
    /// resolver and the workers. On error everything opened so far is closed again.
    pub fn start<P: FrameProcessor>(
        config: DataplaneConfig,
        processor: P,
    ) -> Result<DataplaneHandle, DataplaneError> {
        if config.interfaces.is_empty() {
            return Err(DataplaneError::Config("no interface to own".into()));
        }
        if config.workers == 0 || config.batch == 0 {
            return Err(DataplaneError::Config(
                "workers and batch must be at least 1".into(),
            ));
        }
        for name in &config.interfaces {
            check_ifname(name)?;
        }
        let ifindexes = config
            .interfaces
            .iter()
            .map(|n| afpacket::ifindex_of(n).map_err(io_err(format!("interface {n}"))))
            .collect::<Result<Vec<u32>, _>>()?;

        // Rings first, so no claimed frame is dropped before someone reads it.
        let mut groups: Vec<Option<u16>> = vec![None; ifindexes.len()];
        let mut per_worker = Vec::with_capacity(config.workers);
        for w in 0..config.workers {
            let mut rings = Vec::with_capacity(ifindexes.len());
            for (i, ifindex) in ifindexes.iter().enumerate() {
                let fanout = if config.workers > 1 {
                    Some(groups[i].unwrap_or(0))
                } else {
                    None
                };
                let (ring, group) = RxRing::open(*ifindex, config.ring, fanout).map_err(io_err(
                    format!("receive ring on {} (worker {w})", config.interfaces[i]),
                ))?;
                groups[i] = group;
                rings.push(ring);
            }
            let tx = TxSocket::open(config.qdisc_bypass).map_err(io_err("send socket"))?;
            per_worker.push(AfPacketIo::new(rings, tx));
        }

        let offloads = if config.disable_receive_offloads {
            OffloadGuard::disable_receive_offloads(&config.interfaces)
                .map_err(io_err("turning receive offloads off"))?
        } else {
            OffloadGuard::default()
        };
        for name in cleanup_dead_instances()? {
            eprintln!("rvs-dataplane: removed steering table {name} of a dead instance");
        }
        if cleanup_stale(&config.steering_table)? {
            eprintln!(
                "rvs-dataplane: removed stale steering table {}",
                config.steering_table
            );
        }
        let steering =
            SteeringGuard::install(&config.steering_table, &config.interfaces, &config.steering)?;
        let resolver = Resolver::start().map_err(io_err("starting the neighbour resolver"))?;

        let stop = Arc::new(AtomicBool::new(false));
        let tuning = WorkerTuning {
            batch: config.batch,
            headroom: config.headroom,
            max_frame: config.max_frame,
            spin_rounds: config.spin_rounds,
            poll_timeout: config.poll_timeout,
            pending_capacity: config.pending_capacity,
            housekeeping_interval: config.housekeeping_interval,
        };
        let mut handle = DataplaneHandle {
            steering: Mutex::new(Some(steering)),
            workers: Vec::new(),
            counters: Vec::new(),
            stop: stop.clone(),
            resolver: Some(resolver),
            offloads: Some(offloads),
        };
        for (index, io) in per_worker.into_iter().enumerate() {
            let counters = Arc::new(WorkerCounters::default());
            let worker = Worker {
                processor: processor.worker(index),
                io,
                neigh: handle
                    .resolver
                    .as_ref()
                    .map(|r| r.cache())
                    .ok_or_else(|| DataplaneError::Config("resolver missing".into()))?,
                counters: counters.clone(),
                stop: stop.clone(),
                tuning,
                clock_origin: config.clock_origin,
            };
            let thread = std::thread::Builder::new()
                .name(format!("rvs-worker-{index}"))
                .spawn(move || worker.run())
                .map_err(io_err("starting a worker thread"))?;
            handle.workers.push(thread);
            handle.counters.push(counters);
        }
        Ok(handle)
    }
}

/// A running data plane. Dropping it stops everything (as `shutdown`, ignoring
/// errors); rvsd should call [`DataplaneHandle::shutdown`] on SIGTERM/SIGINT.
pub struct DataplaneHandle {
    steering: Mutex<Option<SteeringGuard>>,
    workers: Vec<JoinHandle<()>>,
    counters: Vec<Arc<WorkerCounters>>,
    stop: Arc<AtomicBool>,
    resolver: Option<ResolverHandle>,
    offloads: Option<OffloadGuard>,
}

impl DataplaneHandle {
    /// Replace the claimed packets atomically (one nft transaction).
    pub fn update_steering(&self, steering: &Steering) -> Result<(), SteeringError> {
        let mut guard = self.steering.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            Some(g) => g.update(steering),
            None => Ok(()),
        }
    }

    /// The sum of all workers' counters.
    pub fn counters(&self) -> Counters {
        Counters::sum(self.worker_counters().iter())
    }

    /// Each worker's counters.
    pub fn worker_counters(&self) -> Vec<Counters> {
        self.counters.iter().map(|c| c.snapshot()).collect()
    }

    /// Stop the workers, remove the steering table, stop the resolver and restore
    /// the offloads.
    pub fn shutdown(mut self) -> Result<(), DataplaneError> {
        self.stop_all()
    }

    fn stop_all(&mut self) -> Result<(), DataplaneError> {
        self.stop.store(true, Ordering::Release);
        let mut result = Ok(());
        for (i, t) in self.workers.drain(..).enumerate() {
            if t.join().is_err() && result.is_ok() {
                result = Err(DataplaneError::WorkerPanicked(i));
            }
        }
        let steering = self
            .steering
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(g) = steering {
            if let Err(e) = g.shutdown() {
                if result.is_ok() {
                    result = Err(e.into());
                }
            }
        }
        if let Some(mut r) = self.resolver.take() {
            r.shutdown();
        }
        self.offloads.take();
        result
    }
}

impl Drop for DataplaneHandle {
    fn drop(&mut self) {
        if let Err(e) = self.stop_all() {
            eprintln!("rvs-dataplane: shutdown: {e}");
        }
    }
}
