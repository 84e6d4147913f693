//! The packet path of the connection table never allocates: lookups, state changes,
//! inserts and removals (with the index full of tombstones) run on memory reserved
//! when the table was made.

use core::net::{IpAddr, Ipv4Addr};
use rvs_core::conn::tcp::TcpFlags;
use rvs_core::conn::{
    ConnTable, ConnTableConfig, DestCounters, Direction, Endpoint, InKey, NewConn, OutKey,
    PacketEvent,
};
use rvs_core::model::ForwardMethod;
use rvs_core::time::Instant;
use std::sync::Arc;

mod alloc_support;

#[global_allocator]
static GLOBAL: alloc_support::Counting = alloc_support::Counting;

fn ep(a: u32, port: u16) -> Endpoint {
    Endpoint::new(IpAddr::V4(Ipv4Addr::from(a)), port)
}

#[test]
fn steady_state_does_not_allocate() {
    const MAX: usize = 4096;
    let t = ConnTable::new(ConnTableConfig {
        max_entries: MAX,
        shards: 4,
    })
    .unwrap();
    let d = Arc::new(DestCounters::new(0, 0));
    let vip = ep(0x0A00_0064, 80);
    let rs = ep(0x0A00_020B, 8080);
    let conn = |i: u32| {
        let mut n = NewConn::scheduled(6, ep(0x0A40_0000 + i, 1000), vip, rs, ForwardMethod::Masq);
        n.counters = Some(d.clone());
        n
    };
    // Build every NewConn up front so that only the table is measured.
    let news: Vec<NewConn> = (0..40_000u32).map(conn).collect();
    let now = Instant::from_secs(1);
    let syn = PacketEvent::Tcp(TcpFlags::SYN);
    let ack = PacketEvent::Tcp(TcpFlags::ACK);

    let mut live = std::collections::VecDeque::with_capacity(MAX);
    let (inserted, allocations) = alloc_support::allocations_in(|| {
        let mut inserted = 0u32;
        for (i, n) in news.into_iter().enumerate() {
            // Keep the table nearly full: churn through ten times its size.
            if live.len() >= MAX - 64 {
                let id = live.pop_front().unwrap();
                assert!(t.expire_now(id));
            }
            let Ok(c) = t.insert(n, now) else { continue };
            inserted += 1;
            live.push_back(c.id);
            t.on_packet(c.id, Direction::In, syn, now).unwrap();
            let client = ep(0x0A40_0000 + i as u32, 1000);
            let k = InKey {
                proto: 6,
                client,
                virt: vip,
            };
            assert!(t.process_in(&k, ack, now).is_some());
            let o = OutKey {
                proto: 6,
                server: rs,
                client,
            };
            assert!(t.process_out(&o, ack, now).is_some());
            let miss = InKey {
                proto: 17,
                client,
                virt: vip,
            };
            assert!(t.lookup_in(&miss, now).is_none());
        }
        t.expire(Instant::from_secs(5000), 100_000);
        inserted
    });
    assert!(inserted > 30_000, "only {inserted} inserted");
    assert_eq!(allocations, 0, "allocations on the packet path");
    assert!(t.is_empty());
}
