//! keepalived's health checkers inside rvsd: the real servers of the file's
//! `virtual_server`s are checked by an [`rvs_ha::check::HealthMonitor`], and each
//! change it asks for goes through [`Daemon::handle`](crate::daemon::Daemon::handle)
//! under the daemon lock, exactly like the rvsadm command that does the same edit.
//!
//! Reloads: every load of the file asks [`HealthChecks`] (the daemon's
//! [`FileHealth`]) for the file's services, and gets them as the checkers see them
//! now: a new monitor is started with [`HealthMonitor::start_after`] the running
//! one's snapshot, so real servers the new file still has keep their health and a
//! reload never brings back one the checkers took out. The new monitor takes over
//! only if the reload is applied; its events are tagged with a generation, and the
//! applier drops those of a monitor that was replaced (checked under the daemon lock,
//! where reloads happen, so no stale edit lands after a reload).
//!
//! On exit [`HealthChecks::shutdown`] stops the checkers and runs the omega scripts.

use crate::daemon::FileHealth;
use crate::server::{lock, Clock, SharedDaemon};
use rvs_api::state::ConfigState;
use rvs_core::model::{Protocol, ServiceKey, VirtualService};
use rvs_ha::check::{DestEvent, HealthMonitor};
use rvs_ha::config::KeepalivedConfig;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tracing::{info, warn};

/// The health checking of the configuration file's real servers. Clones share it.
#[derive(Clone)]
pub struct HealthChecks {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    /// Where checkers run (prepare is called from synchronous code).
    runtime: Handle,
    running: Option<Generation>,
    /// Started for a load not yet known to be applied.
    pending: Option<Generation>,
    /// The generation whose events are applied; bumped under the daemon lock.
    current: u64,
    feed: mpsc::UnboundedSender<Feed>,
    /// Until the applier starts.
    feed_rx: Option<mpsc::UnboundedReceiver<Feed>>,
    stopped: bool,
}

struct Generation {
    monitor: HealthMonitor,
    cfg: Arc<KeepalivedConfig>,
}

/// The events of one monitor, for the applier.
struct Feed {
    generation: u64,
    events: mpsc::UnboundedReceiver<DestEvent>,
    cfg: Arc<KeepalivedConfig>,
}

impl HealthChecks {
    /// Checking that runs its checkers on `runtime`, from the first load on (install
    /// it with [`Daemon::set_file_health`](crate::daemon::Daemon::set_file_health)).
    pub fn new(runtime: Handle) -> HealthChecks {
        let (feed, feed_rx) = mpsc::unbounded_channel();
        HealthChecks {
            inner: Arc::new(Mutex::new(Inner {
                runtime,
                running: None,
                pending: None,
                current: 0,
                feed,
                feed_rx: Some(feed_rx),
                stopped: false,
            })),
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // Nothing here is left half-changed by a panic: a poisoned lock is usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts applying the checkers' edits to `daemon` (once; later calls do nothing).
    pub fn start_applying(&self, daemon: SharedDaemon, clock: Clock) {
        let Some(feeds) = self.inner().feed_rx.take() else {
            return;
        };
        let checks = self.clone();
        tokio::spawn(async move { checks.apply_all(feeds, daemon, clock).await });
    }

    async fn apply_all(
        self,
        mut feeds: mpsc::UnboundedReceiver<Feed>,
        daemon: SharedDaemon,
        clock: Clock,
    ) {
        enum Next {
            Feed(Option<Feed>),
            Event(Option<DestEvent>),
        }
        let mut current: Option<Feed> = None;
        loop {
            let next = match &mut current {
                Some(f) => tokio::select! {
                    biased;
                    feed = feeds.recv() => Next::Feed(feed),
                    event = f.events.recv() => Next::Event(event),
                },
                None => Next::Feed(feeds.recv().await),
            };
            match next {
                Next::Feed(Some(feed)) => current = Some(feed),
                Next::Feed(None) => return,
                // The monitor is gone (replaced or shut down): wait for the next one.
                Next::Event(None) => current = None,
                Next::Event(Some(event)) => {
                    if let Some(f) = &current {
                        self.apply(&daemon, clock, f, &event);
                    }
                }
            }
        }
    }

    fn apply(&self, daemon: &SharedDaemon, clock: Clock, feed: &Feed, event: &DestEvent) {
        let mut d = lock(daemon);
        if self.inner().current != feed.generation {
            return; // a reload replaced that monitor and applied the newer state
        }
        let line = describe(event, d.state(), &feed.cfg);
        info!("{line}");
        if let Err(e) = d.handle(event.to_request(), clock.now()) {
            // The service was changed by other means (rvsadm) since.
            warn!("{line}: refused: {}", e.message);
        }
    }

    /// Stops every checker, then runs the notify_down and quorum_down scripts of the
    /// virtual servers in omega mode, as keepalived does when it stops.
    pub async fn shutdown(&self) {
        let monitors = {
            let mut inner = self.inner();
            inner.stopped = true;
            inner.current += 1;
            [inner.running.take(), inner.pending.take()]
        };
        for g in monitors.into_iter().flatten() {
            g.monitor.shutdown().await;
        }
    }
}

impl FileHealth for HealthChecks {
    fn prepare(&mut self, cfg: &KeepalivedConfig) -> Vec<VirtualService> {
        let mut inner = self.inner();
        if inner.stopped {
            return cfg.virtual_services();
        }
        let prior = inner
            .running
            .as_ref()
            .map(|g| g.monitor.snapshot())
            .unwrap_or_default();
        let cfg = Arc::new(cfg.clone());
        let monitor = {
            let _in_runtime = inner.runtime.enter();
            HealthMonitor::start_after(cfg.clone(), &prior)
        };
        // Nothing ran yet: this is the state the monitor starts from, which its
        // events are relative to.
        let services = monitor.state.borrow().clone();
        inner.pending = Some(Generation { monitor, cfg });
        services
    }

    fn settle(&mut self, applied: bool) {
        let mut inner = self.inner();
        let Some(mut new) = inner.pending.take() else {
            return;
        };
        if !applied {
            return; // dropping it stops its checkers; the running ones go on
        }
        for e in &new.monitor.errors {
            warn!("health checker not started: {e}");
        }
        let checkers: usize = new
            .cfg
            .virtual_servers
            .iter()
            .flat_map(|vs| &vs.real_servers)
            .map(|rs| rs.checkers.len())
            .sum();
        if checkers > 0 {
            info!(
                "health checking: {} checkers ({} not started)",
                checkers,
                new.monitor.errors.len()
            );
        }
        let (_, closed) = mpsc::unbounded_channel();
        let events = std::mem::replace(&mut new.monitor.events, closed);
        inner.current += 1;
        let feed = Feed {
            generation: inner.current,
            events,
            cfg: new.cfg.clone(),
        };
        // The applier only ends with the runtime.
        let _ = inner.feed.send(feed);
        // The replaced monitor's checkers stop as it drops.
        inner.running = Some(new);
    }
}

/// keepalived's log line for an edit ("Removing service [10.0.0.2]:tcp:80 from VS
/// [10.0.0.1]:tcp:80"), with the weight the real server has in `state` before it.
fn describe(event: &DestEvent, state: &ConfigState, cfg: &KeepalivedConfig) -> String {
    let (service, addr, port) = match *event {
        DestEvent::DestUp { service, dest } | DestEvent::DestWeight { service, dest } => {
            (service, dest.addr, dest.port)
        }
        DestEvent::DestDown {
            service,
            addr,
            port,
        } => (service, addr, port),
    };
    let what = if is_sorry_server(cfg, &service, addr, port) {
        "sorry server"
    } else {
        "service"
    };
    let rs = fmt_rs(&service, addr, port);
    let vs = fmt_vs(&service);
    match *event {
        DestEvent::DestUp { .. } => format!("Adding {what} {rs} to VS {vs}"),
        DestEvent::DestDown { .. } => format!("Removing {what} {rs} from VS {vs}"),
        DestEvent::DestWeight { dest, .. } => {
            let before = state
                .service(&service)
                .and_then(|s| s.dests.iter().find(|d| d.addr == addr && d.port == port))
                .map(|d| d.weight);
            match (before, dest.weight) {
                (Some(w), 0) if w > 0 => format!("Disabling {what} {rs} from VS {vs}"),
                (Some(0), w) if w > 0 => format!("Enabling {what} {rs} to VS {vs}"),
                (Some(w), new) => {
                    format!("Changing weight from {w} to {new} for {what} {rs} of VS {vs}")
                }
                (None, new) => format!("Setting weight {new} for {what} {rs} of VS {vs}"),
            }
        }
    }
}

fn is_sorry_server(cfg: &KeepalivedConfig, key: &ServiceKey, addr: IpAddr, port: u16) -> bool {
    cfg.virtual_servers.iter().any(|vs| {
        vs.sorry_server
            .as_ref()
            .is_some_and(|s| s.addr == addr && (s.port == port || s.port == 0))
            && !vs
                .real_servers
                .iter()
                .any(|rs| rs.addr == addr && rs.port == port)
            && cfg.service_keys(vs).contains(key)
    })
}

fn proto_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}

fn fmt_vs(key: &ServiceKey) -> String {
    match *key {
        ServiceKey::Addr { proto, addr, port } => {
            format!("[{addr}]:{}:{port}", proto_name(proto))
        }
        ServiceKey::Fwmark { mark, .. } => format!("FWM {mark}"),
    }
}

fn fmt_rs(key: &ServiceKey, addr: IpAddr, port: u16) -> String {
    match *key {
        ServiceKey::Addr { proto, .. } => format!("[{addr}]:{}:{port}", proto_name(proto)),
        ServiceKey::Fwmark { .. } => format!("[{addr}]:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config_file::ConfigSource;
    use crate::daemon::Daemon;
    use rvs_core::engine::{Engine, EngineConfig};
    use std::net::TcpListener;
    use std::time::Duration;

    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    /// The ports of the real servers of 10.0.0.1:80, in the listing.
    fn ports(daemon: &SharedDaemon) -> Vec<u16> {
        let d = lock(daemon);
        let mut ports: Vec<u16> = d.state().services()[0]
            .dests
            .iter()
            .map(|d| d.port)
            .collect();
        ports.sort_unstable();
        ports
    }

    /// Polls (letting the checkers run) until `want` holds; false after 10 s.
    async fn eventually(daemon: &SharedDaemon, want: &[u16]) -> bool {
        for _ in 0..100 {
            if ports(daemon) == want {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// A daemon that loaded `path` with health checking (not applied yet).
    fn loaded(path: &std::path::Path) -> (SharedDaemon, HealthChecks, Clock) {
        let engine = Engine::new(EngineConfig {
            max_conns: 1024,
            ..EngineConfig::default()
        })
        .unwrap();
        let mut daemon = Daemon::with_engine(engine, ConfigSource::File(path.to_path_buf()));
        let checks = HealthChecks::new(Handle::current());
        daemon.set_file_health(Box::new(checks.clone()));
        let clock = Clock::start();
        daemon.reload(clock.now()).unwrap();
        (Arc::new(Mutex::new(daemon)), checks, clock)
    }

    #[tokio::test]
    async fn failed_real_servers_leave_and_a_reload_does_not_bring_them_back() {
        let up = TcpListener::bind("127.0.0.1:0").unwrap();
        let up_port = up.local_addr().unwrap().port();
        let down_port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keepalived.conf");
        let conf = format!(
            "virtual_server 10.0.0.1 80 {{\n  delay_loop 1\n  lb_algo rr\n  lb_kind NAT\n  \
             protocol TCP\n  real_server 127.0.0.1 {up_port} {{\n    TCP_CHECK {{\n      \
             connect_timeout 1\n      retry 0\n    }}\n  }}\n  real_server 127.0.0.1 \
             {down_port} {{\n    TCP_CHECK {{\n      connect_timeout 1\n      retry 0\n    \
             }}\n  }}\n}}\n"
        );
        std::fs::write(&path, conf).unwrap();
        let (daemon, checks, clock) = loaded(&path);
        // keepalived's start: every real server with checkers is alive.
        let mut both = vec![up_port, down_port];
        both.sort_unstable();
        assert_eq!(ports(&daemon), both);
        checks.start_applying(daemon.clone(), clock);
        assert!(
            eventually(&daemon, &[up_port]).await,
            "{:?}",
            ports(&daemon)
        );

        // The file still lists the failed server: the reload keeps it out.
        lock(&daemon).reload(clock.now()).unwrap();
        assert_eq!(ports(&daemon), [up_port]);

        // The new checkers took over: the server comes back once it answers.
        let _back = TcpListener::bind(("127.0.0.1", down_port)).unwrap();
        assert!(eventually(&daemon, &both).await, "{:?}", ports(&daemon));
        checks.shutdown().await;
    }

    #[tokio::test]
    async fn in_alpha_mode_real_servers_start_down_until_checked() {
        let up = TcpListener::bind("127.0.0.1:0").unwrap();
        let up_port = up.local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keepalived.conf");
        let conf = format!(
            "virtual_server 10.0.0.1 80 {{\n  delay_loop 1\n  alpha\n  lb_kind NAT\n  \
             real_server 127.0.0.1 {up_port} {{\n    TCP_CHECK {{\n      connect_timeout 1\n    \
             }}\n  }}\n}}\n"
        );
        std::fs::write(&path, conf).unwrap();
        let (daemon, checks, clock) = loaded(&path);
        assert!(
            ports(&daemon).is_empty(),
            "alpha: no real server before a check"
        );
        checks.start_applying(daemon.clone(), clock);
        assert!(
            eventually(&daemon, &[up_port]).await,
            "{:?}",
            ports(&daemon)
        );
        checks.shutdown().await;
    }

    #[test]
    fn log_lines_read_like_keepalived() {
        use rvs_core::model::{DestConfig, ForwardMethod};
        let key = ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: "10.0.0.1".parse().unwrap(),
            port: 80,
        };
        let dest = |weight| DestConfig {
            addr: "10.0.0.2".parse().unwrap(),
            port: 8080,
            method: ForwardMethod::Masq,
            weight,
            u_threshold: 0,
            l_threshold: 0,
        };
        let mut state = ConfigState::new();
        let cfg = KeepalivedConfig::default();
        let up = DestEvent::DestUp {
            service: key,
            dest: dest(1),
        };
        assert_eq!(
            describe(&up, &state, &cfg),
            "Adding service [10.0.0.2]:tcp:8080 to VS [10.0.0.1]:tcp:80"
        );
        state
            .dispatch(rvs_api::request::Request::AddService(
                rvs_core::model::ServiceConfig {
                    key,
                    scheduler: rvs_core::model::SchedulerKind::Rr,
                    sched_flags: Default::default(),
                    persistence: None,
                    one_packet: false,
                    pe_name: None,
                },
            ))
            .unwrap();
        state.dispatch(up.to_request()).unwrap();
        let off = DestEvent::DestWeight {
            service: key,
            dest: dest(0),
        };
        assert_eq!(
            describe(&off, &state, &cfg),
            "Disabling service [10.0.0.2]:tcp:8080 from VS [10.0.0.1]:tcp:80"
        );
        let down = DestEvent::DestDown {
            service: key,
            addr: "10.0.0.2".parse().unwrap(),
            port: 8080,
        };
        assert_eq!(
            describe(&down, &state, &cfg),
            "Removing service [10.0.0.2]:tcp:8080 from VS [10.0.0.1]:tcp:80"
        );
    }
}
