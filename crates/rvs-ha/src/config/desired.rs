//! From a keepalived configuration to rvs desired state: services (with group
//! expansion), real servers in their current health state, sorry servers, sync daemon
//! settings and timeouts.

use core::net::IpAddr;

use rvs_core::model::{
    DestConfig, Family, ForwardMethod, Persistence, ServiceConfig, ServiceKey, SyncDaemonConfig,
    SyncRole, Timeouts, VirtualService,
};

use super::model::{KeepalivedConfig, RealServer, VirtualServer, VsTarget, VsgEntry};
use super::MAX_SERVICES;

/// The health of one real server as the checkers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RsHealth {
    pub alive: bool,
    /// The weight to use while alive (the configured weight, changed by misc_dynamic).
    pub weight: u32,
}

impl RsHealth {
    /// keepalived's state at start: alive, unless alpha mode applies to a server that
    /// has checkers (a server without checkers is always alive).
    pub fn initial(vs: &VirtualServer, rs: &RealServer) -> RsHealth {
        let alpha = rs.alpha.unwrap_or(vs.alpha);
        let starts_down =
            !rs.checkers.is_empty() && rs.checkers.iter().any(|c| c.alpha.unwrap_or(alpha));
        RsHealth {
            alive: !starts_down,
            weight: rs.weight,
        }
    }
}

/// Whether a virtual server has its quorum, with hysteresis (keepalived's
/// update_quorum_state): gaining it needs `quorum + hysteresis` live weight; it is lost
/// below `quorum - hysteresis`, or when no live weight is left at all.
pub fn quorum_after(vs: &VirtualServer, was_up: bool, live_weight: u64) -> bool {
    let q = u64::from(vs.quorum);
    let h = u64::from(vs.hysteresis);
    if was_up {
        live_weight > 0 && live_weight >= q.saturating_sub(h)
    } else {
        live_weight >= q + h
    }
}

/// The quorum state at start: up if the live weight reaches `quorum + hysteresis`.
pub fn initial_quorum(vs: &VirtualServer, live_weight: u64) -> bool {
    live_weight >= u64::from(vs.quorum) + u64::from(vs.hysteresis)
}

pub fn live_weight(health: &[RsHealth]) -> u64 {
    health
        .iter()
        .filter(|h| h.alive)
        .map(|h| u64::from(h.weight))
        .sum()
}

impl KeepalivedConfig {
    /// The services a virtual server stands for: one, or one per address (and fwmark)
    /// of its virtual_server_group. Never more than MAX_SERVICES + 1.
    pub fn service_keys(&self, vs: &VirtualServer) -> Vec<ServiceKey> {
        let fwmark_family = || {
            vs.ip_family
                .or_else(|| vs.real_servers.first().map(|rs| Family::of(&rs.addr)))
                .or_else(|| vs.sorry_server.as_ref().map(|s| Family::of(&s.addr)))
                .unwrap_or(Family::V4)
        };
        match &vs.target {
            VsTarget::Addr { addr, port } => vec![ServiceKey::Addr {
                proto: vs.protocol,
                addr: *addr,
                port: *port,
            }],
            VsTarget::Fwmark(mark) => vec![ServiceKey::Fwmark {
                mark: *mark,
                family: fwmark_family(),
            }],
            VsTarget::Group(name) => {
                let Some(g) = self.virtual_server_groups.iter().find(|g| &g.name == name) else {
                    return Vec::new();
                };
                let mut keys = Vec::new();
                for e in &g.entries {
                    match e {
                        VsgEntry::Range {
                            first, last, port, ..
                        } => {
                            for addr in AddrRange::new(*first, *last) {
                                if keys.len() > MAX_SERVICES {
                                    return keys;
                                }
                                keys.push(ServiceKey::Addr {
                                    proto: vs.protocol,
                                    addr,
                                    port: *port,
                                });
                            }
                        }
                        VsgEntry::Fwmark { mark, family, .. } => keys.push(ServiceKey::Fwmark {
                            mark: *mark,
                            family: family.unwrap_or_else(fwmark_family),
                        }),
                    }
                }
                keys
            }
        }
    }

    /// The desired state at start, every real server in its initial state.
    pub fn virtual_services(&self) -> Vec<VirtualService> {
        let mut out = Vec::new();
        for vs in &self.virtual_servers {
            let health: Vec<RsHealth> = vs
                .real_servers
                .iter()
                .map(|rs| RsHealth::initial(vs, rs))
                .collect();
            let quorum_up = initial_quorum(vs, live_weight(&health));
            out.extend(self.services_for(vs, &health, quorum_up));
        }
        out
    }

    /// The services of one virtual server given its real servers' health (same order
    /// as `vs.real_servers`) and its quorum state.
    pub fn services_for(
        &self,
        vs: &VirtualServer,
        health: &[RsHealth],
        quorum_up: bool,
    ) -> Vec<VirtualService> {
        self.service_keys(vs)
            .into_iter()
            .map(|key| VirtualService {
                config: service_config(vs, key),
                dests: dests(vs, key, health, quorum_up),
            })
            .collect()
    }

    /// Settings of the connection-sync daemon for a role, from `lvs_sync_daemon` (or
    /// the deprecated `lvs_sync_daemon_interface` of a vrrp_instance).
    pub fn sync_daemon(&self, role: SyncRole) -> Option<SyncDaemonConfig> {
        if let Some(d) = &self.global.lvs_sync_daemon {
            return Some(SyncDaemonConfig {
                role,
                mcast_ifn: d.interface.clone(),
                syncid: d.syncid,
                sync_maxlen: d.maxlen,
                mcast_group: d.group,
                mcast_port: d.port,
                mcast_ttl: d.ttl,
            });
        }
        let ifn = self
            .vrrp_instances
            .iter()
            .find_map(|vi| vi.lvs_sync_daemon_interface.clone())?;
        Some(SyncDaemonConfig {
            role,
            mcast_ifn: ifn,
            syncid: 0,
            sync_maxlen: 0,
            mcast_group: None,
            mcast_port: 0,
            mcast_ttl: 0,
        })
    }

    /// The VRRP instance whose state drives the sync daemon, if one is named.
    pub fn sync_daemon_instance(&self) -> Option<&str> {
        self.global.lvs_sync_daemon.as_ref()?.instance.as_deref()
    }

    /// `lvs_timeouts` applied over the timeouts in force (values not given are kept).
    pub fn timeouts(&self, current: Timeouts) -> Timeouts {
        let t = &self.global.lvs_timeouts;
        Timeouts {
            tcp: t.tcp.unwrap_or(current.tcp),
            tcp_fin: t.tcp_fin.unwrap_or(current.tcp_fin),
            udp: t.udp.unwrap_or(current.udp),
        }
    }
}

fn service_config(vs: &VirtualServer, key: ServiceKey) -> ServiceConfig {
    let persistence = vs.persistence_timeout.map(|timeout| Persistence {
        timeout,
        prefix_len: vs.persistence_granularity.unwrap_or(match key.family() {
            Family::V4 => 32,
            Family::V6 => 128,
        }),
    });
    ServiceConfig {
        key,
        scheduler: vs.scheduler,
        sched_flags: vs.sched_flags,
        persistence,
        one_packet: vs.one_packet,
        pe_name: vs.persistence_engine.clone(),
    }
}

fn dest_port(key: ServiceKey, method: ForwardMethod, port: u16) -> u16 {
    match key {
        // DR and TUN cannot change the port: the real port is the virtual one, and
        // for a fwmark service there is none (keepalived ignores a configured one).
        ServiceKey::Addr { port: vport, .. } if method.keeps_port() => vport,
        ServiceKey::Fwmark { .. } if method.keeps_port() => 0,
        _ => port,
    }
}

/// Real servers in kernel list order (the last added first, as keepalived adds them in
/// configuration order). Dead servers are absent, or present with weight 0 under
/// inhibit_on_failure. Without quorum, a sorry server replaces them all.
fn dests(
    vs: &VirtualServer,
    key: ServiceKey,
    health: &[RsHealth],
    quorum_up: bool,
) -> Vec<DestConfig> {
    let mut out = Vec::new();
    let sorry_active = !quorum_up && vs.sorry_server.is_some();
    for (rs, h) in vs.real_servers.iter().zip(health) {
        let method = rs.method.unwrap_or(vs.method);
        let inhibit = rs.inhibit_on_failure.unwrap_or(vs.inhibit_on_failure);
        let weight = match (h.alive && !sorry_active, inhibit) {
            (true, _) => h.weight,
            (false, true) => 0,
            (false, false) => continue,
        };
        out.push(DestConfig {
            addr: rs.addr,
            port: dest_port(key, method, rs.port),
            method,
            weight,
            u_threshold: rs.u_threshold,
            l_threshold: rs.l_threshold,
        });
    }
    if let Some(s) = &vs.sorry_server {
        let method = s.method.unwrap_or(vs.method);
        if sorry_active || s.inhibit {
            out.push(DestConfig {
                addr: s.addr,
                port: dest_port(key, method, s.port),
                method,
                weight: u32::from(sorry_active),
                u_threshold: 0,
                l_threshold: 0,
            });
        }
    }
    out.reverse();
    out
}

/// Inclusive iterator over an address range of one family.
struct AddrRange {
    next: Option<u128>,
    last: u128,
    v4: bool,
}

impl AddrRange {
    fn new(first: IpAddr, last: IpAddr) -> Self {
        let (f, l, v4) = match (first, last) {
            (IpAddr::V4(f), IpAddr::V4(l)) => (u32::from(f) as u128, u32::from(l) as u128, true),
            (IpAddr::V6(f), IpAddr::V6(l)) => (u128::from(f), u128::from(l), false),
            _ => (1, 0, true),
        };
        AddrRange {
            next: (f <= l).then_some(f),
            last: l,
            v4,
        }
    }
}

impl Iterator for AddrRange {
    type Item = IpAddr;

    fn next(&mut self) -> Option<IpAddr> {
        let cur = self.next?;
        self.next = (cur < self.last).then(|| cur + 1);
        Some(if self.v4 {
            IpAddr::V4((cur as u32).into())
        } else {
            IpAddr::V6(cur.into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_hysteresis_dampens_flaps() {
        // The quorum sample: quorum 7, hysteresis 2 → up at 9, down below 5.
        let text =
            "virtual_server 10.0.1.1 80 {\n protocol TCP\n quorum 7\n hysteresis 2\n real_server 10.0.0.1 80 {\n weight 10\n }\n}\n";
        let dir = std::env::temp_dir().join(format!("rvs-ha-quorum-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("k.conf");
        std::fs::write(&p, text).unwrap();
        let (cfg, _) = crate::config::load(&p).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let vs = &cfg.virtual_servers[0];
        assert!(!quorum_after(vs, false, 8));
        assert!(quorum_after(vs, false, 9));
        assert!(quorum_after(vs, true, 5));
        assert!(!quorum_after(vs, true, 4));
        assert!(initial_quorum(vs, 9) && !initial_quorum(vs, 8));
    }
}
