//! Connection synchronisation hooks: what a master director hands its sync daemon,
//! and what a backup director feeds back in. The wire format (IPVS sync v0/v1) is the
//! HA crate's business; this is the engine's side of it.

mod book;
mod import;
mod pe;
mod queue;
mod rule;

pub use import::SyncImportError;
pub use pe::{SyncPe, PE_NAME_MAX};
pub(crate) use queue::SyncQueue;
pub(crate) use rule::periodic_due;

use crate::model::Family;
use core::net::IpAddr;

/// One connection as the sync protocol describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncConn {
    pub family: Family,
    /// IP protocol number (6, 17, 132), or 0 for the template of a fwmark service.
    pub ip_proto: u8,
    pub caddr: IpAddr,
    pub cport: u16,
    pub vaddr: IpAddr,
    pub vport: u16,
    pub daddr: IpAddr,
    pub dport: u16,
    /// Firewall mark of the service, 0 for address services.
    pub fwmark: u32,
    /// [`ConnFlags`] bits (the kernel's `IP_VS_CONN_F_*`): forwarding method,
    /// TEMPLATE, INACTIVE, ...
    pub flags: u32,
    /// The kernel's state number for the protocol (`IP_VS_TCP_S_*`, `IP_VS_SCTP_S_*`;
    /// 0 for UDP and templates).
    pub state: u16,
    /// Timeout in seconds.
    pub timeout: u32,
    /// The persistence engine's name and data of a template (the SIP Call-ID);
    /// empty for everything else.
    pub pe: SyncPe,
}

use super::flow_cache::SyncCounter;
use super::worker::Worker;
use super::{pe_sip, Shared};
use crate::conn::{Conn, ConnFlags, ConnId, ConnView, Transition};
use crate::time::Instant;

/// Flags a backup takes from a sync message (the kernel's IP_VS_CONN_F_BACKUP_MASK).
const BACKUP_MASK: u32 = ConnFlags::FWD_MASK
    | ConnFlags::NOOUTPUT
    | ConnFlags::INACTIVE
    | ConnFlags::NO_CPORT
    | ConnFlags::TEMPLATE;

/// Size of each worker's table of approximate per-connection packet counts.
pub(crate) const PKT_SLOTS: usize = 4096;

impl SyncConn {
    /// `c` as the master sends it, with `pe`, the persistence-engine data of a
    /// template (empty for anything else).
    pub(crate) fn from_conn(c: &Conn, pe: SyncPe) -> SyncConn {
        SyncConn {
            family: crate::model::Family::of(&c.client.addr),
            ip_proto: c.proto,
            caddr: c.client.addr,
            // A SIP template's client port in the table is rvs's probe port (see
            // `PeDataStore`); the kernel's template, and so the message, has 0.
            cport: if pe.data().is_empty() {
                c.client.port
            } else {
                0
            },
            vaddr: c.virt.addr,
            vport: c.virt.port,
            daddr: c.dest.addr,
            dport: c.dest.port,
            fwmark: c.fwmark,
            flags: c.flags.0 & BACKUP_MASK,
            state: c.raw_state(),
            timeout: c.timeout_ms / 1000,
            pe,
        }
    }
}

/// A template as the master sends it: with its Call-ID and the engine's name when it
/// has one (the kernel's `cp->pe_data` and `cp->pe->name`; only templates have them).
fn template_sync(sh: &Shared, t: &Conn) -> SyncConn {
    let pe = sh
        .pe_data
        .with_data(t.id, |d| SyncPe::new(pe_sip::PE_NAME.as_bytes(), d))
        .flatten()
        .unwrap_or(SyncPe::NONE);
    SyncConn::from_conn(t, pe)
}

/// The slot of a connection in a worker's packet-count table.
pub(crate) fn count_slot(id: ConnId) -> usize {
    (id.slot as usize ^ (id.gen as usize).wrapping_mul(31)) % PKT_SLOTS
}

/// Where the flow cache counts the inbound packets of `c` for [`maybe_queue`]'s rule
/// (`None` for connections never synced).
///
/// For a cached flow without a template, the packets [`maybe_queue`] may queue are
/// exactly those for which `syncable && periodic_due(count)`: the other reason, a
/// closing state the connection was not synced in yet, needs a change of state since
/// its last inbound packet on the locked path (which syncs it in any closing state it
/// reached), and every change of state voids the flow's ticket, so the packet after
/// it takes the locked path anyway. Templated flows take the locked path on every
/// packet (their template is considered on each).
pub(crate) fn counter_of(c: &ConnView<'_>) -> Option<SyncCounter> {
    let flags = c.flags();
    if flags.has(ConnFlags::ONE_PACKET) || !synced_method(flags) {
        return None;
    }
    Some(SyncCounter {
        slot: count_slot(c.id()) as u16,
        syncable: rule::sync_state(c.state()).0,
        templated: c.control().is_some(),
    })
}

/// Whether the engine takes part in sync at all for entries with these flags: FULLNAT
/// connections (rvs's own method, unknown to the kernel's protocol) never do.
fn synced_method(flags: ConnFlags) -> bool {
    flags.0 & ConnFlags::FWD_MASK != ConnFlags::FULLNAT
}

/// The master after an input packet of `conn` (the kernel's `ip_vs_sync_conn`, sync
/// version 1, the only one rvs's master sends): the connection first, by its own
/// count and state ([`rule::conn_needed`]); then, whether or not the connection was
/// queued, its controlling template, whose count goes up by one on every input packet
/// of every connection it controls ([`rule::template_needed`]). So a message holds a
/// connection before its template.
///
/// Connection packet counts are kept per worker in a small table indexed by
/// connection, shared with the flow cache (a collision only shifts when a
/// connection is synced, never whether it eventually is); the state each was last
/// synced in and the templates' counts are in the [`book::SyncBook`]s.
pub(crate) fn maybe_queue(w: &Worker, conn: &Conn, t: &Transition, _now: Instant) {
    if !synced_method(conn.flags) {
        return;
    }
    let Some(q) = w.sh.sync_queues.get(w.index) else {
        return;
    };
    // A one-packet entry is never synced itself (its template still is); rvs keeps
    // none, so this is only a guard.
    if !conn.flags.has(ConnFlags::ONE_PACKET) {
        // Every input packet counts, whatever the state (the kernel's `cp->in_pkts`).
        let Some(cell) = w.pkt_counts.get(count_slot(conn.id)) else {
            return;
        };
        let pkts = cell.get().wrapping_add(1);
        cell.set(pkts);
        let synced = q.book.synced_state(conn.id);
        if rule::conn_needed(&w.sh.cfg.sysctls, t.to, synced, pkts) {
            q.book.set_synced_state(conn.id, t.to.to_raw());
            q.push(SyncConn::from_conn(conn, SyncPe::NONE));
        }
    }
    if let Some(tid) = conn.control {
        consider_template(w, tid);
    }
}

/// The master's rule for the template `tid` of a one-packet (`-o`) datagram, which
/// keeps no entry of its own: the kernel skips the connection and considers its
/// template as for any other connection's packet.
pub(crate) fn one_packet_template(w: &Worker, tid: ConnId) {
    consider_template(w, tid);
}

/// One more input packet of a connection controlled by the template `tid`: count it
/// on the template and queue the template if that makes it due.
fn consider_template(w: &Worker, tid: ConnId) {
    let books = &w.sh.sync_queues;
    // Every worker counts a given template in the same book.
    let Some(home) = books.get(count_slot(tid) % books.len().max(1)) else {
        return;
    };
    let pkts = home.book.count_template_packet(tid);
    if !rule::template_needed(&w.sh.cfg.sysctls, pkts) {
        return;
    }
    if let (Some(q), Some(tmpl)) = (books.get(w.index), w.sh.conns.get(tid)) {
        if tmpl.is_template() && synced_method(tmpl.flags) {
            q.push(template_sync(&w.sh, &tmpl));
        }
    }
}
