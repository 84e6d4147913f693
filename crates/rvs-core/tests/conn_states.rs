//! The TCP and SCTP transition tables, checked cell by cell against Linux 6.1
//! (`tcp_states`, `sctp_states`), for every row of a few states.

use rvs_core::conn::sctp::{self, SctpEvent, SctpState};
use rvs_core::conn::tcp::{self, TcpFlags, TcpState, TcpTable};
use rvs_core::conn::{Activity, ConnState, Direction, PacketEvent};

use TcpState::{
    Close as CL, CloseWait as CW, Established as ES, FinWait as FW, None as NO, SynRecv as SR,
    SynSent as SS, TimeWait as TW,
};

/// (state, [next on syn, fin, ack, rst]) for one table.
fn check_tcp(table: TcpTable, rows: &[(TcpState, [TcpState; 4])]) {
    let flags = [
        TcpFlags::SYN,
        TcpFlags::from_bits(0x01),
        TcpFlags::ACK,
        TcpFlags::RST,
    ];
    for (from, expect) in rows {
        for (f, want) in flags.iter().zip(expect) {
            assert_eq!(
                tcp::next_state(table, *from, *f),
                *want,
                "{table:?} {from:?} {f:?}"
            );
        }
    }
}

#[test]
fn tcp_input_table() {
    check_tcp(
        TcpTable::Input,
        &[
            (NO, [SR, CL, ES, CL]),
            (ES, [ES, CW, ES, CL]),
            (SR, [SR, TW, ES, SR]),
            (FW, [SR, TW, FW, CL]),
            (TW, [SR, TW, TW, CL]),
            (
                TcpState::LastAck,
                [SR, TcpState::LastAck, CL, TcpState::LastAck],
            ),
            (TcpState::SynAck, [SR, TW, ES, SR]),
        ],
    );
}

#[test]
fn tcp_output_table() {
    check_tcp(
        TcpTable::Output,
        &[
            (NO, [SS, TW, ES, CL]),
            (ES, [ES, FW, ES, CL]),
            (SR, [SR, TW, ES, CL]),
            (FW, [SS, FW, FW, CL]),
            (TW, [SS, TW, TW, TW]),
            (
                TcpState::Listen,
                [TcpState::Listen, TcpState::Listen, ES, CL],
            ),
            (SS, [SS, SS, SS, SS]),
        ],
    );
}

#[test]
fn tcp_input_only_table() {
    check_tcp(
        TcpTable::InputOnly,
        &[
            (NO, [SR, CL, ES, CL]),
            (ES, [ES, FW, ES, CL]),
            (SR, [SR, TW, ES, SR]),
            (FW, [SR, FW, FW, CL]),
            (TW, [SR, TW, TW, CL]),
            (TcpState::SynAck, [SR, TW, ES, CL]),
        ],
    );
}

#[test]
fn tcp_flag_priority_is_rst_syn_fin_ack() {
    let t = TcpTable::Input;
    // SYN+RST takes the rst row: from ES, rst → CLOSE (syn would stay ES).
    assert_eq!(tcp::next_state(t, ES, TcpFlags::from_bits(0x06)), CL);
    // SYN+FIN takes the syn row: from ES, syn → ES (fin would be CLOSE_WAIT).
    assert_eq!(tcp::next_state(t, ES, TcpFlags::from_bits(0x03)), ES);
    // FIN+ACK takes the fin row.
    assert_eq!(tcp::next_state(t, ES, TcpFlags::FIN_ACK), CW);
    // No known flag (e.g. a bare PSH): CLOSE, as the kernel does.
    assert_eq!(tcp::next_state(t, ES, TcpFlags::from_bits(0x08)), CL);
}

#[test]
fn tcp_active_states_follow_linux_6_1() {
    let active: Vec<_> = TcpState::ALL
        .into_iter()
        .filter(|s| s.is_active())
        .collect();
    assert_eq!(
        active,
        vec![ES, SS, SR, TcpState::SynAck],
        "tcp_state_active_table of Linux 6.1"
    );
}

#[test]
fn tcp_default_timeouts() {
    let secs: Vec<u32> = TcpState::ALL
        .iter()
        .map(|s| s.default_timeout_secs())
        .collect();
    assert_eq!(secs, vec![2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120]);
    let names: Vec<&str> = TcpState::ALL.iter().map(|s| s.name()).collect();
    assert_eq!(
        names,
        [
            "NONE",
            "ESTABLISHED",
            "SYN_SENT",
            "SYN_RECV",
            "FIN_WAIT",
            "TIME_WAIT",
            "CLOSE",
            "CLOSE_WAIT",
            "LAST_ACK",
            "LISTEN",
            "SYNACK"
        ]
    );
}

#[test]
fn apply_chooses_table_and_reports_activity() {
    let ev = |bits| PacketEvent::Tcp(TcpFlags::from_bits(bits));
    // NAT entry (no NOOUTPUT), new and inactive: SYN → SYN_RECV becomes active (6.1).
    let t = rvs_core::conn::Transition {
        from: ConnState::Tcp(NO),
        to: ConnState::Tcp(SR),
        cleared_no_output: false,
        activity: Some(Activity::BecameActive),
    };
    assert_eq!(
        rvs_core::conn::ConnState::Tcp(NO).name(),
        "NONE",
        "state name"
    );
    let got = apply(ConnState::Tcp(NO), false, true, Direction::In, ev(0x02));
    assert_eq!(got, t);
    // DR entry (NOOUTPUT) in ES gets a FIN: input-only table → FIN_WAIT, inactive.
    let got = apply(ConnState::Tcp(ES), true, false, Direction::In, ev(0x11));
    assert_eq!(got.to, ConnState::Tcp(FW));
    assert_eq!(got.activity, Some(Activity::BecameInactive));
    assert!(!got.cleared_no_output);
    // The same FIN on a NAT entry: input table → CLOSE_WAIT.
    let got = apply(ConnState::Tcp(ES), false, false, Direction::In, ev(0x11));
    assert_eq!(got.to, ConnState::Tcp(CW));
    // A reply on a NOOUTPUT entry clears the flag and uses the output table.
    let got = apply(ConnState::Tcp(SR), true, false, Direction::Out, ev(0x12));
    assert!(got.cleared_no_output);
    assert_eq!(got.to, ConnState::Tcp(SR));
    assert_eq!(got.activity, None);
    // UDP never changes state nor activity.
    let got = apply(ConnState::Udp, false, true, Direction::In, PacketEvent::Udp);
    assert_eq!((got.to, got.activity), (ConnState::Udp, None));
}

fn apply(
    s: ConnState,
    no_output: bool,
    inactive: bool,
    d: Direction,
    e: PacketEvent,
) -> rvs_core::conn::Transition {
    rvs_core::conn::apply_packet(s, no_output, inactive, d, e)
}

use SctpEvent as E;
use SctpState as S;

fn check_sctp(table: TcpTable, from: SctpState, expect: [SctpState; 10]) {
    let events = [
        E::Data,
        E::Init,
        E::InitAck,
        E::CookieEcho,
        E::CookieAck,
        E::Shutdown,
        E::ShutdownAck,
        E::ShutdownComplete,
        E::Error,
        E::Abort,
    ];
    for (e, want) in events.iter().zip(expect) {
        assert_eq!(
            sctp::next_state(table, from, *e),
            want,
            "{table:?} {from:?} {e:?}"
        );
    }
}

#[test]
fn sctp_tables() {
    use S::*;
    check_sctp(
        TcpTable::Input,
        S::None,
        [
            Established,
            Init1,
            CookieWait,
            CookieReplied,
            Established,
            ShutdownReceived,
            Closed,
            Closed,
            Closed,
            Closed,
        ],
    );
    check_sctp(
        TcpTable::Input,
        Established,
        [
            Established,
            Established,
            Established,
            Established,
            Established,
            ShutdownReceived,
            Established,
            Established,
            Established,
            Closed,
        ],
    );
    check_sctp(
        TcpTable::Output,
        S::None,
        [
            Established,
            CookieWait,
            CookieSent,
            CookieEchoed,
            Established,
            ShutdownSent,
            ShutdownAckSent,
            Closed,
            Closed,
            Closed,
        ],
    );
    check_sctp(
        TcpTable::Output,
        Established,
        [
            Established,
            Established,
            Established,
            Established,
            Established,
            ShutdownSent,
            Established,
            Established,
            Established,
            Closed,
        ],
    );
    check_sctp(
        TcpTable::InputOnly,
        S::None,
        [
            Established,
            Init1,
            CookieEchoed,
            Established,
            Established,
            ShutdownReceived,
            Closed,
            Closed,
            Closed,
            Closed,
        ],
    );
    check_sctp(
        TcpTable::InputOnly,
        Established,
        [
            Established,
            Established,
            Established,
            Established,
            Established,
            ShutdownReceived,
            Closed,
            Established,
            Established,
            Closed,
        ],
    );
    check_sctp(
        TcpTable::Input,
        Init1,
        [
            Init1, Init, CookieWait, Init, Init1, Init1, Init, Closed, Init1, Closed,
        ],
    );
}

#[test]
fn sctp_events_from_chunks() {
    assert_eq!(SctpEvent::from_chunks(1, None), E::Init);
    assert_eq!(SctpEvent::from_chunks(0, Some(6)), E::Data);
    assert_eq!(SctpEvent::from_chunks(10, Some(6)), E::Abort);
    assert_eq!(SctpEvent::from_chunks(11, Some(6)), E::Abort);
    assert_eq!(SctpEvent::from_chunks(11, Some(0)), E::CookieAck);
    assert_eq!(SctpEvent::from_chunks(3, None), E::Data, "SACK");
    assert_eq!(SctpEvent::from_chunks(14, None), E::ShutdownComplete);
    assert_eq!(SctpEvent::from_chunks(200, None), E::Data, "unknown chunk");
    assert!(PacketEvent::Sctp(E::Init).is_new_conn());
    assert!(!PacketEvent::Sctp(E::Data).is_new_conn());
}

#[test]
fn sctp_timeouts_and_activity() {
    let secs: Vec<u32> = S::ALL.iter().map(|s| s.default_timeout_secs()).collect();
    assert_eq!(
        secs,
        vec![2, 4, 61, 61, 61, 61, 61, 61, 900, 61, 61, 61, 4, 61]
    );
    assert!(S::ALL
        .iter()
        .filter(|s| s.is_active())
        .eq([S::Established].iter()));
}

fn check_tcp_secure(table: TcpTable, rows: &[(TcpState, [TcpState; 4])]) {
    let flags = [
        TcpFlags::SYN,
        TcpFlags::from_bits(0x01),
        TcpFlags::ACK,
        TcpFlags::RST,
    ];
    for (from, expect) in rows {
        for (f, want) in flags.iter().zip(expect) {
            assert_eq!(
                tcp::next_state_with(true, table, *from, *f),
                *want,
                "secure {table:?} {from:?} {f:?}"
            );
        }
    }
}

#[test]
fn tcp_secure_tables() {
    use TcpState::SynAck as SA;
    check_tcp_secure(
        TcpTable::Input,
        &[
            (NO, [SR, CL, ES, CL]),
            (ES, [ES, CW, ES, CL]),
            (SR, [SR, TW, SR, SR]),
            (SA, [SA, SA, SA, CL]),
        ],
    );
    check_tcp_secure(
        TcpTable::Output,
        &[
            (NO, [SS, TW, ES, CL]),
            (SR, [SA, TW, ES, CL]),
            (SA, [SA, TW, ES, CL]),
            (TW, [SS, TW, TW, TW]),
        ],
    );
    check_tcp_secure(
        TcpTable::InputOnly,
        &[
            (NO, [SA, CL, ES, CL]),
            (FW, [SA, FW, FW, CL]),
            (SA, [SA, TW, ES, CL]),
        ],
    );
}
