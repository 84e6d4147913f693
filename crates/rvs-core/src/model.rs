//! The configuration model shared by every part of rvs: what a virtual service and a
//! real server are. rvsadm, keepalived.conf and the control protocol all speak it.

use core::fmt;
use core::net::IpAddr;
use serde::{Deserialize, Serialize};

/// Transport protocol of a virtual service (IP protocol numbers in the kernel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub const fn ip_proto(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }

    pub const fn from_ip_proto(p: u8) -> Option<Protocol> {
        match p {
            6 => Some(Protocol::Tcp),
            17 => Some(Protocol::Udp),
            132 => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// The spelling of ipvsadm's listing ("TCP", "UDP", "SCTP").
    pub const fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

/// Address family, needed on its own for firewall-mark services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

/// How a virtual service is identified: by (protocol, VIP, port) or by firewall mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ServiceKey {
    Addr {
        proto: Protocol,
        addr: IpAddr,
        port: u16,
    },
    Fwmark {
        mark: u32,
        family: Family,
    },
}

impl ServiceKey {
    pub fn family(&self) -> Family {
        match self {
            ServiceKey::Addr { addr, .. } => Family::of(addr),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }
}

/// The 14 schedulers of Linux IPVS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SchedulerKind {
    Rr,
    Wrr,
    Lc,
    Wlc,
    Sed,
    Nq,
    Dh,
    Sh,
    Lblc,
    Lblcr,
    Mh,
    Fo,
    Ovf,
    Twos,
}

impl SchedulerKind {
    pub const ALL: [SchedulerKind; 14] = [
        SchedulerKind::Rr,
        SchedulerKind::Wrr,
        SchedulerKind::Lc,
        SchedulerKind::Wlc,
        SchedulerKind::Sed,
        SchedulerKind::Nq,
        SchedulerKind::Dh,
        SchedulerKind::Sh,
        SchedulerKind::Lblc,
        SchedulerKind::Lblcr,
        SchedulerKind::Mh,
        SchedulerKind::Fo,
        SchedulerKind::Ovf,
        SchedulerKind::Twos,
    ];

    /// The kernel's name of the scheduler ("rr", "wlc", ...).
    pub const fn name(self) -> &'static str {
        match self {
            SchedulerKind::Rr => "rr",
            SchedulerKind::Wrr => "wrr",
            SchedulerKind::Lc => "lc",
            SchedulerKind::Wlc => "wlc",
            SchedulerKind::Sed => "sed",
            SchedulerKind::Nq => "nq",
            SchedulerKind::Dh => "dh",
            SchedulerKind::Sh => "sh",
            SchedulerKind::Lblc => "lblc",
            SchedulerKind::Lblcr => "lblcr",
            SchedulerKind::Mh => "mh",
            SchedulerKind::Fo => "fo",
            SchedulerKind::Ovf => "ovf",
            SchedulerKind::Twos => "twos",
        }
    }

    pub fn from_name(name: &str) -> Option<SchedulerKind> {
        SchedulerKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for SchedulerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Scheduler flags (`-b`): IP_VS_SVC_F_SCHED1..3. sh-fallback and mh-fallback are
/// SCHED1, sh-port and mh-port are SCHED2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct SchedFlags(pub u32);

impl SchedFlags {
    pub const FLAG1: u32 = 0x0008;
    pub const FLAG2: u32 = 0x0010;
    pub const FLAG3: u32 = 0x0020;

    pub const fn fallback(self) -> bool {
        self.0 & Self::FLAG1 != 0
    }

    pub const fn port(self) -> bool {
        self.0 & Self::FLAG2 != 0
    }
}

/// Persistence (`-p [timeout] [-M netmask]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Persistence {
    /// Template timeout in seconds (1..=2678400).
    pub timeout: u32,
    /// IPv4: the netmask as a prefix length 0..=32 (ipvsadm prints it dotted);
    /// IPv6: prefix length 1..=128.
    pub prefix_len: u8,
}

/// Tunnel encapsulation of `-i` real servers (`--tun-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum TunnelType {
    #[default]
    Ipip,
    Gue,
    Gre,
}

/// Checksum option of GUE/GRE tunnels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum TunnelCsum {
    #[default]
    NoCsum,
    Csum,
    RemCsum,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Tunnel {
    pub kind: TunnelType,
    /// Destination UDP port of GUE (network value as the user gave it), 0 otherwise.
    pub port: u16,
    pub csum: TunnelCsum,
}

/// Forwarding method of a real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ForwardMethod {
    /// `-m`: NAT, "Masq".
    Masq,
    /// The director itself is the real server, "Local".
    Local,
    /// `-i`: IP-in-IP (or GUE/GRE), "Tunnel".
    Tunnel(Tunnel),
    /// `-g`: direct routing, "Route" (ipvsadm's default).
    Route,
    /// rvs extension: source and destination NAT, "FullNat".
    FullNat,
}

impl ForwardMethod {
    /// The word of ipvsadm's Forward column.
    pub const fn forward_word(self) -> &'static str {
        match self {
            ForwardMethod::Masq => "Masq",
            ForwardMethod::Local => "Local",
            ForwardMethod::Tunnel(_) => "Tunnel",
            ForwardMethod::Route => "Route",
            ForwardMethod::FullNat => "FullNat",
        }
    }

    /// DR and TUN leave the destination port alone: the real port is the virtual one.
    pub const fn keeps_port(self) -> bool {
        matches!(self, ForwardMethod::Route | ForwardMethod::Tunnel(_))
    }
}

/// A virtual service as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceConfig {
    pub key: ServiceKey,
    pub scheduler: SchedulerKind,
    pub sched_flags: SchedFlags,
    pub persistence: Option<Persistence>,
    /// `-o`: one-packet scheduling (UDP and fwmark services).
    pub one_packet: bool,
    /// `--pe NAME` (only "sip" exists).
    pub pe_name: Option<String>,
}

/// A real server of a service as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestConfig {
    pub addr: IpAddr,
    pub port: u16,
    pub method: ForwardMethod,
    /// 0..=65535; 0 quiesces the server (no new connections).
    pub weight: u32,
    /// Upper connection threshold, 0 = none.
    pub u_threshold: u32,
    /// Lower connection threshold, 0 = none.
    pub l_threshold: u32,
}

/// Connection timeouts set by `--set tcp tcpfin udp`, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeouts {
    pub tcp: u32,
    pub tcp_fin: u32,
    pub udp: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 300,
        }
    }
}

/// Counters of a service or a real server (and of the whole director).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Stats {
    pub conns: u64,
    pub in_pkts: u64,
    pub out_pkts: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
}

/// The estimator's rates, already scaled to units per second as ipvsadm shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Rates {
    pub cps: u64,
    pub in_pps: u64,
    pub out_pps: u64,
    pub in_bps: u64,
    pub out_bps: u64,
}

/// A virtual service with its real servers, in the kernel's list order (the most
/// recently added real server first). This is the unit of desired state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualService {
    pub config: ServiceConfig,
    pub dests: Vec<DestConfig>,
}

/// Settings of one connection-sync daemon (`--start-daemon`, keepalived's
/// `lvs_sync_daemon`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncDaemonConfig {
    pub role: SyncRole,
    /// `--mcast-interface` (ipvsadm's default: eth0).
    pub mcast_ifn: String,
    /// `--syncid` 0..=255.
    pub syncid: u8,
    /// `--sync-maxlen`, 0 = the kernel's default.
    pub sync_maxlen: u16,
    /// `--mcast-group`, `None` = 224.0.0.81 (or ff02::81 if the group is IPv6).
    pub mcast_group: Option<IpAddr>,
    /// `--mcast-port`, 0 = 8848.
    pub mcast_port: u16,
    /// `--mcast-ttl`, 0 = 1.
    pub mcast_ttl: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SyncRole {
    Master,
    Backup,
}

impl SyncRole {
    pub const fn name(self) -> &'static str {
        match self {
            SyncRole::Master => "master",
            SyncRole::Backup => "backup",
        }
    }
}

/// An address prefix (`10.0.0.0/8`, `2001:db8::/32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Prefix {
    pub addr: IpAddr,
    /// 0..=32 for IPv4, 0..=128 for IPv6; larger values are treated as the maximum.
    pub len: u8,
}

impl Prefix {
    pub const fn new(addr: IpAddr, len: u8) -> Prefix {
        Prefix { addr, len }
    }

    /// Whether `ip` lies inside the prefix (never across address families).
    pub fn contains(&self, ip: &IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let len = u32::from(self.len.min(32));
                let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                (u32::from(net) ^ u32::from(*ip)) & mask == 0
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let len = u32::from(self.len.min(128));
                let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                (u128::from(net) ^ u128::from(*ip)) & mask == 0
            }
            _ => false,
        }
    }
}

/// Firewall-mark classification done in userspace (the kernel's skb mark is invisible
/// to a userspace data plane): the equivalent of an `iptables -t mangle -A PREROUTING
/// ... -j MARK --set-mark N` rule. Packets matching it belong to the fwmark service
/// (`mark`, `family`). Rules are evaluated in order; the first match wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FwmarkRule {
    pub mark: u32,
    pub family: Family,
    /// `None` matches TCP, UDP and SCTP.
    pub proto: Option<Protocol>,
    pub dst: Prefix,
    /// Inclusive destination port range; `None` matches any port.
    pub dst_ports: Option<(u16, u16)>,
    /// Optional source prefix; `None` matches any source.
    pub src: Option<Prefix>,
}
