//! Addresses, routes and the VRRP blocks.

use core::net::IpAddr;
use core::time::Duration;

use super::{Loc, Script, VrrpGlobals};

/// A line of `virtual_ipaddress`/`static_ipaddress`:
/// `ADDR[/LEN] [brd IP] [dev IF] [scope S] [label L] ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpAddressSpec {
    pub addr: IpAddr,
    pub prefix_len: u8,
    pub broadcast: Option<IpAddr>,
    pub dev: Option<String>,
    pub scope: Option<String>,
    pub label: Option<String>,
    /// Options read but not interpreted (`no_track`, `home`, `preferred_lft` ...).
    pub other: Vec<String>,
    pub loc: Loc,
}

/// A line of `virtual_routes`/`static_routes`/`virtual_rules`, kept as words with the
/// destination picked out (`ip route`/`ip rule` syntax is vast; the VRRP engine
/// interprets the options it supports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub words: Vec<String>,
    pub loc: Loc,
}

// ---------------------------------------------------------------- VRRP

#[derive(Debug, Clone, PartialEq)]
pub struct VrrpScript {
    pub name: String,
    pub script: Option<Script>,
    /// Default 1 s.
    pub interval: Duration,
    /// Default: the interval.
    pub timeout: Option<Duration>,
    /// -253..=253, default 0 (0: the instance goes to FAULT after `fall` failures).
    pub weight: i32,
    pub weight_reverse: bool,
    pub rise: u32,
    pub fall: u32,
    pub user: Option<String>,
    pub init_fail: bool,
    pub loc: Loc,
}

/// `track_interface`/`track_script` entry: `NAME [weight W [reverse]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    pub name: String,
    pub weight: Option<i32>,
    pub reverse: bool,
    pub loc: Loc,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notifies {
    pub master: Option<Script>,
    pub backup: Option<Script>,
    pub fault: Option<Script>,
    pub stop: Option<Script>,
    /// `notify`: called with the state as arguments.
    pub any: Option<Script>,
    pub master_rx_lower_pri: Option<Script>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpSyncGroup {
    pub name: String,
    pub members: Vec<String>,
    pub track_interfaces: Vec<Tracked>,
    pub track_scripts: Vec<Tracked>,
    pub notify: Notifies,
    pub global_tracking: bool,
    pub loc: Loc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VrrpState {
    Master,
    Backup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    Pass,
    Ah,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authentication {
    pub kind: AuthType,
    /// At most 8 characters are sent (keepalived truncates).
    pub pass: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnicastPeer {
    pub addr: IpAddr,
    pub min_ttl: Option<u8>,
    pub max_ttl: Option<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VrrpInstance {
    pub name: String,
    /// Initial state; `None` = BACKUP.
    pub state: Option<VrrpState>,
    pub interface: Option<String>,
    /// `use_vmac [NAME]`: `Some(None)` = use a VMAC with keepalived's generated name.
    pub use_vmac: Option<Option<String>>,
    pub vmac_xmit_base: bool,
    /// `version 2|3`; `None` = the global `vrrp_version`, else 2 (3 for IPv6).
    pub version: Option<u8>,
    /// 1..=255; required.
    pub virtual_router_id: Option<u8>,
    /// 1..=255, default 100; 255 = address owner.
    pub priority: u8,
    /// Default 1 s.
    pub advert_int: Duration,
    pub authentication: Option<Authentication>,
    pub virtual_ipaddresses: Vec<IpAddressSpec>,
    pub virtual_ipaddresses_excluded: Vec<IpAddressSpec>,
    pub virtual_routes: Vec<RouteSpec>,
    pub virtual_rules: Vec<RouteSpec>,
    pub unicast_src_ip: Option<IpAddr>,
    pub unicast_peers: Vec<UnicastPeer>,
    pub mcast_src_ip: Option<IpAddr>,
    /// `accept` → Some(true), `no_accept` → Some(false); default depends on vrrp_strict.
    pub accept: Option<bool>,
    pub nopreempt: bool,
    /// 0..=1000 s.
    pub preempt_delay: Duration,
    pub down_timer_adverts: Option<u32>,
    pub garp_master_delay: Option<Duration>,
    pub garp_master_repeat: Option<u32>,
    pub garp_master_refresh: Option<Duration>,
    pub garp_master_refresh_repeat: Option<u32>,
    pub garp_lower_prio_delay: Option<Duration>,
    pub garp_lower_prio_repeat: Option<u32>,
    pub track_interfaces: Vec<Tracked>,
    pub track_scripts: Vec<Tracked>,
    pub dont_track_primary: bool,
    pub notify: Notifies,
    /// Deprecated `lvs_sync_daemon_interface` of an instance.
    pub lvs_sync_daemon_interface: Option<String>,
    pub loc: Loc,
}

impl VrrpInstance {
    pub fn new(name: String, loc: Loc) -> Self {
        VrrpInstance {
            name,
            state: None,
            interface: None,
            use_vmac: None,
            vmac_xmit_base: false,
            version: None,
            virtual_router_id: None,
            priority: 100,
            advert_int: Duration::from_secs(1),
            authentication: None,
            virtual_ipaddresses: Vec::new(),
            virtual_ipaddresses_excluded: Vec::new(),
            virtual_routes: Vec::new(),
            virtual_rules: Vec::new(),
            unicast_src_ip: None,
            unicast_peers: Vec::new(),
            mcast_src_ip: None,
            accept: None,
            nopreempt: false,
            preempt_delay: Duration::ZERO,
            down_timer_adverts: None,
            garp_master_delay: None,
            garp_master_repeat: None,
            garp_master_refresh: None,
            garp_master_refresh_repeat: None,
            garp_lower_prio_delay: None,
            garp_lower_prio_repeat: None,
            track_interfaces: Vec::new(),
            track_scripts: Vec::new(),
            dont_track_primary: false,
            notify: Notifies::default(),
            lvs_sync_daemon_interface: None,
            loc,
        }
    }

    /// The VRRP version in force: the instance's, else the global one, else 2 for IPv4
    /// and 3 for IPv6 (VRRPv2 has no IPv6).
    pub fn effective_version(&self, globals: &VrrpGlobals) -> u8 {
        let v6 = self
            .virtual_ipaddresses
            .first()
            .is_some_and(|a| a.addr.is_ipv6());
        if v6 {
            return 3;
        }
        self.version.or(globals.version).unwrap_or(2)
    }
}
