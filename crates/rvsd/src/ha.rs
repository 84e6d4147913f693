//! High availability inside rvsd: the VRRP runtime of keepalived.conf's
//! `vrrp_instance`s, and the IPVS connection-sync daemons (`--start-daemon`,
//! keepalived's `lvs_sync_daemon`), bridged to the engine.

use crate::server::Clock;
use rvs_core::engine::{Engine, SyncConn};
use rvs_core::model::{SyncDaemonConfig, SyncRole};
use rvs_ha::sync::codec::SyncedConn;
use rvs_ha::sync::daemon::{self, Settings};
use rvs_ha::vrrp::machine::State;
use rvs_ha::vrrp::plan::VrrpPlan;
use rvs_ha::vrrp::runtime::{self, StateTable};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tracing::{info, warn};

/// A background thread with its stop flag; stopping joins it.
#[derive(Debug)]
struct Stoppable {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Stoppable {
    fn spawn(name: &str, body: impl FnOnce(Arc<AtomicBool>) + Send + 'static) -> Stoppable {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || body(flag))
            .ok();
        Stoppable { stop, thread }
    }

    fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Stoppable {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The running VRRP instances.
#[derive(Debug)]
pub struct Vrrp {
    states: StateTable,
    thread: Stoppable,
}

impl Vrrp {
    /// Start every instance of the plan in one thread, and wait (up to a few
    /// seconds) until they run: `Err` says why the runtime could not start (an
    /// interface or a socket it could not open). On drop, masters send their
    /// priority-0 goodbye and release the virtual addresses.
    pub fn start(plan: VrrpPlan) -> Result<Vrrp, String> {
        let states: StateTable = Arc::new(Mutex::new(HashMap::new()));
        let failure: Arc<Mutex<Option<String>>> = Arc::default();
        let names: Vec<String> = plan
            .instances
            .iter()
            .map(|i| i.machine.name.clone())
            .collect();
        let (table, failed) = (states.clone(), failure.clone());
        let thread = Stoppable::spawn("rvsd-vrrp", move |stop| {
            if let Err(e) = runtime::run(plan.instances, plan.scripts, plan.groups, table, stop) {
                warn!("VRRP stopped: {e}");
                *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
            }
        });
        let vrrp = Vrrp { states, thread };
        // Every instance enters its first state once the sockets are open.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        while std::time::Instant::now() < deadline {
            if let Some(e) = failure.lock().unwrap_or_else(|p| p.into_inner()).take() {
                return Err(e);
            }
            if names.iter().all(|n| vrrp.state(n).is_some()) || !vrrp.thread.is_running() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Ok(vrrp)
    }

    /// Stop every instance and wait until they are done: masters have sent their
    /// priority-0 goodbye and released the virtual addresses when this returns.
    pub fn stop(mut self) {
        self.thread.stop();
    }

    /// The state of one instance, if it runs.
    pub fn state(&self, instance: &str) -> Option<State> {
        self.states.lock().ok()?.get(instance).copied()
    }
}

fn settings(c: &SyncDaemonConfig) -> Settings {
    let mut s = Settings::new(&c.mcast_ifn, c.syncid);
    s.maxlen = c.sync_maxlen as usize;
    if let Some(g) = c.mcast_group {
        s.group = g;
    }
    if c.mcast_port != 0 {
        s.port = c.mcast_port;
    }
    if c.mcast_ttl != 0 {
        s.ttl = c.mcast_ttl;
    }
    s
}

/// The engine's view of a connection in the sync protocol's terms.
pub fn to_wire(c: &SyncConn) -> SyncedConn {
    rvs_ha::sync::engine::to_wire(c)
}

/// A received connection in the engine's terms.
pub fn from_wire(c: &SyncedConn) -> SyncConn {
    rvs_ha::sync::engine::from_wire(c)
}

/// The sync daemons that run, reconciled with the desired ones.
#[derive(Debug, Default)]
pub struct SyncDaemons {
    running: Vec<(SyncDaemonConfig, Stoppable)>,
}

impl SyncDaemons {
    /// Start the daemons in `desired` that do not run and stop those no longer
    /// wanted. A master makes the engine queue connections to sync.
    pub fn reconcile(&mut self, desired: &[SyncDaemonConfig], engine: &Engine, clock: Clock) {
        self.running.retain_mut(|(cfg, thread)| {
            let keep = desired.contains(cfg);
            if !keep {
                info!(
                    "sync daemon {} on {} stopped",
                    cfg.role.name(),
                    cfg.mcast_ifn
                );
                thread.stop();
            }
            keep
        });
        for cfg in desired {
            if self.running.iter().any(|(c, _)| c == cfg) {
                continue;
            }
            let s = settings(cfg);
            let thread = match cfg.role {
                SyncRole::Master => {
                    let engine = engine.clone();
                    Stoppable::spawn("rvsd-sync-master", move |stop| {
                        let mut conns = Vec::new();
                        let result = daemon::run_master(&s, stop, |out| {
                            conns.clear();
                            engine.drain_sync(&mut conns);
                            out.extend(conns.iter().map(to_wire));
                        });
                        if let Err(e) = result {
                            warn!("sync master on {}: {e}", s.interface);
                        }
                    })
                }
                SyncRole::Backup => {
                    let engine = engine.clone();
                    Stoppable::spawn("rvsd-sync-backup", move |stop| {
                        let result = daemon::run_backup(&s, stop, |msg| {
                            let now = clock.now();
                            for c in &msg.conns {
                                let _ = engine.sync_import(&from_wire(c), now);
                            }
                        });
                        if let Err(e) = result {
                            warn!("sync backup on {}: {e}", s.interface);
                        }
                    })
                }
            };
            info!(
                "sync daemon {} started (mcast={}, syncid={})",
                cfg.role.name(),
                cfg.mcast_ifn,
                cfg.syncid
            );
            self.running.push((cfg.clone(), thread));
        }
        let master = self.running.iter().any(|(c, _)| c.role == SyncRole::Master);
        engine.set_sync_master(master);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_core::model::Family;

    #[test]
    fn wire_and_engine_forms_map_both_ways() {
        let c = SyncConn {
            family: Family::V4,
            ip_proto: 6,
            caddr: "10.1.0.1".parse().unwrap(),
            cport: 40000,
            vaddr: "10.0.0.100".parse().unwrap(),
            vport: 80,
            daddr: "10.0.2.11".parse().unwrap(),
            dport: 8000,
            fwmark: 0,
            flags: rvs_core::engine::ConnFlags::MASQ,
            state: 1,
            timeout: 900,
            pe: Default::default(),
        };
        assert_eq!(from_wire(&to_wire(&c)), c);
    }

    #[test]
    fn a_vrrp_runtime_that_cannot_start_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keepalived.conf");
        std::fs::write(
            &path,
            "vrrp_instance VI_1 {\n interface nosuch-if7\n virtual_router_id 51\n \
             virtual_ipaddress {\n 10.9.9.9/32\n }\n}\n",
        )
        .unwrap();
        let (cfg, _) = rvs_ha::config::load(&path).unwrap();
        let plan = rvs_ha::vrrp::plan::plan(&cfg).unwrap();
        let e = Vrrp::start(plan).unwrap_err();
        assert!(e.contains("nosuch-if7"), "{e}");
    }

    #[test]
    fn sync_settings_take_ipvsadm_defaults_for_zero_values() {
        let s = settings(&SyncDaemonConfig {
            role: SyncRole::Backup,
            mcast_ifn: "eth1".into(),
            syncid: 3,
            sync_maxlen: 0,
            mcast_group: None,
            mcast_port: 0,
            mcast_ttl: 0,
        });
        assert_eq!(s.port, 8848);
        assert_eq!(s.ttl, 1);
        assert_eq!(s.group.to_string(), "224.0.0.81");
        assert_eq!(s.interface, "eth1");
    }
}
