//! The master's decision for one entry on one inbound packet: the kernel's
//! `ip_vs_sync_conn_needed` with `sync_refresh_period` 0 and `sync_persist_mode` 0,
//! the kernel's defaults and the only values rvs has (it has no knob for them:
//! `Sysctls` holds `sync_threshold` and `sync_period` alone), so no decision here
//! depends on time.

use crate::conn::sctp::SctpState;
use crate::conn::tcp::TcpState;
use crate::conn::ConnState;
use crate::engine::config::Sysctls;

/// Whether the state is one the kernel syncs in, and whether entering it forces a
/// sync at once (any such state but ESTABLISHED).
pub(crate) fn sync_state(s: ConnState) -> (bool, bool) {
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

/// A connection (not a template) in `state` after its `pkts`-th input packet, last
/// synced in `synced` (the kernel's number; 0 if never): a state it is not synced in
/// never; a closing state it was not synced in yet at once (whatever moved it there:
/// this packet, a reply, an earlier packet); else the periodic rule.
#[inline]
pub(crate) fn conn_needed(s: &Sysctls, state: ConnState, synced: u16, pkts: u16) -> bool {
    let (ok, closing) = sync_state(state);
    if !ok {
        return false;
    }
    (closing && state.to_raw() != synced) || periodic_due(s, pkts)
}

/// A template after the `pkts`-th input packet of the connections it controls:
/// exempt from the periodic rule, so sent on every one while `sync_period` is set,
/// else once, when the count equals `sync_threshold`.
#[inline]
pub(crate) fn template_needed(s: &Sysctls, pkts: u32) -> bool {
    s.sync_period > 0 || pkts == s.sync_threshold
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sysctls(threshold: u32, period: u32) -> Sysctls {
        Sysctls {
            sync_threshold: threshold,
            sync_period: period,
            ..Sysctls::default()
        }
    }

    const EST: ConnState = ConnState::Tcp(TcpState::Established);
    const CW: ConnState = ConnState::Tcp(TcpState::CloseWait);
    const TW: ConnState = ConnState::Tcp(TcpState::TimeWait);

    #[test]
    fn closing_states_force_until_synced_in_them() {
        let s = sysctls(3, 50);
        let cw = CW.to_raw();
        // Never synced in CLOSE_WAIT: due whatever the count.
        assert!(conn_needed(&s, CW, EST.to_raw(), 10));
        // Synced in it already: only the periodic rule.
        assert!(!conn_needed(&s, CW, cw, 10));
        assert!(conn_needed(&s, CW, cw, 53));
        // A reply moved it on to TIME_WAIT: the next input packet forces, even
        // though that packet itself changes nothing (TIME_WAIT -> TIME_WAIT).
        assert!(conn_needed(&s, TW, cw, 11));
        // ESTABLISHED never forces; SYN_RECV is never synced.
        assert!(!conn_needed(&s, EST, 0, 2));
        assert!(conn_needed(&s, EST, 0, 3));
        assert!(!conn_needed(&s, ConnState::Tcp(TcpState::SynRecv), 0, 3));
        assert!(!conn_needed(&s, ConnState::Udp, 0, 4));
        assert!(conn_needed(&s, ConnState::Udp, 0, 103));
    }

    #[test]
    fn sctp_follows_the_same_rule_with_its_own_states() {
        let s = sysctls(3, 50);
        let sctp = ConnState::Sctp;
        let est = sctp(SctpState::Established);
        assert!(!conn_needed(&s, sctp(SctpState::CookieEchoed), 0, 3));
        assert!(!conn_needed(&s, est, 0, 4));
        assert!(conn_needed(&s, est, 0, 53));
        let shut = sctp(SctpState::ShutdownSent);
        assert!(conn_needed(&s, shut, est.to_raw(), 4));
        assert!(!conn_needed(&s, shut, shut.to_raw(), 4));
    }

    #[test]
    fn period_zero_syncs_once_at_the_threshold() {
        let s = sysctls(2, 0);
        assert!(!conn_needed(&s, EST, 0, 1));
        assert!(conn_needed(&s, EST, 0, 2));
        assert!(!conn_needed(&s, EST, 0, 52));
        assert!(!template_needed(&s, 1));
        assert!(template_needed(&s, 2));
        assert!(!template_needed(&s, 3));
        let s = sysctls(3, 50);
        assert!((1..200).all(|n| template_needed(&s, n)));
    }
}
