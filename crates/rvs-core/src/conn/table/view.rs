//! A borrowed view of one entry, handed to a closure under its shard's lock, so that
//! the packet path reads the few fields it forwards by instead of copying the whole
//! entry out as a [`Conn`].

use super::hot::{FastTicket, HotSlot, STEADY_IN, STEADY_OUT};
use super::slot::{Entry, NO_SLOT};
use crate::conn::entry::{Conn, ConnFlags, ConnId};
use crate::conn::key::Endpoint;
use crate::conn::state::Direction;

/// One entry as it is after the packet was applied (see
/// [`super::ConnTable::process_in_with`]). Valid only inside the closure: the shard
/// stays locked meanwhile, so the closure must not call back into the table.
#[derive(Clone, Copy)]
pub struct ConnView<'a> {
    pub(super) e: &'a Entry,
    pub(super) id: ConnId,
    pub(super) hot: &'a HotSlot,
    pub(super) shard: u32,
    pub(super) local: u32,
}

impl ConnView<'_> {
    #[inline]
    pub fn id(&self) -> ConnId {
        self.id
    }

    #[inline]
    pub fn flags(&self) -> ConnFlags {
        self.e.flags()
    }

    /// The engine's identifier of the real server.
    #[inline]
    pub fn dest_id(&self) -> u32 {
        self.e.dest_id
    }

    /// Real server address and port.
    #[inline]
    pub fn dest(&self) -> Endpoint {
        Entry::endpoint(self.e.daddr, self.e.daf_v6(), self.e.dport)
    }

    /// Client address and port.
    #[inline]
    pub fn client(&self) -> Endpoint {
        Entry::endpoint(self.e.caddr, self.e.af_v6(), self.e.cport)
    }

    /// Virtual address and port.
    #[inline]
    pub fn virt(&self) -> Endpoint {
        Entry::endpoint(self.e.vaddr, self.e.af_v6(), self.e.vport)
    }

    /// FULLNAT local address and port, `None` for other methods.
    #[inline]
    pub fn local(&self) -> Option<Endpoint> {
        self.e
            .is_fullnat()
            .then(|| Entry::endpoint(self.e.laddr, self.e.daf_v6(), self.e.lport))
    }

    /// The protocol state.
    #[inline]
    pub fn state(&self) -> crate::conn::ConnState {
        self.e.state()
    }

    /// The template controlling this connection, if any.
    #[inline]
    pub fn control(&self) -> Option<ConnId> {
        (self.e.control_slot != NO_SLOT).then_some(ConnId {
            slot: self.e.control_slot,
            gen: self.e.control_gen,
        })
    }

    /// A full copy of the entry.
    pub fn to_conn(&self) -> Conn {
        self.e.to_conn(self.id, self.hot)
    }

    /// A ticket to forward the next packets of direction `dir` without the lock, if
    /// such packets leave the entry as it is (see [`super::ConnTable::fast_touch`]).
    #[inline]
    pub fn fast_ticket(&self, dir: Direction) -> Option<FastTicket> {
        let word = self.hot.word();
        let bit = match dir {
            Direction::In => STEADY_IN,
            Direction::Out => STEADY_OUT,
        };
        (word & bit != 0).then_some(FastTicket {
            shard: self.shard,
            local: self.local,
            word,
            timeout_ms: self.e.timeout_ms,
            expires: self.e.expires,
        })
    }
}

impl core::fmt::Debug for ConnView<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.to_conn().fmt(f)
    }
}
