//! Applying connection-sync messages (the backup side of the IPVS sync protocol,
//! the kernel's `ip_vs_proc_conn`).

use super::slot::LIVE;
use super::{ConnTable, InsertError, SYNC_TEMPLATE_TIMEOUT_MS};
use crate::conn::entry::{Conn, ConnFlags, NewConn};
use crate::conn::key::InKey;
use crate::conn::state::Activity;
use crate::time::Instant;

/// What a sync message did to the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOutcome {
    /// No entry had this key: one was created.
    Created(Conn),
    /// The entry was updated (activity, state, timeout) and its timer restarted.
    Updated(Conn),
    /// A late "connection ended" message for an entry already replaced by a newer one
    /// to another real server: ignored, as the kernel does.
    Ignored,
}

impl ConnTable {
    /// Apply one synced connection. `new` carries the message's key, real server, flags
    /// and state in [`NewConn::synced`], its timeout (if the message has one) in
    /// [`NewConn::timeout_ms`], and the local real server's counters when the engine
    /// found it. Returns an error only when a new entry could not be created.
    pub fn sync_apply(&self, new: NewConn, now: Instant) -> Result<SyncOutcome, InsertError> {
        let Some(synced) = new.synced else {
            return self.insert(new, now).map(SyncOutcome::Created);
        };
        let key = InKey {
            proto: new.proto,
            client: new.client,
            virt: new.virt,
        };
        let existing = if new.template {
            self.lookup_template(&key, now)
        } else {
            self.lookup_in(&key, now)
        };
        let Some(old) = existing else {
            return self.insert(new, now).map(SyncOutcome::Created);
        };
        if !new.template && old.dest != new.dest {
            // The connection moved to another real server on the master.
            if synced.flags.is_inactive() {
                return Ok(SyncOutcome::Ignored);
            }
            self.expire_now(old.id);
            return self.insert(new, now).map(SyncOutcome::Created);
        }
        let timeout_ms = new.timeout_ms.unwrap_or(if new.template {
            SYNC_TEMPLATE_TIMEOUT_MS
        } else {
            self.timeouts.millis(synced.state)
        });
        let (shard, local) = self.split(old.id);
        let updated = {
            let mut inner = self.lock(shard);
            match inner.slab.get_mut(local as usize) {
                Some(e) if e.live & LIVE != 0 && e.gen == old.id.gen => {
                    let was_inactive = e.flags & ConnFlags::INACTIVE != 0;
                    let now_inactive = synced.flags.is_inactive();
                    if !new.template && was_inactive != now_inactive {
                        if let Some(c) = &e.counters {
                            c.apply(if now_inactive {
                                Activity::BecameInactive
                            } else {
                                Activity::BecameActive
                            });
                        }
                    }
                    // Only the activity bit follows the master (IP_VS_CONN_F_BACKUP_UPD_MASK;
                    // rvs keeps no TCP sequence adjustments).
                    e.flags =
                        (e.flags & !ConnFlags::INACTIVE) | (synced.flags.0 & ConnFlags::INACTIVE);
                    if new.template {
                        // A template's state (NONE/ASSURED) follows the master too.
                        e.flags = (e.flags & !ConnFlags::TEMPLATE_ASSURED)
                            | (synced.flags.0 & ConnFlags::TEMPLATE_ASSURED);
                    } else {
                        e.state = synced.state.to_raw() as u8;
                    }
                    e.timeout_ms = timeout_ms;
                    e.expires = now.as_millis().saturating_add(timeout_ms as u64);
                    let hot = self.hot(shard, local);
                    hot.publish(e.steady_bits());
                    Some(e.to_conn(old.id, hot))
                }
                _ => None,
            }
        };
        match updated {
            Some(c) => Ok(SyncOutcome::Updated(c)),
            // Gone between the lookup and the update: create it afresh.
            None => self.insert(new, now).map(SyncOutcome::Created),
        }
    }
}
