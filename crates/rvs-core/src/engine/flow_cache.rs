//! Each worker's flow cache: the fast path for the packets that make up nearly all of
//! a connection's traffic (TCP segments without SYN, FIN or RST in a state they do not
//! change; UDP datagrams), which then skip the service lookup, the connection table's
//! lock and its state machine.
//!
//! The cache maps a packet's exact addresses, ports and protocol to what forwarding
//! needs, prepared once for the flow (its NAT rewrite or IPIP outer header with their
//! checksum changes, its egress, its real server's and service's counters) and a
//! [`FastTicket`] on the connection's entry. The ticket is checked on every packet
//! against the entry's version word, which changes with anything that matters, so a
//! hit forwards exactly as the locked path would; anything else (a miss, a void
//! ticket, an expired entry, a sync-threshold packet) falls back to the locked path,
//! which refills the cache. A new configuration empties the cache (the real servers,
//! the timeouts or the tunnel parameters may have changed).
//!
//! The cache is private to its worker: no locks, no atomics but the ticket check and
//! the worker's own counter cells. Its size is fixed at creation; two ways per set, so
//! that the two directions of a connection handled by one worker, or two hot flows,
//! rarely evict each other.

use super::config::EngineConfig;
use super::registry::Registry;
use super::runtime::{DestRt, ServiceRt};
use super::xmit::{forward, InRoute, OutRoute};
use crate::conn::{ConnFlags, FastTicket};
use crate::model::{ForwardMethod, TunnelType};
use crate::verdict::Verdict;
use core::net::IpAddr;
use rvs_wire::flow::{FlowRewrite, FlowTuple, NatPlan};
use rvs_wire::tunnel::Ipip4Header;
use std::sync::Arc;

/// TCP flags that change a connection's state: such segments take the locked path.
pub(crate) const TCP_STATE_FLAGS: u16 = 0x01 | 0x02 | 0x04; // FIN, SYN, RST

/// The cache's key: a packet's addresses, ports and protocol.
type FlowKey = FlowTuple;

/// The 64×64→128-bit product folded to 64 bits.
#[inline(always)]
fn folded_multiply(x: u64, y: u64) -> u64 {
    let m = u128::from(x) * u128::from(y);
    (m as u64) ^ (m >> 64) as u64
}

/// One folded multiplication of the seeded words: the addresses on one side, the
/// ports and protocol on the other. Cheap, and good enough for a cache whose worst case
/// (colliding flows) is only the locked path; the seed is the worker's own secret.
#[inline]
fn hash(key: &FlowKey, seed: u64) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let w = &key.0;
    // IPv4 addresses are in words 1 and 3 (low halves); IPv6 ones fill 0 to 3.
    let addrs = w[1] ^ w[3].rotate_left(32) ^ w[0].rotate_left(16) ^ w[2].rotate_left(48);
    folded_multiply(addrs ^ seed, w[4] ^ seed.rotate_left(32) ^ K)
}

/// Key equality word by word (the derived comparison calls `memcmp`).
#[inline]
fn same(a: &FlowKey, b: &FlowKey) -> bool {
    let (a, b) = (&a.0, &b.0);
    ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4])) == 0
}

/// How the locked path forwarded a packet it offers the cache.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FlowRoute {
    /// Client → real server.
    In(InRoute),
    /// Real server → client (NAT, FULLNAT).
    Out(OutRoute),
}

/// What the locked path leaves for the cache after forwarding a packet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FlowFill {
    pub ticket: FastTicket,
    pub dest_id: u32,
    pub route: FlowRoute,
    /// Inbound packets of a connection the sync master counts (see `sync.rs`).
    pub sync: Option<SyncCounter>,
    /// NAT and FULLNAT: the rewrite.
    pub plan: Option<NatPlan>,
}

/// Where a connection's inbound packets are counted for the sync threshold, and
/// whether its state is one the threshold can make due.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SyncCounter {
    pub slot: u16,
    pub syncable: bool,
    /// Controlled by a persistence template, which the master considers for sync on
    /// every inbound packet of the connection: such packets take the locked path
    /// while this director is a sync master.
    pub templated: bool,
}

/// What the fast path does with a packet of a cached flow, decided once when the
/// flow is cached.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FlowAction {
    /// A client packet, on to its real server.
    In(InAction),
    /// NAT or FULLNAT, a reply: rewritten, back to the client (`forward`).
    Out {
        forward: Verdict,
        rewrite: FlowRewrite,
    },
}

/// How a client packet goes on to its real server.
#[derive(Debug, Clone, Copy)]
pub(crate) enum InAction {
    /// DR: to the real server, on-link, unchanged but for its TTL.
    Route { forward: Verdict },
    /// NAT or FULLNAT: rewritten, to the real server.
    Nat {
        forward: Verdict,
        rewrite: FlowRewrite,
    },
    /// TUN: encapsulated towards the real server (by its configured tunnel), as the
    /// locked path encapsulates; IPIP of IPv4 in IPv4 with its outer header prepared.
    Tunnel {
        forward: Verdict,
        ipip: Option<Ipip4Header>,
        route: InRoute,
        method: ForwardMethod,
    },
}

/// A cached flow.
#[derive(Debug, Clone)]
pub(crate) struct CachedFlow {
    pub ticket: FastTicket,
    pub sync: Option<SyncCounter>,
    pub action: FlowAction,
    /// The counters of the flow's real server and service. Held, not looked up: a new
    /// configuration empties the cache, so they are the live ones while cached.
    pub dest: Arc<DestRt>,
    pub svc: Arc<ServiceRt>,
}

impl CachedFlow {
    /// The cache entry for the flow `key` from what the locked path offered; `None`
    /// for what the fast path does not forward (the locked path keeps those).
    pub fn of(
        key: &FlowKey,
        fill: &FlowFill,
        reg: &Registry,
        cfg: &EngineConfig,
    ) -> Option<CachedFlow> {
        let (svc, dest) = reg.dest(fill.dest_id)?;
        let rewrite = || fill.plan.and_then(|p| p.for_flow(key));
        let action = match fill.route {
            FlowRoute::In(r) => FlowAction::In(match r.flags.0 & ConnFlags::FWD_MASK {
                ConnFlags::DROUTE => InAction::Route {
                    forward: forward(r.dest.addr, true),
                },
                ConnFlags::TUNNEL => InAction::Tunnel {
                    forward: forward(r.dest.addr, false),
                    ipip: ipip4_header(key, &r, dest.config.method, cfg),
                    route: r,
                    method: dest.config.method,
                },
                ConnFlags::MASQ | ConnFlags::FULLNAT => InAction::Nat {
                    forward: forward(r.dest.addr, false),
                    rewrite: rewrite()?,
                },
                _ => return None,
            }),
            FlowRoute::Out(r) => match r.flags.0 & ConnFlags::FWD_MASK {
                ConnFlags::MASQ | ConnFlags::FULLNAT => FlowAction::Out {
                    forward: forward(r.client.addr, false),
                    rewrite: rewrite()?,
                },
                _ => return None,
            },
        };
        Some(CachedFlow {
            ticket: fill.ticket,
            sync: fill.sync,
            action,
            dest: dest.rt.clone(),
            svc: svc.rt.clone(),
        })
    }
}

/// The prepared outer header of a TUN flow that is IPIP with IPv4 inside and out.
fn ipip4_header(
    key: &FlowKey,
    route: &InRoute,
    method: ForwardMethod,
    cfg: &EngineConfig,
) -> Option<Ipip4Header> {
    let inner_v4 = key.0[4] >> 40 & 1 == 0;
    match (method, route.dest.addr, cfg.tunnel_src_v4) {
        (ForwardMethod::Tunnel(t), IpAddr::V4(rip), Some(src))
            if inner_v4 && t.kind == TunnelType::Ipip =>
        {
            Some(Ipip4Header::new(src, rip))
        }
        _ => None,
    }
}

#[derive(Debug, Clone, Default)]
struct Slot {
    /// All zeros when empty (no packet's key is: its protocol is in it).
    key: FlowKey,
    flow: Option<CachedFlow>,
}

/// One worker's flow cache (see the module docs).
#[derive(Debug)]
pub(crate) struct FlowCache {
    slots: Box<[Slot]>,
    /// Sets − 1 (each set is two consecutive slots).
    set_mask: usize,
    seed: u64,
}

impl FlowCache {
    /// A cache of about `slots` entries (rounded up to a power of two, at least 2);
    /// 0 makes a disabled cache that never hits.
    pub fn new(slots: usize, seed: u64) -> FlowCache {
        let n = if slots == 0 {
            0
        } else {
            slots.next_power_of_two().max(2)
        };
        FlowCache {
            slots: vec![Slot::default(); n].into_boxed_slice(),
            set_mask: (n / 2).saturating_sub(1),
            seed,
        }
    }

    pub fn enabled(&self) -> bool {
        !self.slots.is_empty()
    }

    /// Forget everything (a new configuration), letting go of the old configuration's
    /// counters. Configurations change at human or health-check pace, not per packet.
    pub fn clear(&mut self) {
        for s in self.slots.iter_mut() {
            if s.flow.is_some() {
                *s = Slot::default();
            }
        }
    }

    #[inline]
    fn set_of(&self, key: &FlowKey) -> (usize, u64) {
        let h = hash(key, self.seed);
        (((h as usize) & self.set_mask) * 2, h)
    }

    #[inline]
    pub fn get(&self, key: &FlowKey) -> Option<&CachedFlow> {
        if self.slots.is_empty() {
            return None;
        }
        let (i, _) = self.set_of(key);
        self.slots
            .get(i..i + 2)?
            .iter()
            .find(|s| same(&s.key, key))
            .and_then(|s| s.flow.as_ref())
    }

    /// Remember `flow` for `key`, replacing the key's old entry, else an empty one,
    /// else one of the set's two chosen by the hash.
    pub fn insert(&mut self, key: FlowKey, flow: CachedFlow) {
        if self.slots.is_empty() {
            return;
        }
        let (i, h) = self.set_of(&key);
        let Some(set) = self.slots.get_mut(i..i + 2) else {
            return;
        };
        let way = set
            .iter()
            .position(|s| same(&s.key, &key))
            .or_else(|| set.iter().position(|s| s.flow.is_none()))
            .unwrap_or((h >> 63) as usize);
        set[way] = Slot {
            key,
            flow: Some(flow),
        };
    }

    /// Drop `key`'s entry, if any (its ticket was found void).
    pub fn remove(&mut self, key: &FlowKey) {
        if self.slots.is_empty() {
            return;
        }
        let (i, _) = self.set_of(key);
        if let Some(set) = self.slots.get_mut(i..i + 2) {
            for s in set.iter_mut() {
                if same(&s.key, key) {
                    *s = Slot::default();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        DestConfig, Protocol, SchedFlags, SchedulerKind, ServiceConfig, ServiceKey,
    };
    use crate::time::Instant;
    use core::net::{IpAddr, Ipv4Addr};

    fn key(port: u16) -> FlowKey {
        FlowTuple([
            0,
            0x0a00_0001,
            0,
            0x0a00_0002,
            u64::from(port) | 80 << 16 | 6 << 32,
        ])
    }

    /// A DR flow to a real server whose id is `tag`.
    fn flow(tag: u32) -> CachedFlow {
        let addr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9));
        let svc = ServiceConfig {
            key: ServiceKey::Addr {
                proto: Protocol::Tcp,
                addr,
                port: 80,
            },
            scheduler: SchedulerKind::Rr,
            sched_flags: SchedFlags::default(),
            persistence: None,
            one_packet: false,
            pe_name: None,
        };
        let dest = DestConfig {
            addr,
            port: 80,
            method: ForwardMethod::Route,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
        };
        CachedFlow {
            ticket: FastTicket::default(),
            sync: None,
            action: FlowAction::In(InAction::Route {
                forward: forward(addr, true),
            }),
            dest: Arc::new(DestRt::new(tag, &dest, 1, Instant::ZERO)),
            svc: Arc::new(ServiceRt::new(0, &svc, 1, 0, Instant::ZERO)),
        }
    }

    fn tag(c: &FlowCache, k: &FlowKey) -> Option<u32> {
        c.get(k).map(|f| f.dest.id)
    }

    #[test]
    fn keys_differing_in_any_word_are_different() {
        let k = key(1000);
        for i in 0..5 {
            let mut o = k;
            o.0[i] ^= 1 << (i * 7);
            assert!(!same(&k, &o));
            assert!(same(&o, &o));
        }
    }

    #[test]
    fn insert_get_replace_remove_and_clear() {
        let mut c = FlowCache::new(64, 7);
        let keys: Vec<FlowKey> = (0..200u16).map(key).collect();
        for (i, k) in keys.iter().enumerate() {
            c.insert(*k, flow(i as u32));
            assert_eq!(tag(&c, k), Some(i as u32));
        }
        // 200 keys in 64 places: some were evicted, none answers for another.
        let hits = keys
            .iter()
            .enumerate()
            .filter(|(i, k)| match tag(&c, k) {
                Some(t) => {
                    assert_eq!(t, *i as u32);
                    true
                }
                None => false,
            })
            .count();
        assert!(hits > 0 && hits <= 64, "{hits}");
        let last = keys[199];
        c.insert(last, flow(999));
        assert_eq!(tag(&c, &last), Some(999));
        c.remove(&last);
        assert!(c.get(&last).is_none());
        c.insert(last, flow(5));
        c.clear();
        assert!(c.get(&last).is_none());
        assert!(keys.iter().all(|k| c.get(k).is_none()));
    }

    #[test]
    fn clearing_lets_go_of_the_old_configuration() {
        let mut c = FlowCache::new(8, 3);
        let f = flow(1);
        let dest = Arc::clone(&f.dest);
        c.insert(key(1), f);
        assert_eq!(Arc::strong_count(&dest), 2);
        c.clear();
        assert_eq!(Arc::strong_count(&dest), 1);
    }

    #[test]
    fn an_entry_stays_within_four_cache_lines() {
        let size = core::mem::size_of::<Slot>();
        println!("flow cache entry: {size} bytes");
        assert!(size <= 256, "{size} bytes");
    }

    #[test]
    fn a_disabled_cache_never_hits() {
        let mut c = FlowCache::new(0, 1);
        c.insert(key(1), flow(1));
        assert!(!c.enabled());
        assert!(c.get(&key(1)).is_none());
    }
}
