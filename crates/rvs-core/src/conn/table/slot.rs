//! The fixed-size slab entry and the raw keys the index compares.

use super::hot::{HotSlot, STEADY_IN, STEADY_OUT};
use crate::conn::entry::{Conn, ConnFlags, ConnId};
use crate::conn::key::{Endpoint, InKey, OutKey, RawAddr};
use crate::conn::load::{DestCounters, LoadKind};
use crate::conn::state::{self, ConnState, Direction};
use crate::time::Instant;
use core::hash::{Hash, Hasher};
use std::sync::Arc;

// Entry.live bits.
pub(super) const LIVE: u8 = 1;
pub(super) const IN_HASHED: u8 = 2;
pub(super) const OUT_HASHED: u8 = 4;
// Entry.fam bits.
pub(super) const AF_V6: u8 = 1;
pub(super) const DAF_V6: u8 = 2;
pub(super) const NO_SLOT: u32 = u32::MAX;
/// Timeout given to an entry whose timer ran out while it controlled connections.
pub(super) const EXPIRE_LATER_MS: u32 = 60_000;

/// One slot of a shard's slab: exactly two cache lines. The first holds what a lookup
/// compares and a packet updates (in-key, flags, state, timer); the second what
/// forwarding and accounting read (real server, local endpoint, links).
#[derive(Debug, Default)]
#[repr(C, align(64))]
pub(super) struct Entry {
    pub(super) caddr: [u8; 16],
    pub(super) vaddr: [u8; 16],
    pub(super) expires: u64,
    pub(super) flags: u32,
    pub(super) timeout_ms: u32,
    pub(super) gen: u32,
    pub(super) cport: u16,
    pub(super) vport: u16,
    pub(super) proto: u8,
    pub(super) state: u8,
    pub(super) fam: u8,
    pub(super) live: u8,
    pub(super) n_control: u32,
    // Second line.
    pub(super) daddr: [u8; 16],
    pub(super) laddr: [u8; 16],
    pub(super) counters: Option<Arc<DestCounters>>,
    pub(super) control_slot: u32,
    pub(super) control_gen: u32,
    pub(super) fwmark: u32,
    pub(super) service: u32,
    pub(super) dest_id: u32,
    pub(super) dport: u16,
    pub(super) lport: u16,
}

const _: () = assert!(core::mem::size_of::<Entry>() == 128);

impl Entry {
    pub(super) fn flags(&self) -> ConnFlags {
        ConnFlags(self.flags)
    }

    pub(super) fn is_fullnat(&self) -> bool {
        self.flags & ConnFlags::FWD_MASK == ConnFlags::FULLNAT
    }

    pub(super) fn state(&self) -> ConnState {
        ConnState::from_raw(self.proto, self.flags().is_template(), self.state as u16)
            .unwrap_or(ConnState::initial(self.proto, self.flags().is_template()))
    }

    pub(super) fn af_v6(&self) -> bool {
        self.fam & AF_V6 != 0
    }

    pub(super) fn daf_v6(&self) -> bool {
        self.fam & DAF_V6 != 0
    }

    pub(super) fn in_key(&self) -> RawInKey {
        RawInKey {
            template: self.flags().is_template(),
            proto: self.proto,
            v6: self.af_v6(),
            caddr: self.caddr,
            cport: self.cport,
            vaddr: self.vaddr,
            vport: self.vport,
        }
    }

    /// Whether this entry's in-key is `k`, comparing in place (no key is built).
    #[inline]
    pub(super) fn has_in_key(&self, k: &RawInKey) -> bool {
        self.cport == k.cport
            && self.vport == k.vport
            && self.caddr == k.caddr
            && self.vaddr == k.vaddr
            && self.proto == k.proto
            && self.af_v6() == k.v6
            && self.flags().is_template() == k.template
    }

    /// The reply's (source, destination): real server → client or local endpoint.
    pub(super) fn out_key(&self) -> RawOutKey {
        let (caddr, cport, cv6) = if self.is_fullnat() {
            (self.laddr, self.lport, self.daf_v6())
        } else {
            (self.caddr, self.cport, self.af_v6())
        };
        RawOutKey {
            proto: self.proto,
            sv6: self.daf_v6(),
            saddr: self.daddr,
            sport: self.dport,
            cv6,
            caddr,
            cport,
        }
    }

    pub(super) fn load_kind(&self) -> LoadKind {
        let f = self.flags();
        if f.is_template() {
            LoadKind::Persistent
        } else if f.is_inactive() {
            LoadKind::Inactive
        } else {
            LoadKind::Active
        }
    }

    pub(super) fn endpoint(bytes: [u8; 16], v6: bool, port: u16) -> Endpoint {
        Endpoint::new(RawAddr { bytes, v6 }.to_ip(), port)
    }

    /// Which directions may take the fast path (see `hot.rs`).
    pub(super) fn steady_bits(&self) -> u32 {
        let f = self.flags();
        if self.live & LIVE == 0 || f.is_template() {
            return 0;
        }
        let s = self.state();
        let steady = |dir| state::steady(s, f.no_output(), f.is_inactive(), dir);
        let mut bits = 0;
        if steady(Direction::In) {
            bits |= STEADY_IN;
        }
        if self.live & OUT_HASHED != 0 && steady(Direction::Out) {
            bits |= STEADY_OUT;
        }
        bits
    }

    /// The entry's deadline, counting the fast path's packets.
    #[inline]
    pub(super) fn deadline(&self, hot: &HotSlot) -> u64 {
        hot.deadline(self.expires, self.timeout_ms)
    }

    pub(super) fn to_conn(&self, id: ConnId, hot: &HotSlot) -> Conn {
        Conn {
            id,
            proto: self.proto,
            client: Self::endpoint(self.caddr, self.af_v6(), self.cport),
            virt: Self::endpoint(self.vaddr, self.af_v6(), self.vport),
            dest: Self::endpoint(self.daddr, self.daf_v6(), self.dport),
            local: self
                .is_fullnat()
                .then(|| Self::endpoint(self.laddr, self.daf_v6(), self.lport)),
            fwmark: self.fwmark,
            service: self.service,
            dest_id: self.dest_id,
            flags: self.flags(),
            state: self.state(),
            timeout_ms: self.timeout_ms,
            expires: Instant::from_millis(self.deadline(hot)),
            control: (self.control_slot != NO_SLOT).then_some(ConnId {
                slot: self.control_slot,
                gen: self.control_gen,
            }),
            n_control: self.n_control,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RawInKey {
    pub(super) template: bool,
    pub(super) proto: u8,
    pub(super) v6: bool,
    pub(super) caddr: [u8; 16],
    pub(super) cport: u16,
    pub(super) vaddr: [u8; 16],
    pub(super) vport: u16,
}

impl RawInKey {
    pub(super) fn new(key: &InKey, template: bool) -> Option<RawInKey> {
        let c = RawAddr::from_ip(key.client.addr);
        let v = RawAddr::from_ip(key.virt.addr);
        (c.v6 == v.v6).then_some(RawInKey {
            template,
            proto: key.proto,
            v6: c.v6,
            caddr: c.bytes,
            cport: key.client.port,
            vaddr: v.bytes,
            vport: key.virt.port,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RawOutKey {
    pub(super) proto: u8,
    pub(super) sv6: bool,
    pub(super) saddr: [u8; 16],
    pub(super) sport: u16,
    pub(super) cv6: bool,
    pub(super) caddr: [u8; 16],
    pub(super) cport: u16,
}

impl RawOutKey {
    pub(super) fn new(key: &OutKey) -> RawOutKey {
        let s = RawAddr::from_ip(key.server.addr);
        let c = RawAddr::from_ip(key.client.addr);
        RawOutKey {
            proto: key.proto,
            sv6: s.v6,
            saddr: s.bytes,
            sport: key.server.port,
            cv6: c.v6,
            caddr: c.bytes,
            cport: key.client.port,
        }
    }
}

// The keys feed the hasher a few wide words: the derived `Hash` would write every field
// (and each address's length) separately, which was most of a lookup's hashing cost.
// Equal keys write equal words, as `Eq` requires.
impl Hash for RawInKey {
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u128(u128::from_ne_bytes(self.caddr));
        h.write_u128(u128::from_ne_bytes(self.vaddr));
        h.write_u64(
            u64::from(self.cport)
                | u64::from(self.vport) << 16
                | u64::from(self.proto) << 32
                | u64::from(self.v6) << 40
                | u64::from(self.template) << 41,
        );
    }
}

impl Hash for RawOutKey {
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u128(u128::from_ne_bytes(self.saddr));
        h.write_u128(u128::from_ne_bytes(self.caddr));
        h.write_u64(
            u64::from(self.sport)
                | u64::from(self.cport) << 16
                | u64::from(self.proto) << 32
                | u64::from(self.sv6) << 40
                | u64::from(self.cv6) << 41,
        );
    }
}

/// Index values: slot << 1 | 1 for out-keys.
pub(super) const OUT_BIT: u32 = 1;
