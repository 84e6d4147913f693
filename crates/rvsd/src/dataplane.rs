//! The seam between the control plane and the data plane (rvs-dataplane): where the
//! interfaces rvsd serves are handed, with the engine, to the packet workers.

use core::net::IpAddr;
use rvs_core::engine::Engine;

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
/// `engine.worker(i)`. This build has no data plane wired in, so asking for
/// interfaces is refused with a clear message rather than pretending to forward.
///
/// Wiring it means: `rvs_dataplane::Dataplane::start` with a `DataplaneConfig` built
/// from these settings and `engine.clone()` as the processor; after every
/// `Engine::apply` (in `figures::EngineFigures::apply`), `update_steering` with
/// `Steering::compute` of the new services; `shutdown` of the handle when rvsd stops.
pub fn start_data_plane(_engine: &Engine, settings: &DataPlaneSettings) -> Result<(), String> {
    Err(format!(
        "--iface {}: this rvsd has no data plane wired in yet; run without --iface for \
         the control plane alone",
        settings.ifaces.join(",")
    ))
}
