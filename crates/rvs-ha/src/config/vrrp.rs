//! VRRP blocks: `vrrp_script`, `vrrp_sync_group`, `vrrp_instance`, and the address and
//! route lists they (and `static_*`) use. Stored typed for the VRRP engine.

use core::net::IpAddr;
use core::time::Duration;

use super::model::{
    AuthType, Authentication, IpAddressSpec, Notifies, RouteSpec, Tracked, UnicastPeer,
    VrrpInstance, VrrpScript, VrrpState, VrrpSyncGroup,
};
use super::tree::Node;
use super::values::Ctx;

pub fn ip_addresses(node: &Node, cx: &mut Ctx<'_>) -> Vec<IpAddressSpec> {
    let Some(block) = cx.block(node) else {
        return Vec::new();
    };
    block.iter().filter_map(|n| ip_address(n, cx)).collect()
}

/// `ADDR[/LEN] [brd IP] [dev IF] [scope S] [label L] [other options...]`.
fn ip_address(n: &Node, cx: &mut Ctx<'_>) -> Option<IpAddressSpec> {
    let (addr, prefix_len) = match parse_prefix(&n.words[0]) {
        Some(p) => p,
        None => {
            cx.diags
                .error(&n.loc, format!("invalid IP address '{}'", n.words[0]));
            return None;
        }
    };
    let mut spec = IpAddressSpec {
        addr,
        prefix_len,
        broadcast: None,
        dev: None,
        scope: None,
        label: None,
        other: Vec::new(),
        loc: n.loc.clone(),
    };
    let w = &n.words;
    let mut i = 1;
    while i < w.len() {
        let value = w.get(i + 1).cloned();
        match (w[i].as_str(), value) {
            ("brd", Some(v)) => match v.parse() {
                Ok(b) => spec.broadcast = Some(b),
                Err(_) => {
                    cx.diags
                        .error(&n.loc, format!("invalid broadcast address '{v}'"));
                    return None;
                }
            },
            ("dev", Some(v)) => spec.dev = Some(v),
            ("scope", Some(v)) => spec.scope = Some(v),
            ("label", Some(v)) => spec.label = Some(v),
            (other, _) => {
                spec.other.push(other.to_string());
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    Some(spec)
}

/// `ADDR` or `ADDR/LEN`; the length defaults to the full address.
pub fn parse_prefix(s: &str) -> Option<(IpAddr, u8)> {
    let (a, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
        None => (s, None),
    };
    let addr: IpAddr = a.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    (len <= max).then_some((addr, len))
}

pub fn routes(node: &Node, cx: &mut Ctx<'_>) -> Vec<RouteSpec> {
    let Some(block) = cx.block(node) else {
        return Vec::new();
    };
    block
        .iter()
        .map(|n| RouteSpec {
            words: n.words.clone(),
            loc: n.loc.clone(),
        })
        .collect()
}

pub fn script(node: &Node, cx: &mut Ctx<'_>) -> Option<VrrpScript> {
    let name = cx.arg(node, 0)?.to_string();
    let block = cx.block(node)?;
    let mut s = VrrpScript {
        name,
        script: None,
        interval: Duration::from_secs(1),
        timeout: None,
        weight: 0,
        weight_reverse: false,
        rise: 1,
        fall: 1,
        user: None,
        init_fail: false,
        loc: node.loc.clone(),
    };
    for n in block {
        match n.keyword() {
            "script" => s.script = cx.script(n),
            "interval" => s.interval = cx.timer(n, 0).unwrap_or(s.interval),
            "timeout" => s.timeout = cx.timer(n, 0),
            "weight" => {
                s.weight = cx.int(n, 0, -253, 253).unwrap_or(0) as i32;
                s.weight_reverse = n.arg(1) == Some("reverse");
            }
            "rise" => s.rise = cx.uint(n, 0, 1, u32::MAX as u64).unwrap_or(1) as u32,
            "fall" => s.fall = cx.uint(n, 0, 1, u32::MAX as u64).unwrap_or(1) as u32,
            "user" => s.user = Some(n.args().join(" ")),
            "init_fail" => s.init_fail = true,
            _ => cx.unknown(n, "vrrp_script"),
        }
    }
    if s.script.is_none() {
        // keepalived drops such a script too; instances tracking it are warned about.
        cx.diags.warn(
            &node.loc,
            format!("vrrp_script {} has no 'script'; ignored", s.name),
        );
        return None;
    }
    Some(s)
}

fn tracked(node: &Node, cx: &mut Ctx<'_>) -> Vec<Tracked> {
    let Some(block) = cx.block(node) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for n in block {
        let mut t = Tracked {
            name: n.words[0].clone(),
            weight: None,
            reverse: false,
            loc: n.loc.clone(),
        };
        match n.args() {
            [] => {}
            [w, v, rest @ ..] if w == "weight" => {
                match v.parse::<i32>() {
                    Ok(x) if (-254..=254).contains(&x) => t.weight = Some(x),
                    _ => {
                        cx.diags
                            .error(&n.loc, format!("invalid track weight '{v}'"));
                        continue;
                    }
                }
                t.reverse = rest.first().is_some_and(|r| r == "reverse");
            }
            _ => {
                cx.diags.error(
                    &n.loc,
                    format!("expected '{} [weight W [reverse]]'", n.words[0]),
                );
                continue;
            }
        }
        out.push(t);
    }
    out
}

/// Reads one `notify*` keyword into `notify`; false if the keyword is not one.
fn notify(n: &Node, notify: &mut Notifies, cx: &mut Ctx<'_>) -> bool {
    let slot = match n.keyword() {
        "notify_master" => &mut notify.master,
        "notify_backup" => &mut notify.backup,
        "notify_fault" => &mut notify.fault,
        "notify_stop" => &mut notify.stop,
        "notify" => &mut notify.any,
        "notify_master_rx_lower_pri" => &mut notify.master_rx_lower_pri,
        _ => return false,
    };
    *slot = cx.script(n);
    true
}

pub fn sync_group(node: &Node, cx: &mut Ctx<'_>) -> Option<VrrpSyncGroup> {
    let name = cx.arg(node, 0)?.to_string();
    let block = cx.block(node)?;
    let mut g = VrrpSyncGroup {
        name,
        members: Vec::new(),
        track_interfaces: Vec::new(),
        track_scripts: Vec::new(),
        notify: Notifies::default(),
        global_tracking: false,
        loc: node.loc.clone(),
    };
    for n in block {
        if notify(n, &mut g.notify, cx) {
            continue;
        }
        match n.keyword() {
            "group" => {
                g.members
                    .extend(n.children().iter().flat_map(|c| c.words.iter().cloned()));
            }
            "track_interface" => g.track_interfaces = tracked(n, cx),
            "track_script" => g.track_scripts = tracked(n, cx),
            "global_tracking" | "sync_group_tracking_weight" => g.global_tracking = true,
            "smtp_alert" | "track_file" | "track_process" | "track_bfd" => {
                cx.unsupported(n, "vrrp_sync_group")
            }
            // Old samples list instances directly in the block; keepalived ignores
            // them (unknown keyword), so they are not members here either.
            k if n.block.is_none() && n.args().is_empty() => cx.diags.warn(
                &n.loc,
                format!(
                    "unknown keyword '{k}' in vrrp_sync_group; ignored (instance names belong inside 'group {{ }}')"
                ),
            ),
            _ => cx.unknown(n, "vrrp_sync_group"),
        }
    }
    if g.members.is_empty() {
        cx.diags.warn(
            &node.loc,
            format!("vrrp_sync_group {} has no member instances", g.name),
        );
    }
    Some(g)
}

const INSTANCE: &str = "vrrp_instance";

pub fn instance(node: &Node, cx: &mut Ctx<'_>) -> Option<VrrpInstance> {
    let name = cx.arg(node, 0)?.to_string();
    let block = cx.block(node)?;
    let mut vi = VrrpInstance::new(name, node.loc.clone());
    for n in block {
        if notify(n, &mut vi.notify, cx) {
            continue;
        }
        instance_keyword(n, &mut vi, cx);
    }
    if vi.virtual_router_id.is_none() {
        cx.diags.error(
            &node.loc,
            format!("vrrp_instance {} has no virtual_router_id", vi.name),
        );
    }
    if vi.interface.is_none() {
        cx.diags.warn(
            &node.loc,
            format!(
                "vrrp_instance {} has no interface; the default interface will be used",
                vi.name
            ),
        );
    }
    if vi.nopreempt && vi.state == Some(VrrpState::Master) {
        cx.diags.warn(
            &node.loc,
            format!(
                "vrrp_instance {}: nopreempt needs state BACKUP; initial state set to BACKUP",
                vi.name
            ),
        );
        vi.state = Some(VrrpState::Backup);
    }
    Some(vi)
}

fn instance_keyword(n: &Node, vi: &mut VrrpInstance, cx: &mut Ctx<'_>) {
    match n.keyword() {
        "state" => match cx.arg(n, 0) {
            Some("MASTER") => vi.state = Some(VrrpState::Master),
            Some("BACKUP") => vi.state = Some(VrrpState::Backup),
            Some(other) => cx.diags.error(
                &n.loc,
                format!("state must be MASTER or BACKUP, not '{other}'"),
            ),
            None => {}
        },
        "interface" => vi.interface = cx.arg(n, 0).map(str::to_string),
        "use_vmac" => vi.use_vmac = Some(n.arg(0).map(str::to_string)),
        "vmac_xmit_base" => vi.vmac_xmit_base = true,
        "version" => vi.version = cx.uint(n, 0, 2, 3).map(|v| v as u8),
        "virtual_router_id" => vi.virtual_router_id = cx.uint(n, 0, 1, 255).map(|v| v as u8),
        "priority" => vi.priority = cx.uint(n, 0, 1, 255).map_or(vi.priority, |v| v as u8),
        "advert_int" => {
            if let Some(t) = cx.timer(n, 0) {
                if t < Duration::from_millis(10) || t > Duration::from_secs(255) {
                    cx.diags
                        .error(&n.loc, "advert_int must be 0.01..255 seconds");
                } else {
                    vi.advert_int = t;
                }
            }
        }
        "authentication" => vi.authentication = authentication(n, cx),
        "virtual_ipaddress" => vi.virtual_ipaddresses = ip_addresses(n, cx),
        "virtual_ipaddress_excluded" => vi.virtual_ipaddresses_excluded = ip_addresses(n, cx),
        "virtual_routes" => vi.virtual_routes = routes(n, cx),
        "virtual_rules" => vi.virtual_rules = routes(n, cx),
        "unicast_src_ip" => vi.unicast_src_ip = cx.ip(n, 0),
        "unicast_peer" => vi.unicast_peers = unicast_peers(n, cx),
        "mcast_src_ip" => vi.mcast_src_ip = cx.ip(n, 0),
        "accept" => vi.accept = Some(true),
        "no_accept" => vi.accept = Some(false),
        "nopreempt" => vi.nopreempt = true,
        "preempt" => vi.nopreempt = false,
        "preempt_delay" => {
            if let Some(t) = cx.timer(n, 0) {
                if t > Duration::from_secs(1000) {
                    cx.diags
                        .error(&n.loc, "preempt_delay must be 0..1000 seconds");
                } else {
                    vi.preempt_delay = t;
                }
            }
        }
        "down_timer_adverts" => vi.down_timer_adverts = cx.uint(n, 0, 1, 100).map(|v| v as u32),
        "garp_master_delay" => vi.garp_master_delay = cx.timer(n, 0),
        "garp_master_repeat" => vi.garp_master_repeat = cx.uint(n, 0, 1, 255).map(|v| v as u32),
        "garp_master_refresh" => vi.garp_master_refresh = cx.timer(n, 0),
        "garp_master_refresh_repeat" => {
            vi.garp_master_refresh_repeat = cx.uint(n, 0, 1, 255).map(|v| v as u32)
        }
        "garp_lower_prio_delay" => vi.garp_lower_prio_delay = cx.timer(n, 0),
        "garp_lower_prio_repeat" => {
            vi.garp_lower_prio_repeat = cx.uint(n, 0, 0, 255).map(|v| v as u32)
        }
        "track_interface" => vi.track_interfaces = tracked(n, cx),
        "track_script" => vi.track_scripts = tracked(n, cx),
        "dont_track_primary" => vi.dont_track_primary = true,
        "lvs_sync_daemon_interface" => {
            cx.deprecated(n, "lvs_sync_daemon in global_defs");
            vi.lvs_sync_daemon_interface = cx.arg(n, 0).map(str::to_string);
        }
        "smtp_alert"
        | "debug"
        | "auth_hmac"
        | "track_file"
        | "track_process"
        | "track_bfd"
        | "strict_mode"
        | "skip_check_adv_addr"
        | "check_unicast_src"
        | "native_ipv6"
        | "linkbeat_use_polling"
        | "use_ipvlan"
        | "kernel_rx_buf_size"
        | "garp_extra_if"
        | "lower_prio_no_advert"
        | "higher_prio_send_advert"
        | "notify_priority_changes"
        | "unicast_ttl"
        | "unicast_fault_no_peer"
        | "old_unicast_checksum"
        | "vrrp_version"
        | "promote_secondaries"
        | "no_accept_no_fault" => cx.unsupported(n, INSTANCE),
        _ => cx.unknown(n, INSTANCE),
    }
}

fn authentication(node: &Node, cx: &mut Ctx<'_>) -> Option<Authentication> {
    let block = cx.block(node)?;
    let mut kind = None;
    let mut pass = None;
    for n in block {
        match n.keyword() {
            "auth_type" => match cx.arg(n, 0) {
                Some("PASS") => kind = Some(AuthType::Pass),
                Some("AH") => kind = Some(AuthType::Ah),
                Some(o) => cx
                    .diags
                    .error(&n.loc, format!("auth_type must be PASS or AH, not '{o}'")),
                None => {}
            },
            "auth_pass" => {
                if let Some(p) = cx.arg(n, 0) {
                    if p.len() > 8 {
                        cx.diags
                            .warn(&n.loc, "auth_pass longer than 8 characters; truncated to 8");
                    }
                    pass = Some(p.chars().take(8).collect::<String>());
                }
            }
            _ => cx.unknown(n, "authentication"),
        }
    }
    match kind {
        Some(kind) => Some(Authentication {
            kind,
            pass: pass.unwrap_or_default(),
        }),
        None => {
            cx.diags
                .error(&node.loc, "authentication needs an auth_type");
            None
        }
    }
}

fn unicast_peers(node: &Node, cx: &mut Ctx<'_>) -> Vec<UnicastPeer> {
    let Some(block) = cx.block(node) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for n in block {
        let Ok(addr) = n.words[0].parse::<IpAddr>() else {
            cx.diags.error(
                &n.loc,
                format!("invalid unicast peer address '{}'", n.words[0]),
            );
            continue;
        };
        let mut p = UnicastPeer {
            addr,
            min_ttl: None,
            max_ttl: None,
        };
        for pair in n.args().chunks(2) {
            let v = pair.get(1).and_then(|v| v.parse::<u8>().ok());
            match (pair[0].as_str(), v) {
                ("min_ttl", Some(v)) => p.min_ttl = Some(v),
                ("max_ttl", Some(v)) => p.max_ttl = Some(v),
                (o, _) => cx.diags.warn(
                    &n.loc,
                    format!("unicast peer option '{o}' is not implemented by rvs; ignored"),
                ),
            }
        }
        out.push(p);
    }
    out
}
