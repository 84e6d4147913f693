//! keepalived.conf's high-availability part inside rvsd: the `vrrp_instance`s run in
//! a [`Vrrp`] runtime, and `lvs_sync_daemon` runs the connection-sync daemon in the
//! role that follows a VRRP instance, as keepalived does:
//!
//! - with an instance named, the sync master runs while that instance is MASTER and
//!   the sync backup otherwise (keepalived's `ipvs_syncd_master`/`ipvs_syncd_backup`
//!   on each transition);
//! - without one, both roles run all the time (keepalived's checker process starts
//!   master and backup).
//!
//! The sync daemons go through the desired state (`StartDaemon`/`StopDaemon`), as
//! keepalived's go through the kernel, so `rvsadm -L --daemon` lists them.

use crate::daemon::interface_exists;
use crate::ha::Vrrp;
use crate::server::{lock, Clock, SharedDaemon};
use rvs_api::request::Request;
use rvs_core::model::{SyncDaemonConfig, SyncRole};
use rvs_ha::config::KeepalivedConfig;
use rvs_ha::vrrp::machine::State;
use rvs_ha::vrrp::plan::{plan, VrrpPlan};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use tracing::{info, warn};

/// The sync daemon of `lvs_sync_daemon` and what decides its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncFollow {
    /// The VRRP instance followed; `None`: master and backup both run.
    pub instance: Option<String>,
    pub master: SyncDaemonConfig,
    pub backup: SyncDaemonConfig,
}

impl SyncFollow {
    /// The daemons wanted while the followed instance is in `state` (`None`: not
    /// running yet, which keepalived treats as backup).
    pub fn wanted(&self, state: Option<State>) -> Vec<SyncDaemonConfig> {
        match (&self.instance, state) {
            (None, _) => vec![self.master.clone(), self.backup.clone()],
            (Some(_), Some(State::Master)) => vec![self.master.clone()],
            (Some(_), _) => vec![self.backup.clone()],
        }
    }
}

/// The high-availability part of a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HaConfig {
    pub vrrp: VrrpPlan,
    pub sync: Option<SyncFollow>,
}

/// Reads the VRRP instances and `lvs_sync_daemon` of `path`. `Err` carries every
/// problem as `file:line: ...` (an instance that cannot run refuses the file, since
/// half a router pair is worse than none).
pub fn load(path: &Path) -> Result<HaConfig, Vec<String>> {
    let (cfg, _warnings) = rvs_ha::config::load(path)
        .map_err(|all| all.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    from_config(&cfg)
}

/// [`load`] on an already parsed configuration.
pub fn from_config(cfg: &KeepalivedConfig) -> Result<HaConfig, Vec<String>> {
    let vrrp = plan(cfg)?;
    let missing: Vec<String> = vrrp
        .instances
        .iter()
        .filter(|i| !interface_exists(&i.interface))
        .map(|i| {
            let loc = cfg
                .vrrp_instances
                .iter()
                .find(|vi| vi.name == i.machine.name)
                .map(|vi| vi.loc.to_string())
                .unwrap_or_default();
            format!(
                "{loc}: vrrp_instance {}: no network interface {}",
                i.machine.name, i.interface
            )
        })
        .collect();
    if !missing.is_empty() {
        return Err(missing);
    }
    let sync = sync_follow(cfg);
    Ok(HaConfig { vrrp, sync })
}

fn sync_follow(cfg: &KeepalivedConfig) -> Option<SyncFollow> {
    let master = cfg.sync_daemon(SyncRole::Master)?;
    let backup = cfg.sync_daemon(SyncRole::Backup)?;
    // The deprecated `lvs_sync_daemon_interface` follows the instance it is in.
    let instance = match &cfg.global.lvs_sync_daemon {
        Some(d) => d.instance.clone(),
        None => cfg
            .vrrp_instances
            .iter()
            .find(|vi| vi.lvs_sync_daemon_interface.is_some())
            .map(|vi| vi.name.clone()),
    };
    Some(SyncFollow {
        instance,
        master,
        backup,
    })
}

/// The VRRP runtime and the sync daemons that follow it, shared between rvsd's
/// signal handler, its timer and its exit path.
#[derive(Clone)]
pub struct Ha {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    path: PathBuf,
    daemon: SharedDaemon,
    clock: Clock,
    vrrp: Option<(VrrpPlan, Vrrp)>,
    sync: Option<SyncFollow>,
    /// The sync daemons started here that still run.
    started: Vec<SyncDaemonConfig>,
    /// Daemons the desired state refused (a daemon of that role started by rvsadm
    /// runs): not retried, nor warned about again, until the wanted set changes.
    refused: Vec<SyncDaemonConfig>,
}

impl Ha {
    /// Start the VRRP instances and sync daemons of `path`; `Err` says why the file
    /// cannot be run (every line `file:line: ...`).
    pub fn start(path: &Path, daemon: SharedDaemon, clock: Clock) -> Result<Ha, String> {
        let config = load(path).map_err(|lines| lines.join("\n"))?;
        let ha = Ha {
            inner: Arc::new(Mutex::new(Inner {
                path: path.to_path_buf(),
                daemon,
                clock,
                vrrp: None,
                sync: None,
                started: Vec::new(),
                refused: Vec::new(),
            })),
        };
        ha.lock().install(config)?;
        ha.follow();
        Ok(ha)
    }

    /// SIGHUP: re-read the file, all or nothing with the services. The VRRP part is
    /// read first: if it cannot run, `services` (the reload of the virtual servers,
    /// true when applied) is not called and nothing changes; if the services are
    /// refused, VRRP stays as it was too. The VRRP runtime is replaced only if its
    /// part of the file changed (a restart would make masters say goodbye and fail
    /// over).
    pub fn reload(&self, services: impl FnOnce() -> bool) {
        let path = self.lock().path.clone();
        match load(&path) {
            Ok(config) => {
                if services() {
                    if let Err(e) = self.lock().install(config) {
                        warn!("reload: {e}");
                    }
                }
            }
            Err(lines) => {
                for l in lines {
                    warn!("reload refused, nothing changed: {l}");
                }
            }
        }
        self.follow();
    }

    /// Put the sync daemons in the roles the VRRP states call for (called often:
    /// does nothing while nothing changes).
    pub fn follow(&self) {
        self.lock().follow();
    }

    /// The state of a VRRP instance, if it runs.
    pub fn state(&self, instance: &str) -> Option<State> {
        let inner = self.lock();
        inner.vrrp.as_ref()?.1.state(instance)
    }

    /// rvsd's exit: masters send their priority-0 advertisement and drop their
    /// addresses (so the peer takes over at once), then the sync daemons stop.
    pub fn shutdown(&self) {
        let mut inner = self.lock();
        if let Some((_, vrrp)) = inner.vrrp.take() {
            vrrp.stop();
            info!("VRRP stopped");
        }
        inner.sync = None;
        inner.follow();
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    /// Run `config`: the VRRP runtime is replaced only if its plan changed. If the
    /// new runtime cannot start, the previous one is started again and `Err` says
    /// why.
    fn install(&mut self, config: HaConfig) -> Result<(), String> {
        if self.sync != config.sync {
            self.refused.clear();
        }
        self.sync = config.sync;
        let running = self.vrrp.as_ref().map(|(p, _)| p);
        if running == Some(&config.vrrp) || (running.is_none() && config.vrrp.is_empty()) {
            return Ok(());
        }
        let previous = self.vrrp.take().map(|(plan, old)| {
            old.stop();
            info!("VRRP configuration changed: instances restarted");
            plan
        });
        if config.vrrp.is_empty() {
            return Ok(());
        }
        match Vrrp::start(config.vrrp.clone()) {
            Ok(runtime) => {
                let names: Vec<&str> = config
                    .vrrp
                    .instances
                    .iter()
                    .map(|i| i.machine.name.as_str())
                    .collect();
                info!("VRRP started: {}", names.join(", "));
                self.vrrp = Some((config.vrrp, runtime));
                Ok(())
            }
            Err(e) => {
                if let Some(plan) = previous {
                    match Vrrp::start(plan.clone()) {
                        Ok(runtime) => self.vrrp = Some((plan, runtime)),
                        Err(e) => warn!("VRRP: the previous instances did not restart: {e}"),
                    }
                }
                Err(format!("VRRP cannot start: {e}"))
            }
        }
    }

    fn follow(&mut self) {
        let wanted = match &self.sync {
            Some(s) => {
                let state = s
                    .instance
                    .as_deref()
                    .and_then(|name| self.vrrp.as_ref()?.1.state(name));
                s.wanted(state)
            }
            None => Vec::new(),
        };
        self.refused.retain(|c| wanted.contains(c));
        let stale: Vec<SyncDaemonConfig> = self
            .started
            .iter()
            .filter(|c| !wanted.contains(c))
            .cloned()
            .collect();
        let fresh: Vec<SyncDaemonConfig> = wanted
            .into_iter()
            .filter(|c| !self.started.contains(c) && !self.refused.contains(c))
            .collect();
        if stale.is_empty() && fresh.is_empty() {
            return;
        }
        let now = self.clock.now();
        let mut daemon = lock(&self.daemon);
        // Stop before starting: a role switch frees the interface and group first.
        for cfg in stale {
            self.started.retain(|c| *c != cfg);
            match daemon.handle(Request::StopDaemon(cfg.role), now) {
                Ok(_) => info!("lvs_sync_daemon: {} stopped", cfg.role.name()),
                Err(e) => warn!("lvs_sync_daemon: {}: {}", cfg.role.name(), e.message),
            }
        }
        for cfg in fresh {
            match daemon.handle(Request::StartDaemon(cfg.clone()), now) {
                Ok(_) => {
                    info!(
                        "lvs_sync_daemon: {} on {} (syncid {})",
                        cfg.role.name(),
                        cfg.mcast_ifn,
                        cfg.syncid
                    );
                    self.started.push(cfg);
                }
                Err(e) => {
                    warn!(
                        "lvs_sync_daemon: {} not started: {}",
                        cfg.role.name(),
                        e.message
                    );
                    self.refused.push(cfg);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daemon_config(role: SyncRole) -> SyncDaemonConfig {
        SyncDaemonConfig {
            role,
            mcast_ifn: "lo".into(),
            syncid: 7,
            sync_maxlen: 0,
            mcast_group: None,
            mcast_port: 0,
            mcast_ttl: 0,
        }
    }

    fn follow(instance: Option<&str>) -> SyncFollow {
        SyncFollow {
            instance: instance.map(String::from),
            master: daemon_config(SyncRole::Master),
            backup: daemon_config(SyncRole::Backup),
        }
    }

    fn roles(v: Vec<SyncDaemonConfig>) -> Vec<SyncRole> {
        v.into_iter().map(|c| c.role).collect()
    }

    #[test]
    fn the_sync_role_follows_the_named_instance() {
        let f = follow(Some("VI_1"));
        assert_eq!(roles(f.wanted(Some(State::Master))), [SyncRole::Master]);
        for s in [
            None,
            Some(State::Init),
            Some(State::Backup),
            Some(State::Fault),
            Some(State::Stopped),
        ] {
            assert_eq!(roles(f.wanted(s)), [SyncRole::Backup], "{s:?}");
        }
    }

    #[test]
    fn without_an_instance_both_roles_run() {
        let f = follow(None);
        assert_eq!(
            roles(f.wanted(Some(State::Backup))),
            [SyncRole::Master, SyncRole::Backup]
        );
    }

    fn write(dir: &tempfile::TempDir, text: &str) -> PathBuf {
        let path = dir.path().join("keepalived.conf");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn lvs_sync_daemon_is_read_with_its_instance() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "global_defs {\n lvs_sync_daemon lo VI_1 id 9\n}\n\
             vrrp_instance VI_1 {\n interface lo\n virtual_router_id 51\n \
             virtual_ipaddress {\n 10.9.9.9/32\n }\n}\n",
        );
        let ha = load(&path).unwrap();
        assert_eq!(ha.vrrp.instances.len(), 1);
        let sync = ha.sync.unwrap();
        assert_eq!(sync.instance.as_deref(), Some("VI_1"));
        assert_eq!(sync.master.syncid, 9);
        assert_eq!(sync.backup.role, SyncRole::Backup);
        assert_eq!(sync.master.mcast_ifn, "lo");
    }

    #[test]
    fn an_instance_on_a_missing_interface_is_refused_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "\nvrrp_instance VI_9 {\n interface nosuch-if9\n virtual_router_id 51\n \
             virtual_ipaddress {\n 10.9.9.9/32\n }\n}\n",
        );
        let e = load(&path).unwrap_err();
        let want = format!("{}:2: vrrp_instance VI_9", path.display());
        assert!(e[0].starts_with(&want), "{e:?}");
        assert!(e[0].contains("no network interface nosuch-if9"), "{e:?}");
    }

    #[test]
    fn an_instance_the_plan_refuses_is_reported_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "vrrp_instance VX {\n virtual_router_id 9\n virtual_ipaddress {\n 10.9.9.9\n }\n}\n",
        );
        let e = load(&path).unwrap_err();
        assert!(
            e.iter()
                .any(|l| l.contains(&format!("{}:1", path.display())) && l.contains("VX")),
            "{e:?}"
        );
    }

    #[test]
    fn a_file_without_vrrp_runs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "virtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.0.2 80 {\n }\n}\n",
        );
        assert_eq!(load(&path).unwrap(), HaConfig::default());
    }
}
