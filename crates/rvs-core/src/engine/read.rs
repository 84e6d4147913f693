//! The control plane's read side: listings with live figures.

use super::registry::Dest;
use super::runtime::lock;
use super::Engine;
use crate::status::{ConnEntry, DestEntry, ServiceEntry};
use crate::time::Instant;

fn dest_entry(d: &Dest) -> DestEntry {
    let l = d.rt.counters.snapshot();
    DestEntry {
        config: d.config,
        active_conns: l.active,
        inactive_conns: l.inactive,
        persistent_conns: l.persistent,
        stats: d.rt.stats.total(),
        rates: lock(&d.rt.est).rates(),
    }
}

impl Engine {
    /// Every service with its real servers (in the kernel's list order), their
    /// connection counts, counters summed over the workers and the estimator's rates.
    /// Services come in configuration order.
    pub fn status(&self, _now: Instant) -> Vec<ServiceEntry> {
        let reg = self.shared.registry.load_full();
        reg.services
            .iter()
            .map(|svc| ServiceEntry {
                config: svc.config.clone(),
                stats: svc.rt.stats.total(),
                rates: lock(&svc.rt.est).rates(),
                dests: svc.dests.iter().map(dest_entry).collect(),
            })
            .collect()
    }

    /// Every connection and persistence template, as `/proc/net/ip_vs_conn` lists
    /// them (entries already expired at `now` are left out).
    pub fn connections(&self, now: Instant) -> Vec<ConnEntry> {
        let mut out = Vec::with_capacity(self.shared.conns.len());
        self.shared.conns.for_each(|c| {
            if c.expires <= now && c.n_control == 0 {
                return;
            }
            out.push(ConnEntry {
                ip_proto: c.proto,
                client: c.client.addr,
                client_port: c.client.port,
                virt: c.virt.addr,
                virt_port: c.virt.port,
                dest: c.dest.addr,
                dest_port: c.dest.port,
                state: c.state.name().to_string(),
                expires_ms: c.expires_in_ms(now),
                // No persistence engine (SIP) is implemented: nothing to show.
                pe_name: None,
                pe_data: None,
                template: c.is_template(),
                fwmark: c.fwmark,
            });
        });
        out
    }
}
