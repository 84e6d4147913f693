//! A backup director's import of synced connections and templates (the kernel's
//! `ip_vs_proc_sync_conn`, `ip_vs_conn_fill_param_sync` and `ip_vs_proc_conn`).

use super::{SyncConn, BACKUP_MASK};
use crate::conn::{
    ConnFlags, ConnState, Endpoint, InKey, InsertError, NewConn, SyncOutcome, SyncedState,
};
use crate::engine::{pe_sip, Engine, Shared};
use crate::model::ForwardMethod;
use crate::time::Instant;

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
            // `ip_vs_ct_in_get` found it: flags, state and timeout follow the
            // message, its real server stays.
            Ok(t) => {
                let mut update = n;
                update.client.port = t.client.port;
                return match conns.sync_apply(update, now) {
                    Ok(SyncOutcome::Created(c))
                        if !store.record(&key, call_id, t.client.port, c.id, Some(t.id)) =>
                    {
                        // Gone between the lookup and the update, and its Call-ID taken
                        // over meanwhile: the newer template stands.
                        conns.expire_now(c.id);
                        Ok(())
                    }
                    Ok(_) => Ok(()),
                    Err(e) => Err(SyncImportError::Table(e)),
                };
            }
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
