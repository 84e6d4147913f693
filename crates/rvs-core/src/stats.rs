//! Traffic counters written by many workers without contention and summed on read.
//!
//! Each worker owns one cache-line-sized cell per counted object (the director, each
//! service, each real server) and is its only writer, so an update is a relaxed load
//! and store, never a locked read-modify-write on a shared line. Readers (listings, the
//! rate estimator) add the cells up. `-Z` is a baseline subtracted on read, so workers
//! never see their counters move under them.

use crate::model::Stats;
use core::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Debug, Default)]
#[repr(align(64))]
struct Cell {
    conns: AtomicU64,
    in_pkts: AtomicU64,
    out_pkts: AtomicU64,
    in_bytes: AtomicU64,
    out_bytes: AtomicU64,
}

#[inline(always)]
fn bump(c: &AtomicU64, by: u64) {
    // Single writer per cell: no read-modify-write needed.
    c.store(
        c.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

/// The counters of one object, one cell per worker.
#[derive(Debug)]
pub struct StatsCounters {
    cells: Box<[Cell]>,
    baseline: Mutex<Stats>,
}

impl StatsCounters {
    /// Counters for `workers` writers (at least one).
    pub fn new(workers: usize) -> Self {
        StatsCounters {
            cells: (0..workers.max(1)).map(|_| Cell::default()).collect(),
            baseline: Mutex::new(Stats::default()),
        }
    }

    pub fn workers(&self) -> usize {
        self.cells.len()
    }

    #[inline(always)]
    fn cell(&self, worker: usize) -> &Cell {
        // Each worker must use its own index (a plain bounds check, no division per
        // packet); an out-of-range one is folded in rather than panicking.
        match self.cells.get(worker) {
            Some(c) => c,
            None => &self.cells[worker % self.cells.len()],
        }
    }

    /// A new connection was scheduled.
    #[inline]
    pub fn conn(&self, worker: usize) {
        bump(&self.cell(worker).conns, 1);
    }

    /// A client → server packet of `bytes` (IP length) was forwarded.
    #[inline(always)]
    pub fn inbound(&self, worker: usize, bytes: u64) {
        let c = self.cell(worker);
        bump(&c.in_pkts, 1);
        bump(&c.in_bytes, bytes);
    }

    /// A server → client packet of `bytes` was forwarded.
    #[inline(always)]
    pub fn outbound(&self, worker: usize, bytes: u64) {
        let c = self.cell(worker);
        bump(&c.out_pkts, 1);
        bump(&c.out_bytes, bytes);
    }

    /// The sum of every cell since creation (what the rate estimator samples).
    pub fn raw(&self) -> Stats {
        let mut s = Stats::default();
        for c in self.cells.iter() {
            s.conns = s.conns.wrapping_add(c.conns.load(Ordering::Relaxed));
            s.in_pkts = s.in_pkts.wrapping_add(c.in_pkts.load(Ordering::Relaxed));
            s.out_pkts = s.out_pkts.wrapping_add(c.out_pkts.load(Ordering::Relaxed));
            s.in_bytes = s.in_bytes.wrapping_add(c.in_bytes.load(Ordering::Relaxed));
            s.out_bytes = s
                .out_bytes
                .wrapping_add(c.out_bytes.load(Ordering::Relaxed));
        }
        s
    }

    /// The counters as listed: since creation or the last [`StatsCounters::zero`].
    pub fn total(&self) -> Stats {
        let raw = self.raw();
        let b = *self.baseline.lock().unwrap_or_else(|p| p.into_inner());
        Stats {
            conns: raw.conns.wrapping_sub(b.conns),
            in_pkts: raw.in_pkts.wrapping_sub(b.in_pkts),
            out_pkts: raw.out_pkts.wrapping_sub(b.out_pkts),
            in_bytes: raw.in_bytes.wrapping_sub(b.in_bytes),
            out_bytes: raw.out_bytes.wrapping_sub(b.out_bytes),
        }
    }

    /// `ipvsadm -Z`: listed counters restart from zero.
    pub fn zero(&self) {
        let raw = self.raw();
        *self.baseline.lock().unwrap_or_else(|p| p.into_inner()) = raw;
    }
}
