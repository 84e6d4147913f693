//! Protocol states of a connection entry, the per-state timeouts (`--set tcp tcpfin
//! udp`), and one pure function that applies a packet to a state.

use super::sctp::{self, SctpEvent, SctpState};
use super::tcp::{self, TcpFlags, TcpState, TcpTable};
use crate::model::Timeouts;
use core::sync::atomic::{AtomicU32, Ordering};

/// Which way a packet crosses the director.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client → director (→ real server): looked up with an [`super::InKey`].
    In,
    /// Real server → director (→ client), NAT and FULLNAT replies: an [`super::OutKey`].
    Out,
}

/// What the state machines need to know about one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketEvent {
    Tcp(TcpFlags),
    Udp,
    Sctp(SctpEvent),
}

impl PacketEvent {
    /// The kernel's `is_new_conn`: a packet that may open a connection (a TCP SYN
    /// without ACK, an SCTP INIT). Used by `conn_reuse_mode`.
    pub const fn is_new_conn(self) -> bool {
        match self {
            PacketEvent::Tcp(f) => f.is_syn_only(),
            PacketEvent::Sctp(e) => matches!(e, SctpEvent::Init),
            PacketEvent::Udp => false,
        }
    }
}

/// The state of a connection entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnState {
    Tcp(TcpState),
    /// UDP has a single state, shown as "UDP".
    Udp,
    Sctp(SctpState),
    /// A persistence template (state NONE in the kernel's template table).
    Template,
}

impl ConnState {
    /// The state of a newly created entry of IP protocol `proto` (state 0 in the kernel).
    pub const fn initial(proto: u8, template: bool) -> ConnState {
        if template {
            return ConnState::Template;
        }
        match proto {
            6 => ConnState::Tcp(TcpState::None),
            132 => ConnState::Sctp(SctpState::None),
            _ => ConnState::Udp,
        }
    }

    /// The name `ipvsadm -Lc` shows.
    pub const fn name(self) -> &'static str {
        match self {
            ConnState::Tcp(s) => s.name(),
            ConnState::Udp => "UDP",
            ConnState::Sctp(s) => s.name(),
            ConnState::Template => "NONE",
        }
    }

    /// Whether an entry in this state counts as an active connection of its real server.
    pub const fn is_active(self) -> bool {
        match self {
            ConnState::Tcp(s) => s.is_active(),
            ConnState::Sctp(s) => s.is_active(),
            ConnState::Udp | ConnState::Template => false,
        }
    }

    /// The kernel's numeric state (what the sync protocol carries).
    pub const fn to_raw(self) -> u16 {
        match self {
            ConnState::Tcp(s) => s as u16,
            ConnState::Sctp(s) => s as u16,
            ConnState::Udp | ConnState::Template => 0,
        }
    }

    /// The state from the kernel's number (sync import); `None` when out of range.
    /// Templates have two states, 0 (NONE) and 1 (ASSURED, see
    /// [`super::ConnFlags::TEMPLATE_ASSURED`]).
    pub fn from_raw(proto: u8, template: bool, raw: u16) -> Option<ConnState> {
        if template {
            return (raw <= 1).then_some(ConnState::Template);
        }
        let raw = u8::try_from(raw).ok()?;
        match proto {
            6 => TcpState::from_index(raw).map(ConnState::Tcp),
            132 => SctpState::from_index(raw).map(ConnState::Sctp),
            17 if raw == 0 => Some(ConnState::Udp),
            _ => None,
        }
    }
}

/// The timeouts of every state, in milliseconds, changeable at run time (`--set`).
/// Readers on the data path use relaxed atomics: a change applies to the next transition
/// of each connection, as in the kernel.
#[derive(Debug)]
pub struct TimeoutTable {
    tcp: [AtomicU32; TcpState::COUNT],
    udp: AtomicU32,
    sctp: [AtomicU32; SctpState::COUNT],
}

impl Default for TimeoutTable {
    fn default() -> Self {
        TimeoutTable {
            tcp: TcpState::ALL.map(|s| AtomicU32::new(s.default_timeout_secs() * 1000)),
            udp: AtomicU32::new(300_000),
            sctp: SctpState::ALL.map(|s| AtomicU32::new(s.default_timeout_secs() * 1000)),
        }
    }
}

impl TimeoutTable {
    /// `--set tcp tcpfin udp`: ESTABLISHED, FIN_WAIT and UDP timeouts in seconds; a zero
    /// keeps the current value (as ipvsadm and the kernel do).
    pub fn set(&self, t: Timeouts) {
        let store = |cell: &AtomicU32, secs: u32| {
            if secs != 0 {
                cell.store(secs.saturating_mul(1000), Ordering::Relaxed);
            }
        };
        store(&self.tcp[TcpState::Established as usize], t.tcp);
        store(&self.tcp[TcpState::FinWait as usize], t.tcp_fin);
        store(&self.udp, t.udp);
    }

    /// What `--timeout` lists.
    pub fn get(&self) -> Timeouts {
        Timeouts {
            tcp: self.tcp[TcpState::Established as usize].load(Ordering::Relaxed) / 1000,
            tcp_fin: self.tcp[TcpState::FinWait as usize].load(Ordering::Relaxed) / 1000,
            udp: self.udp.load(Ordering::Relaxed) / 1000,
        }
    }

    /// Timeout of `state` in milliseconds. Templates carry their own (the persistence
    /// timeout), so this returns the NONE timeout for them.
    pub fn millis(&self, state: ConnState) -> u32 {
        match state {
            ConnState::Tcp(s) => self.tcp[s as usize].load(Ordering::Relaxed),
            ConnState::Udp => self.udp.load(Ordering::Relaxed),
            ConnState::Sctp(s) => self.sctp[s as usize].load(Ordering::Relaxed),
            ConnState::Template => self.tcp[0].load(Ordering::Relaxed),
        }
    }
}

/// How a packet changed an entry's accounting for its real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// Counted inactive until now, active from now on.
    BecameActive,
    /// Counted active until now, inactive from now on.
    BecameInactive,
}

/// The result of applying one packet to a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: ConnState,
    pub to: ConnState,
    /// The entry saw its first reply: it now uses the INPUT/OUTPUT tables.
    pub cleared_no_output: bool,
    /// Change of the active/inactive accounting, if any.
    pub activity: Option<Activity>,
}

/// Apply a packet to `state`. `no_output` is the entry's NOOUTPUT flag and `inactive` its
/// INACTIVE flag (both as before the packet). Mirrors the kernel's `set_tcp_state`,
/// `set_sctp_state` and `udp_state_transition`.
pub fn apply(
    state: ConnState,
    no_output: bool,
    inactive: bool,
    dir: Direction,
    event: PacketEvent,
) -> Transition {
    apply_with(false, state, no_output, inactive, dir, event)
}

/// [`apply`] with the `secure_tcp` TCP tables when `secure_tcp` is set.
pub fn apply_with(
    secure_tcp: bool,
    state: ConnState,
    no_output: bool,
    inactive: bool,
    dir: Direction,
    event: PacketEvent,
) -> Transition {
    let (table, cleared_no_output) = match (dir, no_output) {
        (Direction::Out, true) => (TcpTable::Output, true),
        (Direction::Out, false) => (TcpTable::Output, false),
        (Direction::In, true) => (TcpTable::InputOnly, false),
        (Direction::In, false) => (TcpTable::Input, false),
    };
    let to = match (state, event) {
        (ConnState::Tcp(s), PacketEvent::Tcp(f)) => {
            ConnState::Tcp(tcp::next_state_with(secure_tcp, table, s, f))
        }
        (ConnState::Sctp(s), PacketEvent::Sctp(e)) => {
            ConnState::Sctp(sctp::next_state(table, s, e))
        }
        // UDP, templates, and an event of another protocol (cannot come from a parsed
        // packet of this entry) leave the state alone.
        (s, _) => s,
    };
    let activity = if to == state || matches!(to, ConnState::Udp | ConnState::Template) {
        None
    } else if !inactive && !to.is_active() {
        Some(Activity::BecameInactive)
    } else if inactive && to.is_active() {
        Some(Activity::BecameActive)
    } else {
        None
    };
    Transition {
        from: state,
        to,
        cleared_no_output: cleared_no_output && !matches!(state, ConnState::Udp),
        activity,
    }
}

/// Whether a packet of direction `dir` that carries none of SYN, FIN or RST (TCP), or
/// any UDP datagram, leaves an entry in `state` exactly as it is, whichever TCP tables
/// are in force: same state, same activity accounting, NOOUTPUT unchanged. Such packets
/// only restart the timer, which is what lets a worker forward them without the table
/// lock (see the table's `hot` module). SCTP and templates are never steady.
pub fn steady(state: ConnState, no_output: bool, inactive: bool, dir: Direction) -> bool {
    let ack = PacketEvent::Tcp(TcpFlags::ACK);
    match state {
        ConnState::Udp => true,
        ConnState::Tcp(_) => [false, true].into_iter().all(|secure| {
            let t = apply_with(secure, state, no_output, inactive, dir, ack);
            t.to == t.from && t.activity.is_none() && !t.cleared_no_output
        }),
        ConnState::Sctp(_) | ConnState::Template => false,
    }
}

#[cfg(test)]
mod steady_tests {
    use super::*;

    #[test]
    fn only_established_tcp_and_udp_are_steady() {
        let es = ConnState::Tcp(TcpState::Established);
        assert!(steady(es, false, false, Direction::In));
        assert!(steady(es, false, false, Direction::Out));
        // DR/TUN entries never see a reply: INPUT-ONLY table, still steady inbound.
        assert!(steady(es, true, false, Direction::In));
        // The first reply clears NOOUTPUT: that is a change.
        assert!(!steady(es, true, false, Direction::Out));
        // An ACK moves these on: the locked path must see it.
        for s in [TcpState::None, TcpState::SynRecv, TcpState::LastAck] {
            assert!(
                !steady(ConnState::Tcp(s), false, false, Direction::In),
                "{s:?}"
            );
        }
        assert!(steady(ConnState::Udp, true, true, Direction::In));
        assert!(steady(ConnState::Udp, true, true, Direction::Out));
        assert!(!steady(ConnState::Template, false, false, Direction::In));
        assert!(!steady(
            ConnState::Sctp(SctpState::Established),
            false,
            false,
            Direction::In
        ));
    }
}
