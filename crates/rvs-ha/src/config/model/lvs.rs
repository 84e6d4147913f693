//! Virtual server groups, virtual servers, real and sorry servers.

use core::net::IpAddr;
use core::time::Duration;
use rvs_core::model::{Family, ForwardMethod, Protocol, SchedFlags, SchedulerKind};

use super::{CheckerConfig, Loc, Script};

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

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
