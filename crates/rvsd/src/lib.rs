//! rvsd, the rvs director daemon, as a library so that tests (and tools embedding a
//! director) can run its control server in-process.
//!
//! - [`daemon::Daemon`]: the desired state, the live figures and how requests change
//!   them (no I/O).
//! - [`server`]: the control socket server ([`server::serve`],
//!   [`server::BackgroundServer`]).
//! - [`socket`]: the socket file (mode 0600, stale replacement, removal) and peer checks.
//! - [`config_file`]: keepalived.conf as desired state ([`config_file::load_desired_state`]).
//! - [`figures`]: where live figures come from (the rvs-core engine).
//! - [`dataplane`]: the seam to the packet workers.
//! - [`health`]: the file's health checkers, whose edits go through the daemon.
//! - [`vrrp_wiring`]: the file's `vrrp_instance`s and `lvs_sync_daemon` ([`ha`]).
#![forbid(unsafe_code)]

pub mod args;
pub mod config_file;
pub mod daemon;
pub mod dataplane;
pub mod figures;
pub mod ha;
pub mod health;
pub mod server;
pub mod socket;
pub mod vrrp_wiring;

use args::Args;
use config_file::{load_desired_state, ConfigSource};
use daemon::Daemon;
use rvs_api::request::{ApiError, ErrorKind};
use rvs_api::state::ConfigState;
use rvs_core::engine::{Engine, EngineConfig, FullNatPool};
use server::{lock, Clock, SharedDaemon};
use socket::{Access, ControlSocket};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tracing::{error, info, warn};

/// rvsd's main: logs to stderr, then either checks the configuration file
/// (`--config-test`) or runs the daemon until SIGTERM or SIGINT.
pub fn run(args: Args) -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(args.log_level)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    if args.config_test {
        return config_test(&args);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("cannot start the control runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(daemon_main(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            error!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn config_test(args: &Args) -> ExitCode {
    let Some(path) = &args.config_file else {
        error!("--config-test needs -f FILE");
        return ExitCode::FAILURE;
    };
    let vrrp = rvs_ha::config::load(path)
        .ok()
        .map(|(cfg, _)| rvs_ha::vrrp::plan::plan(&cfg));
    if let Some(Err(lines)) = vrrp {
        for l in lines {
            error!("{l}");
        }
        return ExitCode::FAILURE;
    }
    match load_desired_state(path, &ConfigState::new(), &Default::default()) {
        Ok(loaded) => {
            info!(
                "{}: configuration OK ({} services)",
                path.display(),
                loaded.state.services().len()
            );
            ExitCode::SUCCESS
        }
        Err(lines) => {
            for l in lines {
                error!("{l}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn daemon_main(args: Args) -> Result<(), String> {
    let clock = Clock::start();
    let source = match &args.config_file {
        Some(path) => ConfigSource::File(path.clone()),
        None => ConfigSource::None,
    };
    let (tunnel_src_v4, tunnel_src_v6) = dataplane::tunnel_sources(&args.ifaces);
    if !args.ifaces.is_empty() && tunnel_src_v4.is_none() {
        warn!(
            "no IPv4 address (other than /32 VIPs) on {}: IPv4 TUN real servers cannot be reached",
            args.ifaces.join(",")
        );
    }
    let engine = Engine::new(EngineConfig {
        workers: usize::from(args.workers),
        flow_cache: args.flow_cache as usize,
        tunnel_src_v4,
        tunnel_src_v6,
        mtu: dataplane::served_mtu(&args.ifaces),
        fullnat_pool: FullNatPool {
            addrs: args.fullnat_pool.clone(),
            ..FullNatPool::default()
        },
        ..EngineConfig::default()
    })
    .map_err(|e| format!("cannot create the engine: {e}"))?;
    let packets = if args.ifaces.is_empty() {
        info!("no --iface: control plane only, no packet is handled");
        None
    } else {
        Some(dataplane::start_data_plane(
            &engine,
            &dataplane::DataPlaneSettings {
                ifaces: args.ifaces.clone(),
                workers: usize::from(args.workers),
                fullnat_pool: args.fullnat_pool.clone(),
                clock_origin: clock.origin(),
            },
        )?)
    };
    let director =
        dataplane::Director::new(engine.clone(), packets, args.fullnat_pool.clone(), clock);
    let stopper = director.stopper();
    let mut daemon = Daemon::new(Box::new(director), source);
    // The file's real servers are health-checked from its first load on.
    let checks = args.config_file.as_ref().map(|_| {
        let checks = health::HealthChecks::new(tokio::runtime::Handle::current());
        daemon.set_file_health(Box::new(checks.clone()));
        checks
    });
    if let Some(path) = &args.config_file {
        daemon
            .reload(clock.now())
            .map_err(|e| format!("cannot start from {}: {}", path.display(), e.message))?;
    }

    let path = rvs_api::socket::resolve_socket_path(args.socket.as_deref());
    let socket = ControlSocket::bind(&path).map_err(|e| e.to_string())?;
    let daemon: SharedDaemon = Arc::new(Mutex::new(daemon));
    if let Some(checks) = &checks {
        checks.start_applying(daemon.clone(), clock);
    }
    let ha = match &args.config_file {
        Some(path) => Some(
            vrrp_wiring::Ha::start(path, daemon.clone(), clock)
                .map_err(|e| format!("cannot start VRRP from {}:\n{e}", path.display()))?,
        ),
        None => None,
    };
    if let Some(ha) = ha.clone() {
        // A `Reload` request re-reads VRRP with the services, as SIGHUP does.
        let shared = daemon.clone();
        lock(&daemon).set_reload_hook(Arc::new(move |now| {
            let mut outcome = None;
            ha.reload(|| {
                let r = lock(&shared).reload(now);
                let applied = r.is_ok();
                outcome = Some(r);
                applied
            });
            outcome.unwrap_or_else(|| {
                Err(ApiError::new(
                    ErrorKind::Invalid,
                    "the VRRP part of the configuration cannot run; nothing changed (see rvsd's log)",
                ))
            })
        }));
    }
    let (stop, stopped) = watch::channel(false);
    let mut terminate = signal(SignalKind::terminate()).map_err(|e| format!("SIGTERM: {e}"))?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| format!("SIGINT: {e}"))?;
    let mut hangup = signal(SignalKind::hangup()).map_err(|e| format!("SIGHUP: {e}"))?;

    let signals = {
        let daemon = daemon.clone();
        let ha = ha.clone();
        async move {
            loop {
                tokio::select! {
                    _ = terminate.recv() => { info!("SIGTERM: stopping"); break; }
                    _ = interrupt.recv() => { info!("SIGINT: stopping"); break; }
                    _ = hangup.recv() => {
                        info!("SIGHUP: reloading");
                        let services = || match lock(&daemon).reload(clock.now()) {
                            Ok(_) => true,
                            Err(e) => {
                                warn!("reload refused, nothing changed: {}", e.message);
                                false
                            }
                        };
                        match &ha {
                            Some(ha) => ha.reload(services),
                            None => {
                                services();
                            }
                        }
                    }
                }
            }
            let _ = stop.send(true);
        }
    };
    let ticker = {
        let daemon = daemon.clone();
        async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                lock(&daemon).tick(clock.now());
            }
        }
    };
    tokio::spawn(signals);
    tokio::spawn(ticker);
    if let Some(ha) = ha.clone() {
        // lvs_sync_daemon follows VRRP transitions within a fraction of a second.
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(200));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                ha.follow();
            }
        });
    }
    let served = server::serve(socket, daemon, clock, Access::this_process(), stopped)
        .await
        .map_err(|e| format!("control server: {e}"));
    // The director stays referenced by the control tasks until the process ends:
    // release the interfaces (steering rules, offloads) explicitly. VRRP goes
    // first: masters hand over (priority-0 advertisement) before packets stop.
    if let Some(ha) = &ha {
        ha.shutdown();
    }
    if let Some(checks) = &checks {
        checks.shutdown().await; // omega scripts
    }
    stopper.stop();
    served
}
