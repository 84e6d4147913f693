//! The requests that turn one desired state into another (sozu's `diff`): a reload
//! sends only these, so services and real servers that did not change keep their
//! connections and counters.

use super::ConfigState;
use crate::request::Request;
use rvs_core::model::{DestConfig, SyncRole, Timeouts, VirtualService};

pub(super) fn diff(from: &ConfigState, to: &ConfigState) -> Vec<Request> {
    let mut out = Vec::new();

    // Daemons stop first and start last: the kernel refuses to start a sync daemon
    // while mixed-family real servers exist, and to add one while a daemon runs.
    for role in [SyncRole::Master, SyncRole::Backup] {
        if from.daemon(role).is_some() && from.daemon(role) != to.daemon(role) {
            out.push(Request::StopDaemon(role));
        }
    }

    if from.timeouts != to.timeouts {
        // Timeouts are never 0 in a state, so all three values are set as they are.
        let Timeouts { tcp, tcp_fin, udp } = to.timeouts;
        out.push(Request::SetTimeouts(Timeouts { tcp, tcp_fin, udp }));
    }

    for old in &from.services {
        if to.service(&old.config.key).is_none() {
            out.push(Request::DelService(old.config.key));
        }
    }
    for new in &to.services {
        match from.service(&new.config.key) {
            None => add_service(new, &mut out),
            Some(old) => update_service(old, new, &mut out),
        }
    }

    fwmark_rules(from, to, &mut out);

    for role in [SyncRole::Master, SyncRole::Backup] {
        if let Some(d) = to.daemon(role) {
            if from.daemon(role) != Some(d) {
                out.push(Request::StartDaemon(d.clone()));
            }
        }
    }
    out
}

/// Rules are evaluated in order and each addition goes to the end: the rules both
/// lists begin with stay, the others are deleted and added again in the new order.
fn fwmark_rules(from: &ConfigState, to: &ConfigState, out: &mut Vec<Request>) {
    let kept = from
        .fwmark_rules
        .iter()
        .zip(&to.fwmark_rules)
        .take_while(|(a, b)| a == b)
        .count();
    for rule in &from.fwmark_rules[kept..] {
        out.push(Request::DelFwmarkRule(*rule));
    }
    for rule in &to.fwmark_rules[kept..] {
        out.push(Request::AddFwmarkRule(*rule));
    }
}

fn add_service(new: &VirtualService, out: &mut Vec<Request>) {
    out.push(Request::AddService(new.config.clone()));
    // Each addition goes to the head of the list: add the last one first.
    for d in new.dests.iter().rev() {
        out.push(Request::AddDest(new.config.key, *d));
    }
}

fn same_dest(a: &DestConfig, b: &DestConfig) -> bool {
    a.addr == b.addr && a.port == b.port
}

fn update_service(old: &VirtualService, new: &VirtualService, out: &mut Vec<Request>) {
    let key = new.config.key;
    if old.config != new.config {
        out.push(Request::EditService(new.config.clone()));
    }

    // Real servers that stay keep their relative order and new ones go to the head,
    // so the ones kept must be a tail of the new list, in the old list's order. Take
    // the longest such tail; the others are deleted (if present) and added again.
    let mut kept = new.dests.len();
    let mut bound = usize::MAX;
    while kept > 0 {
        let candidate = &new.dests[kept - 1];
        match old.dests.iter().position(|d| same_dest(d, candidate)) {
            Some(at) if at < bound => {
                bound = at;
                kept -= 1;
            }
            _ => break,
        }
    }
    let (to_add, to_keep) = new.dests.split_at(kept);

    for d in &old.dests {
        if !to_keep.iter().any(|k| same_dest(k, d)) {
            out.push(Request::DelDest(key, d.addr, d.port));
        }
    }
    for d in to_keep {
        let before = old.dests.iter().find(|o| same_dest(o, d));
        if before != Some(d) {
            out.push(Request::EditDest(key, *d));
        }
    }
    for d in to_add.iter().rev() {
        out.push(Request::AddDest(key, *d));
    }
}
