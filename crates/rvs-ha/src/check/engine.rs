//! The health-check engine: one task per checker, one task folding their results into
//! desired state. It emits the edits (the same as rvsadm's -a/-d/-e) and keeps the whole
//! desired state on a watch channel, so rvsd applies them through its normal path.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use rvs_core::model::{DestConfig, ServiceKey, VirtualService};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::build::{build, BuiltChecker};
use super::timing::RetryState;
use super::{random_u64, script, Outcome};
use crate::config::desired::{initial_quorum, live_weight, quorum_after, RsHealth};
use crate::config::model::{KeepalivedConfig, RealServer, VirtualServer, VsTarget};

/// One change to apply to the running configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestEvent {
    /// Add this real server (`-a`).
    DestUp {
        service: ServiceKey,
        dest: DestConfig,
    },
    /// Remove this real server (`-d`).
    DestDown {
        service: ServiceKey,
        addr: IpAddr,
        port: u16,
    },
    /// Change this real server (`-e`): its weight (0 under inhibit_on_failure).
    DestWeight {
        service: ServiceKey,
        dest: DestConfig,
    },
}

impl DestEvent {
    /// The control request that applies this edit (what rvsadm -a/-d/-e would send).
    pub fn to_request(&self) -> rvs_api::request::Request {
        use rvs_api::request::Request;
        match *self {
            DestEvent::DestUp { service, dest } => Request::AddDest(service, dest),
            DestEvent::DestDown {
                service,
                addr,
                port,
            } => Request::DelDest(service, addr, port),
            DestEvent::DestWeight { service, dest } => Request::EditDest(service, dest),
        }
    }
}

/// A running engine. Dropping it stops every checker.
pub struct HealthMonitor {
    /// The edits, in the order they must be applied.
    pub events: mpsc::UnboundedReceiver<DestEvent>,
    /// The whole desired state after the latest change (the initial state at first).
    pub state: watch::Receiver<Vec<VirtualService>>,
    /// Checkers that could not be started (e.g. no port to connect to), as messages.
    pub errors: Vec<String>,
    checkers: Vec<JoinHandle<()>>,
    folder: Option<JoinHandle<Folder>>,
    snapshot: Arc<Mutex<HealthSnapshot>>,
}

/// Which real servers are alive, to carry over a reload (keepalived keeps the state
/// of the real servers that a new configuration still has).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthSnapshot(HashMap<RsId, bool>);

/// A real server of a virtual server, as a reload recognises it.
type RsId = (VsTarget, rvs_core::model::Protocol, IpAddr, u16);

fn rs_id(vs: &VirtualServer, rs: &RealServer) -> RsId {
    (vs.target.clone(), vs.protocol, rs.addr, rs.port)
}

impl HealthSnapshot {
    /// Whether the real server was alive, if it was known.
    pub fn alive(&self, vs: &VirtualServer, rs: &RealServer) -> Option<bool> {
        self.0.get(&rs_id(vs, rs)).copied()
    }
}

impl Drop for HealthMonitor {
    fn drop(&mut self) {
        for t in &self.checkers {
            t.abort();
        }
        if let Some(f) = &self.folder {
            f.abort();
        }
    }
}

/// Where a checker belongs: virtual server, real server, checker index.
#[derive(Debug, Clone, Copy)]
struct Slot {
    vs: usize,
    rs: usize,
    checker: usize,
}

#[derive(Debug)]
struct Report {
    slot: Slot,
    up: bool,
    /// MISC_CHECK misc_dynamic weight; `None` = the configured weight.
    weight: Option<u32>,
}

impl HealthMonitor {
    /// Starts checking every real server of `cfg`. Must run inside a tokio runtime.
    pub fn start(cfg: Arc<KeepalivedConfig>) -> HealthMonitor {
        HealthMonitor::start_after(cfg, &HealthSnapshot::default())
    }

    /// Like [`start`](Self::start) after a reload: real servers found in `prior`
    /// start in the state they had (instead of up, or down in alpha mode).
    pub fn start_after(cfg: Arc<KeepalivedConfig>, prior: &HealthSnapshot) -> HealthMonitor {
        let (report_tx, report_rx) = mpsc::unbounded_channel();
        let (event_tx, events) = mpsc::unbounded_channel();
        let mut checkers = Vec::new();
        let mut errors = Vec::new();
        let mut folder = Folder::new(cfg.clone(), prior);
        for (vi, vs) in cfg.virtual_servers.iter().enumerate() {
            for (ri, rs) in vs.real_servers.iter().enumerate() {
                for (ci, c) in rs.checkers.iter().enumerate() {
                    match build(vs, rs, c) {
                        Ok(mut b) => {
                            if let Some(alive) = prior.alive(vs, rs) {
                                b.alpha = !alive;
                            }
                            let slot = Slot {
                                vs: vi,
                                rs: ri,
                                checker: ci,
                            };
                            checkers.push(tokio::spawn(run_checker(b, slot, report_tx.clone())));
                        }
                        Err(e) => {
                            // A checker that cannot run does not hold its server down.
                            folder.vs[vi].rs[ri].checker_up[ci] = true;
                            errors.push(format!("{}: {e}", c.loc));
                        }
                    }
                }
                folder.refresh_rs(vi, ri);
            }
        }
        let initial = folder.initial();
        let snapshot = folder.snapshot.clone();
        let (state_tx, state) = watch::channel(initial);
        let folder = Some(tokio::spawn(folder.run(report_rx, event_tx, state_tx)));
        HealthMonitor {
            events,
            state,
            errors,
            checkers,
            folder,
            snapshot,
        }
    }

    /// The current health of every real server, for [`start_after`](Self::start_after).
    pub fn snapshot(&self) -> HealthSnapshot {
        self.snapshot.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Stops every checker; then, for virtual servers in omega mode, runs the
    /// notify_down script of each live real server and quorum_down if the quorum was
    /// up (each bounded in time), as keepalived does on shutdown.
    pub async fn shutdown(mut self) {
        for t in self.checkers.drain(..) {
            t.abort();
        }
        // The folder ends once every checker (each holding a sender) is gone.
        if let Some(f) = self.folder.take() {
            if let Ok(folder) = f.await {
                folder.omega().await;
            }
        }
    }
}

async fn run_checker(c: BuiltChecker, slot: Slot, tx: mpsc::UnboundedSender<Report>) {
    // Spread the first probes over the warmup time, as keepalived does.
    if !c.timing.warmup.is_zero() {
        let frac = (random_u64() % 1_000_000) as u32;
        tokio::time::sleep(c.timing.warmup * frac / 1_000_000).await;
    }
    let mut state = RetryState::new(c.alpha);
    let mut weight = None;
    loop {
        let outcome = c.check.probe().await;
        let (change, delay) = state.on_result(outcome.is_up(), &c.timing);
        match (&outcome, change) {
            (Outcome::Down(why), Some(false)) => {
                tracing::warn!("{}: down: {why}", c.check.describe())
            }
            (Outcome::Down(why), None) if state.is_up() => {
                tracing::info!("{}: failed, will retry: {why}", c.check.describe())
            }
            (_, Some(true)) => tracing::info!("{}: up", c.check.describe()),
            _ => {}
        }
        let new_weight = match outcome {
            Outcome::UpWithWeight(w) => Some(w),
            Outcome::Up => None,
            Outcome::Down(_) => weight,
        };
        if change.is_some() || new_weight != weight {
            weight = new_weight;
            let r = Report {
                slot,
                up: state.is_up(),
                weight,
            };
            if tx.send(r).is_err() {
                return;
            }
        }
        tokio::time::sleep(delay).await;
    }
}

struct RsState {
    checker_up: Vec<bool>,
    weights: Vec<Option<u32>>,
    health: RsHealth,
}

struct VsState {
    rs: Vec<RsState>,
    quorum_up: bool,
    published: Vec<VirtualService>,
}

/// Folds checker reports into real-server health, quorum and services.
struct Folder {
    cfg: Arc<KeepalivedConfig>,
    vs: Vec<VsState>,
    /// Alive-ness of every real server, shared with [`HealthMonitor::snapshot`].
    snapshot: Arc<Mutex<HealthSnapshot>>,
}

impl Folder {
    fn new(cfg: Arc<KeepalivedConfig>, prior: &HealthSnapshot) -> Folder {
        let vs = cfg
            .virtual_servers
            .iter()
            .map(|vs| VsState {
                rs: vs
                    .real_servers
                    .iter()
                    .map(|rs| RsState {
                        checker_up: rs
                            .checkers
                            .iter()
                            .map(|c| {
                                prior
                                    .alive(vs, rs)
                                    .unwrap_or(!c.alpha.or(rs.alpha).unwrap_or(vs.alpha))
                            })
                            .collect(),
                        weights: vec![None; rs.checkers.len()],
                        health: RsHealth::initial(vs, rs),
                    })
                    .collect(),
                quorum_up: false,
                published: Vec::new(),
            })
            .collect();
        Folder {
            cfg,
            vs,
            snapshot: Arc::default(),
        }
    }

    /// Recomputes a real server's health from its checkers; true if it changed.
    fn refresh_rs(&mut self, vi: usize, ri: usize) -> bool {
        let rs: &RealServer = &self.cfg.virtual_servers[vi].real_servers[ri];
        let st = &mut self.vs[vi].rs[ri];
        let alive = st.checker_up.iter().all(|&u| u);
        // keepalived adds each dynamic checker's (weight − configured weight).
        let base = i64::from(rs.weight);
        let weight = st
            .weights
            .iter()
            .flatten()
            .fold(base, |acc, &w| acc + i64::from(w) - base)
            .clamp(0, 65535) as u32;
        let new = RsHealth { alive, weight };
        let changed = new != st.health;
        st.health = new;
        let vs = &self.cfg.virtual_servers[vi];
        if let Ok(mut snap) = self.snapshot.lock() {
            snap.0.insert(rs_id(vs, rs), alive);
        }
        changed
    }

    fn initial(&mut self) -> Vec<VirtualService> {
        let mut all = Vec::new();
        for vi in 0..self.vs.len() {
            let vs = &self.cfg.virtual_servers[vi];
            let health = self.health(vi);
            let st = &mut self.vs[vi];
            st.quorum_up = initial_quorum(vs, live_weight(&health));
            st.published = self.cfg.services_for(vs, &health, st.quorum_up);
            all.extend(st.published.iter().cloned());
        }
        all
    }

    fn health(&self, vi: usize) -> Vec<RsHealth> {
        self.vs[vi].rs.iter().map(|r| r.health).collect()
    }

    async fn run(
        mut self,
        mut reports: mpsc::UnboundedReceiver<Report>,
        events: mpsc::UnboundedSender<DestEvent>,
        state: watch::Sender<Vec<VirtualService>>,
    ) -> Folder {
        while let Some(r) = reports.recv().await {
            let Slot {
                vs: vi,
                rs: ri,
                checker: ci,
            } = r.slot;
            let was_alive = self.vs[vi].rs[ri].health.alive;
            {
                let st = &mut self.vs[vi].rs[ri];
                st.checker_up[ci] = r.up;
                st.weights[ci] = r.weight;
            }
            if !self.refresh_rs(vi, ri) {
                continue;
            }
            let vs: &VirtualServer = &self.cfg.virtual_servers[vi];
            let rs = &vs.real_servers[ri];
            let alive = self.vs[vi].rs[ri].health.alive;
            if alive != was_alive {
                let s = if alive {
                    &rs.notify_up
                } else {
                    &rs.notify_down
                };
                if let Some(s) = s {
                    script::notify(&s.command);
                }
            }
            let health = self.health(vi);
            let st = &mut self.vs[vi];
            let quorum = quorum_after(vs, st.quorum_up, live_weight(&health));
            if quorum != st.quorum_up {
                st.quorum_up = quorum;
                tracing::warn!(
                    "{}: quorum {} (live weight {}, quorum {}, hysteresis {})",
                    vs.loc,
                    if quorum { "gained" } else { "lost" },
                    live_weight(&health),
                    vs.quorum,
                    vs.hysteresis
                );
                let s = if quorum {
                    &vs.quorum_up
                } else {
                    &vs.quorum_down
                };
                if let Some(s) = s {
                    script::notify(&s.command);
                }
            }
            let new = self.cfg.services_for(vs, &health, st.quorum_up);
            for (old, new) in st.published.iter().zip(&new) {
                for e in diff(old.config.key, &old.dests, &new.dests) {
                    if events.send(e).is_err() {
                        return self;
                    }
                }
            }
            st.published = new;
            let all: Vec<VirtualService> = self
                .vs
                .iter()
                .flat_map(|v| v.published.iter().cloned())
                .collect();
            state.send_replace(all);
        }
        self
    }

    async fn omega(&self) {
        for (vs, st) in self.cfg.virtual_servers.iter().zip(&self.vs) {
            if !vs.omega {
                continue;
            }
            for (rs, r) in vs.real_servers.iter().zip(&st.rs) {
                if let (true, Some(s)) = (r.health.alive, &rs.notify_down) {
                    let _ = script::run(&s.command, script::NOTIFY_TIMEOUT).await;
                }
            }
            if let (true, Some(s)) = (st.quorum_up, &vs.quorum_down) {
                let _ = script::run(&s.command, script::NOTIFY_TIMEOUT).await;
            }
        }
    }
}

/// The edits that turn `old` into `new` for one service: removals, then changes,
/// then additions.
pub fn diff(service: ServiceKey, old: &[DestConfig], new: &[DestConfig]) -> Vec<DestEvent> {
    let key = |d: &DestConfig| (d.addr, d.port);
    let mut out = Vec::new();
    for o in old {
        if !new.iter().any(|n| key(n) == key(o)) {
            out.push(DestEvent::DestDown {
                service,
                addr: o.addr,
                port: o.port,
            });
        }
    }
    for n in new {
        match old.iter().find(|o| key(o) == key(n)) {
            Some(o) if o != n => out.push(DestEvent::DestWeight { service, dest: *n }),
            Some(_) => {}
            None => out.push(DestEvent::DestUp { service, dest: *n }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_core::model::{ForwardMethod, Protocol};

    fn d(last: u8, weight: u32) -> DestConfig {
        DestConfig {
            addr: IpAddr::from([10, 0, 0, last]),
            port: 80,
            method: ForwardMethod::Masq,
            weight,
            u_threshold: 0,
            l_threshold: 0,
        }
    }

    #[test]
    fn diff_orders_removals_changes_additions() {
        let key = ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: IpAddr::from([10, 9, 9, 9]),
            port: 80,
        };
        let ev = diff(key, &[d(1, 1), d(2, 1)], &[d(2, 0), d(3, 1)]);
        assert_eq!(
            ev,
            vec![
                DestEvent::DestDown {
                    service: key,
                    addr: IpAddr::from([10, 0, 0, 1]),
                    port: 80
                },
                DestEvent::DestWeight {
                    service: key,
                    dest: d(2, 0)
                },
                DestEvent::DestUp {
                    service: key,
                    dest: d(3, 1)
                },
            ]
        );
        assert!(diff(key, &[d(1, 1)], &[d(1, 1)]).is_empty());
        assert_eq!(
            ev[0].to_request(),
            rvs_api::request::Request::DelDest(key, IpAddr::from([10, 0, 0, 1]), 80)
        );
        assert_eq!(
            ev[2].to_request(),
            rvs_api::request::Request::AddDest(key, d(3, 1))
        );
    }
}
