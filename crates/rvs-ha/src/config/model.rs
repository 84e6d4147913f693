//! The typed content of a keepalived.conf, as read (before conversion to rvs desired
//! state). Optional fields keep "not given" apart from a value so that keepalived's
//! inheritance (virtual server → real server → checker) can be applied later.

use core::net::IpAddr;
use core::time::Duration;
use rvs_core::model::{Family, ForwardMethod, Protocol, SchedFlags, SchedulerKind};

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

// ---------------------------------------------------------------- global_defs

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

// ---------------------------------------------------------------- addresses, routes

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

// ---------------------------------------------------------------- LVS

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VsgEntry {
    /// `IP[-last] [port]` or `IP/len [port]`: an inclusive address range.
    Range {
        first: IpAddr,
        last: IpAddr,
        port: u16,
        loc: Loc,
    },
    Fwmark {
        mark: u32,
        family: Option<Family>,
        loc: Loc,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualServerGroup {
    pub name: String,
    pub entries: Vec<VsgEntry>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VsTarget {
    Addr { addr: IpAddr, port: u16 },
    Fwmark(u32),
    Group(String),
}

/// Health-check timing that the virtual server, real server and checker may each set;
/// the nearest one wins, then the checker type's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timing {
    pub connect_timeout: Option<Duration>,
    pub retry: Option<u32>,
    pub delay_before_retry: Option<Duration>,
    pub warmup: Option<Duration>,
    pub delay_loop: Option<Duration>,
}

impl Timing {
    /// `self` overrides `parent` field by field.
    pub fn over(&self, parent: &Timing) -> Timing {
        Timing {
            connect_timeout: self.connect_timeout.or(parent.connect_timeout),
            retry: self.retry.or(parent.retry),
            delay_before_retry: self.delay_before_retry.or(parent.delay_before_retry),
            warmup: self.warmup.or(parent.warmup),
            delay_loop: self.delay_loop.or(parent.delay_loop),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SorryServer {
    pub addr: IpAddr,
    pub port: u16,
    pub method: Option<ForwardMethod>,
    pub inhibit: bool,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualServer {
    pub target: VsTarget,
    /// Default TCP.
    pub protocol: Protocol,
    /// Default wlc.
    pub scheduler: SchedulerKind,
    pub sched_flags: SchedFlags,
    pub one_packet: bool,
    /// Default NAT (keepalived's default, unlike ipvsadm's DR).
    pub method: ForwardMethod,
    pub persistence_timeout: Option<u32>,
    /// Prefix length of `persistence_granularity`.
    pub persistence_granularity: Option<u8>,
    pub persistence_engine: Option<String>,
    pub ip_family: Option<Family>,
    pub ha_suspend: bool,
    pub virtualhost: Option<String>,
    pub alpha: bool,
    pub omega: bool,
    /// Default 1.
    pub quorum: u32,
    pub hysteresis: u32,
    pub quorum_up: Option<Script>,
    pub quorum_down: Option<Script>,
    pub sorry_server: Option<SorryServer>,
    pub timing: Timing,
    pub inhibit_on_failure: bool,
    pub real_servers: Vec<RealServer>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealServer {
    pub addr: IpAddr,
    /// 0 when not given (fwmark services).
    pub port: u16,
    /// Default 1.
    pub weight: u32,
    /// `None`: the virtual server's method.
    pub method: Option<ForwardMethod>,
    pub notify_up: Option<Script>,
    pub notify_down: Option<Script>,
    pub u_threshold: u32,
    pub l_threshold: u32,
    pub inhibit_on_failure: Option<bool>,
    pub alpha: Option<bool>,
    pub virtualhost: Option<String>,
    pub timing: Timing,
    pub checkers: Vec<CheckerConfig>,
    pub loc: Loc,
}

// ---------------------------------------------------------------- checkers

/// Connection options common to the network checkers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnOpts {
    pub connect_ip: Option<IpAddr>,
    pub connect_port: Option<u16>,
    pub bindto: Option<IpAddr>,
    pub bind_port: Option<u16>,
    pub bind_if: Option<String>,
    pub fwmark: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckerConfig {
    pub kind: CheckerKind,
    pub conn: ConnOpts,
    pub timing: Timing,
    pub alpha: Option<bool>,
    pub log_all_failures: bool,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckerKind {
    Tcp,
    Http(HttpCheck),
    Smtp { helo_name: Option<String> },
    Dns { qtype: DnsType, name: String },
    Misc(MiscCheck),
    Udp(UdpCheck),
    Ping,
}

impl CheckerKind {
    pub fn name(&self) -> &'static str {
        match self {
            CheckerKind::Tcp => "TCP_CHECK",
            CheckerKind::Http(h) if h.tls => "SSL_GET",
            CheckerKind::Http(_) => "HTTP_GET",
            CheckerKind::Smtp { .. } => "SMTP_CHECK",
            CheckerKind::Dns { .. } => "DNS_CHECK",
            CheckerKind::Misc(_) => "MISC_CHECK",
            CheckerKind::Udp(_) => "UDP_CHECK",
            CheckerKind::Ping => "PING_CHECK",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpVersion {
    V1_0,
    /// 1.0 with `Connection: close`.
    V1_0C,
    V1_1,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheck {
    /// SSL_GET.
    pub tls: bool,
    pub urls: Vec<UrlCheck>,
    pub protocol: HttpVersion,
    pub fast_recovery: bool,
    pub virtualhost: Option<String>,
    pub enable_sni: bool,
    pub sni_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlCheck {
    pub path: String,
    /// MD5 of the body.
    pub digest: Option<[u8; 16]>,
    /// Inclusive ranges; empty = 200-299.
    pub status_codes: Vec<(u16, u16)>,
    pub virtualhost: Option<String>,
}

impl UrlCheck {
    pub fn status_ok(&self, code: u16) -> bool {
        if self.status_codes.is_empty() {
            return (200..=299).contains(&code);
        }
        self.status_codes
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&code))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsType {
    A,
    Ns,
    Cname,
    Soa,
    Mx,
    Txt,
    Aaaa,
}

impl DnsType {
    pub fn from_name(s: &str) -> Option<DnsType> {
        Some(match s.to_ascii_uppercase().as_str() {
            "A" => DnsType::A,
            "NS" => DnsType::Ns,
            "CNAME" => DnsType::Cname,
            "SOA" => DnsType::Soa,
            "MX" => DnsType::Mx,
            "TXT" => DnsType::Txt,
            "AAAA" => DnsType::Aaaa,
            _ => return None,
        })
    }

    /// The QTYPE number (RFC 1035, RFC 3596).
    pub fn code(self) -> u16 {
        match self {
            DnsType::A => 1,
            DnsType::Ns => 2,
            DnsType::Cname => 5,
            DnsType::Soa => 6,
            DnsType::Mx => 15,
            DnsType::Txt => 16,
            DnsType::Aaaa => 28,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiscCheck {
    pub path: String,
    /// `None`: the delay_loop.
    pub timeout: Option<Duration>,
    pub dynamic: bool,
    pub user: Option<String>,
}

/// A byte pattern where `None` nibbles (`x` in the config) match anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HexPattern(pub Vec<(Option<u8>, Option<u8>)>);

impl HexPattern {
    /// Compares up to the shorter of the pattern and the data.
    pub fn matches(&self, data: &[u8]) -> bool {
        self.0.iter().zip(data).all(|(&(hi, lo), &b)| {
            hi.is_none_or(|h| h == b >> 4) && lo.is_none_or(|l| l == b & 0x0f)
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpCheck {
    pub payload: Option<Vec<u8>>,
    /// `Some(None)`: any reply; `Some(Some(p))`: a reply matching p.
    pub require_reply: Option<Option<HexPattern>>,
    pub min_reply_length: usize,
    pub max_reply_length: usize,
}
