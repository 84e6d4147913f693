//! rvsd's command line.

use clap::Parser;
use core::net::IpAddr;
use std::path::PathBuf;
use tracing_subscriber::filter::LevelFilter;

/// The rvs director daemon: serves rvsadm's control socket, keeps the desired state
/// and drives the engine. It runs in the foreground and logs to stderr.
#[derive(Debug, Clone, Parser)]
#[command(name = "rvsd", version)]
pub struct Args {
    /// Control socket (default: $RVS_SOCKET, else /run/rvs/rvsd.sock).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// Interface the data plane serves (repeat for several). Without any, only the
    /// control plane runs: services can be configured and listed, no packet is handled.
    #[arg(long = "iface", value_name = "IF")]
    pub ifaces: Vec<String>,

    /// keepalived.conf to load at start and on reload (SIGHUP or `Reload`).
    #[arg(short = 'f', long = "use-file", value_name = "FILE")]
    pub config_file: Option<PathBuf>,

    /// Check the configuration file and exit: 0 if it loads, 1 otherwise.
    #[arg(long, requires = "config_file")]
    pub config_test: bool,

    /// Data-plane worker threads.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: u16,

    /// Entries of each worker's flow cache, the lock-free path for packets of
    /// established connections (168 bytes each; 0 turns it off).
    #[arg(long, value_name = "N", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(0..=1 << 22))]
    pub flow_cache: u32,

    /// Local addresses FULLNAT connections take as their source.
    #[arg(long, value_name = "ADDR[,ADDR..]", value_delimiter = ',')]
    pub fullnat_pool: Vec<IpAddr>,

    /// Log level: off, error, warn, info, debug or trace.
    #[arg(long, value_name = "L", default_value = "info")]
    pub log_level: LevelFilter,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_parses() {
        let a = Args::try_parse_from([
            "rvsd",
            "--socket",
            "/tmp/s",
            "--iface",
            "eth0",
            "--iface",
            "eth1",
            "-f",
            "/etc/keepalived/keepalived.conf",
            "--workers",
            "2",
            "--flow-cache",
            "0",
            "--fullnat-pool",
            "10.0.0.1,2001:db8::1",
            "--log-level",
            "debug",
        ])
        .unwrap();
        assert_eq!(a.ifaces, ["eth0", "eth1"]);
        assert_eq!(a.workers, 2);
        assert_eq!(a.flow_cache, 0);
        assert_eq!(a.fullnat_pool.len(), 2);
        assert_eq!(a.log_level, LevelFilter::DEBUG);
        assert!(!a.config_test);
    }

    #[test]
    fn bad_values_are_refused() {
        for argv in [
            &["rvsd", "--config-test"][..],
            &["rvsd", "--workers", "0"],
            &["rvsd", "--fullnat-pool", "10.0.0.300"],
            &["rvsd", "--log-level", "loud"],
        ] {
            assert!(Args::try_parse_from(argv).is_err(), "{argv:?} accepted");
        }
    }
}
