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
//!
//! Every algorithm follows its Linux 6.1 `net/netfilter/ipvs/ip_vs_<name>.c`
//! counterpart: strict comparisons (the first server in list order wins ties),
//! OVERLOAD and weight <= 0 servers skipped, lists walked from the head.

use crate::model::{SchedFlags, SchedulerKind};
use crate::time::Instant;
use core::net::IpAddr;

mod dh;
mod fo;
mod hash;
pub mod hsiphash;
mod lblc;
mod lblcr;
mod lc;
mod locality;
mod mh;
mod nq;
mod ovf;
mod rr;
mod sed;
mod sh;
mod twos;
mod wlc;
mod wrr;

pub use dh::Dh;
pub use fo::Fo;
pub use lblc::Lblc;
pub use lblcr::Lblcr;
pub use lc::Lc;
pub use locality::{LOCALITY_DEFAULT_EXPIRATION, LOCALITY_GC_INTERVAL};
pub use mh::Mh;
pub use nq::Nq;
pub use ovf::Ovf;
pub use rr::Rr;
pub use sed::Sed;
pub use sh::Sh;
pub use twos::Twos;
pub use wlc::Wlc;
pub use wrr::Wrr;

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

    /// The `lblc_expiration`/`lblcr_expiration` sysctls (default 24 h): how long
    /// an unused lblc/lblcr cache entry lives. Ignored by other schedulers.
    fn set_expiration(&mut self, _expiration: core::time::Duration) {}
}

/// A fresh scheduler of `kind` for one service, in the state the kernel's
/// `init_service` leaves it with an empty server list: call
/// [`Scheduler::update`] with the servers before the first decision.
///
/// `flags` matters to sh and mh (fallback, port); `seed` only to twos (its
/// pseudo-random picks are reproducible for a given seed).
pub fn new_scheduler(kind: SchedulerKind, flags: SchedFlags, seed: u64) -> Box<dyn Scheduler> {
    match kind {
        SchedulerKind::Rr => Box::new(Rr::new()),
        SchedulerKind::Wrr => Box::new(Wrr::new()),
        SchedulerKind::Lc => Box::new(Lc),
        SchedulerKind::Wlc => Box::new(Wlc),
        SchedulerKind::Sed => Box::new(Sed),
        SchedulerKind::Nq => Box::new(Nq),
        SchedulerKind::Dh => Box::new(Dh::new()),
        SchedulerKind::Sh => Box::new(Sh::new(flags)),
        SchedulerKind::Lblc => Box::new(Lblc::new()),
        SchedulerKind::Lblcr => Box::new(Lblcr::new()),
        SchedulerKind::Mh => Box::new(Mh::new(flags)),
        SchedulerKind::Fo => Box::new(Fo),
        SchedulerKind::Ovf => Box::new(Ovf),
        SchedulerKind::Twos => Box::new(Twos::new(seed)),
    }
}

/// Weighted least-connection over the whole list, as the kernel's wlc, lblc and
/// lblcr share it: the first usable server seeds the search, later servers win
/// only with a strictly lower overhead/weight (compared crosswise in 64 bits).
/// Weight-0 servers after the seed never win because `x * 0 > y * w` is false.
pub(crate) fn weighted_least(dests: &[DestLoad], load: impl Fn(&DestLoad) -> u64) -> Option<usize> {
    let first = dests.iter().position(DestLoad::usable)?;
    let mut least = first;
    let mut least_load = load(&dests[first]) as i64;
    let mut least_weight = i64::from(dests[first].weight);
    for (i, d) in dests.iter().enumerate().skip(first + 1) {
        if d.overloaded {
            continue;
        }
        let dl = load(d) as i64;
        if least_load * i64::from(d.weight) > dl * least_weight {
            least = i;
            least_load = dl;
            least_weight = i64::from(d.weight);
        }
    }
    Some(least)
}

/// Greatest common divisor of the positive values (0 when there is none).
pub(crate) fn gcd_of_positive(values: impl Iterator<Item = i32>) -> i32 {
    values
        .filter(|&w| w > 0)
        .fold(0, |g, w| if g > 0 { gcd(g, w) } else { w })
}

fn gcd(mut a: i32, mut b: i32) -> i32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
pub(crate) mod testutil;
