//! From a parsed keepalived.conf to what the VRRP runtime runs: instances, tracked
//! scripts and sync groups, with keepalived's defaults filled in.

use super::io::VirtualAddress;
use super::machine::InstanceConfig;
use super::packet::{Auth, Version};
use super::runtime::{InstanceSpec, NotifyScripts, SyncGroup, TrackScript};
use crate::config::model::{AuthType, KeepalivedConfig, Notifies, VrrpInstance};
use std::time::Duration;

/// Everything the VRRP runtime needs from a configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VrrpPlan {
    pub instances: Vec<InstanceSpec>,
    pub scripts: Vec<TrackScript>,
    pub groups: Vec<SyncGroup>,
}

impl VrrpPlan {
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }
}

/// Build the plan; instances that cannot run (no interface, no router id, AH
/// authentication) are refused with a message naming them.
pub fn plan(cfg: &KeepalivedConfig) -> Result<VrrpPlan, Vec<String>> {
    let mut errors = Vec::new();
    let mut instances = Vec::new();
    for vi in &cfg.vrrp_instances {
        match instance(vi, cfg) {
            Ok(spec) => instances.push(spec),
            Err(e) => errors.push(format!("{}: vrrp_instance {}: {e}", vi.loc, vi.name)),
        }
    }
    let scripts = cfg
        .vrrp_scripts
        .iter()
        .filter_map(|s| {
            let command = s.script.as_ref()?.command.clone();
            Some(TrackScript {
                name: s.name.clone(),
                script: command,
                interval: s.interval,
                timeout: s.timeout.unwrap_or(s.interval),
                weight: s.weight,
                reverse: s.weight_reverse,
                rise: s.rise.max(1),
                fall: s.fall.max(1),
                init_fail: s.init_fail,
            })
        })
        .collect();
    let groups = cfg
        .vrrp_sync_groups
        .iter()
        .map(|sg| SyncGroup {
            name: sg.name.clone(),
            members: sg.members.clone(),
            notify: notify_scripts(&sg.notify),
        })
        .collect();
    if errors.is_empty() {
        Ok(VrrpPlan {
            instances,
            scripts,
            groups,
        })
    } else {
        Err(errors)
    }
}

fn instance(vi: &VrrpInstance, cfg: &KeepalivedConfig) -> Result<InstanceSpec, String> {
    let g = &cfg.global.vrrp;
    let interface = vi.interface.clone().ok_or("no interface")?;
    let vrid = vi.virtual_router_id.ok_or("no virtual_router_id")?;
    let version = match vi.effective_version(g) {
        3 => Version::V3,
        _ => Version::V2,
    };
    let auth = match &vi.authentication {
        None => Auth::None,
        Some(a) if a.kind == AuthType::Pass => Auth::pass(&a.pass),
        Some(_) => return Err("AH authentication is not supported (use PASS or none)".into()),
    };
    let vips: Vec<VirtualAddress> = vi
        .virtual_ipaddresses
        .iter()
        .map(|a| VirtualAddress {
            addr: a.addr,
            prefix_len: a.prefix_len,
            dev: a.dev.clone(),
            label: a.label.clone(),
        })
        .collect();
    let interval_cs = (vi.advert_int.as_millis() / 10).clamp(1, 4095) as u16;
    let mut machine = InstanceConfig::new(
        &vi.name,
        vrid,
        vi.priority,
        vips.iter().map(|v| v.addr).collect(),
    );
    machine.version = version;
    machine.interval_cs = if version == Version::V2 {
        // v2 carries whole seconds.
        (interval_cs / 100).max(1) * 100
    } else {
        interval_cs
    };
    machine.auth = if version == Version::V2 {
        auth
    } else {
        Auth::None
    };
    machine.preempt = !vi.nopreempt;
    machine.preempt_delay = vi.preempt_delay;
    machine.down_timer_adverts = vi.down_timer_adverts.or(g.down_timer_adverts).unwrap_or(3);
    machine.garp_delay = vi
        .garp_master_delay
        .or(g.garp_master_delay)
        .unwrap_or(Duration::from_secs(5));
    let garp_repeat = if g.min_garp {
        1
    } else {
        vi.garp_master_repeat.or(g.garp_master_repeat).unwrap_or(5)
    };
    if g.min_garp {
        machine.garp_delay = Duration::ZERO;
    }
    Ok(InstanceSpec {
        machine,
        interface,
        vips,
        unicast_src: vi.unicast_src_ip.or(vi.mcast_src_ip),
        unicast_peers: vi.unicast_peers.iter().map(|p| p.addr).collect(),
        track_interfaces: vi
            .track_interfaces
            .iter()
            .map(|t| (t.name.clone(), t.weight.unwrap_or(0)))
            .collect(),
        track_scripts: vi
            .track_scripts
            .iter()
            .map(|t| (t.name.clone(), t.weight))
            .collect(),
        notify: notify_scripts(&vi.notify),
        garp_repeat,
    })
}

fn notify_scripts(n: &Notifies) -> NotifyScripts {
    let cmd = |s: &Option<crate::config::model::Script>| s.as_ref().map(|s| s.command.clone());
    NotifyScripts {
        master: cmd(&n.master),
        backup: cmd(&n.backup),
        fault: cmd(&n.fault),
        stop: cmd(&n.stop),
        any: cmd(&n.any),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> KeepalivedConfig {
        let dir = std::env::temp_dir().join(format!("rvs-vrrp-plan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!(
            "{:x}.conf",
            text.len() * 31 + text.as_bytes()[0] as usize
        ));
        std::fs::write(&path, text).unwrap();
        let (cfg, _) = crate::config::load(&path).expect("config loads");
        let _ = std::fs::remove_file(&path);
        cfg
    }

    #[test]
    fn seed_pair_becomes_two_instances_with_keepalived_defaults() {
        let cfg = load(
            "vrrp_instance VI_1 {\n state MASTER\n interface eth0\n virtual_router_id 51\n priority 100\n \
             advert_int 1\n authentication {\n auth_type PASS\n auth_pass 1111\n }\n \
             virtual_ipaddress {\n 192.168.200.16/24 dev eth0 label eth0:1\n }\n nopreempt\n}\n",
        );
        let p = plan(&cfg).unwrap();
        let i = &p.instances[0];
        assert_eq!(i.interface, "eth0");
        assert_eq!(i.machine.vrid, 51);
        assert_eq!(i.machine.priority, 100);
        assert_eq!(i.machine.interval_cs, 100);
        assert_eq!(i.machine.auth, Auth::pass("1111"));
        assert!(!i.machine.preempt);
        assert_eq!(i.machine.down_timer_adverts, 3);
        assert_eq!(i.machine.garp_delay, Duration::from_secs(5));
        assert_eq!(i.garp_repeat, 5);
        assert_eq!(i.vips[0].prefix_len, 24);
        assert_eq!(i.vips[0].label.as_deref(), Some("eth0:1"));
    }

    #[test]
    fn an_instance_without_interface_is_refused_by_name() {
        let cfg = load("vrrp_instance VX {\n virtual_router_id 9\n}\n");
        let e = plan(&cfg).unwrap_err();
        assert!(
            e[0].contains("VX") && e[0].contains("no interface"),
            "{e:?}"
        );
    }
}
