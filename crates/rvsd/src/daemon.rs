//! The daemon's state machine: the desired state, the source of live figures, and
//! how each request changes them. The server feeds it requests; tests drive it
//! directly. Its only look at the host is whether a sync interface exists.

use crate::config_file::{load_desired_state, load_desired_state_with, ConfigSource};
use crate::figures::{EngineFigures, Figures};
use rvs_api::request::{ApiError, ErrorKind, Reply, Request, Response};
use rvs_api::state::{validate, ConfigState, DEFAULT_TABLE_SIZE};
use rvs_core::engine::Engine;
use rvs_core::model::{ServiceKey, VirtualService};
use rvs_core::status::Snapshot;
use rvs_core::time::Instant;
use std::collections::BTreeSet;
use tracing::{info, warn};

/// Tells whether a network interface exists.
pub type InterfaceProbe = fn(&str) -> bool;

/// The host's answer: an entry in /sys/class/net.
pub fn interface_exists(name: &str) -> bool {
    !name.is_empty()
        && !name.contains('/')
        && name != "."
        && name != ".."
        && std::path::Path::new("/sys/class/net").join(name).exists()
}

/// Health checking of the file's real servers (see [`crate::health`]): on every load
/// of the file it gives the services as the checkers see them, so that a reload
/// does not bring back real servers they took out.
pub trait FileHealth: Send {
    /// The services `cfg` defines, each real server in its current health, and
    /// checking of `cfg` made ready to start.
    fn prepare(&mut self, cfg: &rvs_ha::config::KeepalivedConfig) -> Vec<VirtualService>;
    /// Whether the load that [`prepare`](Self::prepare) was for is in force (its
    /// checking starts) or was refused (the running checking goes on).
    fn settle(&mut self, applied: bool);
}

pub struct Daemon {
    state: ConfigState,
    figures: Box<dyn Figures>,
    source: ConfigSource,
    /// The services the configuration file defined at its last load.
    file_owned: BTreeSet<ServiceKey>,
    interface_exists: InterfaceProbe,
    health: Option<Box<dyn FileHealth>>,
    reload_hook: Option<ReloadHook>,
}

/// A reload that involves more than the desired state (VRRP): run by the control
/// server for `Reload` requests *outside* the daemon's lock, since it takes the lock
/// itself when it gets to the services.
pub type ReloadHook = std::sync::Arc<dyn Fn(Instant) -> Response + Send + Sync>;

impl Daemon {
    /// A director with nothing configured yet. `source` says where `Reload` reads.
    pub fn new(figures: Box<dyn Figures>, source: ConfigSource) -> Daemon {
        Daemon {
            state: ConfigState::new(),
            figures,
            source,
            file_owned: BTreeSet::new(),
            interface_exists,
            health: None,
            reload_hook: None,
        }
    }

    /// Makes `Reload` requests run `hook` (outside the lock) instead of
    /// [`Daemon::reload`], as SIGHUP does.
    pub fn set_reload_hook(&mut self, hook: ReloadHook) {
        self.reload_hook = Some(hook);
    }

    pub fn reload_hook(&self) -> Option<ReloadHook> {
        self.reload_hook.clone()
    }

    /// Makes the file's services follow health checking from the next load on.
    pub fn set_file_health(&mut self, health: Box<dyn FileHealth>) {
        self.health = Some(health);
    }

    /// Replaces how sync interfaces are looked up (tests use a fixed list).
    pub fn set_interface_probe(&mut self, probe: InterfaceProbe) {
        self.interface_exists = probe;
    }

    /// A director whose figures come from `engine`.
    pub fn with_engine(engine: Engine, source: ConfigSource) -> Daemon {
        Daemon::new(Box::new(EngineFigures::new(engine)), source)
    }

    pub fn state(&self) -> &ConfigState {
        &self.state
    }

    /// Answers one request; a refused change leaves everything as it was.
    pub fn handle(&mut self, request: Request, now: Instant) -> Response {
        match request {
            Request::GetSnapshot => Ok(Reply::Snapshot(self.snapshot(now))),
            Request::GetConnections => Ok(Reply::Connections(self.figures.connections(now))),
            Request::Reload => self
                .reload(now)
                .inspect_err(|e| warn!("reload refused, nothing changed: {}", e.message)),
            change => {
                let zeroes = zero_requests(&change);
                let shown = format!("{change:?}");
                let reply = self
                    .check_sync_interfaces(&change)
                    .and_then(|()| self.state.dispatch(change))
                    .inspect_err(|e| {
                        info!(request = %shown, kind = e.kind.errno_name(), "refused: {}", e.message);
                    })?;
                self.figures.apply(&self.state, now);
                for key in zeroes {
                    // A service zeroed and deleted in the same batch has no counters left.
                    if key.is_none_or(|k| self.state.service(&k).is_some()) {
                        self.figures.zero(key.as_ref());
                    }
                }
                info!(request = %shown, "applied");
                Ok(reply)
            }
        }
    }

    /// The kernel refuses to start a sync daemon on an interface it does not have
    /// (ENODEV, which ipvsadm prints as "No such device"; the control protocol calls
    /// it `NotFound`), after its own checks of the values and of a daemon already
    /// running.
    fn check_sync_interfaces(&self, request: &Request) -> Result<(), ApiError> {
        match request {
            Request::StartDaemon(cfg)
                if validate::daemon(cfg).is_ok()
                    && self.state.daemon(cfg.role).is_none()
                    && !(self.interface_exists)(&cfg.mcast_ifn) =>
            {
                Err(ApiError::new(
                    ErrorKind::NotFound,
                    format!("no network interface {}", cfg.mcast_ifn),
                ))
            }
            Request::Batch(all) => all.iter().try_for_each(|r| self.check_sync_interfaces(r)),
            _ => Ok(()),
        }
    }

    /// Re-reads the configuration file and applies only the difference, all or
    /// nothing: a file that does not load, or whose state the running director cannot
    /// take, changes nothing. Services the file does not define (added with rvsadm)
    /// are left alone (see [`load_desired_state`]).
    pub fn reload(&mut self, now: Instant) -> Response {
        let result = self.load_file(now);
        if let Some(h) = &mut self.health {
            h.settle(result.is_ok());
        }
        result
    }

    fn load_file(&mut self, now: Instant) -> Response {
        let ConfigSource::File(path) = &self.source else {
            return Err(ApiError::new(
                ErrorKind::Unsupported,
                "no configuration file (start rvsd with -f FILE to reload one)",
            ));
        };
        let loaded = match &mut self.health {
            Some(h) => {
                load_desired_state_with(path, &self.state, &self.file_owned, |cfg| h.prepare(cfg))
            }
            None => load_desired_state(path, &self.state, &self.file_owned),
        };
        let loaded = loaded.map_err(|lines| {
            for l in lines.iter().skip(1) {
                warn!("{l}");
            }
            let first = lines.first().map_or("it does not load", String::as_str);
            let more = match lines.len() {
                0 | 1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            };
            ApiError::new(ErrorKind::Invalid, format!("{first}{more}"))
        })?;
        let changes = self.state.diff(&loaded.state);
        let count = changes.len();
        // A batch is all or nothing: a refusal leaves the running state untouched.
        self.state
            .dispatch(Request::Batch(changes))
            .map_err(|e| ApiError::new(e.kind, format!("{}: {}", path.display(), e.message)))?;
        self.file_owned = loaded.owned;
        self.figures.apply(&self.state, now);
        info!(changes = count, "reloaded {}", path.display());
        Ok(Reply::Done)
    }

    /// The listing: configuration, live figures, and the kernel's default table size.
    pub fn snapshot(&self, now: Instant) -> Snapshot {
        Snapshot {
            table_size: DEFAULT_TABLE_SIZE,
            services: self.figures.services(&self.state, now),
            timeouts: self.state.timeouts(),
            daemons: self.state.daemons().to_vec(),
            fwmark_rules: self.state.fwmark_rules().to_vec(),
        }
    }

    pub fn tick(&mut self, now: Instant) {
        self.figures.tick(now);
    }
}

/// The `Zero` requests a change carries, in order (a batch may hold several).
fn zero_requests(request: &Request) -> Vec<Option<ServiceKey>> {
    match request {
        Request::Zero(key) => vec![*key],
        Request::Batch(all) => all.iter().flat_map(zero_requests).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_core::engine::EngineConfig;
    use rvs_core::model::{
        DestConfig, ForwardMethod, Protocol, SchedFlags, SchedulerKind, ServiceConfig,
    };
    use std::sync::{Arc, Mutex};

    /// Figures that record what the daemon told them.
    #[derive(Default, Clone)]
    struct Recorder(Arc<Mutex<Vec<String>>>);

    impl Figures for Recorder {
        fn apply(&mut self, state: &ConfigState, _now: Instant) {
            let n = state.services().len();
            self.0.lock().unwrap().push(format!("apply {n}"));
        }
        fn services(
            &self,
            state: &ConfigState,
            _now: Instant,
        ) -> Vec<rvs_core::status::ServiceEntry> {
            state.snapshot(0).services
        }
        fn connections(&self, _now: Instant) -> Vec<rvs_core::status::ConnEntry> {
            Vec::new()
        }
        fn zero(&mut self, service: Option<&ServiceKey>) {
            self.0
                .lock()
                .unwrap()
                .push(format!("zero {}", service.is_some()));
        }
        fn tick(&mut self, _now: Instant) {}
    }

    fn engine_daemon() -> Daemon {
        let cfg = EngineConfig {
            max_conns: 1024,
            ..EngineConfig::default()
        };
        Daemon::with_engine(Engine::new(cfg).unwrap(), ConfigSource::None)
    }

    fn key() -> ServiceKey {
        ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: "10.0.0.1".parse().unwrap(),
            port: 80,
        }
    }

    fn service() -> ServiceConfig {
        ServiceConfig {
            key: key(),
            scheduler: SchedulerKind::Rr,
            sched_flags: SchedFlags::default(),
            persistence: None,
            one_packet: false,
            pe_name: None,
        }
    }

    #[test]
    fn changes_reach_the_figures_and_refusals_do_not() {
        let rec = Recorder::default();
        let mut d = Daemon::new(Box::new(rec.clone()), ConfigSource::None);
        let now = Instant::ZERO;
        d.handle(Request::AddService(service()), now).unwrap();
        let e = d.handle(Request::AddService(service()), now).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Exists);
        d.handle(
            Request::Batch(vec![Request::Zero(Some(key())), Request::Zero(None)]),
            now,
        )
        .unwrap();
        d.handle(
            Request::Batch(vec![Request::Zero(Some(key())), Request::DelService(key())]),
            now,
        )
        .unwrap();
        assert_eq!(
            *rec.0.lock().unwrap(),
            ["apply 1", "apply 1", "zero true", "zero false", "apply 0"]
        );
    }

    #[test]
    fn snapshot_has_the_kernel_table_size_and_the_configuration() {
        let mut d = engine_daemon();
        d.handle(Request::AddService(service()), Instant::ZERO)
            .unwrap();
        let dest = DestConfig {
            addr: "192.168.0.2".parse().unwrap(),
            port: 80,
            method: ForwardMethod::Masq,
            weight: 3,
            u_threshold: 0,
            l_threshold: 0,
        };
        d.handle(Request::AddDest(key(), dest), Instant::ZERO)
            .unwrap();
        let Ok(Reply::Snapshot(s)) = d.handle(Request::GetSnapshot, Instant::ZERO) else {
            panic!("no snapshot");
        };
        assert_eq!(s.table_size, 4096);
        assert_eq!(s.services.len(), 1);
        assert_eq!(s.services[0].dests[0].config, dest);
        assert_eq!(s.timeouts, d.state().timeouts());
    }

    #[test]
    fn a_sync_daemon_needs_an_existing_interface() {
        use rvs_core::model::{SyncDaemonConfig, SyncRole};
        let mut d = engine_daemon();
        d.set_interface_probe(|name| name == "ctl0");
        let daemon = |ifn: &str| {
            Request::StartDaemon(SyncDaemonConfig {
                role: SyncRole::Master,
                mcast_ifn: ifn.into(),
                syncid: 0,
                sync_maxlen: 0,
                mcast_group: None,
                mcast_port: 0,
                mcast_ttl: 0,
            })
        };
        let e = d.handle(daemon("nosuch0"), Instant::ZERO).unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFound);
        let e = d
            .handle(Request::Batch(vec![daemon("nosuch0")]), Instant::ZERO)
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert!(d.state().daemons().is_empty());
        d.handle(daemon("ctl0"), Instant::ZERO).unwrap();
        // A second master is refused as running (EEXIST), whatever its interface.
        let e = d.handle(daemon("nosuch0"), Instant::ZERO).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Exists);
    }

    #[test]
    fn reload_without_a_file_is_unsupported() {
        let mut d = engine_daemon();
        let e = d.handle(Request::Reload, Instant::ZERO).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert!(e.message.contains("no configuration file"), "{}", e.message);
    }
}
