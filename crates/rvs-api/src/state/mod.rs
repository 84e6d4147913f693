//! The desired state of the director, changed only through [`ConfigState::dispatch`].
//!
//! It holds what `ipvsadm -S` and `ipvsadm -L --timeout --daemon` would show: the
//! virtual services with their real servers, the connection timeouts and the sync
//! daemons. Every request is validated as ipvsadm and the Linux kernel (6.1,
//! `net/netfilter/ipvs/ip_vs_ctl.c`) validate it, and refused with the kernel's errno
//! kind; a refused request changes nothing. [`ConfigState::diff`] yields the requests
//! that turn one state into another, so a reload touches only what changed.

mod diff;
pub mod validate;

use crate::request::{ApiError, ErrorKind, Reply, Request};
use core::net::IpAddr;
use rvs_core::model::{
    DestConfig, Family, FwmarkRule, ServiceConfig, ServiceKey, SyncDaemonConfig, SyncRole,
    Timeouts, VirtualService,
};
use rvs_core::status::{DestEntry, ServiceEntry, Snapshot};

/// The connection-table size the kernel reports by default (2^12 buckets).
pub const DEFAULT_TABLE_SIZE: u32 = 4096;

/// The desired state: services ordered by [`ServiceKey`] (the kernel's hash order
/// cannot be reproduced, and ipvsadm sorts its listings anyway), each with its real
/// servers in the kernel's list order (the most recently added first); timeouts as
/// `--set` left them; at most one sync daemon per role, master first; the
/// firewall-mark rules in the order they were added (the order they are evaluated in).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigState {
    services: Vec<VirtualService>,
    timeouts: Timeouts,
    daemons: Vec<SyncDaemonConfig>,
    fwmark_rules: Vec<FwmarkRule>,
}

impl ConfigState {
    /// An empty director with the kernel's default timeouts (900 120 300).
    pub fn new() -> ConfigState {
        ConfigState::default()
    }

    pub fn services(&self) -> &[VirtualService] {
        &self.services
    }

    pub fn service(&self, key: &ServiceKey) -> Option<&VirtualService> {
        self.position(key).ok().map(|i| &self.services[i])
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// The running sync daemons, master before backup.
    pub fn daemons(&self) -> &[SyncDaemonConfig] {
        &self.daemons
    }

    pub fn daemon(&self, role: SyncRole) -> Option<&SyncDaemonConfig> {
        self.daemons.iter().find(|d| d.role == role)
    }

    /// The firewall-mark classification rules, in evaluation order (first match wins),
    /// normalized as [`validate::fwmark_rule`] says.
    pub fn fwmark_rules(&self) -> &[FwmarkRule] {
        &self.fwmark_rules
    }

    /// The configuration as a listing with every figure at zero: what `-L` shows of a
    /// director that has seen no traffic (rvsd answers with the engine's figures).
    pub fn snapshot(&self, table_size: u32) -> Snapshot {
        let services = self
            .services
            .iter()
            .map(|vs| ServiceEntry {
                config: vs.config.clone(),
                stats: Default::default(),
                rates: Default::default(),
                dests: vs
                    .dests
                    .iter()
                    .map(|d| DestEntry {
                        config: *d,
                        active_conns: 0,
                        inactive_conns: 0,
                        persistent_conns: 0,
                        stats: Default::default(),
                        rates: Default::default(),
                    })
                    .collect(),
            })
            .collect();
        Snapshot {
            table_size,
            services,
            timeouts: self.timeouts,
            daemons: self.daemons.clone(),
            fwmark_rules: self.fwmark_rules.clone(),
        }
    }

    /// Applies one change request, or refuses it and changes nothing.
    ///
    /// Answers `Reply::Done` for every change. `Zero` only checks that the service
    /// exists (counters live in the engine, not here). Listings and `Reload` are not
    /// changes of this state: they are refused with `Unsupported` (rvsd answers them).
    pub fn dispatch(&mut self, request: Request) -> Result<Reply, ApiError> {
        match request {
            Request::AddService(cfg) => self.add_service(cfg),
            Request::EditService(cfg) => self.edit_service(cfg),
            Request::DelService(key) => {
                let i = self.find(&key)?;
                self.services.remove(i);
                Ok(())
            }
            // The rules go with the services: `-S` saves both, and `-C` then `-R`
            // must restore a saved configuration without "already exists".
            Request::Flush => {
                self.services.clear();
                self.fwmark_rules.clear();
                Ok(())
            }
            Request::AddDest(key, dest) => self.add_dest(&key, dest),
            Request::EditDest(key, dest) => self.edit_dest(&key, dest),
            Request::DelDest(key, addr, port) => self.del_dest(&key, addr, port),
            Request::Zero(Some(key)) => self.find(&key).map(|_| ()),
            Request::Zero(None) => Ok(()),
            Request::SetTimeouts(t) => self.set_timeouts(t),
            Request::StartDaemon(cfg) => self.start_daemon(cfg),
            Request::StopDaemon(role) => self.stop_daemon(role),
            Request::AddFwmarkRule(rule) => self.add_fwmark_rule(&rule),
            Request::DelFwmarkRule(rule) => self.del_fwmark_rule(&rule),
            Request::Batch(requests) => self.batch(requests),
            Request::GetSnapshot | Request::GetConnections | Request::Reload => Err(ApiError::new(
                ErrorKind::Unsupported,
                "the desired state answers changes only; rvsd answers listings and reloads",
            )),
        }
        .map(|()| Reply::Done)
    }

    /// The requests that turn `self` into `other`, touching only what differs:
    /// `self.clone()` with each of them dispatched in order equals `other`.
    pub fn diff(&self, other: &ConfigState) -> Vec<Request> {
        diff::diff(self, other)
    }

    /// How many real servers have another address family than their service.
    pub fn mixed_family_dests(&self) -> usize {
        self.services
            .iter()
            .map(|vs| {
                let family = vs.config.key.family();
                vs.dests
                    .iter()
                    .filter(|d| Family::of(&d.addr) != family)
                    .count()
            })
            .sum()
    }

    fn position(&self, key: &ServiceKey) -> Result<usize, usize> {
        self.services.binary_search_by(|vs| vs.config.key.cmp(key))
    }

    /// The index of a service, or ESRCH.
    fn find(&self, key: &ServiceKey) -> Result<usize, ApiError> {
        self.position(key).map_err(|_| {
            ApiError::new(
                ErrorKind::NoService,
                format!("no service {}", key_text(key)),
            )
        })
    }

    fn add_service(&mut self, mut cfg: ServiceConfig) -> Result<(), ApiError> {
        validate::service_request(&cfg)?;
        let Err(at) = self.position(&cfg.key) else {
            return Err(ApiError::new(
                ErrorKind::Exists,
                format!("service {} already exists", key_text(&cfg.key)),
            ));
        };
        validate::service_kernel(&cfg)?;
        normalize_service(&mut cfg);
        self.services.insert(
            at,
            VirtualService {
                config: cfg,
                dests: Vec::new(),
            },
        );
        Ok(())
    }

    fn edit_service(&mut self, mut cfg: ServiceConfig) -> Result<(), ApiError> {
        validate::service_request(&cfg)?;
        let i = self.find(&cfg.key)?;
        validate::service_kernel(&cfg)?;
        normalize_service(&mut cfg);
        self.services[i].config = cfg;
        Ok(())
    }

    fn add_dest(&mut self, key: &ServiceKey, dest: DestConfig) -> Result<(), ApiError> {
        let dest = validate::normalize_dest(key, dest);
        validate::dest_request(key, &dest)?;
        let sync_running = !self.daemons.is_empty();
        let i = self.find(key)?;
        validate::dest_kernel(key, &dest, sync_running)?;
        let dests = &mut self.services[i].dests;
        if dests
            .iter()
            .any(|d| d.addr == dest.addr && d.port == dest.port)
        {
            return Err(ApiError::new(
                ErrorKind::Exists,
                format!(
                    "real server {} already exists in service {}",
                    addr_port_text(&dest.addr, dest.port),
                    key_text(key)
                ),
            ));
        }
        validate::dest_unicast(&dest.addr)?;
        // The kernel links a new destination at the head of the service's list.
        dests.insert(0, dest);
        Ok(())
    }

    fn edit_dest(&mut self, key: &ServiceKey, dest: DestConfig) -> Result<(), ApiError> {
        let dest = validate::normalize_dest(key, dest);
        validate::dest_request(key, &dest)?;
        let sync_running = !self.daemons.is_empty();
        let i = self.find(key)?;
        validate::dest_kernel(key, &dest, sync_running)?;
        let slot = self.services[i]
            .dests
            .iter_mut()
            .find(|d| d.addr == dest.addr && d.port == dest.port)
            .ok_or_else(|| no_dest(key, &dest.addr, dest.port))?;
        *slot = dest;
        Ok(())
    }

    fn del_dest(&mut self, key: &ServiceKey, addr: IpAddr, port: u16) -> Result<(), ApiError> {
        let i = self.find(key)?;
        let dests = &mut self.services[i].dests;
        let at = dests
            .iter()
            .position(|d| d.addr == addr && d.port == port)
            .ok_or_else(|| no_dest(key, &addr, port))?;
        dests.remove(at);
        Ok(())
    }

    fn set_timeouts(&mut self, t: Timeouts) -> Result<(), ApiError> {
        validate::timeouts(&t)?;
        let keep = |new: u32, old: u32| if new == 0 { old } else { new };
        self.timeouts = Timeouts {
            tcp: keep(t.tcp, self.timeouts.tcp),
            tcp_fin: keep(t.tcp_fin, self.timeouts.tcp_fin),
            udp: keep(t.udp, self.timeouts.udp),
        };
        Ok(())
    }

    fn start_daemon(&mut self, cfg: SyncDaemonConfig) -> Result<(), ApiError> {
        validate::daemon(&cfg)?;
        if self.mixed_family_dests() > 0 {
            return Err(ApiError::new(
                ErrorKind::Invalid,
                "the sync protocol cannot carry mixed-family real servers",
            ));
        }
        if self.daemon(cfg.role).is_some() {
            return Err(ApiError::new(
                ErrorKind::Exists,
                format!("a {} sync daemon is already running", cfg.role.name()),
            ));
        }
        self.daemons.push(cfg);
        self.daemons.sort_by_key(|d| d.role != SyncRole::Master);
        Ok(())
    }

    fn stop_daemon(&mut self, role: SyncRole) -> Result<(), ApiError> {
        let before = self.daemons.len();
        self.daemons.retain(|d| d.role != role);
        if self.daemons.len() == before {
            return Err(ApiError::new(
                ErrorKind::NoService,
                format!("no {} sync daemon is running", role.name()),
            ));
        }
        Ok(())
    }

    /// Appends a rule (iptables `-A`): it is evaluated after those already there.
    fn add_fwmark_rule(&mut self, rule: &FwmarkRule) -> Result<(), ApiError> {
        let rule = validate::fwmark_rule(rule)?;
        if self.fwmark_rules.contains(&rule) {
            return Err(ApiError::new(
                ErrorKind::Exists,
                format!("firewall-mark rule {} already exists", rule_text(&rule)),
            ));
        }
        if self.fwmark_rules.len() >= validate::MAX_FWMARK_RULES {
            return Err(ApiError::new(
                ErrorKind::NoMemory,
                format!(
                    "{} firewall-mark rules already: no more may be added",
                    validate::MAX_FWMARK_RULES
                ),
            ));
        }
        self.fwmark_rules.push(rule);
        Ok(())
    }

    fn del_fwmark_rule(&mut self, rule: &FwmarkRule) -> Result<(), ApiError> {
        let rule = validate::fwmark_rule(rule)?;
        let at = self
            .fwmark_rules
            .iter()
            .position(|r| *r == rule)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorKind::NotFound,
                    format!("no firewall-mark rule {}", rule_text(&rule)),
                )
            })?;
        self.fwmark_rules.remove(at);
        Ok(())
    }

    /// All or nothing: the requests are applied to a copy, kept only if all pass.
    fn batch(&mut self, requests: Vec<Request>) -> Result<(), ApiError> {
        let mut next = self.clone();
        for (n, request) in requests.into_iter().enumerate() {
            if request.is_query() || request == Request::Reload {
                return Err(ApiError::new(
                    ErrorKind::Invalid,
                    format!("request {} of the batch is not a change", n + 1),
                ));
            }
            next.dispatch(request).map_err(|e| ApiError {
                kind: e.kind,
                message: format!("request {} of the batch: {}", n + 1, e.message),
            })?;
        }
        *self = next;
        Ok(())
    }
}

/// An empty persistence-engine name means none (ipvsadm sends "" when `--pe` is absent).
fn normalize_service(cfg: &mut ServiceConfig) {
    if cfg.pe_name.as_deref() == Some("") {
        cfg.pe_name = None;
    }
}

fn no_dest(key: &ServiceKey, addr: &IpAddr, port: u16) -> ApiError {
    ApiError::new(
        ErrorKind::NotFound,
        format!(
            "no real server {} in service {}",
            addr_port_text(addr, port),
            key_text(key)
        ),
    )
}

fn addr_port_text(addr: &IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// A service as ipvsadm names it on its command line ("TCP 10.0.0.1:80", "FWM 3").
fn key_text(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Addr { proto, addr, port } => {
            format!("{} {}", proto.name(), addr_port_text(addr, *port))
        }
        ServiceKey::Fwmark { mark, family } => match family {
            Family::V4 => format!("FWM {mark}"),
            Family::V6 => format!("FWM {mark} IPv6"),
        },
    }
}

/// A rule in words, for messages: "mark 99 TCP 10.0.0.1/32 port 80 from any".
fn rule_text(rule: &FwmarkRule) -> String {
    let proto = rule.proto.map_or("any protocol", |p| p.name());
    let ports = match rule.dst_ports {
        None => "any port".to_string(),
        Some((lo, hi)) if lo == hi => format!("port {lo}"),
        Some((lo, hi)) => format!("ports {lo}-{hi}"),
    };
    let src = rule
        .src
        .map_or("any".to_string(), |p| format!("{}/{}", p.addr, p.len));
    format!(
        "(mark {} {proto} to {}/{} {ports} from {src})",
        rule.mark, rule.dst.addr, rule.dst.len
    )
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_fwmark;
