//! The published configuration: an immutable snapshot of services and their real
//! servers that workers read without locks, and the diff that builds the next one.
//!
//! Runtime state that must survive a reload (a scheduler's position, a real server's
//! connection counters, statistics) lives in `*Rt` objects shared, through `Arc`,
//! between consecutive snapshots; everything else is rebuilt on every `apply`.

use super::runtime::{DestRt, ServiceRt};
use crate::model::{
    DestConfig, Family, FwmarkRule, Protocol, ServiceConfig, ServiceKey, VirtualService,
};
use crate::sched::DestLoad;
use crate::time::Instant;
use core::net::IpAddr;
use hashbrown::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// A real server as one snapshot sees it.
#[derive(Debug)]
pub(crate) struct Dest {
    pub config: DestConfig,
    pub rt: Arc<DestRt>,
}

/// A virtual service as one snapshot sees it; `dests` in the kernel's list order.
#[derive(Debug)]
pub(crate) struct Service {
    pub config: ServiceConfig,
    pub dests: Vec<Dest>,
    pub rt: Arc<ServiceRt>,
}

impl Service {
    pub fn dest_by_id(&self, id: u32) -> Option<&Dest> {
        self.dests.iter().find(|d| d.rt.id == id)
    }
}

/// An empty place of `Registry::dest_slots`.
const NO_DEST: u32 = u32::MAX;

/// One published configuration.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    pub services: Vec<Arc<Service>>,
    by_addr: HashMap<(Protocol, IpAddr, u16), usize>,
    by_mark: HashMap<(u32, Family), usize>,
    /// Live real servers by id: (service index, position in its list).
    by_dest_id: HashMap<u32, (u32, u32)>,
    /// The same, indexed by id (`NO_DEST` where none), while ids stay dense enough: a
    /// bounds check instead of a hash lookup on every forwarded packet.
    dest_slots: Vec<(u32, u32)>,
    /// Addresses of address services, distinct (packets to them are client packets;
    /// fragments to them are refused, not passed). Usually a handful: a linear scan
    /// beats hashing.
    vips: Vec<IpAddr>,
    /// The same as a set, when there are many.
    vip_set: Option<HashSet<IpAddr>>,
    pub rules: Vec<FwmarkRule>,
}

impl Registry {
    pub fn by_addr(&self, proto: Protocol, addr: IpAddr, port: u16) -> Option<&Arc<Service>> {
        self.by_addr
            .get(&(proto, addr, port))
            .map(|&i| &self.services[i])
    }

    pub fn by_mark(&self, mark: u32, family: Family) -> Option<&Arc<Service>> {
        self.by_mark
            .get(&(mark, family))
            .map(|&i| &self.services[i])
    }

    /// A live real server (and its service) by id; `None` once it was removed.
    #[inline(always)]
    pub fn dest(&self, id: u32) -> Option<(&Arc<Service>, &Dest)> {
        let (s, d) = match self.dest_slots.get(id as usize) {
            Some(&(s, _)) if s == NO_DEST => return None,
            Some(&sd) => sd,
            None if self.dest_slots.is_empty() => *self.by_dest_id.get(&id)?,
            None => return None,
        };
        let svc = self.services.get(s as usize)?;
        Some((svc, svc.dests.get(d as usize)?))
    }

    pub fn is_vip(&self, addr: &IpAddr) -> bool {
        match &self.vip_set {
            Some(set) => set.contains(addr),
            None => self.vips.iter().any(|v| v == addr),
        }
    }

    pub fn by_key(&self, key: &ServiceKey) -> Option<&Arc<Service>> {
        match *key {
            ServiceKey::Addr { proto, addr, port } => self.by_addr(proto, addr, port),
            ServiceKey::Fwmark { mark, family } => self.by_mark(mark, family),
        }
    }

    /// The service a packet to `addr:port` belongs to, as `ip_vs_service_find` does
    /// after the fwmark lookup: the exact port first, then a port-zero service.
    pub fn find_addr(&self, proto: Protocol, addr: IpAddr, port: u16) -> Option<&Arc<Service>> {
        self.by_addr(proto, addr, port)
            .or_else(|| self.by_addr(proto, addr, 0))
    }
}

/// Hands out engine-wide unique ids of services and real servers (0 is never used,
/// so it can mean "none" in a connection entry).
#[derive(Debug)]
pub(crate) struct IdGen(AtomicU32);

impl IdGen {
    pub fn new() -> IdGen {
        IdGen(AtomicU32::new(1))
    }

    pub fn next(&self) -> u32 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

/// Build the next snapshot from the desired state, reusing the runtime state of
/// everything that is still there. Duplicate service keys or real servers keep
/// their first occurrence (the control plane refuses duplicates before this).
pub(crate) fn rebuild(
    old: &Registry,
    services: &[VirtualService],
    rules: &[FwmarkRule],
    ids: &IdGen,
    workers: usize,
    seed: u64,
    now: Instant,
) -> Registry {
    let mut next = Registry {
        rules: rules.to_vec(),
        ..Registry::default()
    };
    for vs in services {
        if next.by_key(&vs.config.key).is_some() {
            continue;
        }
        let prev = old.by_key(&vs.config.key);
        let svc = build_service(prev.map(|s| &**s), vs, ids, workers, seed, now);
        let idx = next.services.len();
        for (di, d) in svc.dests.iter().enumerate() {
            next.by_dest_id.insert(d.rt.id, (idx as u32, di as u32));
        }
        match vs.config.key {
            ServiceKey::Addr { proto, addr, port } => {
                next.by_addr.insert((proto, addr, port), idx);
                if !next.vips.contains(&addr) {
                    next.vips.push(addr);
                }
            }
            ServiceKey::Fwmark { mark, family } => {
                next.by_mark.insert((mark, family), idx);
            }
        }
        next.services.push(Arc::new(svc));
    }
    // Ids only grow (one per real server ever added): index them directly while the
    // largest stays within a few times the live count, else keep to the map.
    if let Some(&max) = next.by_dest_id.keys().max() {
        let max = max as usize;
        if max <= 4096 + 8 * next.by_dest_id.len() {
            next.dest_slots = vec![(NO_DEST, 0); max + 1];
            for (&id, &sd) in &next.by_dest_id {
                next.dest_slots[id as usize] = sd;
            }
        }
    }
    if next.vips.len() > 16 {
        next.vip_set = Some(next.vips.iter().copied().collect());
    }
    for svc in &old.services {
        if next.by_key(&svc.config.key).is_none() {
            for d in &svc.dests {
                d.rt.set_available(false);
            }
        }
    }
    next
}

fn build_service(
    prev: Option<&Service>,
    vs: &VirtualService,
    ids: &IdGen,
    workers: usize,
    seed: u64,
    now: Instant,
) -> Service {
    let rt = match prev {
        Some(p) => p.rt.clone(),
        None => Arc::new(ServiceRt::new(ids.next(), &vs.config, workers, seed, now)),
    };
    let mut dests: Vec<Dest> = Vec::with_capacity(vs.dests.len());
    for dc in &vs.dests {
        if dests
            .iter()
            .any(|d| d.config.addr == dc.addr && d.config.port == dc.port)
        {
            continue;
        }
        let reused = prev
            .and_then(|p| {
                p.dests
                    .iter()
                    .find(|d| d.config.addr == dc.addr && d.config.port == dc.port)
            })
            .map(|d| d.rt.clone())
            .or_else(|| rt.revive(dc.addr, dc.port));
        let drt = match reused {
            Some(d) => d,
            None => Arc::new(DestRt::new(ids.next(), dc, workers, now)),
        };
        drt.configure(dc);
        dests.push(Dest {
            config: *dc,
            rt: drt,
        });
    }
    if let Some(p) = prev {
        for d in &p.dests {
            if !dests.iter().any(|n| Arc::ptr_eq(&n.rt, &d.rt)) {
                d.rt.set_available(false);
                rt.bury(d.rt.clone());
            }
        }
    }
    let loads: Vec<DestLoad> = dests.iter().map(|d| d.rt.load()).collect();
    let config_changed = prev.is_none_or(|p| {
        p.config.scheduler != vs.config.scheduler || p.config.sched_flags != vs.config.sched_flags
    });
    let dests_changed = prev.is_none_or(|p| {
        p.dests.len() != dests.len()
            || p.dests
                .iter()
                .zip(&dests)
                .any(|(a, b)| !Arc::ptr_eq(&a.rt, &b.rt) || a.config.weight != b.config.weight)
    });
    rt.reconfigure(&vs.config, &loads, config_changed, dests_changed, now);
    Service {
        config: vs.config.clone(),
        dests,
        rt,
    }
}
