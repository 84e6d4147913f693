//! The checks a request must pass before it may change the desired state: those
//! ipvsadm makes on the client side and those the kernel makes in `ip_vs_ctl.c`
//! (Linux 6.1), each answering the errno the kernel (or ipvsadm's exit) would.

use crate::request::{ApiError, ErrorKind};
use core::net::IpAddr;
use rvs_core::model::{
    DestConfig, Family, ForwardMethod, FwmarkRule, Prefix, Protocol, SchedFlags, ServiceConfig,
    ServiceKey, SyncDaemonConfig, Timeouts, TunnelCsum, TunnelType,
};

/// The longest persistence timeout ipvsadm accepts (31 days, in seconds).
pub const MAX_PERSISTENCE_TIMEOUT: u32 = 2_678_400;
/// The largest weight ipvsadm accepts.
pub const MAX_WEIGHT: u32 = 65_535;
/// The longest `--set` timeout ipvsadm accepts (31 days, in seconds); keepalived's
/// `lvs_timeouts` has the same bound. The kernel's own, INT_MAX / HZ, is larger.
pub const MAX_TIMEOUT: u32 = 2_678_400;
/// ipvsadm's upper bound of `--sync-maxlen` (65535 minus the IP and UDP headers).
pub const MAX_SYNC_MAXLEN: u16 = 65_507;
/// Interface names are at most IFNAMSIZ - 1 bytes.
pub const MAX_IFNAME_LEN: usize = 15;
/// The only persistence engine the kernel has.
pub const PERSISTENCE_ENGINES: [&str; 1] = ["sip"];

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::Invalid, message)
}

/// What ipvsadm refuses before asking the kernel (`-A`/`-E`), plus what the model
/// itself cannot mean (a mark of 0, flags that are not scheduler flags).
pub fn service_request(cfg: &ServiceConfig) -> Result<(), ApiError> {
    match cfg.key {
        ServiceKey::Fwmark { mark: 0, .. } => {
            return Err(invalid(
                "firewall mark 0 names no service (marks are 1..4294967295)",
            ))
        }
        ServiceKey::Addr { port: 0, .. } if cfg.persistence.is_none() => {
            return Err(invalid("a service on port 0 must be persistent"))
        }
        ServiceKey::Addr { proto, .. } if cfg.one_packet && proto != Protocol::Udp => {
            return Err(invalid(
                "one-packet scheduling is only for UDP and fwmark services",
            ))
        }
        _ => {}
    }
    let sched_bits = SchedFlags::FLAG1 | SchedFlags::FLAG2 | SchedFlags::FLAG3;
    if cfg.sched_flags.0 & !sched_bits != 0 {
        return Err(invalid(format!(
            "scheduler flags {:#x} include bits that are not flag-1..flag-3",
            cfg.sched_flags.0
        )));
    }
    if let Some(p) = cfg.persistence {
        if p.timeout == 0 || p.timeout > MAX_PERSISTENCE_TIMEOUT {
            return Err(invalid(format!(
                "persistence timeout {} is outside 1..{MAX_PERSISTENCE_TIMEOUT}",
                p.timeout
            )));
        }
        if cfg.key.family() == Family::V4 && p.prefix_len > 32 {
            return Err(invalid(format!(
                "IPv4 persistence netmask /{} is longer than /32",
                p.prefix_len
            )));
        }
    }
    Ok(())
}

/// What the kernel refuses in `ip_vs_add_service`/`ip_vs_edit_service` once the
/// service lookup has passed: an unknown persistence engine (ENOENT), an IPv6
/// persistence prefix outside 1..128 (EINVAL).
pub fn service_kernel(cfg: &ServiceConfig) -> Result<(), ApiError> {
    if let Some(pe) = cfg.pe_name.as_deref().filter(|n| !n.is_empty()) {
        if !PERSISTENCE_ENGINES.contains(&pe) {
            return Err(ApiError::new(
                ErrorKind::NotFound,
                format!("persistence engine \"{pe}\" not found (only \"sip\" exists)"),
            ));
        }
    }
    if let Some(p) = cfg.persistence {
        if cfg.key.family() == Family::V6 && !(1..=128).contains(&p.prefix_len) {
            return Err(invalid(format!(
                "IPv6 persistence prefix /{} is outside /1../128",
                p.prefix_len
            )));
        }
    }
    Ok(())
}

/// The real server as the kernel stores it: for DR and TUN on an address service,
/// ipvsadm sends the virtual port as the real port whatever the user wrote.
pub fn normalize_dest(key: &ServiceKey, mut dest: DestConfig) -> DestConfig {
    if let ServiceKey::Addr { port, .. } = key {
        if dest.method.keeps_port() {
            dest.port = *port;
        }
    }
    dest
}

/// What ipvsadm refuses before asking the kernel (`-a`/`-e`).
pub fn dest_request(key: &ServiceKey, dest: &DestConfig) -> Result<(), ApiError> {
    if Family::of(&dest.addr) != key.family() && !matches!(dest.method, ForwardMethod::Tunnel(_)) {
        return Err(invalid(
            "a real server of another address family than its service must be tunnelled",
        ));
    }
    if let ForwardMethod::Tunnel(t) = dest.method {
        match t.kind {
            TunnelType::Ipip if t.port != 0 || t.csum != TunnelCsum::NoCsum => {
                return Err(invalid(
                    "an ipip tunnel takes no port and no checksum option",
                ))
            }
            TunnelType::Gre if t.port != 0 => return Err(invalid("a gre tunnel takes no port")),
            TunnelType::Gre if t.csum == TunnelCsum::RemCsum => {
                return Err(invalid("remote checksum offload needs a gue tunnel"))
            }
            _ => {}
        }
    }
    if dest.weight > MAX_WEIGHT {
        return Err(ApiError::new(
            ErrorKind::Range,
            format!("weight {} is outside 0..{MAX_WEIGHT}", dest.weight),
        ));
    }
    Ok(())
}

/// What the kernel refuses in `ip_vs_genl_set_cmd` and `ip_vs_add_dest`/
/// `ip_vs_edit_dest` once the service exists and before the destination lookup.
pub fn dest_kernel(
    key: &ServiceKey,
    dest: &DestConfig,
    sync_running: bool,
) -> Result<(), ApiError> {
    if Family::of(&dest.addr) != key.family() && sync_running {
        return Err(invalid(
            "the sync protocol cannot carry mixed-family real servers: stop the sync daemon first",
        ));
    }
    if dest.l_threshold > dest.u_threshold {
        return Err(ApiError::new(
            ErrorKind::Range,
            format!(
                "lower threshold {} is above the upper threshold {}",
                dest.l_threshold, dest.u_threshold
            ),
        ));
    }
    if let ForwardMethod::Tunnel(t) = dest.method {
        if t.kind == TunnelType::Gue && t.port == 0 {
            return Err(invalid("a gue tunnel needs a port"));
        }
    }
    Ok(())
}

/// The kernel accepts only unicast real servers (`ip_vs_new_dest`): not 0.0.0.0,
/// 255.255.255.255 or multicast (the rest of 0.0.0.0/8 is accepted on 6.1); for IPv6
/// not ::, multicast, link-local or IPv4-mapped. (The kernel also refuses the
/// broadcast address of a local subnet, which depends on the host's interfaces.)
pub fn dest_unicast(addr: &IpAddr) -> Result<(), ApiError> {
    let unicast = match addr {
        IpAddr::V4(a) => !(a.is_unspecified() || a.is_broadcast() || a.is_multicast()),
        IpAddr::V6(a) => {
            let link_local = a.segments()[0] & 0xffc0 == 0xfe80;
            !(a.is_unspecified() || a.is_multicast() || link_local || a.to_ipv4_mapped().is_some())
        }
    };
    if unicast {
        Ok(())
    } else {
        Err(invalid(format!(
            "real server {addr} is not a unicast address"
        )))
    }
}

/// `--set`: each value 0 (keep) or up to [`MAX_TIMEOUT`].
pub fn timeouts(t: &Timeouts) -> Result<(), ApiError> {
    for (name, v) in [("tcp", t.tcp), ("tcpfin", t.tcp_fin), ("udp", t.udp)] {
        if v > MAX_TIMEOUT {
            return Err(invalid(format!(
                "{name} timeout {v} is outside 0..{MAX_TIMEOUT} (0 keeps the value)"
            )));
        }
    }
    Ok(())
}

/// `--start-daemon`: the values ipvsadm and the kernel accept.
pub fn daemon(cfg: &SyncDaemonConfig) -> Result<(), ApiError> {
    if cfg.mcast_ifn.is_empty() || cfg.mcast_ifn.len() > MAX_IFNAME_LEN {
        return Err(invalid(format!(
            "multicast interface name \"{}\" must have 1..{MAX_IFNAME_LEN} bytes",
            cfg.mcast_ifn
        )));
    }
    if cfg.sync_maxlen > MAX_SYNC_MAXLEN {
        return Err(invalid(format!(
            "sync message length {} is above {MAX_SYNC_MAXLEN}",
            cfg.sync_maxlen
        )));
    }
    if let Some(group) = cfg.mcast_group {
        if !group.is_multicast() {
            return Err(invalid(format!(
                "sync group {group} is not a multicast address"
            )));
        }
    }
    Ok(())
}

/// The most firewall-mark rules a director keeps: every packet that matches no
/// address service is checked against them in order.
pub const MAX_FWMARK_RULES: usize = 1024;

/// A firewall-mark rule as the desired state keeps it, or why it cannot be one.
///
/// Like iptables, addresses lose the bits their prefix length does not cover
/// (`10.0.0.1/24` is `10.0.0.0/24`), and a match on everything is no match at all:
/// ports `0-65535` and a source `/0` become "any". So two rules that match the same
/// packets compare equal, which is what duplicates and deletions go by.
pub fn fwmark_rule(rule: &FwmarkRule) -> Result<FwmarkRule, ApiError> {
    if rule.mark == 0 {
        return Err(invalid(
            "firewall mark 0 names no service (marks are 1..4294967295)",
        ));
    }
    let dst = rule_prefix("destination", rule.family, &rule.dst)?;
    let src = match rule.src {
        Some(src) => Some(rule_prefix("source", rule.family, &src)?).filter(|p| p.len > 0),
        None => None,
    };
    let dst_ports = match rule.dst_ports {
        Some((lo, hi)) if lo > hi => {
            return Err(invalid(format!(
                "port range {lo}-{hi} is empty: the first port is above the last"
            )))
        }
        Some(_) if rule.proto.is_none() => {
            return Err(invalid(
                "a destination port needs a protocol (tcp, udp or sctp), as in iptables",
            ))
        }
        Some((0, 65535)) => None,
        other => other,
    };
    Ok(FwmarkRule {
        dst,
        src,
        dst_ports,
        ..*rule
    })
}

/// A prefix of the rule's family, with no bits past its length.
fn rule_prefix(what: &str, family: Family, p: &Prefix) -> Result<Prefix, ApiError> {
    let (max, fam) = match family {
        Family::V4 => (32, "IPv4"),
        Family::V6 => (128, "IPv6"),
    };
    if Family::of(&p.addr) != family {
        return Err(invalid(format!(
            "{what} {} is not an {fam} address, as the rule's family is",
            p.addr
        )));
    }
    if p.len > max {
        return Err(invalid(format!(
            "{what} prefix {}/{} is longer than /{max}",
            p.addr, p.len
        )));
    }
    let addr = match p.addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(p.len)).unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(p.len)).unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    };
    Ok(Prefix::new(addr, p.len))
}
