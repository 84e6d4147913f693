//! The seam between the control plane and the data plane (rvs-dataplane): the
//! interfaces rvsd serves are handed, with the engine, to the packet workers, and
//! every change of the desired state is followed by the steering rules (which
//! packets rvsd claims from the kernel) and by the sync daemons.

use crate::figures::{EngineFigures, Figures};
use crate::ha::SyncDaemons;
use crate::server::Clock;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use rvs_api::state::ConfigState;
use rvs_core::engine::{Engine, FullNatPool};
use rvs_core::model::ServiceKey;
use rvs_core::status::{ConnEntry, ServiceEntry};
use rvs_core::time::Instant;
use rvs_dataplane::{Dataplane, DataplaneConfig, DataplaneHandle, Steering};
use tracing::{info, warn};

/// What the data plane is started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPlaneSettings {
    pub ifaces: Vec<String>,
    /// As many as the engine has workers (`engine.worker(i)` for i in 0..workers).
    pub workers: usize,
    pub fullnat_pool: Vec<IpAddr>,
    /// rvsd's clock origin ([`crate::server::Clock::origin`]): the workers' `now`
    /// must be on the same scale as the control plane's.
    pub clock_origin: std::time::Instant,
}

/// Starts packet processing on `settings.ifaces`, each worker thread driving one
/// `engine.worker(i)`, with nothing claimed yet (the first `apply` installs the
/// steering rules of the configuration).
pub fn start_data_plane(
    engine: &Engine,
    settings: &DataPlaneSettings,
) -> Result<DataplaneHandle, String> {
    let mut config = DataplaneConfig::new(settings.ifaces.clone());
    config.workers = settings.workers.max(1);
    config.clock_origin = settings.clock_origin;
    let handle = Dataplane::start(config, engine.clone()).map_err(|e| {
        format!(
            "cannot start the data plane on {}: {e}",
            settings.ifaces.join(",")
        )
    })?;
    info!(
        "data plane on {} with {} worker(s)",
        settings.ifaces.join(","),
        settings.workers.max(1)
    );
    Ok(handle)
}

/// The outer source addresses of TUN packets: the first address of each family
/// on the served interfaces that is not a VIP-style host address (IPv4 /32) nor
/// link-local, as the kernel would pick for its own traffic to the LAN.
pub fn tunnel_sources(ifaces: &[String]) -> (Option<Ipv4Addr>, Option<Ipv6Addr>) {
    let (mut v4, mut v6) = (None, None);
    for iface in ifaces {
        let Ok(out) = std::process::Command::new("ip")
            .args(["-o", "addr", "show", "dev", iface])
            .output()
        else {
            continue;
        };
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let mut words = line.split_whitespace();
            while let Some(w) = words.next() {
                let Some(cidr) = words.clone().next() else {
                    break;
                };
                let Some((addr, len)) = cidr.split_once('/') else {
                    continue;
                };
                match (w, addr.parse::<IpAddr>()) {
                    ("inet", Ok(IpAddr::V4(a))) if len != "32" && v4.is_none() => v4 = Some(a),
                    ("inet6", Ok(IpAddr::V6(a)))
                        if v6.is_none() && (a.segments()[0] & 0xffc0) != 0xfe80 =>
                    {
                        v6 = Some(a)
                    }
                    _ => {}
                }
            }
        }
    }
    (v4, v6)
}

/// The smallest MTU of the served interfaces (0 when none is known): tunnelled
/// packets must fit it after encapsulation.
pub fn served_mtu(ifaces: &[String]) -> u16 {
    ifaces
        .iter()
        .filter_map(|i| std::fs::read_to_string(format!("/sys/class/net/{i}/mtu")).ok())
        .filter_map(|m| m.trim().parse::<u16>().ok())
        .min()
        .unwrap_or(0)
}

/// rvsd's figures when it forwards packets: the engine's, plus the steering and the
/// sync daemons kept in step with every change.
pub struct Director {
    figures: EngineFigures,
    dataplane: Stopper,
    fullnat: FullNatPool,
    sync: SyncDaemons,
    clock: Clock,
    /// The claim last installed, to skip identical updates.
    installed: Option<Steering>,
}

impl std::fmt::Debug for Director {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Director")
            .field("dataplane", &self.dataplane.is_running())
            .field("sync", &self.sync)
            .finish()
    }
}

impl Director {
    pub fn new(
        engine: Engine,
        dataplane: Option<DataplaneHandle>,
        fullnat_pool: Vec<IpAddr>,
        clock: Clock,
    ) -> Director {
        Director {
            figures: EngineFigures::new(engine),
            dataplane: Stopper(std::sync::Arc::new(std::sync::Mutex::new(dataplane))),
            fullnat: FullNatPool {
                addrs: fullnat_pool,
                ..FullNatPool::default()
            },
            sync: SyncDaemons::default(),
            clock,
            installed: None,
        }
    }

    /// A handle that stops the data plane from outside (rvsd's exit path), since the
    /// director itself lives behind the control server's lock until the process ends.
    pub fn stopper(&self) -> Stopper {
        self.dataplane.clone()
    }

    /// Stop the workers, remove the steering rules and stop the sync daemons (also
    /// done on drop).
    pub fn shutdown(&mut self) {
        self.dataplane.stop();
        self.sync.reconcile(&[], self.figures.engine(), self.clock);
    }
}

/// Stops the data plane once: workers joined, steering rules removed, offloads
/// restored.
#[derive(Clone)]
pub struct Stopper(std::sync::Arc<std::sync::Mutex<Option<DataplaneHandle>>>);

impl Stopper {
    pub fn stop(&self) {
        let handle = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(dp) = handle {
            match dp.shutdown() {
                Ok(()) => info!("data plane stopped, steering rules removed"),
                Err(e) => warn!("data plane shutdown: {e}"),
            }
        }
    }

    fn is_running(&self) -> bool {
        self.0.lock().map(|g| g.is_some()).unwrap_or(false)
    }

    fn update(&self, steering: &Steering) -> Option<Result<(), String>> {
        let guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        guard
            .as_ref()
            .map(|dp| dp.update_steering(steering).map_err(|e| e.to_string()))
    }
}

impl Drop for Director {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Figures for Director {
    fn apply(&mut self, state: &ConfigState, now: Instant) {
        self.figures.apply(state, now);
        let steering = Steering::compute(state.services(), state.fwmark_rules(), &self.fullnat);
        if self.installed.as_ref() != Some(&steering) {
            match self.dataplane.update(&steering) {
                Some(Ok(())) => self.installed = Some(steering),
                Some(Err(e)) => warn!("steering rules not updated: {e}"),
                None => {}
            }
        }
        self.sync
            .reconcile(state.daemons(), self.figures.engine(), self.clock);
    }

    fn services(&self, state: &ConfigState, now: Instant) -> Vec<ServiceEntry> {
        self.figures.services(state, now)
    }

    fn connections(&self, now: Instant) -> Vec<ConnEntry> {
        self.figures.connections(now)
    }

    fn zero(&mut self, service: Option<&ServiceKey>) {
        self.figures.zero(service)
    }

    fn tick(&mut self, now: Instant) {
        self.figures.tick(now)
    }
}
