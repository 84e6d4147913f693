//! What to do when a packet that opens a connection hits an existing entry
//! (`conn_reuse_mode`, `expire_nodest_conn`; the kernel's `ip_vs_in_hook` and
//! `is_new_conn_expected`). Pure decisions: the engine applies them with
//! [`super::ConnTable::expire_now`] and schedules the packet anew.

use super::entry::Conn;
use super::sctp::SctpState;
use super::state::{ConnState, PacketEvent};
use super::tcp::TcpState;

/// The sysctls that govern reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReusePolicy {
    /// `conn_reuse_mode` (default 1): bit 0 (value 1) reschedules a new SYN hitting a
    /// TIME_WAIT/CLOSE entry, bit 1 (value 2) also a DR/TUN entry in FIN_WAIT.
    pub conn_reuse_mode: u32,
    /// `expire_nodest_conn` (default 0).
    pub expire_nodest_conn: bool,
}

impl Default for ReusePolicy {
    fn default() -> Self {
        ReusePolicy {
            conn_reuse_mode: 1,
            expire_nodest_conn: false,
        }
    }
}

/// What the real server of an existing entry looks like now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DestStatus {
    /// The real server is still configured (the kernel's IP_VS_DEST_F_AVAILABLE).
    pub available: bool,
    pub weight: i32,
}

/// The decision for a packet that matched an existing entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReuseDecision {
    /// Use the entry as it is.
    Keep,
    /// Expire the entry now (unless it controls other connections) and schedule the
    /// packet as a new connection.
    Reschedule,
    /// Drop the packet and keep the entry, without restarting its timer (real server
    /// gone, `expire_nodest_conn` off).
    Drop,
}

/// Whether an entry in this state may be replaced by a new connection from the same
/// client port (`is_new_conn_expected`).
pub fn new_conn_expected(conn: &Conn, conn_reuse_mode: u32) -> bool {
    if conn.control.is_some() {
        // Controlled (persistence) connections are never rescheduled this way.
        return false;
    }
    match conn.state {
        ConnState::Tcp(s) => {
            matches!(s, TcpState::TimeWait | TcpState::Close)
                || (conn_reuse_mode & 2 != 0 && s == TcpState::FinWait && conn.flags.no_output())
        }
        ConnState::Sctp(s) => s == SctpState::Closed,
        ConnState::Udp | ConnState::Template => false,
    }
}

/// Decide about a client → virtual packet that matched `conn`.
///
/// There is no conntrack in rvs, so the kernel's "old conntrack" cases (which drop the
/// packet instead of rescheduling) never arise.
pub fn decide(
    conn: &Conn,
    event: PacketEvent,
    dest: Option<DestStatus>,
    policy: ReusePolicy,
) -> ReuseDecision {
    if policy.conn_reuse_mode != 0 && event.is_new_conn() {
        let nodest_resched = policy.expire_nodest_conn && dest.is_some_and(|d| d.weight == 0);
        if nodest_resched || new_conn_expected(conn, policy.conn_reuse_mode) {
            return ReuseDecision::Reschedule;
        }
    }
    match dest {
        // Since Linux 5.9 an expired no-dest connection is rescheduled, not dropped.
        Some(d) if !d.available && policy.expire_nodest_conn => ReuseDecision::Reschedule,
        Some(d) if !d.available => ReuseDecision::Drop,
        _ => ReuseDecision::Keep,
    }
}
