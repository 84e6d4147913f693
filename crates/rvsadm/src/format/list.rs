//! `-L` listings and `-S` rules (ipvsadm's print_title / print_service_entry /
//! list_all / list_timeout / list_daemon).

use super::sort::{glibc_msort, ipvs_cmp_dests, ipvs_cmp_services};
use super::{addr_port, cut, largenum};
use crate::cli::Format;
use crate::resolve::Resolver;
use core::fmt::Write;
use core::net::{IpAddr, Ipv4Addr};
use rvs_core::model::{
    Family, ForwardMethod, Protocol, SchedFlags, ServiceConfig, ServiceKey, SyncDaemonConfig,
    SyncRole, Timeouts, TunnelCsum, TunnelType,
};
use rvs_core::status::{DestEntry, ServiceEntry, Snapshot};

/// The IPVS version ipvsadm reports (the kernel's IP_VS_VERSION_CODE).
pub const HEADER_VERSION: &str = "1.2.1";

/// `-L`/`-S` of every service, with the header line unless printing rules.
pub fn format_list_all(snap: &Snapshot, fmt: &Format, names: &dyn Resolver) -> String {
    let mut out = String::new();
    if !fmt.rule {
        let _ = writeln!(
            out,
            "IP Virtual Server version {HEADER_VERSION} (size={})",
            snap.table_size
        );
    }
    let mut services: Vec<&ServiceEntry> = snap.services.iter().collect();
    if !fmt.nosort {
        glibc_msort(&mut services, &|a: &&ServiceEntry, b: &&ServiceEntry| {
            ipvs_cmp_services(&a.config.key, &b.config.key)
        });
    }
    title(&mut out, fmt);
    for svc in services {
        service_entry(&mut out, svc, fmt, names);
    }
    out
}

/// `-L -t|-u|-f SERVICE`: the titles and that one service.
pub fn format_service_listing(svc: &ServiceEntry, fmt: &Format, names: &dyn Resolver) -> String {
    let mut out = String::new();
    title(&mut out, fmt);
    service_entry(&mut out, svc, fmt, names);
    out
}

/// `-L --timeout`.
pub fn format_timeout(t: &Timeouts) -> String {
    format!(
        "Timeout (tcp tcpfin udp): {} {} {}\n",
        t.tcp as i32, t.tcp_fin as i32, t.udp as i32
    )
}

/// `-L --daemon`: the master first, then the backup. Values the daemon left at 0
/// are shown as the kernel's defaults (maxlen for a 1500-byte MTU).
pub fn format_daemons(daemons: &[SyncDaemonConfig]) -> String {
    let mut out = String::new();
    for role in [SyncRole::Master, SyncRole::Backup] {
        for d in daemons.iter().filter(|d| d.role == role) {
            let group = d
                .mcast_group
                .unwrap_or(IpAddr::V4(Ipv4Addr::new(224, 0, 0, 81)));
            let maxlen = match (d.sync_maxlen, group) {
                (0, IpAddr::V4(_)) => 1500 - 20 - 8,
                (0, IpAddr::V6(_)) => 1500 - 40 - 8,
                (n, _) => n,
            };
            let port = if d.mcast_port == 0 {
                8848
            } else {
                d.mcast_port
            };
            let ttl = if d.mcast_ttl == 0 { 1 } else { d.mcast_ttl };
            let _ = writeln!(
                out,
                "{} sync daemon (mcast={}, syncid={}, maxlen={maxlen}, group={group}, port={port}, ttl={ttl})",
                role.name(),
                d.mcast_ifn,
                d.syncid
            );
        }
    }
    out
}

fn title(out: &mut String, fmt: &Format) {
    let head = "Prot LocalAddress:Port";
    let sub = "  -> RemoteAddress:Port";
    if fmt.stats {
        let _ = writeln!(
            out,
            "{head:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n{sub}",
            "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"
        );
    } else if fmt.rate {
        let _ = writeln!(
            out,
            "{head:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n{sub}",
            "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"
        );
    } else if fmt.thresholds {
        let _ = writeln!(
            out,
            "{head:<33} {:<10} {:<10} {:<10} {:<10}\n{sub}",
            "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
        );
    } else if fmt.persistent_conn {
        let _ = writeln!(
            out,
            "{head:<33} {:<9} {:<11} {:<10} {:<10}\n{sub}",
            "Weight", "PersistConn", "ActiveConn", "InActConn"
        );
    } else if fmt.tun_info {
        let _ = writeln!(out, "{head} Scheduler Flags\n{sub}           Forward TunnelInfo    Weight ActiveConn InActConn");
    } else if !fmt.rule {
        let _ = writeln!(
            out,
            "{head} Scheduler Flags\n{sub}           Forward Weight ActiveConn InActConn"
        );
    }
}

fn proto_of(key: &ServiceKey) -> Option<Protocol> {
    match key {
        ServiceKey::Addr { proto, .. } => Some(*proto),
        ServiceKey::Fwmark { .. } => None,
    }
}

/// The service column: `TCP  addr:port`, `FWM  7`, or `-t addr:port` for rules.
fn service_name(cfg: &ServiceConfig, fmt: &Format, names: &dyn Resolver) -> String {
    match cfg.key {
        ServiceKey::Fwmark { mark, family } => {
            let v6 = family == Family::V6;
            match (fmt.rule, v6) {
                // Rules print the mark unsigned so that -R reads them back (1.31
                // printed marks above 2^31 negative, which its own -R refused).
                (true, false) => format!("-f {mark}"),
                (true, true) => format!("-f {mark} -6"),
                (false, false) => format!("FWM  {}", mark as i32),
                (false, true) => format!("FWM  {} IPv6", mark as i32),
            }
        }
        ServiceKey::Addr { proto, addr, port } => {
            let vname = addr_port(addr, port, Some(proto), fmt.numeric, names);
            if fmt.rule {
                let opt = match proto {
                    Protocol::Tcp => "-t",
                    Protocol::Udp => "-u",
                    Protocol::Sctp => "--sctp-service",
                };
                format!("{opt} {vname}")
            } else {
                let mut s = format!("{:<4} {vname}", proto.name());
                if addr.is_ipv4() {
                    cut(&mut s, 33);
                }
                s
            }
        }
    }
}

/// ipvsadm's `print_sched_flags`: names depend on the scheduler.
fn sched_flag_names(cfg: &ServiceConfig) -> String {
    let f = cfg.sched_flags.0;
    let names: &[(u32, &str)] = match cfg.scheduler.name() {
        "sh" => &[
            (SchedFlags::FLAG1, "sh-fallback"),
            (SchedFlags::FLAG2, "sh-port"),
        ],
        "mh" => &[
            (SchedFlags::FLAG1, "mh-fallback"),
            (SchedFlags::FLAG2, "mh-port"),
        ],
        _ => &[
            (SchedFlags::FLAG1, "flag-1"),
            (SchedFlags::FLAG2, "flag-2"),
            (SchedFlags::FLAG3, "flag-3"),
        ],
    };
    let set: Vec<&str> = names
        .iter()
        .filter(|(bit, _)| f & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    set.join(",")
}

fn has_sched_flags(cfg: &ServiceConfig) -> bool {
    cfg.sched_flags.0 & (SchedFlags::FLAG1 | SchedFlags::FLAG2 | SchedFlags::FLAG3) != 0
}

/// The persistence mask as ipvsadm prints it, or `None` for the default (/32, /128).
fn mask_text(cfg: &ServiceConfig, prefix_len: u8) -> Option<String> {
    match cfg.key.family() {
        Family::V4 if prefix_len < 32 => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix_len))
                .unwrap_or(0);
            Some(Ipv4Addr::from(mask).to_string())
        }
        Family::V6 if prefix_len != 128 => Some(prefix_len.to_string()),
        _ => None,
    }
}

fn service_entry(out: &mut String, svc: &ServiceEntry, fmt: &Format, names: &dyn Resolver) {
    let cfg = &svc.config;
    let svc_name = service_name(cfg, fmt, names);
    if fmt.rule {
        let _ = write!(out, "-A {svc_name} -s {}", cfg.scheduler.name());
        if let Some(p) = cfg.persistence {
            let _ = write!(out, " -p {}", p.timeout);
            if let Some(m) = mask_text(cfg, p.prefix_len) {
                let _ = write!(out, " -M {m}");
            }
        }
        if let Some(pe) = &cfg.pe_name {
            let _ = write!(out, " --pe {pe}");
        }
        if cfg.one_packet {
            out.push_str(" -o");
        }
        if has_sched_flags(cfg) {
            let _ = write!(out, " -b {}", sched_flag_names(cfg));
        }
    } else if fmt.stats {
        let _ = write!(out, "{svc_name:<33}");
        let s = &svc.stats;
        for n in [s.conns, s.in_pkts, s.out_pkts, s.in_bytes, s.out_bytes] {
            largenum(out, n, fmt.exact);
        }
    } else if fmt.rate {
        let _ = write!(out, "{svc_name:<33}");
        let r = &svc.rates;
        for n in [r.cps, r.in_pps, r.out_pps, r.in_bps, r.out_bps] {
            largenum(out, n, fmt.exact);
        }
    } else {
        let _ = write!(out, "{svc_name} {}", cfg.scheduler.name());
        if has_sched_flags(cfg) {
            let _ = write!(out, " ({})", sched_flag_names(cfg));
        }
        if let Some(p) = cfg.persistence {
            let _ = write!(out, " persistent {}", p.timeout);
            if let Some(m) = mask_text(cfg, p.prefix_len) {
                let _ = write!(out, " mask {m}");
            }
            if let Some(pe) = &cfg.pe_name {
                let _ = write!(out, " pe {pe}");
            }
        }
        if cfg.one_packet {
            out.push_str(" ops");
        }
    }
    out.push('\n');

    let mut dests: Vec<&DestEntry> = svc.dests.iter().collect();
    if !fmt.nosort {
        glibc_msort(&mut dests, &|a: &&DestEntry, b: &&DestEntry| {
            ipvs_cmp_dests(&a.config, &b.config)
        });
    }
    for d in dests {
        dest_entry(out, &svc_name, proto_of(&cfg.key), d, fmt, names);
    }
}

fn forward_switch(m: ForwardMethod) -> &'static str {
    match m {
        ForwardMethod::Masq => "-m",
        ForwardMethod::Tunnel(_) => "-i",
        ForwardMethod::Local | ForwardMethod::Route => "-g",
        ForwardMethod::FullNat => "-j",
    }
}

fn csum_flag(c: TunnelCsum) -> (&'static str, &'static str) {
    match c {
        TunnelCsum::NoCsum => ("-c", "--tun-nocsum"),
        TunnelCsum::Csum => ("+c", "--tun-csum"),
        TunnelCsum::RemCsum => ("r+c", "--tun-remcsum"),
    }
}

fn tunnel_info(m: ForwardMethod) -> String {
    match m {
        ForwardMethod::Tunnel(t) => match t.kind {
            TunnelType::Ipip => "ipip".to_string(),
            TunnelType::Gue => format!("gue:{}:{}", t.port, csum_flag(t.csum).0),
            TunnelType::Gre => format!("gre:{}", csum_flag(t.csum).0),
        },
        _ => "n/a".to_string(),
    }
}

fn dest_entry(
    out: &mut String,
    svc_name: &str,
    proto: Option<Protocol>,
    d: &DestEntry,
    fmt: &Format,
    names: &dyn Resolver,
) {
    let c = &d.config;
    let mut dname = addr_port(c.addr, c.port, proto, fmt.numeric, names);
    if !fmt.rule && !matches!(c.addr, IpAddr::V6(_)) {
        cut(&mut dname, 28);
    }
    let weight = c.weight as i32;
    let (active, inactive) = (d.active_conns, d.inactive_conns);
    if fmt.rule {
        let sw = forward_switch(c.method);
        let _ = write!(out, "-a {svc_name} -r {dname} {sw} -w {weight}");
        if let ForwardMethod::Tunnel(t) = c.method {
            match t.kind {
                TunnelType::Ipip => out.push_str(" --tun-type ipip"),
                TunnelType::Gue => {
                    let _ = write!(
                        out,
                        " --tun-type gue --tun-port {} {}",
                        t.port,
                        csum_flag(t.csum).1
                    );
                }
                TunnelType::Gre => {
                    let _ = write!(out, " --tun-type gre {}", csum_flag(t.csum).1);
                }
            }
        }
        out.push('\n');
    } else if fmt.stats {
        let _ = write!(out, "  -> {dname:<28}");
        let s = &d.stats;
        for n in [s.conns, s.in_pkts, s.out_pkts, s.in_bytes, s.out_bytes] {
            largenum(out, n, fmt.exact);
        }
        out.push('\n');
    } else if fmt.rate {
        let r = &d.rates;
        let _ = write!(
            out,
            "  -> {dname:<28} {:>8} {:>8} {:>8}",
            r.cps, r.in_pps, r.out_pps
        );
        largenum(out, r.in_bps, fmt.exact);
        largenum(out, r.out_bps, fmt.exact);
        out.push('\n');
    } else if fmt.thresholds {
        let _ = writeln!(
            out,
            "  -> {dname:<28} {:<10} {:<10} {active:<10} {inactive:<10}",
            c.u_threshold, c.l_threshold
        );
    } else if fmt.persistent_conn {
        let _ = writeln!(
            out,
            "  -> {dname:<28} {:<9} {:<11} {active:<10} {inactive:<10}",
            c.weight, d.persistent_conns
        );
    } else if fmt.tun_info {
        let _ = writeln!(
            out,
            "  -> {dname:<28} {:<7} {:<13} {weight:<6} {active:<10} {inactive:<10}",
            c.method.forward_word(),
            tunnel_info(c.method)
        );
    } else {
        let _ = writeln!(
            out,
            "  -> {dname:<28} {:<7} {weight:<6} {active:<10} {inactive:<10}",
            c.method.forward_word()
        );
    }
}
