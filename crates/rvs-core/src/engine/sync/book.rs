//! What the sync master remembers between packets beyond each connection's packet
//! count (which the workers keep in `pkt_counts`, shared with the flow cache): the
//! state each connection was last synced in (the kernel's `cp->old_state`) and each
//! template's input packet count (`cp->in_pkts` of a template, which counts the
//! packets of every connection it controls).
//!
//! Both live in small fixed tables indexed by connection, reserved once. A cell
//! carries a tag of the connection it describes, so a cell left by an earlier entry
//! reads as a fresh one ("never synced", "no packet yet"), as the kernel's new entries
//! start; two live entries sharing a cell only make each other look fresh.

use super::{count_slot, PKT_SLOTS};
use crate::conn::ConnId;
use core::sync::atomic::{AtomicU64, Ordering};

/// A tag of `id` kept in the high half of a cell.
#[inline]
fn tag(id: ConnId) -> u64 {
    let key = u64::from(id.slot) << 32 | u64::from(id.gen);
    // The top bits of a multiplicative hash; never 0 for a live tag (0 is an empty cell).
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) | 1
}

/// The value a cell holds for `id`, if it holds one for `id`.
#[inline]
fn value_for(cell: u64, id: ConnId) -> Option<u32> {
    (cell >> 32 == tag(id)).then_some(cell as u32)
}

#[inline]
fn cell_of(id: ConnId, value: u32) -> u64 {
    tag(id) << 32 | u64::from(value)
}

/// One worker's sync bookkeeping; see the module documentation.
pub(crate) struct SyncBook {
    /// The kernel's state number each connection of this worker was last synced in.
    synced_states: Box<[AtomicU64]>,
    /// Input packet counts of the templates that fall to this book (a template's
    /// connections may be served by several workers: they all count in one place).
    template_pkts: Box<[AtomicU64]>,
}

impl SyncBook {
    pub fn new() -> SyncBook {
        let table = || (0..PKT_SLOTS).map(|_| AtomicU64::new(0)).collect();
        SyncBook {
            synced_states: table(),
            template_pkts: table(),
        }
    }

    /// The state `id` was last synced in; 0 (the kernel's NONE) if never.
    #[inline]
    pub fn synced_state(&self, id: ConnId) -> u16 {
        self.synced_states
            .get(count_slot(id))
            .and_then(|c| value_for(c.load(Ordering::Relaxed), id))
            .map_or(0, |v| v as u16)
    }

    /// Remember that `id` was synced in `state`.
    #[inline]
    pub fn set_synced_state(&self, id: ConnId, state: u16) {
        if let Some(c) = self.synced_states.get(count_slot(id)) {
            c.store(cell_of(id, u32::from(state)), Ordering::Relaxed);
        }
    }

    /// Count one more input packet of the template `id`; returns its new count
    /// (1 for a template not seen before).
    #[inline]
    pub fn count_template_packet(&self, id: ConnId) -> u32 {
        let Some(c) = self.template_pkts.get(count_slot(id)) else {
            return 1;
        };
        let step = |cell: u64| {
            let n = value_for(cell, id).unwrap_or(0).wrapping_add(1);
            cell_of(id, n)
        };
        match c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |cell| {
            Some(step(cell))
        }) {
            Ok(prev) | Err(prev) => step(prev) as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(slot: u32, gen: u32) -> ConnId {
        ConnId { slot, gen }
    }

    #[test]
    fn a_new_entry_starts_fresh_even_in_a_used_cell() {
        let b = SyncBook::new();
        let old = id(7, 1);
        assert_eq!(b.synced_state(old), 0);
        b.set_synced_state(old, 7);
        assert_eq!(b.synced_state(old), 7);
        assert_eq!(b.count_template_packet(old), 1);
        assert_eq!(b.count_template_packet(old), 2);
        // The same table slot taken again by a new entry (another generation), and an
        // entry of another slot hashing to the same cell: both read as never synced.
        let reused = id(7, 2);
        assert_eq!(b.synced_state(reused), 0);
        assert_eq!(b.count_template_packet(reused), 1);
        let same_cell = (0..100_000)
            .map(|s| id(s, 1))
            .find(|&o| o != old && count_slot(o) == count_slot(old))
            .unwrap();
        assert_eq!(b.synced_state(same_cell), 0);
        b.set_synced_state(same_cell, 5);
        assert_eq!(b.synced_state(old), 0);
    }
}
