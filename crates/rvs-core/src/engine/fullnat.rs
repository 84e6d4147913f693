//! The FULLNAT local address/port pool: every FULLNAT connection takes one
//! (local address, local port) pair as its source towards the real server, unique
//! across the director, so that a reply's destination finds the connection alone.
//!
//! The connection table keeps a FULLNAT connection and its replies' key in the shard of
//! the client, so the local pair must hash to that same shard. The pool therefore
//! keeps one free queue per (shard, family), each under its own lock (taken once per
//! new or ended FULLNAT connection, never per packet).
//!
//! Freed pairs go to the back of their queue and are handed out from the front: a pair
//! is reused as late as possible, so that a real server still holding the previous
//! connection of the same (local address, port) in TIME_WAIT rarely sees the next one.

use super::config::FullNatPool;
use super::runtime::lock;
use crate::conn::Endpoint;
use crate::model::Family;
use core::net::IpAddr;
use std::collections::VecDeque;
use std::sync::{Mutex, OnceLock};

/// Free (address index, port) pairs of one shard, for IPv4 and IPv6.
type FreeLists = [Mutex<VecDeque<(u16, u16)>>; 2];

#[derive(Debug)]
struct Lists {
    /// Free (address index, port) pairs per shard, for IPv4 and IPv6.
    free: Box<[FreeLists]>,
    /// Shard of every pair: `shard[addr_idx * span + (port - lo)]`.
    shard: Box<[u16]>,
}

#[derive(Debug)]
pub(crate) struct PortPool {
    addrs: Vec<IpAddr>,
    lo: u16,
    span: usize,
    lists: OnceLock<Lists>,
}

fn fam_idx(f: Family) -> usize {
    match f {
        Family::V4 => 0,
        Family::V6 => 1,
    }
}

impl PortPool {
    /// A pool not usable until [`PortPool::init`] tells it the table's sharding.
    pub fn new(cfg: &FullNatPool) -> PortPool {
        let (a, b) = cfg.ports;
        let (lo, hi) = (a.min(b).max(1), a.max(b).max(1));
        let mut addrs = cfg.addrs.clone();
        addrs.truncate(usize::from(u16::MAX));
        PortPool {
            addrs,
            lo,
            span: usize::from(hi - lo) + 1,
            lists: OnceLock::new(),
        }
    }

    /// Sort every pair into the free list of its shard.
    pub fn init(&self, shards: usize, shard_of: impl Fn(IpAddr, u16) -> usize) {
        let shards = shards.max(1);
        let mut free: Vec<[VecDeque<(u16, u16)>; 2]> = (0..shards)
            .map(|_| [VecDeque::new(), VecDeque::new()])
            .collect();
        let mut shard = Vec::with_capacity(self.addrs.len() * self.span);
        for (i, a) in self.addrs.iter().enumerate() {
            let f = fam_idx(Family::of(a));
            for off in 0..self.span {
                let port = self.lo + off as u16;
                let s = shard_of(*a, port) % shards;
                shard.push(s as u16);
            }
            // The lowest ports are handed out first.
            for off in 0..self.span {
                let s = usize::from(shard[i * self.span + off]);
                free[s][f].push_back((i as u16, self.lo + off as u16));
            }
        }
        let free = free
            .into_iter()
            .map(|[v4, v6]| [Mutex::new(v4), Mutex::new(v6)])
            .collect();
        let _ = self.lists.set(Lists {
            free,
            shard: shard.into_boxed_slice(),
        });
    }

    /// Take a free pair of `family` whose shard is `shard`. `None` when exhausted.
    pub fn alloc(&self, family: Family, shard: usize) -> Option<Endpoint> {
        let lists = self.lists.get()?;
        let (i, port) = lock(lists.free.get(shard)?.get(fam_idx(family))?).pop_front()?;
        Some(Endpoint::new(*self.addrs.get(usize::from(i))?, port))
    }

    /// Give a pair back (unknown pairs are ignored).
    pub fn free(&self, local: Endpoint) {
        let Some(lists) = self.lists.get() else {
            return;
        };
        let Some(i) = self.addrs.iter().position(|a| *a == local.addr) else {
            return;
        };
        let Some(off) = local.port.checked_sub(self.lo).map(usize::from) else {
            return;
        };
        if off >= self.span {
            return;
        }
        let s = usize::from(lists.shard[i * self.span + off]);
        if let Some(l) = lists.free.get(s) {
            lock(&l[fam_idx(Family::of(&local.addr))]).push_back((i as u16, local.port));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_match_their_shard_are_unique_and_come_back() {
        let pool = PortPool::new(&FullNatPool {
            addrs: vec!["10.9.0.1".parse().unwrap(), "2001:db8::1".parse().unwrap()],
            ports: (5000, 5099),
        });
        assert!(pool.alloc(Family::V4, 0).is_none(), "unusable before init");
        let shard_of = |_: IpAddr, p: u16| usize::from(p % 4);
        pool.init(4, shard_of);
        let mut seen = std::collections::HashSet::new();
        let mut order = Vec::new();
        for _ in 0..25 {
            let e = pool.alloc(Family::V4, 3).unwrap();
            assert_eq!(shard_of(e.addr, e.port), 3);
            assert!(e.addr.is_ipv4());
            assert!(seen.insert(e.port), "port {} handed out twice", e.port);
            order.push(e.port);
        }
        assert_eq!(order[..3], [5003, 5007, 5011], "lowest first");
        assert!(pool.alloc(Family::V4, 3).is_none());
        // Freed pairs come back last: the oldest freed first.
        let v4 = |p: u16| Endpoint::new("10.9.0.1".parse().unwrap(), p);
        pool.free(v4(5011));
        pool.free(v4(5003));
        assert_eq!(pool.alloc(Family::V4, 3).unwrap().port, 5011);
        assert_eq!(pool.alloc(Family::V4, 3).unwrap().port, 5003);
        assert!(pool.alloc(Family::V6, 0).unwrap().addr.is_ipv6());
        assert!(pool.alloc(Family::V4, 99).is_none());
    }
}
