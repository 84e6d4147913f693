//! Connection-table costs at scale: lookup hit, lookup miss, and insert (+ removal, to
//! keep the table at its size) with 1M entries; 10M entries with
//! `RVS_CONN_BENCH_10M=1` (takes ~2 GB and a minute to fill).
//!
//! `cargo bench -p rvs-core --bench conn_table`
//! Prints the memory used per entry (the table's own reservation and the process RSS).

use core::net::{IpAddr, Ipv4Addr};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use rvs_core::conn::tcp::TcpFlags;
use rvs_core::conn::{
    ConnTable, ConnTableConfig, DestCounters, Endpoint, InKey, NewConn, PacketEvent,
};
use rvs_core::model::ForwardMethod;
use rvs_core::time::Instant;
use std::hint::black_box;
use std::sync::Arc;

const VIP: Endpoint = Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100)), 80);

/// The i-th distinct client endpoint (addresses 10.64.0.0/10, ports 1024..).
fn client(i: u64) -> Endpoint {
    let addr = 0x0A40_0000u32 | ((i / 60_000) as u32 & 0x003F_FFFF);
    Endpoint::new(IpAddr::V4(Ipv4Addr::from(addr)), 1024 + (i % 60_000) as u16)
}

fn new_conn(i: u64, d: &Arc<DestCounters>) -> NewConn {
    let dest = Endpoint::new(
        IpAddr::V4(Ipv4Addr::new(10, 0, 2, 11 + (i % 4) as u8)),
        8080,
    );
    let mut n = NewConn::scheduled(6, client(i), VIP, dest, ForwardMethod::Masq);
    n.counters = Some(d.clone());
    n
}

fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// CPU time of this thread in ns (`/proc/thread-self/schedstat`): unlike wall time it
/// leaves out the time other processes hold the CPU, which on a shared machine is
/// most of it.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Per-operation CPU time of `ops` calls of `f`, printed next to criterion's figures.
fn cpu_per_op(label: &str, ops: u64, mut f: impl FnMut(u64)) {
    let (Some(t0), _) = (thread_cpu_ns(), ()) else {
        return;
    };
    for i in 0..ops {
        f(i);
    }
    if let Some(t1) = thread_cpu_ns() {
        eprintln!(
            "{label}: {:.0} ns/op CPU time over {ops} ops",
            (t1 - t0) as f64 / ops as f64
        );
    }
}

fn fill(n: u64) -> (ConnTable, Arc<DestCounters>) {
    let rss0 = rss_bytes().unwrap_or(0);
    let t = ConnTable::new(ConnTableConfig {
        max_entries: (n + n / 8) as usize,
        shards: 64,
    })
    .expect("table config");
    let d = Arc::new(DestCounters::new(0, 0));
    let now = Instant::ZERO;
    for i in 0..n {
        let c = t
            .insert(new_conn(i, &d), now)
            .expect("insert while filling");
        // Move to ESTABLISHED so nothing expires during the run (900 s).
        t.on_packet(
            c.id,
            rvs_core::conn::Direction::In,
            PacketEvent::Tcp(TcpFlags::SYN),
            now,
        );
        t.on_packet(
            c.id,
            rvs_core::conn::Direction::In,
            PacketEvent::Tcp(TcpFlags::ACK),
            now,
        );
    }
    let rss = rss_bytes().unwrap_or(0).saturating_sub(rss0);
    eprintln!(
        "conn_table {n} entries: entry {} B, reserved {:.1} B/entry ({} MiB for max {}), RSS growth {:.1} B/entry ({} MiB)",
        ConnTable::entry_size(),
        t.reserved_bytes() as f64 / t.max_entries() as f64,
        t.reserved_bytes() >> 20,
        t.max_entries(),
        rss as f64 / n as f64,
        rss >> 20
    );
    (t, d)
}

fn bench_size(c: &mut Criterion, n: u64, label: &str) {
    let (t, d) = fill(n);
    let now = Instant::from_secs(1);
    let ack = PacketEvent::Tcp(TcpFlags::ACK);
    cpu_per_op(&format!("{label} lookup_hit"), 1_000_000, |i| {
        let k = InKey {
            proto: 6,
            client: client((i * 7_919) % n),
            virt: VIP,
        };
        black_box(t.process_in(&k, ack, now));
    });
    cpu_per_op(&format!("{label} lookup_miss"), 1_000_000, |i| {
        let k = InKey {
            proto: 6,
            client: client(n + i),
            virt: VIP,
        };
        black_box(t.lookup_in(&k, now));
    });
    cpu_per_op(&format!("{label} insert_remove"), 1_000_000, |i| {
        let c = t
            .insert(new_conn(3 * n + i, &d), now)
            .expect("room for one more");
        black_box(t.expire_now(c.id));
    });
    let mut g = c.benchmark_group(format!("conn_table/{label}"));
    let mut i = 0u64;
    g.bench_function("lookup_hit", |b| {
        b.iter(|| {
            // A stride through the table so successive lookups touch different lines.
            i = (i + 7_919) % n;
            let k = InKey {
                proto: 6,
                client: client(i),
                virt: VIP,
            };
            black_box(t.process_in(&k, PacketEvent::Tcp(TcpFlags::ACK), now))
        })
    });
    let mut j = n;
    g.bench_function("lookup_miss", |b| {
        b.iter(|| {
            j += 1;
            let k = InKey {
                proto: 6,
                client: client(j),
                virt: VIP,
            };
            black_box(t.lookup_in(&k, now))
        })
    });
    let mut m = 2 * n;
    g.bench_function("insert_remove", |b| {
        b.iter_batched(
            || {
                m += 1;
                new_conn(m, &d)
            },
            |nc| {
                let c = t.insert(nc, now).expect("room for one more");
                black_box(t.expire_now(c.id))
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
    assert_eq!(t.len() as u64, n);
}

fn conn_table(c: &mut Criterion) {
    bench_size(c, 1_000_000, "1M");
    if std::env::var_os("RVS_CONN_BENCH_10M").is_some() {
        bench_size(c, 10_000_000, "10M");
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = conn_table
}
criterion_main!(benches);
