//! Per-packet costs of the hot path: parse an Ethernet/IPv4/TCP frame, and a NAT rewrite.
//! Figures are for reading, never asserted.
//!
//! Time is the thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall time: the
//! development and CI machines are small and shared, and time spent waiting for a core
//! says nothing about this code.

use core::net::{IpAddr, Ipv4Addr};
use std::hint::black_box;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, Criterion};
use nix::time::{clock_gettime, ClockId};
use rvs_wire::packet::parse_frame;
use rvs_wire::rewrite::{example_frame_bytes, rewrite, NatRewrite};

/// Nanoseconds this thread has run on a CPU.
struct CpuTime;

fn cpu_ns() -> u64 {
    // The thread CPU clock exists on every Linux; a failure would be a broken system.
    let t = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).expect("thread CPU clock");
    t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
}

static WALL: WallTime = WallTime;

impl Measurement for CpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        cpu_ns()
    }

    fn end(&self, start: u64) -> u64 {
        cpu_ns().saturating_sub(start)
    }

    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }

    fn zero(&self) -> u64 {
        0
    }

    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}

fn bench(c: &mut Criterion<CpuTime>) {
    let mut frame = [0u8; 54];
    example_frame_bytes(&mut frame);

    c.bench_function("parse eth/ipv4/tcp", |b| {
        // Return what a caller reads (the ports), not the whole 150-byte result, which
        // black_box would force into memory.
        b.iter(|| parse_frame(black_box(&frame)).map(|i| i.ip.transport.ports()))
    });

    let info = parse_frame(&frame).unwrap();
    let rip = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 11));
    let to_rs = NatRewrite::dst(rip, 8080);
    let back = NatRewrite::dst(info.ip.dst, 80);
    c.bench_function("nat rewrite dst addr+port (ipv4/tcp)", |b| {
        let mut buf = frame;
        let mut flip = false;
        b.iter(|| {
            // Alternate so every iteration really changes the packet.
            flip = !flip;
            let rw = if flip { &to_rs } else { &back };
            rewrite(black_box(&mut buf), &info.ip, rw).unwrap();
        })
    });

    c.bench_function("parse + nat rewrite (ipv4/tcp)", |b| {
        let mut buf = frame;
        let mut flip = false;
        b.iter(|| {
            let info = parse_frame(black_box(&buf)).unwrap();
            flip = !flip;
            let rw = if flip { &to_rs } else { &back };
            rewrite(&mut buf, &info.ip, rw).unwrap();
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime);
    targets = bench
}
criterion_main!(benches);
