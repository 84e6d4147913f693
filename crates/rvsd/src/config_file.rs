//! The configuration file rvsd starts from and reloads: keepalived.conf, read by
//! rvs-ha. Only its LVS part becomes desired state here (virtual servers, real
//! servers at their initial health, `lvs_timeouts`).

use rvs_api::request::Request;
use rvs_api::state::ConfigState;
use rvs_core::model::VirtualService;
use std::path::{Path, PathBuf};
use tracing::warn;

/// Where `Reload` reads the desired state from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// No `-f`: the state is what clients build, and `Reload` is refused.
    None,
    File(PathBuf),
}

/// Reads `path` into a desired state. Sync daemons are not part of the file's state
/// here (keepalived starts them from VRRP transitions): the running ones are kept, as
/// are the timeouts `lvs_timeouts` does not name. `Err` lists every diagnostic as
/// `file:line: severity: message`.
pub fn load_desired_state(path: &Path, current: &ConfigState) -> Result<ConfigState, Vec<String>> {
    let (cfg, warnings) = rvs_ha::config::load(path)
        .map_err(|all| all.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    for w in &warnings {
        warn!("{w}");
    }
    if cfg.global.lvs_sync_daemon.is_some() {
        warn!(
            "{}: lvs_sync_daemon follows VRRP state, which rvsd does not run: use \
             rvsadm --start-daemon",
            path.display()
        );
    }
    let mut requests = vec![Request::SetTimeouts(cfg.timeouts(current.timeouts()))];
    for d in current.daemons() {
        requests.push(Request::StartDaemon(d.clone()));
    }
    for vs in cfg.virtual_services() {
        push_service(&vs, &mut requests);
    }
    let mut state = ConfigState::new();
    state
        .dispatch(Request::Batch(requests))
        .map_err(|e| vec![format!("{}: {}", path.display(), e.message)])?;
    Ok(state)
}

fn push_service(vs: &VirtualService, out: &mut Vec<Request>) {
    out.push(Request::AddService(vs.config.clone()));
    // `dests` is in the kernel's list order and each addition goes to its head.
    for d in vs.dests.iter().rev() {
        out.push(Request::AddDest(vs.config.key, *d));
    }
}
