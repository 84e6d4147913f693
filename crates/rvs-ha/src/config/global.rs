//! `global_defs { }`.

use super::model::{GlobalDefs, LvsSyncDaemon, LvsTimeouts};
use super::tree::Node;
use super::values::Ctx;

const SECTION: &str = "global_defs";

/// Keywords of global_defs (keepalived.conf(5)) that rvs reads but does not act on.
const NOT_IMPLEMENTED: &[&str] = &[
    "tmp_config_directory",
    "config_save_dir",
    "process_names",
    "process_name",
    "vrrp_process_name",
    "checker_process_name",
    "bfd_process_name",
    "use_symlink_paths",
    "set_supplementary_groups",
    "startup_script",
    "startup_script_timeout",
    "shutdown_script",
    "shutdown_script_timeout",
    "smtp_alert",
    "smtp_alert_vrrp",
    "smtp_alert_checker",
    "no_email_faults",
    "vrrp_garp_extra_if",
    "nftables",
    "nftables_priority",
    "nftables_counters",
    "nftables_ifindex",
    "nftables_ipvs",
    "nftables_ipvs_priority",
    "nftables_ipvs_start_fwmark",
    "vrrp_iptables",
    "vrrp_ipsets",
    "max_auto_priority",
    "min_auto_priority_delay",
    "vrrp_priority",
    "checker_priority",
    "bfd_priority",
    "vrrp_no_swap",
    "checker_no_swap",
    "bfd_no_swap",
    "vrrp_cpu_affinity",
    "checker_cpu_affinity",
    "bfd_cpu_affinity",
    "vrrp_rt_priority",
    "checker_rt_priority",
    "bfd_rt_priority",
    "vrrp_rlimit_rttime",
    "checker_rlimit_rttime",
    "bfd_rlimit_rttime",
    "snmp_socket",
    "enable_snmp_vrrp",
    "enable_snmp_keepalived",
    "enable_snmp_checker",
    "enable_snmp_rfc",
    "enable_snmp_rfcv2",
    "enable_snmp_rfcv3",
    "enable_traps",
    "snmp_vs_stats_update_interval",
    "snmp_rs_stats_update_interval",
    "enable_dbus",
    "dbus_service_name",
    "dbus_no_interface_name",
    "notify_fifo",
    "notify_fifo_script",
    "vrrp_notify_fifo",
    "vrrp_notify_fifo_script",
    "lvs_notify_fifo",
    "lvs_notify_fifo_script",
    "fifo_write_vrrp_states_on_reload",
    "dynamic_interfaces",
    "vrrp_netlink_cmd_rcv_bufs",
    "vrrp_netlink_cmd_rcv_bufs_force",
    "vrrp_netlink_monitor_rcv_bufs",
    "vrrp_netlink_monitor_rcv_bufs_force",
    "lvs_netlink_cmd_rcv_bufs",
    "lvs_netlink_cmd_rcv_bufs_force",
    "lvs_netlink_monitor_rcv_bufs",
    "lvs_netlink_monitor_rcv_bufs_force",
    "process_monitor_rcv_bufs",
    "process_monitor_rcv_bufs_force",
    "vrrp_rx_bufs_policy",
    "vrrp_rx_bufs_multiplier",
    "rs_init_notifies",
    "no_checker_emails",
    "umask",
    "vrrp_delay_after_boot",
    "log_unknown_vrids",
    "vmac_prefix",
    "vmac_addr_prefix",
    "random_seed",
    "reload_check_config",
    "include_check",
    "reload_time_file",
    "reload_repeat",
    "reload_file",
    "data_use_instance",
    "state_file_location",
    "stats_file_location",
    "json_file_location",
    "json_version",
    "iproute_usr_dir",
    "iproute_etc_dir",
    "vrrp_strict_sched",
    "vrrp_garp_lower_prio_delay_unused",
    "linkbeat_use_polling",
    "net_namespace",
    "net_namespace_ipvs",
    "namespace_with_ipsets",
    "instance",
    "use_pid_dir",
    "child_wait_time",
    "smtp_server",
    "smtp_connect_timeout",
    "smtp_helo_name",
    "notification_email",
    "notification_email_from",
];

pub fn parse(node: &Node, g: &mut GlobalDefs, cx: &mut Ctx<'_>) {
    let Some(block) = cx.block(node) else { return };
    for n in block {
        parse_one(n, g, cx);
    }
}

fn parse_one(n: &Node, g: &mut GlobalDefs, cx: &mut Ctx<'_>) {
    let v = &mut g.vrrp;
    match n.keyword() {
        "router_id" => g.router_id = cx.arg(n, 0).map(str::to_string),
        // Stored (so that tools can show them) but email alerts are not sent by rvs.
        "notification_email" => {
            g.notification_email = n.children().iter().map(|c| c.words.join(" ")).collect();
            cx.unsupported(n, SECTION);
        }
        "notification_email_from" => {
            g.notification_email_from = cx.arg(n, 0).map(str::to_string);
            cx.unsupported(n, SECTION);
        }
        "smtp_server" => {
            if let Some(host) = cx.arg(n, 0) {
                let port = match n.arg(1) {
                    Some(_) => cx.port(n, 1).unwrap_or(25),
                    None => 25,
                };
                g.smtp_server = Some((host.to_string(), port));
            }
            cx.unsupported(n, SECTION);
        }
        "smtp_connect_timeout" => {
            g.smtp_connect_timeout = cx.timer(n, 0);
            cx.unsupported(n, SECTION);
        }
        "smtp_helo_name" => {
            g.smtp_helo_name = cx.arg(n, 0).map(str::to_string);
            cx.unsupported(n, SECTION);
        }
        "lvs_sync_daemon" => g.lvs_sync_daemon = sync_daemon(n, cx),
        "lvs_sync_daemon_interface" => {
            cx.deprecated(n, "lvs_sync_daemon");
            if let Some(ifn) = cx.arg(n, 0) {
                g.lvs_sync_daemon = Some(LvsSyncDaemon {
                    interface: ifn.to_string(),
                    instance: None,
                    syncid: 0,
                    maxlen: 0,
                    port: 0,
                    ttl: 0,
                    group: None,
                    loc: n.loc.clone(),
                });
            }
        }
        "lvs_timeouts" => g.lvs_timeouts = timeouts(n, cx).unwrap_or(g.lvs_timeouts),
        "lvs_flush" => g.lvs_flush = true,
        "lvs_flush_on_stop" => g.lvs_flush_on_stop = true,
        "default_interface" => g.default_interface = cx.arg(n, 0).map(str::to_string),
        "checker_log_all_failures" => {
            g.checker_log_all_failures = cx.boolean(n, 0).unwrap_or(false)
        }
        "script_user" => g.script_user = Some(n.args().join(" ")),
        "enable_script_security" => g.enable_script_security = true,
        "vrrp_mcast_group4" => v.mcast_group4 = cx.ip(n, 0),
        "vrrp_mcast_group6" => v.mcast_group6 = cx.ip(n, 0),
        "vrrp_garp_master_delay" => v.garp_master_delay = cx.timer(n, 0),
        "vrrp_garp_master_repeat" => v.garp_master_repeat = u32_of(cx, n, 1, 255),
        "vrrp_garp_lower_prio_delay" => v.garp_lower_prio_delay = cx.timer(n, 0),
        "vrrp_garp_lower_prio_repeat" => v.garp_lower_prio_repeat = u32_of(cx, n, 0, 255),
        "vrrp_garp_master_refresh" => v.garp_master_refresh = cx.timer(n, 0),
        "vrrp_garp_master_refresh_repeat" => v.garp_master_refresh_repeat = u32_of(cx, n, 1, 255),
        "vrrp_garp_interval" => v.garp_interval = cx.timer(n, 0),
        "vrrp_gna_interval" => v.gna_interval = cx.timer(n, 0),
        "vrrp_min_garp" => v.min_garp = cx.boolean(n, 0).unwrap_or(false),
        "vrrp_down_timer_adverts" => v.down_timer_adverts = u32_of(cx, n, 1, 100),
        "vrrp_lower_prio_no_advert" => v.lower_prio_no_advert = cx.boolean(n, 0).unwrap_or(false),
        "vrrp_higher_prio_send_advert" => {
            v.higher_prio_send_advert = cx.boolean(n, 0).unwrap_or(false)
        }
        "vrrp_version" => v.version = cx.uint(n, 0, 2, 3).map(|x| x as u8),
        "vrrp_check_unicast_src" => v.check_unicast_src = true,
        "vrrp_skip_check_adv_addr" => v.skip_check_adv_addr = true,
        "vrrp_strict" => v.strict = true,
        "vrrp_notify_priority_changes" => {
            v.notify_priority_changes = cx.boolean(n, 0).unwrap_or(false)
        }
        "vrrp_startup_delay" => v.startup_delay = cx.timer(n, 0),
        k if NOT_IMPLEMENTED.contains(&k) => cx.unsupported(n, SECTION),
        _ => cx.unknown(n, SECTION),
    }
}

fn u32_of(cx: &mut Ctx<'_>, n: &Node, min: u64, max: u64) -> Option<u32> {
    cx.uint(n, 0, min, max).map(|x| x as u32)
}

fn sync_daemon(n: &Node, cx: &mut Ctx<'_>) -> Option<LvsSyncDaemon> {
    let interface = cx.arg(n, 0)?.to_string();
    let mut d = LvsSyncDaemon {
        interface,
        instance: None,
        syncid: 0,
        maxlen: 0,
        port: 0,
        ttl: 0,
        group: None,
        loc: n.loc.clone(),
    };
    let args = n.args();
    let mut i = 1;
    while i < args.len() {
        let key = args[i].as_str();
        let has_value = i + 1 < args.len();
        match key {
            "inst" if has_value => d.instance = Some(args[i + 1].clone()),
            "id" if has_value => d.syncid = cx.uint(n, i + 1, 0, 255)? as u8,
            "maxlen" if has_value => d.maxlen = cx.uint(n, i + 1, 1, 65507)? as u16,
            "port" if has_value => d.port = cx.uint(n, i + 1, 1, 65535)? as u16,
            "ttl" if has_value => d.ttl = cx.uint(n, i + 1, 1, 255)? as u8,
            "group" if has_value => d.group = Some(cx.ip(n, i + 1)?),
            "id" | "maxlen" | "port" | "ttl" | "group" | "inst" => {
                cx.diags
                    .error(&n.loc, format!("lvs_sync_daemon: '{key}' needs a value"));
                return None;
            }
            // The instance name may be given without the `inst` word (old syntax).
            other if i == 1 => {
                d.instance = Some(other.to_string());
                i += 1;
                continue;
            }
            other => {
                cx.diags
                    .error(&n.loc, format!("lvs_sync_daemon: unknown option '{other}'"));
                return None;
            }
        }
        i += 2;
    }
    Some(d)
}

fn timeouts(n: &Node, cx: &mut Ctx<'_>) -> Option<LvsTimeouts> {
    let mut t = LvsTimeouts::default();
    let args = n.args();
    if args.is_empty() || args.len() % 2 != 0 {
        cx.diags.error(
            &n.loc,
            "lvs_timeouts needs one or more of: tcp SECS, tcpfin SECS, udp SECS",
        );
        return None;
    }
    for i in (0..args.len()).step_by(2) {
        let v = cx.uint(n, i + 1, 1, 86_400 * 31)? as u32;
        match args[i].as_str() {
            "tcp" => t.tcp = Some(v),
            "tcpfin" => t.tcp_fin = Some(v),
            "udp" => t.udp = Some(v),
            other => {
                cx.diags
                    .error(&n.loc, format!("lvs_timeouts: unknown protocol '{other}'"));
                return None;
            }
        }
    }
    Some(t)
}
