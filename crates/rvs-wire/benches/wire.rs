//! Per-packet costs of the hot path: parse an Ethernet/IPv4/TCP frame, and a NAT rewrite.
//! Figures are for reading, never asserted.

use core::net::{IpAddr, Ipv4Addr};
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use rvs_wire::packet::parse_frame;
use rvs_wire::rewrite::{example_frame_bytes, rewrite, NatRewrite};

fn bench(c: &mut Criterion) {
    let mut frame = [0u8; 54];
    example_frame_bytes(&mut frame);

    c.bench_function("parse eth/ipv4/tcp", |b| {
        b.iter(|| parse_frame(black_box(&frame)).unwrap())
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

criterion_group!(benches, bench);
criterion_main!(benches);
