//! Each worker's queue of connections waiting to be synced.

use super::book::SyncBook;
use super::{SyncConn, SyncPe};
use crate::model::Family;
use core::net::IpAddr;
use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

/// What share of the queue's entries may carry PE options (only SIP templates do).
const PE_SHARE: usize = 8;

/// A queued connection without its PE options: a [`SyncConn`] is mostly its 255
/// bytes of room for a Call-ID, which connections and most templates leave empty.
#[derive(Clone, Copy)]
struct Slim {
    family: Family,
    ip_proto: u8,
    caddr: IpAddr,
    cport: u16,
    vaddr: IpAddr,
    vport: u16,
    daddr: IpAddr,
    dport: u16,
    fwmark: u32,
    flags: u32,
    state: u16,
    timeout: u32,
    /// Its options are the next ones in [`Inner::pes`].
    has_pe: bool,
}

impl Slim {
    fn of(c: &SyncConn) -> Slim {
        Slim {
            family: c.family,
            ip_proto: c.ip_proto,
            caddr: c.caddr,
            cport: c.cport,
            vaddr: c.vaddr,
            vport: c.vport,
            daddr: c.daddr,
            dport: c.dport,
            fwmark: c.fwmark,
            flags: c.flags,
            state: c.state,
            timeout: c.timeout,
            has_pe: !c.pe.is_empty(),
        }
    }

    fn with(&self, pe: SyncPe) -> SyncConn {
        SyncConn {
            family: self.family,
            ip_proto: self.ip_proto,
            caddr: self.caddr,
            cport: self.cport,
            vaddr: self.vaddr,
            vport: self.vport,
            daddr: self.daddr,
            dport: self.dport,
            fwmark: self.fwmark,
            flags: self.flags,
            state: self.state,
            timeout: self.timeout,
            pe,
        }
    }
}

#[derive(Default)]
struct Inner {
    conns: VecDeque<Slim>,
    /// The options of the entries of `conns` that have some, in the same order.
    pes: VecDeque<SyncPe>,
}

/// A bounded queue of connections waiting to be sent, one per worker so workers never
/// contend with each other (only with the drain, which is rare). Its memory is
/// reserved once: `cap` entries, of which an eighth may carry PE options. Next to it,
/// the worker's [`SyncBook`] (read and written without the queue's lock).
pub(crate) struct SyncQueue {
    q: Mutex<Inner>,
    cap: usize,
    pe_cap: usize,
    pub book: SyncBook,
}

impl core::fmt::Debug for SyncQueue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SyncQueue")
            .field("cap", &self.cap)
            .field("pe_cap", &self.pe_cap)
            .finish()
    }
}

impl SyncQueue {
    pub fn new(cap: usize) -> SyncQueue {
        let pe_cap = cap.div_ceil(PE_SHARE);
        SyncQueue {
            q: Mutex::new(Inner {
                conns: VecDeque::with_capacity(cap),
                pes: VecDeque::with_capacity(pe_cap),
            }),
            cap,
            pe_cap,
            book: SyncBook::new(),
        }
    }

    /// Queue one; when full the newest is dropped (the next threshold hit resends).
    pub fn push(&self, c: SyncConn) {
        let mut q = self.q.lock().unwrap_or_else(PoisonError::into_inner);
        let slim = Slim::of(&c);
        if q.conns.len() >= self.cap || (slim.has_pe && q.pes.len() >= self.pe_cap) {
            return;
        }
        if slim.has_pe {
            q.pes.push_back(c.pe);
        }
        q.conns.push_back(slim);
    }

    /// Move everything queued into `out`, oldest first.
    pub fn drain_into(&self, out: &mut Vec<SyncConn>) {
        let mut guard = self.q.lock().unwrap_or_else(PoisonError::into_inner);
        let q = &mut *guard;
        out.reserve(q.conns.len());
        for s in q.conns.drain(..) {
            let pe = if s.has_pe {
                q.pes.pop_front().unwrap_or_default()
            } else {
                SyncPe::NONE
            };
            out.push(s.with(pe));
        }
        q.pes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(port: u16, pe: &[u8]) -> SyncConn {
        SyncConn {
            family: Family::V4,
            ip_proto: 17,
            caddr: "10.0.0.2".parse().unwrap(),
            cport: port,
            vaddr: "10.0.0.100".parse().unwrap(),
            vport: 5060,
            daddr: "10.0.2.11".parse().unwrap(),
            dport: 5060,
            fwmark: 0,
            flags: 0,
            state: 0,
            timeout: 60,
            pe: if pe.is_empty() {
                SyncPe::NONE
            } else {
                SyncPe::new(b"sip", pe).unwrap()
            },
        }
    }

    #[test]
    fn options_come_back_with_their_own_entries_in_order() {
        let q = SyncQueue::new(16);
        let sent = [conn(1, b""), conn(0, b"a"), conn(2, b""), conn(0, b"b")];
        for c in sent {
            q.push(c);
        }
        let mut out = Vec::new();
        q.drain_into(&mut out);
        assert_eq!(out, sent);
        q.push(conn(3, b"c"));
        out.clear();
        q.drain_into(&mut out);
        assert_eq!(out, [conn(3, b"c")]);
    }

    #[test]
    fn a_full_queue_or_option_room_drops_the_newest() {
        let q = SyncQueue::new(16);
        for i in 0..3 {
            q.push(conn(0, &[b'x', i]));
        }
        // Two entries may carry options: the third is dropped whole, never sent
        // without its Call-ID; plain entries still fit.
        q.push(conn(7, b""));
        let mut out = Vec::new();
        q.drain_into(&mut out);
        assert_eq!(out, [conn(0, b"x\0"), conn(0, b"x\x01"), conn(7, b"")]);
        for i in 0..20 {
            q.push(conn(i, b""));
        }
        out.clear();
        q.drain_into(&mut out);
        assert_eq!(out.len(), 16);
        assert_eq!(out[15].cport, 15);
    }
}
