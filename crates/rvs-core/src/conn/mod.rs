//! Connection tracking: the table of connections and persistence templates, the TCP,
//! UDP and SCTP state machines with their timeouts, and the per-real-server load
//! counters with the overload thresholds. Semantics follow Linux 6.1 IPVS
//! (`ip_vs_conn.c`, `ip_vs_proto_{tcp,udp,sctp}.c`, `ip_vs_core.c`).
//!
//! # How the engine uses it
//!
//! ```text
//! client packet  --InKey-->  table.process_in(&key, event, now)
//!     Some((conn, t))  -> reuse::decide(&conn, event, dest_status, policy)
//!                           Keep        -> forward to conn.dest (rewrite per conn.flags)
//!                           Reschedule  -> table.expire_now(conn.id), then as a miss
//!                           Drop        -> drop
//!     None             -> if the packet may open a connection: schedule a real server
//!                         (persistence: persist::template_key + lookup_template /
//!                         insert a template), then table.insert(NewConn{..}, now)
//!                         and table.on_packet(id, Direction::In, event, now)
//! reply packet   --OutKey--> table.process_out(&key, event, now)   (NAT, FULLNAT)
//! every ~100 ms  table.expire(now, budget)
//! ```
//!
//! The engine's flow caches take, with a forwarded packet's [`ConnView`], a
//! [`FastTicket`]; later packets that leave the entry as it is go through
//! [`ConnTable::fast_touch`] instead (no lock: a version check and the timer restart).
//!
//! Each entry is bound to its real server's [`DestCounters`] (shared `Arc`), which the
//! table keeps right by itself: new entries count as inactive (templates as
//! persistent), state changes move them between active and inactive, removal uncounts
//! them and re-evaluates the OVERLOAD flag. One-packet (`-o`) connections are never
//! inserted: the engine forwards the packet and only counts it in the stats.
//!
//! Listings: [`Conn::to_status`] (or [`Conn::state_name`], which shows a template whose
//! connection got established as "ASSURED", as Linux does).
//!
//! What the sync daemon needs is in [`Conn`] (export, through
//! [`ConnTable::for_each`]: protocol, the three endpoints, fwmark, kernel flag bits,
//! [`Conn::raw_state`], timeout) and [`ConnTable::sync_apply`] with a [`NewConn`] carrying a
//! [`SyncedState`] (import, with the kernel's update rules).
//!
//! Not implemented: the `drop_entry` / `drop_packet` defenses, which react to kernel
//! memory pressure; a full table refuses new connections instead (see [`ConnTable`]).
//! The `secure_tcp` tables are there ([`ConnTable::set_secure_tcp`]); deciding when to
//! turn them on in the automatic modes is left to the caller.

mod entry;
mod key;
mod load;
pub mod reuse;
pub mod sctp;
mod state;
mod table;
pub mod tcp;

pub use entry::{Conn, ConnFlags, ConnId, NewConn, SyncedState};
pub use key::{Endpoint, InKey, OutKey};
pub use load::{DestCounters, LoadKind, LoadSnapshot};
pub use state::{
    apply as apply_packet, apply_with as apply_packet_with, Activity, ConnState, Direction,
    PacketEvent, TimeoutTable, Transition,
};
pub use table::{
    ConfigError, ConnTable, ConnTableConfig, ConnView, ExpiryHook, FastTicket, InsertError,
    SyncOutcome, TableCounters, MAX_SHARDS, RECLAIM_SCAN,
};
