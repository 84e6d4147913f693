//! ns per scheduling decision, per scheduler, with 3 and 32 real servers.
//!
//! Loads and weights vary between servers, and the client address changes on
//! every decision (so the hashing schedulers do not hit one bucket).
//!
//! Time is the bench thread's CPU time (CLOCK_THREAD_CPUTIME_ID), not wall
//! time: on a shared machine, time spent preempted by other jobs would
//! otherwise be counted as scheduling time.

use core::net::{IpAddr, Ipv4Addr};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use rvs_core::model::{SchedFlags, SchedulerKind};
use rvs_core::sched::{new_scheduler, DestLoad, SchedInput};
use rvs_core::time::Instant;
use std::time::Duration;

/// CPU time consumed by the calling thread.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn dests(n: usize) -> Vec<DestLoad> {
    (0..n)
        .map(|i| DestLoad {
            id: i as u32 + 1,
            addr: IpAddr::V4(Ipv4Addr::new(
                10,
                0,
                2 + (i / 200) as u8,
                11 + (i % 200) as u8,
            )),
            port: 8000,
            weight: 1 + (i as i32 * 7) % 5,
            last_weight: 1 + (i as i32 * 7) % 5,
            active: (i as u32 * 13) % 40,
            inactive: (i as u32 * 29) % 300,
            overloaded: false,
        })
        .collect()
}

fn inputs() -> Vec<SchedInput> {
    (0..1024u32)
        .map(|j| SchedInput {
            src: IpAddr::V4(Ipv4Addr::from(0x0a01_0000 + j * 7)),
            src_port: 20000 + j as u16,
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100)),
            dst_port: 80,
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let ins = inputs();
    let mut g = c.benchmark_group("schedule");
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_millis(800));
    g.sample_size(20);
    for kind in SchedulerKind::ALL {
        for n in [3usize, 32] {
            let d = dests(n);
            let mut s = new_scheduler(kind, SchedFlags::default(), 1);
            s.update(&d, Instant::ZERO);
            let mut j = 0usize;
            g.bench_with_input(BenchmarkId::new(kind.name(), n), &d, |b, d| {
                b.iter_custom(|iters| {
                    let start = thread_cpu_time();
                    for _ in 0..iters {
                        j = (j + 1) & 1023;
                        black_box(s.schedule(black_box(d), &ins[j], Instant::ZERO));
                    }
                    thread_cpu_time() - start
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
