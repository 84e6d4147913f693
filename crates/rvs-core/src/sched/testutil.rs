//! Builders shared by the schedulers' unit tests.

use super::{DestLoad, SchedInput};
use core::net::{IpAddr, Ipv4Addr};

/// Servers 10.0.2.11, .12, ... port 8000 with the given weights, ids 1, 2, ...
pub fn dests(weights: &[i32]) -> Vec<DestLoad> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| DestLoad {
            id: i as u32 + 1,
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 2, 11 + i as u8)),
            port: 8000,
            weight: w,
            last_weight: w,
            active: 0,
            inactive: 0,
            overloaded: false,
        })
        .collect()
}

pub fn client(a: u8, b: u8, port: u16) -> SchedInput {
    SchedInput {
        src: IpAddr::V4(Ipv4Addr::new(10, 1, a, b)),
        src_port: port,
        dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100)),
        dst_port: 80,
    }
}
