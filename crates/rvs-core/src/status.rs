//! Live figures of the engine, as listings return them: the data ipvsadm's list
//! formats are printed from. rvsadm formats these exactly as ipvsadm would.

use crate::model::{
    DestConfig, FwmarkRule, Rates, ServiceConfig, Stats, SyncDaemonConfig, Timeouts,
};
use core::net::IpAddr;
use serde::{Deserialize, Serialize};

/// A real server with its live figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestEntry {
    pub config: DestConfig,
    pub active_conns: u32,
    pub inactive_conns: u32,
    pub persistent_conns: u32,
    pub stats: Stats,
    pub rates: Rates,
}

/// A virtual service with its live figures; `dests` in the kernel's list order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceEntry {
    pub config: ServiceConfig,
    pub stats: Stats,
    pub rates: Rates,
    pub dests: Vec<DestEntry>,
}

/// One row of the connection table (`ipvsadm -Lc`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnEntry {
    /// IP protocol number: 6, 17, 132, or 0 (IPPROTO_IP) for fwmark templates.
    pub ip_proto: u8,
    pub client: IpAddr,
    pub client_port: u16,
    pub virt: IpAddr,
    pub virt_port: u16,
    pub dest: IpAddr,
    pub dest_port: u16,
    /// The kernel's state name: "ESTABLISHED", "SYN_RECV", "NONE", "UDP", ...
    pub state: String,
    /// Milliseconds until the entry expires.
    pub expires_ms: u64,
    /// Persistence engine name and data, when one is in use.
    pub pe_name: Option<String>,
    pub pe_data: Option<String>,
    /// Whether this is a persistence template.
    pub template: bool,
    pub fwmark: u32,
}

/// Everything `rvsadm -L` needs at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Connection-table size printed in the header (`size=4096`).
    pub table_size: u32,
    pub services: Vec<ServiceEntry>,
    pub timeouts: Timeouts,
    pub daemons: Vec<SyncDaemonConfig>,
    /// The firewall-mark classification rules, in evaluation order (rvs extension;
    /// absent from older daemons' answers).
    #[serde(default)]
    pub fwmark_rules: Vec<FwmarkRule>,
}
