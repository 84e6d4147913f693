//! `global_defs`.

use core::net::IpAddr;
use core::time::Duration;

use super::Loc;

#[derive(Debug, Clone, Default)]
pub struct GlobalDefs {
    pub router_id: Option<String>,
    pub notification_email: Vec<String>,
    pub notification_email_from: Option<String>,
    /// `smtp_server HOST [PORT]`.
    pub smtp_server: Option<(String, u16)>,
    pub smtp_connect_timeout: Option<Duration>,
    pub smtp_helo_name: Option<String>,
    pub lvs_sync_daemon: Option<LvsSyncDaemon>,
    pub lvs_timeouts: LvsTimeouts,
    pub lvs_flush: bool,
    pub lvs_flush_on_stop: bool,
    pub default_interface: Option<String>,
    pub checker_log_all_failures: bool,
    pub script_user: Option<String>,
    pub enable_script_security: bool,
    pub vrrp: VrrpGlobals,
}

/// `lvs_sync_daemon IF [[inst] VI] [id N] [maxlen N] [port N] [ttl N] [group IP]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LvsSyncDaemon {
    pub interface: String,
    /// The VRRP instance whose state decides master or backup.
    pub instance: Option<String>,
    pub syncid: u8,
    pub maxlen: u16,
    pub port: u16,
    pub ttl: u8,
    pub group: Option<IpAddr>,
    pub loc: Loc,
}

/// `lvs_timeouts [tcp S] [tcpfin S] [udp S]`: values not given stay as they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LvsTimeouts {
    pub tcp: Option<u32>,
    pub tcp_fin: Option<u32>,
    pub udp: Option<u32>,
}

/// The `vrrp_*` settings of global_defs (used by the VRRP engine).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VrrpGlobals {
    pub mcast_group4: Option<IpAddr>,
    pub mcast_group6: Option<IpAddr>,
    pub garp_master_delay: Option<Duration>,
    pub garp_master_repeat: Option<u32>,
    pub garp_lower_prio_delay: Option<Duration>,
    pub garp_lower_prio_repeat: Option<u32>,
    pub garp_master_refresh: Option<Duration>,
    pub garp_master_refresh_repeat: Option<u32>,
    pub garp_interval: Option<Duration>,
    pub gna_interval: Option<Duration>,
    pub min_garp: bool,
    pub down_timer_adverts: Option<u32>,
    pub lower_prio_no_advert: bool,
    pub higher_prio_send_advert: bool,
    pub version: Option<u8>,
    pub check_unicast_src: bool,
    pub skip_check_adv_addr: bool,
    pub strict: bool,
    pub notify_priority_changes: bool,
    pub startup_delay: Option<Duration>,
}
