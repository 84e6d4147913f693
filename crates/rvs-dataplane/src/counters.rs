//! Per-worker counters: each worker writes only its own (relaxed atomics, one cache
//! line apart), the control plane sums them on demand.

use core::sync::atomic::{AtomicU64, Ordering};
use rvs_core::verdict::DropReason;

/// Why the data plane itself (not the engine) dropped a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IoDrop {
    /// The frame was larger than the worker buffer or arrived truncated from the
    /// ring, or was a GSO super-frame that could not be cut.
    Oversize,
    /// No route to the next hop, or a DR next hop that is not on-link.
    NoRoute,
    /// The neighbour of the next hop did not resolve in time.
    Unresolved,
    /// The queue of frames waiting for a neighbour was full.
    QueueFull,
    /// The kernel refused to transmit the frame.
    TxError,
    /// A `Forward` frame shorter than an Ethernet header.
    Runt,
}

impl IoDrop {
    pub const ALL: [IoDrop; 6] = [
        IoDrop::Oversize,
        IoDrop::NoRoute,
        IoDrop::Unresolved,
        IoDrop::QueueFull,
        IoDrop::TxError,
        IoDrop::Runt,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            IoDrop::Oversize => "oversize",
            IoDrop::NoRoute => "no_route",
            IoDrop::Unresolved => "unresolved",
            IoDrop::QueueFull => "queue_full",
            IoDrop::TxError => "tx_error",
            IoDrop::Runt => "runt",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// The engine's drop reasons in a fixed order, for indexing.
pub const ENGINE_DROPS: [DropReason; 10] = [
    DropReason::Malformed,
    DropReason::BadChecksum,
    DropReason::Fragment,
    DropReason::NoDestination,
    DropReason::TableFull,
    DropReason::NoConnection,
    DropReason::DestRemoved,
    DropReason::NoHeadroom,
    DropReason::TooBig,
    DropReason::TtlExceeded,
];

fn engine_index(reason: DropReason) -> usize {
    match reason {
        DropReason::Malformed => 0,
        DropReason::BadChecksum => 1,
        DropReason::Fragment => 2,
        DropReason::NoDestination => 3,
        DropReason::TableFull => 4,
        DropReason::NoConnection => 5,
        DropReason::DestRemoved => 6,
        DropReason::NoHeadroom => 7,
        DropReason::TooBig => 8,
        DropReason::TtlExceeded => 9,
    }
}

/// A plain snapshot of counters (one worker's, or the sum of all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Frames the engine returned as `Pass` (left to the kernel, or, if steering
    /// claimed them, dropped by the steering rule).
    pub pass: u64,
    /// Frames whose partial checksum (CHECKSUM_PARTIAL from a local sender or a
    /// veth) the data plane finished before the engine saw them.
    pub csum_finished: u64,
    /// Frames that waited for a neighbour to resolve and were then sent.
    pub resolved_later: u64,
    /// GSO super-frames cut into segments in user space.
    pub gso_split: u64,
    /// TCP super-frames sent whole (headers rewritten), for the kernel to segment.
    pub gso_kept: u64,
    pub engine_drops: [u64; ENGINE_DROPS.len()],
    pub io_drops: [u64; IoDrop::ALL.len()],
}

impl Counters {
    pub fn engine_drop(&self, reason: DropReason) -> u64 {
        self.engine_drops[engine_index(reason)]
    }

    pub fn io_drop(&self, reason: IoDrop) -> u64 {
        self.io_drops[reason.index()]
    }

    pub fn total_drops(&self) -> u64 {
        self.engine_drops.iter().chain(self.io_drops.iter()).sum()
    }

    fn add(&mut self, o: &Counters) {
        self.rx_packets += o.rx_packets;
        self.rx_bytes += o.rx_bytes;
        self.tx_packets += o.tx_packets;
        self.tx_bytes += o.tx_bytes;
        self.pass += o.pass;
        self.csum_finished += o.csum_finished;
        self.resolved_later += o.resolved_later;
        self.gso_split += o.gso_split;
        self.gso_kept += o.gso_kept;
        for (a, b) in self.engine_drops.iter_mut().zip(o.engine_drops.iter()) {
            *a += b;
        }
        for (a, b) in self.io_drops.iter_mut().zip(o.io_drops.iter()) {
            *a += b;
        }
    }

    /// The sum of several snapshots.
    pub fn sum<'a>(all: impl IntoIterator<Item = &'a Counters>) -> Counters {
        let mut total = Counters::default();
        for c in all {
            total.add(c);
        }
        total
    }
}

/// The live counters of one worker. Only its worker writes; anyone may read.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct WorkerCounters {
    rx_packets: AtomicU64,
    rx_bytes: AtomicU64,
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
    pass: AtomicU64,
    csum_finished: AtomicU64,
    resolved_later: AtomicU64,
    gso_split: AtomicU64,
    gso_kept: AtomicU64,
    engine_drops: [AtomicU64; ENGINE_DROPS.len()],
    io_drops: [AtomicU64; IoDrop::ALL.len()],
}

// Single writer: a load and a store are enough (no read-modify-write bus lock).
fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

impl WorkerCounters {
    pub(crate) fn rx(&self, bytes: usize) {
        bump(&self.rx_packets, 1);
        bump(&self.rx_bytes, bytes as u64);
    }

    pub(crate) fn tx(&self, packets: usize, bytes: usize) {
        bump(&self.tx_packets, packets as u64);
        bump(&self.tx_bytes, bytes as u64);
    }

    pub(crate) fn io_drops(&self, reason: IoDrop, n: usize) {
        bump(&self.io_drops[reason.index()], n as u64);
    }

    pub(crate) fn pass(&self) {
        bump(&self.pass, 1);
    }

    pub(crate) fn csum_finished(&self) {
        bump(&self.csum_finished, 1);
    }

    pub(crate) fn resolved_later(&self) {
        bump(&self.resolved_later, 1);
    }

    pub(crate) fn gso_split(&self) {
        bump(&self.gso_split, 1);
    }

    pub(crate) fn gso_kept(&self) {
        bump(&self.gso_kept, 1);
    }

    pub(crate) fn engine_drop(&self, reason: DropReason) {
        bump(&self.engine_drops[engine_index(reason)], 1);
    }

    pub(crate) fn io_drop(&self, reason: IoDrop) {
        bump(&self.io_drops[reason.index()], 1);
    }

    pub fn snapshot(&self) -> Counters {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counters {
            rx_packets: load(&self.rx_packets),
            rx_bytes: load(&self.rx_bytes),
            tx_packets: load(&self.tx_packets),
            tx_bytes: load(&self.tx_bytes),
            pass: load(&self.pass),
            csum_finished: load(&self.csum_finished),
            resolved_later: load(&self.resolved_later),
            gso_split: load(&self.gso_split),
            gso_kept: load(&self.gso_kept),
            engine_drops: core::array::from_fn(|i| load(&self.engine_drops[i])),
            io_drops: core::array::from_fn(|i| load(&self.io_drops[i])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_and_sum_keep_reasons_apart() {
        let a = WorkerCounters::default();
        let b = WorkerCounters::default();
        a.rx(100);
        a.engine_drop(DropReason::NoConnection);
        b.rx(50);
        b.io_drop(IoDrop::Unresolved);
        b.io_drop(IoDrop::Unresolved);
        let total = Counters::sum([&a.snapshot(), &b.snapshot()]);
        assert_eq!(total.rx_packets, 2);
        assert_eq!(total.rx_bytes, 150);
        assert_eq!(total.engine_drop(DropReason::NoConnection), 1);
        assert_eq!(total.engine_drop(DropReason::Malformed), 0);
        assert_eq!(total.io_drop(IoDrop::Unresolved), 2);
        assert_eq!(total.total_drops(), 3);
    }

    #[test]
    fn engine_order_matches_index() {
        for (i, r) in ENGINE_DROPS.iter().enumerate() {
            assert_eq!(engine_index(*r), i);
        }
        for (i, r) in IoDrop::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }
}
