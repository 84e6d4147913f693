//! Connection synchronisation hooks: what a master director hands its sync daemon,
//! and what a backup director feeds back in. The wire format (IPVS sync v0/v1) is the
//! HA crate's business; this is the engine's side of it.

use crate::model::Family;
use crate::persist::PE_DATA_MAX;
use core::net::IpAddr;
use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

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

/// The kernel's `IP_VS_PENAME_MAXLEN`.
pub const PE_NAME_MAX: usize = 16;

/// A template's persistence-engine name and data as the sync protocol carries them
/// (the kernel's PE_NAME and PE_DATA options): inline and bounded, so that queueing a
/// template on the master allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SyncPe {
    name_len: u8,
    data_len: u8,
    name: [u8; PE_NAME_MAX],
    data: [u8; PE_DATA_MAX],
}

impl SyncPe {
    /// No persistence-engine data (connections, and templates of services without
    /// `--pe`).
    pub const NONE: SyncPe = SyncPe {
        name_len: 0,
        data_len: 0,
        name: [0; PE_NAME_MAX],
        data: [0; PE_DATA_MAX],
    };

    /// `name` and `data` as received or to send; `None` when either is longer than
    /// the protocol allows (16 and 255 bytes).
    pub fn new(name: &[u8], data: &[u8]) -> Option<SyncPe> {
        if name.len() > PE_NAME_MAX || data.len() > PE_DATA_MAX {
            return None;
        }
        let mut pe = SyncPe::NONE;
        pe.name[..name.len()].copy_from_slice(name);
        pe.data[..data.len()].copy_from_slice(data);
        pe.name_len = name.len() as u8;
        pe.data_len = data.len() as u8;
        Some(pe)
    }

    /// The engine's name (`sip`), empty when absent.
    pub fn name(&self) -> &[u8] {
        &self.name[..usize::from(self.name_len)]
    }

    /// The engine's data (the Call-ID), empty when absent.
    pub fn data(&self) -> &[u8] {
        &self.data[..usize::from(self.data_len)]
    }

    /// Neither a name nor data.
    pub fn is_empty(&self) -> bool {
        self.name_len == 0 && self.data_len == 0
    }
}

impl Default for SyncPe {
    fn default() -> Self {
        SyncPe::NONE
    }
}

impl core::fmt::Debug for SyncPe {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SyncPe")
            .field("name", &String::from_utf8_lossy(self.name()))
            .field("data", &String::from_utf8_lossy(self.data()))
            .finish()
    }
}

/// A bounded queue of connections waiting to be sent, one per worker so workers never
/// contend with each other (only with the drain, which is rare).
#[derive(Debug)]
pub(crate) struct SyncQueue {
    q: Mutex<VecDeque<SyncConn>>,
    cap: usize,
}

impl SyncQueue {
    pub fn new(cap: usize) -> SyncQueue {
        SyncQueue {
            q: Mutex::new(VecDeque::with_capacity(cap)),
            cap,
        }
    }

    /// Queue one; when full the newest is dropped (the next threshold hit resends).
    pub fn push(&self, c: SyncConn) {
        let mut q = self.q.lock().unwrap_or_else(PoisonError::into_inner);
        if q.len() < self.cap {
            q.push_back(c);
        }
    }

    pub fn drain_into(&self, out: &mut Vec<SyncConn>) {
        let mut q = self.q.lock().unwrap_or_else(PoisonError::into_inner);
        out.extend(q.drain(..));
    }
}

use super::config::Sysctls;
use super::flow_cache::SyncCounter;
use super::worker::Worker;
use super::{pe_sip, Engine, Shared};
use crate::conn::sctp::SctpState;
use crate::conn::tcp::TcpState;
use crate::conn::{
    Conn, ConnFlags, ConnId, ConnState, ConnView, Endpoint, InKey, InsertError, NewConn,
    SyncedState, Transition,
};
use crate::model::ForwardMethod;
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

/// Why a synced connection was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncImportError {
    /// No local service matches its protocol, virtual address and port (or mark).
    NoService,
    /// The service has no real server with its address and port.
    NoDest,
    /// The state number does not exist for the protocol.
    BadState,
    /// FULLNAT connections cannot be synced (their local address is not carried).
    FullNat,
    /// The connection table refused it.
    Table(InsertError),
    /// Persistence-engine data without the engine's name (the kernel's "Invalid PE
    /// parameters"): skipped.
    PeNameMissing,
    /// Persistence-engine data for an engine rvs does not have (only `sip`):
    /// skipped, as the kernel skips one it has not loaded.
    UnknownPe(String),
    /// A SIP template for a local service without `--pe sip`: its Call-ID could not
    /// direct anything there.
    NotSip,
    /// No room to record the template's Call-ID.
    PeDataFull,
}

impl core::fmt::Display for SyncImportError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SyncImportError::NoService => {
                f.write_str("no local virtual service for the synced connection")
            }
            SyncImportError::NoDest => {
                f.write_str("no local real server for the synced connection")
            }
            SyncImportError::BadState => f.write_str("invalid connection state in sync message"),
            SyncImportError::FullNat => f.write_str("FULLNAT connections are not synced"),
            SyncImportError::Table(e) => e.fmt(f),
            SyncImportError::PeNameMissing => {
                f.write_str("persistence engine data without the engine's name in sync message")
            }
            SyncImportError::UnknownPe(name) => {
                write!(f, "unknown persistence engine {name:?} in sync message")
            }
            SyncImportError::NotSip => {
                f.write_str("synced SIP template for a local virtual service without --pe sip")
            }
            SyncImportError::PeDataFull => f.write_str("no room for the synced template's Call-ID"),
        }
    }
}

impl std::error::Error for SyncImportError {}

impl Engine {
    /// A backup director's import of one synced connection or template: create it (or
    /// refresh it) bound to the matching local service and real server, with the
    /// state, flags and timeout the master sent.
    pub fn sync_import(&self, s: &SyncConn, now: Instant) -> Result<(), SyncImportError> {
        let sh = &*self.shared;
        // `ip_vs_conn_fill_param_sync`: data needs the name of an engine this director
        // has; a name without data is ignored.
        let call_id = match (s.pe.data(), s.pe.name()) {
            ([], _) => None,
            (_, []) => return Err(SyncImportError::PeNameMissing),
            (data, name) if name == pe_sip::PE_NAME.as_bytes() => Some(data),
            (_, name) => {
                return Err(SyncImportError::UnknownPe(
                    String::from_utf8_lossy(name).into_owned(),
                ))
            }
        };
        let reg = sh.registry.load_full();
        let template = s.flags & ConnFlags::TEMPLATE != 0;
        let svc = if s.fwmark != 0 {
            reg.by_mark(s.fwmark, s.family)
        } else {
            crate::model::Protocol::from_ip_proto(s.ip_proto)
                .and_then(|p| reg.find_addr(p, s.vaddr, s.vport))
        }
        .ok_or(SyncImportError::NoService)?;
        let dest = svc
            .dests
            .iter()
            .find(|d| d.config.addr == s.daddr && d.config.port == s.dport)
            .or_else(|| svc.dests.iter().find(|d| d.config.addr == s.daddr))
            .ok_or(SyncImportError::NoDest)?;
        let method = dest.config.method;
        if method == ForwardMethod::FullNat {
            return Err(SyncImportError::FullNat);
        }
        let state =
            ConnState::from_raw(s.ip_proto, template, s.state).ok_or(SyncImportError::BadState)?;
        let key = InKey {
            proto: s.ip_proto,
            client: Endpoint::new(s.caddr, s.cport),
            virt: Endpoint::new(s.vaddr, s.vport),
        };
        let mut n = NewConn::scheduled(
            s.ip_proto,
            key.client,
            key.virt,
            Endpoint::new(s.daddr, s.dport),
            method,
        );
        n.template = template;
        n.fwmark = s.fwmark;
        n.service = svc.rt.id;
        n.dest_id = dest.rt.id;
        n.counters = Some(dest.rt.counters.clone());
        n.timeout_ms = Some(s.timeout.saturating_mul(1000));
        n.synced = Some(SyncedState {
            state,
            flags: ConnFlags((s.flags & BACKUP_MASK) | ConnFlags::SYNC),
        });
        // Only templates keep their engine's data (`ip_vs_conn_new`); a connection's is
        // dropped.
        if let (true, Some(call_id)) = (template, call_id) {
            if !pe_sip::is_sip(&svc.config) {
                return Err(SyncImportError::NotSip);
            }
            return import_sip_template(sh, n, key, call_id, now);
        }
        let existing = if template {
            sh.conns.lookup_template(&key, now)
        } else {
            sh.conns.lookup_in(&key, now)
        };
        if let Some(c) = existing {
            // A template that still controls connections stays; anything else is
            // replaced by the master's newer view.
            if !sh.conns.expire_now(c.id) {
                sh.conns.touch(c.id, now);
                return Ok(());
            }
        }
        sh.conns
            .insert(n, now)
            .map(|_| ())
            .map_err(SyncImportError::Table)
    }
}

/// A synced SIP template: keyed and recorded as the packet path keys and records a
/// Call-ID's template (the kernel's template carries `pe_data` and is hashed by
/// `ip_vs_sip_hashkey_raw`), so that the next datagram with that Call-ID finds it.
/// The message's client port is 0, as in the kernel; the table's is a probe port.
fn import_sip_template(
    sh: &Shared,
    n: NewConn,
    mut key: InKey,
    call_id: &[u8],
    now: Instant,
) -> Result<(), SyncImportError> {
    key.client.port = 0;
    let (store, conns) = (&*sh.pe_data, &sh.conns);
    let mut stale = None;
    if let Some(found) = pe_sip::find_template(store, conns, &key, call_id, now) {
        match found {
            // As for other templates: one that still controls connections stays.
            Ok(t) if !conns.expire_now(t.id) => {
                conns.touch(t.id, now);
                return Ok(());
            }
            Ok(t) => stale = Some(t.id),
            Err(tid) => stale = Some(tid),
        }
    }
    let placed = pe_sip::place_template(store, conns, &key, call_id, stale, now, |k| {
        let mut t = n.clone();
        t.client = k.client;
        t
    });
    match placed {
        pe_sip::Placed::Recorded(_) | pe_sip::Placed::Existing(_) => Ok(()),
        // A worker made this Call-ID's template a moment ago: it stands.
        pe_sip::Placed::Unrecorded if store.find(&key, call_id).is_some() => Ok(()),
        pe_sip::Placed::Unrecorded => Err(SyncImportError::PeDataFull),
        pe_sip::Placed::NoRoom(e) => Err(SyncImportError::Table(e)),
    }
}
