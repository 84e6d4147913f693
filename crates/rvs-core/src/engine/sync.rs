//! Connection synchronisation hooks: what a master director hands its sync daemon,
//! and what a backup director feeds back in. The wire format (IPVS sync v0/v1) is the
//! HA crate's business; this is the engine's side of it.

mod import;
mod pe;
mod queue;

pub use import::SyncImportError;
pub use pe::{SyncPe, PE_NAME_MAX};
pub(crate) use queue::SyncQueue;

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

use super::config::Sysctls;
use super::flow_cache::SyncCounter;
use super::worker::Worker;
use super::{pe_sip, Shared};
use crate::conn::sctp::SctpState;
use crate::conn::tcp::TcpState;
use crate::conn::{Conn, ConnFlags, ConnId, ConnState, ConnView, Transition};
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
            state: c.state.to_raw(),
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

/// Whether the state is one the kernel syncs in (`ip_vs_sync_conn_needed`), and
/// whether entering it forces a sync at once (any such state but ESTABLISHED).
fn sync_state(s: ConnState) -> (bool, bool) {
    match s {
        ConnState::Tcp(t) => {
            let ok = matches!(
                t,
                TcpState::Established
                    | TcpState::FinWait
                    | TcpState::Close
                    | TcpState::CloseWait
                    | TcpState::TimeWait
            );
            (ok, ok && t != TcpState::Established)
        }
        ConnState::Sctp(t) => {
            let ok = matches!(
                t,
                SctpState::Established
                    | SctpState::ShutdownSent
                    | SctpState::ShutdownReceived
                    | SctpState::ShutdownAckSent
                    | SctpState::Closed
            );
            (ok, ok && t != SctpState::Established)
        }
        ConnState::Udp => (true, false),
        ConnState::Template => (false, false),
    }
}

/// The periodic rule: the input packet count that makes a connection due.
#[inline]
pub(crate) fn periodic_due(s: &Sysctls, pkts: u16) -> bool {
    let pkts = u32::from(pkts);
    if s.sync_period > 0 {
        pkts % s.sync_period == s.sync_threshold
    } else {
        pkts == s.sync_threshold
    }
}

/// Where the flow cache counts the inbound packets of `c` for [`maybe_queue`]'s rule
/// (`None` for connections never synced).
pub(crate) fn counter_of(c: &ConnView<'_>) -> Option<SyncCounter> {
    let flags = c.flags();
    if flags.has(ConnFlags::ONE_PACKET) || flags.0 & ConnFlags::FWD_MASK == ConnFlags::FULLNAT {
        return None;
    }
    Some(SyncCounter {
        slot: count_slot(c.id()) as u16,
        syncable: sync_state(c.state()).0,
        templated: c.control().is_some(),
    })
}

/// The master's rule after an input packet of `conn`: queue it when its state just
/// changed into a closing state, or when its input packet count modulo
/// `sync_period` equals `sync_threshold` ("3 50"). Packet counts are kept per worker
/// in a small table indexed by connection (a collision only shifts when a connection
/// is synced, never whether it eventually is). Its controlling template goes with it.
pub(crate) fn maybe_queue(w: &Worker, conn: &Conn, t: &Transition, _now: Instant) {
    if conn.flags.has(ConnFlags::ONE_PACKET)
        || conn.flags.0 & ConnFlags::FWD_MASK == ConnFlags::FULLNAT
    {
        return;
    }
    // Every input packet counts, whatever the state (the kernel's `cp->in_pkts`).
    let cell = &w.pkt_counts[count_slot(conn.id)];
    let pkts = cell.get().wrapping_add(1);
    cell.set(pkts);
    let (ok, forcing) = sync_state(t.to);
    if !ok {
        return;
    }
    let due = (forcing && t.from != t.to) || periodic_due(&w.sh.cfg.sysctls, pkts);
    if !due {
        return;
    }
    let q = &w.sh.sync_queues[w.index];
    if let Some(tid) = conn.control {
        if let Some(tmpl) = w.sh.conns.get(tid) {
            q.push(template_sync(&w.sh, &tmpl));
        }
    }
    q.push(SyncConn::from_conn(conn, SyncPe::NONE));
}

/// The master's rule for the template `tid` of a one-packet (`-o`) datagram, which
/// keeps no entry of its own: the kernel skips the connection and syncs its
/// template, counting the template's input packets; a template is due on every
/// such packet when `sync_period` is set, else when its count equals
/// `sync_threshold` (`ip_vs_sync_conn_needed`, templates being exempt from the
/// periodic rule).
pub(crate) fn one_packet_template(w: &Worker, tid: ConnId) {
    let cell = &w.pkt_counts[count_slot(tid)];
    let pkts = cell.get().wrapping_add(1);
    cell.set(pkts);
    let s = &w.sh.cfg.sysctls;
    if s.sync_period == 0 && u32::from(pkts) != s.sync_threshold {
        return;
    }
    if let Some(tmpl) = w.sh.conns.get(tid) {
        w.sh.sync_queues[w.index].push(template_sync(&w.sh, &tmpl));
    }
}
