//! The configuration file rvsd starts from and reloads: keepalived.conf, read by
//! rvs-ha. Only its LVS part becomes desired state here (virtual servers, real
//! servers at their initial health, `lvs_timeouts`).

use rvs_api::request::Request;
use rvs_api::state::ConfigState;
use rvs_core::model::{ServiceKey, VirtualService};
use rvs_ha::config::KeepalivedConfig;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use tracing::warn;

/// Where `Reload` reads the desired state from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// No `-f`: the state is what clients build, and `Reload` is refused.
    None,
    File(PathBuf),
}

/// The desired state after reading the file, and the services the file owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    pub state: ConfigState,
    /// The services the file defines: the next reload may change or remove these,
    /// and only these.
    pub owned: BTreeSet<ServiceKey>,
}

/// Reads `path` into the desired state that should follow `current`.
///
/// Like keepalived, the file manages only its own services: those it defines replace
/// whatever ran under their keys, those it defined last time (`owned`) and no longer
/// does are removed, and services added by other means (rvsadm) stay as they are.
/// Sync daemons are not part of the file's state here (`lvs_sync_daemon` follows
/// VRRP transitions: see [`crate::vrrp_wiring`]): the running ones are kept, as are
/// the timeouts `lvs_timeouts` does not name. `Err` lists every diagnostic as `file:line: severity: message`.
pub fn load_desired_state(
    path: &Path,
    current: &ConfigState,
    owned: &BTreeSet<ServiceKey>,
) -> Result<FileState, Vec<String>> {
    load_desired_state_with(path, current, owned, |cfg| cfg.virtual_services())
}

/// [`load_desired_state`] with the file's services as `services` makes them from the
/// parsed file (the health checkers give them as their real servers' health is now:
/// see [`crate::health`]) instead of every real server in its initial state.
pub fn load_desired_state_with(
    path: &Path,
    current: &ConfigState,
    owned: &BTreeSet<ServiceKey>,
    services: impl FnOnce(&KeepalivedConfig) -> Vec<VirtualService>,
) -> Result<FileState, Vec<String>> {
    let (cfg, warnings) = rvs_ha::config::load(path)
        .map_err(|all| all.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    for w in &warnings {
        warn!("{w}");
    }
    let from_file = services(&cfg);
    let defined: BTreeSet<ServiceKey> = from_file.iter().map(|vs| vs.config.key).collect();

    let mut requests = vec![Request::SetTimeouts(cfg.timeouts(current.timeouts()))];
    for vs in current.services() {
        let key = vs.config.key;
        if !owned.contains(&key) && !defined.contains(&key) {
            push_service(vs, &mut requests);
        }
    }
    for vs in &from_file {
        push_service(vs, &mut requests);
    }
    // Daemons last: the kernel refuses mixed-family real servers while one runs, so
    // a file adding some is refused here, before anything changes.
    for d in current.daemons() {
        requests.push(Request::StartDaemon(d.clone()));
    }
    // keepalived.conf has no packet classifier: firewall-mark rules come from rvsadm
    // only, and a reload keeps them.
    for r in current.fwmark_rules() {
        requests.push(Request::AddFwmarkRule(*r));
    }
    let mut state = ConfigState::new();
    state
        .dispatch(Request::Batch(requests))
        .map_err(|e| vec![format!("{}: {}", path.display(), e.message)])?;
    Ok(FileState {
        state,
        owned: defined,
    })
}

fn push_service(vs: &VirtualService, out: &mut Vec<Request>) {
    out.push(Request::AddService(vs.config.clone()));
    // `dests` is in the kernel's list order and each addition goes to its head.
    for d in vs.dests.iter().rev() {
        out.push(Request::AddDest(vs.config.key, *d));
    }
}
