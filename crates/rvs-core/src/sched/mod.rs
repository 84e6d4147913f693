//! Schedulers: the 14 algorithms of Linux IPVS behind one trait.
//!
//! The contract between the engine and a scheduler:
//! - The engine keeps a service's real servers in the kernel's list order (a newly
//!   added real server goes to the *head* of the list) and hands that slice to the
//!   scheduler, with each server's current load, on every decision.
//! - [`Scheduler::update`] is called whenever the list or a weight changes (the
//!   kernel's `update_service`/`add_dest`/`del_dest` hooks); table-driven schedulers
//!   (dh, sh, mh, wrr's gcd/max) rebuild there, never per packet.
//! - [`Scheduler::schedule`] returns the index into the slice of the chosen server,
//!   or `None` when no server is usable. It must not allocate.

use crate::model::SchedulerKind;
use crate::time::Instant;
use core::net::IpAddr;

/// What a scheduler may know about one real server at decision time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DestLoad {
    /// Stable identity of the real server within its service (survives list changes).
    pub id: u32,
    pub addr: IpAddr,
    pub port: u16,
    /// Current weight (0 = quiesced).
    pub weight: i32,
    /// The last non-zero weight (mh keeps its table stable while a server is quiesced).
    pub last_weight: i32,
    pub active: u32,
    pub inactive: u32,
    /// IP_VS_DEST_F_OVERLOAD: the upper threshold was reached.
    pub overloaded: bool,
}

impl DestLoad {
    /// `ip_vs_dest_conn_overhead`: active connections weigh 256 times an inactive one.
    pub const fn overhead(&self) -> u64 {
        ((self.active as u64) << 8) + self.inactive as u64
    }

    /// A server the kernel would consider at all: not overloaded and weight > 0.
    pub const fn usable(&self) -> bool {
        !self.overloaded && self.weight > 0
    }
}

/// The packet fields schedulers hash on (addresses and ports of the client side).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedInput {
    pub src: IpAddr,
    pub src_port: u16,
    pub dst: IpAddr,
    pub dst_port: u16,
}

/// One scheduling algorithm instance, owned by one service.
pub trait Scheduler: Send + core::fmt::Debug {
    fn kind(&self) -> SchedulerKind;

    /// The service's real servers changed (added, removed, weight edited).
    fn update(&mut self, dests: &[DestLoad], now: Instant);

    /// Choose a real server for a new connection.
    fn schedule(&mut self, dests: &[DestLoad], input: &SchedInput, now: Instant) -> Option<usize>;

    /// Periodic housekeeping (lblc/lblcr garbage collection). Default: nothing.
    fn tick(&mut self, _now: Instant) {}
}
