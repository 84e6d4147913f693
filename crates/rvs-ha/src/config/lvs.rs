//! LVS blocks: `virtual_server_group`, `virtual_server`, `real_server`, `sorry_server`.

use core::net::IpAddr;

use rvs_core::model::{
    Family, ForwardMethod, Protocol, SchedFlags, SchedulerKind, Tunnel, TunnelCsum, TunnelType,
};

use super::checker;
use super::model::{
    RealServer, SorryServer, Timing, VirtualServer, VirtualServerGroup, VsTarget, VsgEntry,
};
use super::tree::Node;
use super::values::{mask_to_prefix, Ctx};
use super::vrrp::parse_prefix;

const VS: &str = "virtual_server";
const RS: &str = "real_server";

pub fn group(node: &Node, cx: &mut Ctx<'_>) -> Option<VirtualServerGroup> {
    let name = cx.arg(node, 0)?.to_string();
    let block = cx.block(node)?;
    let mut g = VirtualServerGroup {
        name,
        entries: Vec::new(),
        loc: node.loc.clone(),
    };
    for n in block {
        if n.keyword() == "fwmark" {
            let Some(mark) = cx.uint(n, 0, 1, u32::MAX as u64) else {
                continue;
            };
            let family = match n.arg(1) {
                None => None,
                Some("inet") => Some(Family::V4),
                Some("inet6") => Some(Family::V6),
                Some(o) => {
                    cx.diags.error(
                        &n.loc,
                        format!("fwmark family must be inet or inet6, not '{o}'"),
                    );
                    continue;
                }
            };
            g.entries.push(VsgEntry::Fwmark {
                mark: mark as u32,
                family,
                loc: n.loc.clone(),
            });
            continue;
        }
        let Some((first, last)) = parse_range(&n.words[0]) else {
            cx.diags.error(
                &n.loc,
                format!(
                    "invalid address or range '{}' in virtual_server_group",
                    n.words[0]
                ),
            );
            continue;
        };
        let port = match n.arg(0) {
            Some(_) => match cx.port(n, 0) {
                Some(p) => p,
                None => continue,
            },
            None => 0,
        };
        g.entries.push(VsgEntry::Range {
            first,
            last,
            port,
            loc: n.loc.clone(),
        });
    }
    if g.entries.is_empty() {
        cx.diags.warn(
            &node.loc,
            format!("virtual_server_group {} has no entries", g.name),
        );
    }
    Some(g)
}

/// `a.b.c.d`, `a.b.c.d-e` (last part), `a.b.c.d-w.x.y.z`, `a.b.c.d/len` and the IPv6
/// forms (`ae00::2-9` ends in hex); returns the inclusive first and last address.
pub fn parse_range(s: &str) -> Option<(IpAddr, IpAddr)> {
    if s.contains('/') {
        let (addr, len) = parse_prefix(s)?;
        return Some(match addr {
            IpAddr::V4(a) => {
                let host_bits = 32 - u32::from(len);
                let mask = u32::MAX.checked_shl(host_bits).unwrap_or(0);
                let base = u32::from(a) & mask;
                (IpAddr::V4(base.into()), IpAddr::V4((base | !mask).into()))
            }
            IpAddr::V6(a) => {
                let host_bits = 128 - u32::from(len);
                let mask = u128::MAX.checked_shl(host_bits).unwrap_or(0);
                let base = u128::from(a) & mask;
                (IpAddr::V6(base.into()), IpAddr::V6((base | !mask).into()))
            }
        });
    }
    let Some((a, b)) = s.split_once('-') else {
        let addr: IpAddr = s.parse().ok()?;
        return Some((addr, addr));
    };
    let first: IpAddr = a.parse().ok()?;
    if let Ok(last) = b.parse::<IpAddr>() {
        return (last.is_ipv4() == first.is_ipv4() && first <= last).then_some((first, last));
    }
    // Only the last part of the address is given.
    let last = match first {
        IpAddr::V4(f) => {
            let v: u8 = b.parse().ok()?;
            let mut o = f.octets();
            o[3] = v;
            IpAddr::V4(o.into())
        }
        IpAddr::V6(f) => {
            let v = u16::from_str_radix(b, 16).ok()?;
            let mut seg = f.segments();
            seg[7] = v;
            IpAddr::V6(seg.into())
        }
    };
    (first <= last).then_some((first, last))
}

pub fn virtual_server(node: &Node, cx: &mut Ctx<'_>) -> Option<VirtualServer> {
    let target = vs_target(node, cx)?;
    let block = cx.block(node)?;
    let mut vs = VirtualServer {
        target,
        protocol: Protocol::Tcp,
        scheduler: SchedulerKind::Wlc,
        sched_flags: SchedFlags::default(),
        one_packet: false,
        method: ForwardMethod::Masq,
        persistence_timeout: None,
        persistence_granularity: None,
        persistence_engine: None,
        ip_family: None,
        ha_suspend: false,
        virtualhost: None,
        alpha: false,
        omega: false,
        quorum: 1,
        hysteresis: 0,
        quorum_up: None,
        quorum_down: None,
        sorry_server: None,
        timing: Timing::default(),
        inhibit_on_failure: false,
        real_servers: Vec::new(),
        loc: node.loc.clone(),
    };
    let mut extra = VsExtra {
        protocol: None,
        default_weight: 1,
        rs_weight: Vec::new(),
    };
    for n in block {
        if timing(n, &mut vs.timing, cx) {
            continue;
        }
        vs_keyword(n, &mut vs, &mut extra, cx);
    }
    finish(&mut vs, extra, cx);
    Some(vs)
}

/// What a virtual server block sets that is only settled once the block is read.
struct VsExtra {
    protocol: Option<Protocol>,
    /// `weight` of the virtual server: the weight of real servers that give none.
    default_weight: u32,
    /// Each real server's own `weight`, if given.
    rs_weight: Vec<Option<u32>>,
}

/// keepalived's checks and defaults at the end of a virtual server (check_data.c).
fn finish(vs: &mut VirtualServer, extra: VsExtra, cx: &mut Ctx<'_>) {
    let loc = vs.loc.clone();
    let fwmark = matches!(vs.target, VsTarget::Fwmark(_));
    match (extra.protocol, fwmark) {
        (Some(p), false) => vs.protocol = p,
        (None, false) => {
            // The kernel reads protocol 0 as UDP, so keepalived sets it explicitly.
            cx.diags.warn(
                &loc,
                "virtual_server has no 'protocol'; UDP is used, as keepalived does",
            );
            vs.protocol = Protocol::Udp;
        }
        (Some(_), true) => cx
            .diags
            .warn(&loc, "'protocol' is ignored for a fwmark virtual server"),
        (None, true) => {}
    }
    for (rs, w) in vs.real_servers.iter_mut().zip(&extra.rs_weight) {
        rs.weight = w.unwrap_or(extra.default_weight);
    }
    // A real server given twice: the second is dropped.
    let mut i = 0;
    while i < vs.real_servers.len() {
        let (a, p) = (vs.real_servers[i].addr, vs.real_servers[i].port);
        if vs.real_servers[..i]
            .iter()
            .any(|r| r.addr == a && r.port == p)
        {
            let dup = vs.real_servers.remove(i);
            cx.diags.warn(
                &dup.loc,
                format!("real server {a} port {p} is given twice; the second is ignored"),
            );
        } else {
            i += 1;
        }
    }
    if vs.real_servers.is_empty() && vs.sorry_server.is_none() {
        cx.diags.warn(&loc, "virtual_server has no real servers");
    }
    if let VsTarget::Addr { port: 0, .. } = vs.target {
        if vs.persistence_timeout.is_none() {
            cx.diags.warn(
                &loc,
                "a virtual server without a port must be persistent; persistence_timeout 360 is used, as keepalived does",
            );
            vs.persistence_timeout = Some(360);
        }
    }
    if vs.one_packet && vs.protocol != Protocol::Udp && !fwmark {
        cx.diags.warn(
            &loc,
            "'ops' applies only to UDP and fwmark services; ignored",
        );
        vs.one_packet = false;
    }
    let weight_sum: u64 = vs.real_servers.iter().map(|r| u64::from(r.weight)).sum();
    if u64::from(vs.quorum) > weight_sum {
        cx.diags.warn(
            &loc,
            format!(
                "quorum {} exceeds the total weight of the real servers ({weight_sum}); quorum {weight_sum} is used, as keepalived does",
                vs.quorum
            ),
        );
        vs.quorum = weight_sum as u32;
    }
    if vs.quorum > 0 && vs.hysteresis >= vs.quorum {
        cx.diags.warn(
            &loc,
            format!(
                "hysteresis {} must be below quorum {}; {} is used",
                vs.hysteresis,
                vs.quorum,
                vs.quorum - 1
            ),
        );
        vs.hysteresis = vs.quorum - 1;
    } else if vs.quorum == 0 {
        vs.hysteresis = 0;
    }
}

fn vs_target(node: &Node, cx: &mut Ctx<'_>) -> Option<VsTarget> {
    match node.arg(0) {
        Some("fwmark") => Some(VsTarget::Fwmark(
            cx.uint(node, 1, 1, u32::MAX as u64)? as u32
        )),
        Some("group") => Some(VsTarget::Group(cx.arg(node, 1)?.to_string())),
        Some(_) => {
            let addr = cx.ip(node, 0)?;
            let port = match node.arg(1) {
                Some(_) => cx.port(node, 1)?,
                None => 0,
            };
            Some(VsTarget::Addr { addr, port })
        }
        None => {
            cx.diags.error(
                &node.loc,
                "virtual_server needs 'IP [PORT]', 'fwmark N' or 'group NAME'",
            );
            None
        }
    }
}

/// The check-timing keywords shared by virtual servers, real servers and checkers.
pub fn timing(n: &Node, t: &mut Timing, cx: &mut Ctx<'_>) -> bool {
    match n.keyword() {
        "connect_timeout" => t.connect_timeout = cx.timer(n, 0).or(t.connect_timeout),
        "retry" => {
            t.retry = cx
                .uint(n, 0, 0, u32::MAX as u64)
                .map(|v| v as u32)
                .or(t.retry)
        }
        "nb_get_retry" => {
            cx.deprecated(n, "retry");
            t.retry = cx
                .uint(n, 0, 0, u32::MAX as u64)
                .map(|v| v as u32)
                .or(t.retry);
        }
        "delay_before_retry" => t.delay_before_retry = cx.timer(n, 0).or(t.delay_before_retry),
        "warmup" => t.warmup = cx.timer(n, 0).or(t.warmup),
        "delay_loop" => {
            if let Some(d) = cx.timer(n, 0) {
                if d.is_zero() {
                    cx.diags.error(&n.loc, "delay_loop must be more than 0");
                } else {
                    t.delay_loop = Some(d);
                }
            }
        }
        _ => return false,
    }
    true
}

fn vs_keyword(n: &Node, vs: &mut VirtualServer, extra: &mut VsExtra, cx: &mut Ctx<'_>) {
    match n.keyword() {
        "lb_algo" | "lvs_sched" => {
            if let Some(s) = cx.arg(n, 0) {
                match SchedulerKind::from_name(s) {
                    Some(k) => vs.scheduler = k,
                    None => cx.diags.error(&n.loc, format!("unknown scheduler '{s}'")),
                }
            }
        }
        "lb_kind" | "lvs_method" => {
            if let Some(m) = forwarding(n, cx) {
                vs.method = m;
            }
        }
        "flag-1" | "sh-fallback" | "mh-fallback" => vs.sched_flags.0 |= SchedFlags::FLAG1,
        "flag-2" | "sh-port" | "mh-port" => vs.sched_flags.0 |= SchedFlags::FLAG2,
        "flag-3" => vs.sched_flags.0 |= SchedFlags::FLAG3,
        "ops" => vs.one_packet = true,
        "persistence_timeout" => {
            vs.persistence_timeout = match n.arg(0) {
                // A bare persistence_timeout means the kernel's default, 6 minutes.
                None => Some(360),
                Some(_) => cx.uint(n, 0, 1, 2_678_400).map(|v| v as u32),
            }
        }
        "persistence_granularity" => {
            if let Some(s) = cx.arg(n, 0) {
                let len = if s.contains('.') {
                    s.parse().ok().and_then(mask_to_prefix)
                } else {
                    s.parse::<u8>().ok().filter(|l| (1..=128).contains(l))
                };
                match len {
                    Some(l) => {
                        vs.persistence_granularity = Some(l);
                        vs.persistence_timeout.get_or_insert(360);
                    }
                    None => cx.diags.error(
                        &n.loc,
                        format!("invalid persistence_granularity '{s}' (a contiguous IPv4 netmask or an IPv6 prefix length)"),
                    ),
                }
            }
        }
        "persistence_engine" => vs.persistence_engine = cx.arg(n, 0).map(str::to_string),
        "protocol" => match cx.arg(n, 0).map(str::to_ascii_uppercase).as_deref() {
            Some("TCP") => extra.protocol = Some(Protocol::Tcp),
            Some("UDP") => extra.protocol = Some(Protocol::Udp),
            Some("SCTP") => extra.protocol = Some(Protocol::Sctp),
            Some(o) => cx.diags.error(
                &n.loc,
                format!("protocol must be TCP, UDP or SCTP, not '{o}'"),
            ),
            None => {}
        },
        "ip_family" => match cx.arg(n, 0) {
            Some("inet") => vs.ip_family = Some(Family::V4),
            Some("inet6") => vs.ip_family = Some(Family::V6),
            Some(o) => cx.diags.error(
                &n.loc,
                format!("ip_family must be inet or inet6, not '{o}'"),
            ),
            None => {}
        },
        "virtualhost" => vs.virtualhost = cx.arg(n, 0).map(str::to_string),
        "alpha" => vs.alpha = true,
        "omega" => vs.omega = true,
        "quorum" => vs.quorum = cx.uint(n, 0, 1, u32::MAX as u64).map_or(1, |v| v as u32),
        "hysteresis" => vs.hysteresis = cx.uint(n, 0, 0, u32::MAX as u64).map_or(0, |v| v as u32),
        "quorum_up" => vs.quorum_up = cx.script(n),
        "quorum_down" => vs.quorum_down = cx.script(n),
        "inhibit_on_failure" => vs.inhibit_on_failure = cx.boolean(n, 0).unwrap_or(false),
        "sorry_server" => vs.sorry_server = sorry(n, cx),
        "sorry_server_inhibit" => match vs.sorry_server.as_mut() {
            Some(s) => s.inhibit = cx.boolean(n, 0).unwrap_or(false),
            None => cx
                .diags
                .error(&n.loc, "sorry_server_inhibit before any sorry_server"),
        },
        "sorry_server_lvs_method" => {
            let m = forwarding(n, cx);
            match vs.sorry_server.as_mut() {
                Some(s) => s.method = m.or(s.method),
                None => cx
                    .diags
                    .error(&n.loc, "sorry_server_lvs_method before any sorry_server"),
            }
        }
        "real_server" => {
            if let Some((rs, weight)) = real_server(n, cx) {
                vs.real_servers.push(rs);
                extra.rs_weight.push(weight);
            }
        }
        "nat_mask" => cx.diags.warn(
            &n.loc,
            "keyword 'nat_mask' is obsolete (keepalived no longer reads it); ignored",
        ),
        "ha_suspend" => {
            vs.ha_suspend = true;
            cx.unsupported(n, VS);
        }
        "weight" => {
            extra.default_weight = cx
                .uint(n, 0, 1, 65535)
                .map_or(extra.default_weight, |v| v as u32)
        }
        "hashed" | "smtp_alert" | "snmp_name" => cx.unsupported(n, VS),
        _ => cx.unknown(n, VS),
    }
}

/// `NAT|DR|TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]`.
pub fn forwarding(n: &Node, cx: &mut Ctx<'_>) -> Option<ForwardMethod> {
    let args = n.args();
    let method = cx.arg(n, 0)?;
    let mut err = |msg: String| {
        cx.diags.error(&n.loc, format!("{}: {msg}", n.keyword()));
        None
    };
    match method {
        "NAT" | "DR" if args.len() > 1 => return err(format!("{method} takes no options")),
        "NAT" => return Some(ForwardMethod::Masq),
        "DR" => return Some(ForwardMethod::Route),
        "TUN" => {}
        o => return err(format!("unknown forwarding method '{o}' (NAT, DR or TUN)")),
    }
    let mut tun = Tunnel::default();
    let mut i = 1;
    while i < args.len() {
        match (args[i].as_str(), args.get(i + 1).map(String::as_str)) {
            ("type", Some("ipip")) => tun.kind = TunnelType::Ipip,
            ("type", Some("gue")) => tun.kind = TunnelType::Gue,
            ("type", Some("gre")) => tun.kind = TunnelType::Gre,
            ("port", Some(p)) => match p.parse::<u16>() {
                Ok(p) if p > 0 => tun.port = p,
                _ => return err(format!("invalid GUE port '{p}'")),
            },
            ("nocsum", _) => {
                tun.csum = TunnelCsum::NoCsum;
                i += 1;
                continue;
            }
            ("csum", _) => {
                tun.csum = TunnelCsum::Csum;
                i += 1;
                continue;
            }
            ("remcsum", _) => {
                tun.csum = TunnelCsum::RemCsum;
                i += 1;
                continue;
            }
            (o, _) => return err(format!("invalid tunnel option '{o}'")),
        }
        i += 2;
    }
    if (tun.kind == TunnelType::Gue) != (tun.port != 0) {
        return err("gue tunnels need a port, other tunnels take none".to_string());
    }
    if tun.kind == TunnelType::Ipip && tun.csum != TunnelCsum::NoCsum {
        return err("ipip tunnels have no checksum option".to_string());
    }
    if tun.kind == TunnelType::Gre && tun.csum == TunnelCsum::RemCsum {
        return err("gre tunnels do not support remcsum".to_string());
    }
    Some(ForwardMethod::Tunnel(tun))
}

fn addr_port(n: &Node, cx: &mut Ctx<'_>) -> Option<(IpAddr, u16)> {
    let addr = cx.ip(n, 0)?;
    let port = match n.arg(1) {
        Some(_) => cx.port(n, 1)?,
        None => 0,
    };
    Some((addr, port))
}

fn sorry(n: &Node, cx: &mut Ctx<'_>) -> Option<SorryServer> {
    let (addr, port) = addr_port(n, cx)?;
    Some(SorryServer {
        addr,
        port,
        method: None,
        inhibit: false,
        loc: n.loc.clone(),
    })
}

/// A real server and its own `weight`, if it gives one.
fn real_server(node: &Node, cx: &mut Ctx<'_>) -> Option<(RealServer, Option<u32>)> {
    let (addr, port) = addr_port(node, cx)?;
    let mut rs = RealServer {
        addr,
        port,
        weight: 1,
        method: None,
        notify_up: None,
        notify_down: None,
        u_threshold: 0,
        l_threshold: 0,
        inhibit_on_failure: None,
        alpha: None,
        virtualhost: None,
        timing: Timing::default(),
        checkers: Vec::new(),
        loc: node.loc.clone(),
    };
    let mut weight = None;
    // `real_server IP PORT` without a block is a server without checks.
    for n in node.children() {
        if timing(n, &mut rs.timing, cx) {
            continue;
        }
        if let Some(kind) = checker::checker_keyword(n.keyword()) {
            rs.checkers.extend(checker::parse(n, kind, cx));
            continue;
        }
        match n.keyword() {
            "weight" => weight = cx.uint(n, 0, 0, 65535).map(|v| v as u32).or(weight),
            "lvs_method" | "lb_kind" => rs.method = forwarding(n, cx).or(rs.method),
            "uthreshold" => rs.u_threshold = cx.uint(n, 0, 0, i32::MAX as u64).unwrap_or(0) as u32,
            "lthreshold" => rs.l_threshold = cx.uint(n, 0, 0, i32::MAX as u64).unwrap_or(0) as u32,
            "inhibit_on_failure" => rs.inhibit_on_failure = cx.boolean(n, 0),
            "alpha" => rs.alpha = cx.boolean(n, 0),
            "notify_up" => rs.notify_up = cx.script(n),
            "notify_down" => rs.notify_down = cx.script(n),
            "virtualhost" => rs.virtualhost = cx.arg(n, 0).map(str::to_string),
            "BFD_CHECK" | "FILE_CHECK" => cx.diags.warn(
                &n.loc,
                format!(
                    "checker '{}' is not implemented by rvs; ignored (it does not affect the real server's state)",
                    n.keyword()
                ),
            ),
            "smtp_alert" | "snmp_name" => cx.unsupported(n, RS),
            _ => cx.unknown(n, RS),
        }
    }
    Some((rs, weight))
}
