//! Per-real-server connection counters and the overload thresholds.
//!
//! Every connection entry is *bound* to its real server's [`DestCounters`] for its whole
//! life: binding counts it (templates as persistent, others as active or inactive by
//! their INACTIVE flag), state changes move it between active and inactive, and
//! unbinding uncounts it. Binding may set the OVERLOAD flag, unbinding may clear it
//! (REFERENCE.md "Overload thresholds", the kernel's `ip_vs_bind_dest` /
//! `ip_vs_unbind_dest`). Schedulers read the counters through [`DestCounters::snapshot`].
//!
//! The counters are atomics shared by every worker; they change once or twice per
//! connection, never per packet.

use super::state::Activity;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// How an entry is counted in its real server's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadKind {
    Active,
    Inactive,
    /// A persistence template (PersistConn).
    Persistent,
}

/// Live load of one real server.
#[derive(Debug, Default)]
pub struct DestCounters {
    active: AtomicU32,
    inactive: AtomicU32,
    persistent: AtomicU32,
    overloaded: AtomicBool,
    u_threshold: AtomicU32,
    l_threshold: AtomicU32,
}

/// A consistent-enough copy of the counters (each field is read once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadSnapshot {
    pub active: u32,
    pub inactive: u32,
    pub persistent: u32,
    pub overloaded: bool,
}

impl DestCounters {
    pub fn new(u_threshold: u32, l_threshold: u32) -> Self {
        let c = DestCounters::default();
        c.set_thresholds(u_threshold, l_threshold);
        c
    }

    /// Change the thresholds (`-x`/`-y`). As in the kernel's `__ip_vs_update_dest`,
    /// OVERLOAD is cleared when the upper threshold is removed or raised, and otherwise
    /// left for the next bind/unbind to re-evaluate.
    pub fn set_thresholds(&self, u_threshold: u32, l_threshold: u32) {
        let old_u = self.u_threshold.swap(u_threshold, Ordering::Relaxed);
        self.l_threshold.store(l_threshold, Ordering::Relaxed);
        if u_threshold == 0 || u_threshold > old_u {
            self.overloaded.store(false, Ordering::Relaxed);
        }
    }

    pub fn thresholds(&self) -> (u32, u32) {
        (
            self.u_threshold.load(Ordering::Relaxed),
            self.l_threshold.load(Ordering::Relaxed),
        )
    }

    /// Active + inactive: what the thresholds compare against (templates do not count).
    fn total(&self) -> u32 {
        self.active
            .load(Ordering::Relaxed)
            .saturating_add(self.inactive.load(Ordering::Relaxed))
    }

    /// Count a new entry; set OVERLOAD when the upper threshold is reached.
    pub fn bind(&self, kind: LoadKind) {
        self.cell(kind).fetch_add(1, Ordering::Relaxed);
        let u = self.u_threshold.load(Ordering::Relaxed);
        if u != 0 && self.total() >= u {
            self.overloaded.store(true, Ordering::Relaxed);
        }
    }

    /// Uncount an entry that goes away; clear OVERLOAD below the lower threshold (or
    /// below 3/4 of the upper one when no lower threshold is set).
    pub fn unbind(&self, kind: LoadKind) {
        // Saturating: a counter never wraps even if a caller unbinds twice.
        let _ = self
            .cell(kind)
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(1))
            });
        let (u, l) = self.thresholds();
        let total = self.total() as u64;
        let clear = if l != 0 {
            total < l as u64
        } else if u != 0 {
            total * 4 < u as u64 * 3
        } else {
            true
        };
        if clear {
            self.overloaded.store(false, Ordering::Relaxed);
        }
    }

    /// Move an entry between active and inactive after a state change.
    pub fn apply(&self, change: Activity) {
        let (from, to) = match change {
            Activity::BecameActive => (&self.inactive, &self.active),
            Activity::BecameInactive => (&self.active, &self.inactive),
        };
        let _ = from.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
            Some(v.saturating_sub(1))
        });
        to.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> LoadSnapshot {
        LoadSnapshot {
            active: self.active.load(Ordering::Relaxed),
            inactive: self.inactive.load(Ordering::Relaxed),
            persistent: self.persistent.load(Ordering::Relaxed),
            overloaded: self.overloaded.load(Ordering::Relaxed),
        }
    }

    fn cell(&self, kind: LoadKind) -> &AtomicU32 {
        match kind {
            LoadKind::Active => &self.active,
            LoadKind::Inactive => &self.inactive,
            LoadKind::Persistent => &self.persistent,
        }
    }
}
