//! Each worker's flow cache: the fast path for the packets that make up nearly all of
//! a connection's traffic (TCP segments without SYN, FIN or RST in a state they do not
//! change; UDP datagrams), which then skip the service lookup, the connection table's
//! lock and its state machine.
//!
//! The cache maps a packet's exact addresses, ports and protocol to what forwarding
//! needs (the rewrite of the connection, its real server) and a
//! [`FastTicket`] on the connection's entry. The ticket is checked on every packet
//! against the entry's version word, which changes with anything that matters, so a
//! hit forwards exactly as the locked path would; anything else (a miss, a void
//! ticket, an expired entry, a sync-threshold packet) falls back to the locked path,
//! which refills the cache. A new configuration empties the cache (the real servers,
//! the timeouts or the tunnel parameters may have changed).
//!
//! The cache is private to its worker: no locks, no atomics but the ticket check. Its
//! size is fixed at creation; two ways per set, so that the two directions of a
//! connection handled by one worker, or two hot flows, rarely evict each other.

use super::xmit::{InRoute, OutRoute};
use crate::conn::{ConnFlags, FastTicket};
use core::net::{IpAddr, Ipv4Addr};
use rvs_wire::flow::{FlowRewrite, FlowTuple, NatPlan};

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

/// Folded multiplications of the seeded words, three independent ones combined (no
/// chain of dependent multiplications on the packet's path): cheap, and good enough
/// for a cache whose worst case (colliding flows) is only the locked path.
#[inline]
fn hash(key: &FlowKey, seed: u64) -> u64 {
    const K: [u64; 3] = [
        0x9E37_79B9_7F4A_7C15,
        0xC2B2_AE3D_27D4_EB4F,
        0x1656_67B1_9E37_79F9,
    ];
    let w = &key.0;
    let a = folded_multiply(w[0] ^ w[2].rotate_left(29) ^ seed, K[0]);
    let b = folded_multiply(w[1] ^ seed.rotate_left(17), w[3] ^ K[1]);
    let c = folded_multiply(w[4] ^ seed.rotate_left(41), K[2]);
    folded_multiply(a ^ b ^ c, K[0] ^ seed)
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
}

/// What the fast path does with a packet of a cached flow, decided once when the
/// flow is cached.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FlowAction {
    /// A client packet, on to its real server.
    In(InAction),
    /// NAT or FULLNAT, a reply: rewritten, back to the client `to`.
    Out { to: IpAddr, rewrite: FlowRewrite },
}

/// How a client packet goes on to its real server.
#[derive(Debug, Clone, Copy)]
pub(crate) enum InAction {
    /// DR: to the real server `to`, on-link, unchanged but for its TTL.
    Route { to: IpAddr },
    /// NAT or FULLNAT: rewritten, to the real server `to`.
    Nat { to: IpAddr, rewrite: FlowRewrite },
    /// TUN: encapsulated towards the real server, as the locked path encapsulates.
    Tunnel(InRoute),
}

/// A cached flow.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CachedFlow {
    pub ticket: FastTicket,
    pub dest_id: u32,
    pub sync: Option<SyncCounter>,
    pub action: FlowAction,
}

impl CachedFlow {
    /// The cache entry for the flow `key` from what the locked path offered; `None`
    /// for what the fast path does not forward (the locked path keeps those).
    fn of(key: &FlowKey, fill: &FlowFill) -> Option<CachedFlow> {
        let rewrite = || fill.plan.and_then(|p| p.for_flow(key));
        let action = match fill.route {
            FlowRoute::In(r) => FlowAction::In(match r.flags.0 & ConnFlags::FWD_MASK {
                ConnFlags::DROUTE => InAction::Route { to: r.dest.addr },
                ConnFlags::TUNNEL => InAction::Tunnel(r),
                ConnFlags::MASQ | ConnFlags::FULLNAT => InAction::Nat {
                    to: r.dest.addr,
                    rewrite: rewrite()?,
                },
                _ => return None,
            }),
            FlowRoute::Out(r) => match r.flags.0 & ConnFlags::FWD_MASK {
                ConnFlags::MASQ | ConnFlags::FULLNAT => FlowAction::Out {
                    to: r.client.addr,
                    rewrite: rewrite()?,
                },
                _ => return None,
            },
        };
        Some(CachedFlow {
            ticket: fill.ticket,
            dest_id: fill.dest_id,
            sync: fill.sync,
            action,
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    key: FlowKey,
    /// Valid while equal to the cache's epoch (0 never is).
    epoch: u32,
    flow: CachedFlow,
}

/// One worker's flow cache (see the module docs).
#[derive(Debug)]
pub(crate) struct FlowCache {
    slots: Box<[Slot]>,
    /// Sets − 1 (each set is two consecutive slots).
    set_mask: usize,
    epoch: u32,
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
        let empty = Slot {
            key: FlowKey::default(),
            epoch: 0,
            flow: CachedFlow {
                ticket: FastTicket::default(),
                dest_id: 0,
                sync: None,
                action: FlowAction::In(InAction::Route {
                    to: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                }),
            },
        };
        FlowCache {
            slots: vec![empty; n].into_boxed_slice(),
            set_mask: (n / 2).saturating_sub(1),
            epoch: 1,
            seed,
        }
    }

    pub fn enabled(&self) -> bool {
        !self.slots.is_empty()
    }

    /// Forget everything (a new configuration).
    pub fn clear(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            // Wrapped: old slots could look valid again.
            for s in self.slots.iter_mut() {
                s.epoch = 0;
            }
            self.epoch = 1;
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
            .find(|s| s.epoch == self.epoch && same(&s.key, key))
            .map(|s| &s.flow)
    }

    /// Remember `fill` for `key`, replacing the key's old entry, else an invalid one,
    /// else one of the set's two chosen by the hash; nothing when the fast path would
    /// not forward such packets.
    pub fn insert(&mut self, key: FlowKey, fill: &FlowFill) {
        if self.slots.is_empty() {
            return;
        }
        let Some(flow) = CachedFlow::of(&key, fill) else {
            return;
        };
        let (i, h) = self.set_of(&key);
        let epoch = self.epoch;
        let Some(set) = self.slots.get_mut(i..i + 2) else {
            return;
        };
        let way = set
            .iter()
            .position(|s| s.epoch == epoch && same(&s.key, &key))
            .or_else(|| set.iter().position(|s| s.epoch != epoch))
            .unwrap_or((h >> 63) as usize);
        set[way] = Slot { key, epoch, flow };
    }

    /// Drop `key`'s entry, if any (its ticket was found void).
    pub fn remove(&mut self, key: &FlowKey) {
        if self.slots.is_empty() {
            return;
        }
        let (i, _) = self.set_of(key);
        let epoch = self.epoch;
        if let Some(set) = self.slots.get_mut(i..i + 2) {
            for s in set.iter_mut() {
                if s.epoch == epoch && same(&s.key, key) {
                    s.epoch = 0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::Endpoint;

    fn key(port: u16) -> FlowKey {
        FlowTuple([
            0,
            0x0a00_0001,
            0,
            0x0a00_0002,
            u64::from(port) | 80 << 16 | 6 << 32,
        ])
    }

    fn fill(dest_id: u32) -> FlowFill {
        FlowFill {
            ticket: FastTicket::default(),
            dest_id,
            route: FlowRoute::In(InRoute {
                flags: ConnFlags(ConnFlags::DROUTE),
                dest: Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)), 80),
                local: None,
            }),
            sync: None,
            plan: None,
        }
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
            c.insert(*k, &fill(i as u32));
            assert_eq!(c.get(k).map(|f| f.dest_id), Some(i as u32));
        }
        // 200 keys in 64 places: some were evicted, none answers for another.
        let hits = keys
            .iter()
            .enumerate()
            .filter(|(i, k)| match c.get(k) {
                Some(f) => {
                    assert_eq!(f.dest_id, *i as u32);
                    true
                }
                None => false,
            })
            .count();
        assert!(hits > 0 && hits <= 64, "{hits}");
        let last = keys[199];
        c.insert(last, &fill(999));
        assert_eq!(c.get(&last).map(|f| f.dest_id), Some(999));
        c.remove(&last);
        assert!(c.get(&last).is_none());
        c.insert(last, &fill(5));
        c.clear();
        assert!(c.get(&last).is_none());
        assert!(keys.iter().all(|k| c.get(k).is_none()));
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
        c.insert(key(1), &fill(1));
        assert!(!c.enabled());
        assert!(c.get(&key(1)).is_none());
    }

    #[test]
    fn epoch_wrap_forgets_old_entries() {
        let mut c = FlowCache::new(4, 1);
        c.insert(key(1), &fill(1));
        c.epoch = u32::MAX;
        c.insert(key(1), &fill(2));
        c.clear();
        assert_eq!(c.epoch, 1);
        assert!(c.get(&key(1)).is_none());
    }
}
