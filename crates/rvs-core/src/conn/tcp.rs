//! The TCP state machine of Linux IPVS (`ip_vs_proto_tcp.c`, Linux 6.1).
//!
//! IPVS does not track TCP the way an endpoint does: it only looks at the flags of each
//! packet it forwards and moves through a small table. There are three tables:
//! [`TcpTable::Input`] (client→server packets of a connection whose replies pass the
//! director), [`TcpTable::Output`] (server→client replies) and [`TcpTable::InputOnly`]
//! (client→server packets of a connection whose replies were never seen, i.e. DR and TUN).
//! The row is picked from the packet flags with the priority rst > syn > fin > ack; a
//! packet with none of these flags moves the connection to CLOSE, as in the kernel.
//!
//! Active states (counted in a real server's ActiveConn) follow Linux 6.1's
//! `tcp_state_active_table`: ESTABLISHED, SYN_SENT, SYN_RECV and SYNACK.
//!
//! With `secure_tcp` on, the kernel switches to a second set of tables (`tcp_states_dos`)
//! in which a client's SYN leads to SYNACK and only the server's reply makes the
//! connection look established, so spoofed SYN floods stay short-lived.

/// The eleven TCP states of IPVS, in the kernel's numbering (`IP_VS_TCP_S_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum TcpState {
    #[default]
    None = 0,
    Established = 1,
    SynSent = 2,
    SynRecv = 3,
    FinWait = 4,
    TimeWait = 5,
    Close = 6,
    CloseWait = 7,
    LastAck = 8,
    Listen = 9,
    SynAck = 10,
}

impl TcpState {
    pub const COUNT: usize = 11;

    pub const ALL: [TcpState; TcpState::COUNT] = [
        TcpState::None,
        TcpState::Established,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::FinWait,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::Listen,
        TcpState::SynAck,
    ];

    /// The kernel's name, as `ipvsadm -Lc` prints it.
    pub const fn name(self) -> &'static str {
        match self {
            TcpState::None => "NONE",
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::FinWait => "FIN_WAIT",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::Listen => "LISTEN",
            TcpState::SynAck => "SYNACK",
        }
    }

    pub const fn from_index(i: u8) -> Option<TcpState> {
        if (i as usize) < TcpState::COUNT {
            Some(TcpState::ALL[i as usize])
        } else {
            None
        }
    }

    /// Linux 6.1 `tcp_state_active_table`: whether a connection in this state counts
    /// as active for its real server.
    pub const fn is_active(self) -> bool {
        matches!(
            self,
            TcpState::Established | TcpState::SynSent | TcpState::SynRecv | TcpState::SynAck
        )
    }

    /// Default timeout in seconds (`tcp_timeouts`).
    pub const fn default_timeout_secs(self) -> u32 {
        match self {
            TcpState::None => 2,
            TcpState::Established => 900,
            TcpState::SynSent => 120,
            TcpState::SynRecv => 60,
            TcpState::FinWait => 120,
            TcpState::TimeWait => 120,
            TcpState::Close => 10,
            TcpState::CloseWait => 60,
            TcpState::LastAck => 30,
            TcpState::Listen => 120,
            TcpState::SynAck => 120,
        }
    }
}

/// The TCP header flags the state machine looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
}

impl TcpFlags {
    pub const SYN: TcpFlags = TcpFlags {
        syn: true,
        ack: false,
        fin: false,
        rst: false,
    };
    pub const SYN_ACK: TcpFlags = TcpFlags {
        syn: true,
        ack: true,
        fin: false,
        rst: false,
    };
    pub const ACK: TcpFlags = TcpFlags {
        syn: false,
        ack: true,
        fin: false,
        rst: false,
    };
    pub const FIN_ACK: TcpFlags = TcpFlags {
        syn: false,
        ack: true,
        fin: true,
        rst: false,
    };
    pub const RST: TcpFlags = TcpFlags {
        syn: false,
        ack: false,
        fin: false,
        rst: true,
    };

    /// From the flags byte of a TCP header (FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10).
    pub const fn from_bits(bits: u8) -> TcpFlags {
        TcpFlags {
            fin: bits & 0x01 != 0,
            syn: bits & 0x02 != 0,
            rst: bits & 0x04 != 0,
            ack: bits & 0x10 != 0,
        }
    }

    /// A packet that may open a connection: SYN without ACK (the kernel's `is_new_conn`).
    pub const fn is_syn_only(self) -> bool {
        self.syn && !self.ack
    }

    /// The table row: rst > syn > fin > ack, `None` when no flag the tables know is set.
    const fn row(self) -> Option<usize> {
        if self.rst {
            Some(ROW_RST)
        } else if self.syn {
            Some(ROW_SYN)
        } else if self.fin {
            Some(ROW_FIN)
        } else if self.ack {
            Some(ROW_ACK)
        } else {
            None
        }
    }
}

/// Which of the three transition tables applies to a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpTable {
    Input,
    Output,
    InputOnly,
}

const ROW_SYN: usize = 0;
const ROW_FIN: usize = 1;
const ROW_ACK: usize = 2;
const ROW_RST: usize = 3;

use TcpState::{
    Close as CL, CloseWait as CW, Established as ES, FinWait as FW, LastAck as LA, Listen as LI,
    SynAck as SA, SynRecv as SR, SynSent as SS, TimeWait as TW,
};

type Rows = [[TcpState; TcpState::COUNT]; 4];

// Columns: current state NO ES SS SR FW TW CL CW LA LI SA (kernel order).
// Rows: syn, fin, ack, rst. Transcribed from Linux 6.1 `tcp_states`.
const INPUT: Rows = [
    /* syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
    /* fin */ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW],
    /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
    /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR],
];

const OUTPUT: Rows = [
    /* syn */ [SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR],
    /* fin */ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
    /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
    /* rst */ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
];

const INPUT_ONLY: Rows = [
    /* syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
    /* fin */ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
    /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
    /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
];

// The `secure_tcp` tables (`tcp_states_dos`).
const INPUT_DOS: Rows = [
    /* syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SA],
    /* fin */ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, SA],
    /* ack */ [ES, ES, SS, SR, FW, TW, CL, CW, CL, LI, SA],
    /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
];

const OUTPUT_DOS: Rows = [
    /* syn */ [SS, ES, SS, SA, SS, SS, SS, SS, SS, LI, SA],
    /* fin */ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
    /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
    /* rst */ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
];

const INPUT_ONLY_DOS: Rows = [
    /* syn */ [SA, ES, ES, SR, SA, SA, SA, SA, SA, SA, SA],
    /* fin */ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
    /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
    /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
];

/// The next state for a packet with `flags` seen through `table` in state `from`.
pub const fn next_state(table: TcpTable, from: TcpState, flags: TcpFlags) -> TcpState {
    next_state_with(false, table, from, flags)
}

/// Like [`next_state`], with the `secure_tcp` tables when `secure` is set.
pub const fn next_state_with(
    secure: bool,
    table: TcpTable,
    from: TcpState,
    flags: TcpFlags,
) -> TcpState {
    let rows = match (secure, table) {
        (false, TcpTable::Input) => &INPUT,
        (false, TcpTable::Output) => &OUTPUT,
        (false, TcpTable::InputOnly) => &INPUT_ONLY,
        (true, TcpTable::Input) => &INPUT_DOS,
        (true, TcpTable::Output) => &OUTPUT_DOS,
        (true, TcpTable::InputOnly) => &INPUT_ONLY_DOS,
    };
    match flags.row() {
        Some(r) => rows[r][from as usize],
        // The kernel falls back to CLOSE for a packet without SYN/FIN/ACK/RST.
        None => TcpState::Close,
    }
}
