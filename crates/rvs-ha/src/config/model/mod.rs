//! The typed content of a keepalived.conf, as read (before conversion to rvs desired
//! state). Optional fields keep "not given" apart from a value so that keepalived's
//! inheritance (virtual server → real server → checker) can be applied later.

mod checker;
mod global;
mod lvs;
mod vrrp;

pub use checker::*;
pub use global::*;
pub use lvs::*;
pub use vrrp::*;

use super::diag::Loc;

#[derive(Debug, Clone, Default)]
pub struct KeepalivedConfig {
    pub global: GlobalDefs,
    pub static_ipaddresses: Vec<IpAddressSpec>,
    pub static_routes: Vec<RouteSpec>,
    pub vrrp_scripts: Vec<VrrpScript>,
    pub vrrp_sync_groups: Vec<VrrpSyncGroup>,
    pub vrrp_instances: Vec<VrrpInstance>,
    pub virtual_server_groups: Vec<VirtualServerGroup>,
    pub virtual_servers: Vec<VirtualServer>,
}

/// A script with its optional `username [:][groupname]`, run with `/bin/sh -c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub command: String,
    pub user: Option<String>,
    pub loc: Loc,
}
