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
            // A SIP template: its Call-ID, after the name of its engine, as the
            // kernel's `show_pe_data`; its client port is the store's probe port,
            // listed as the 0 of every template.
            let pe = if c.is_template() {
                self.shared.pe_data.with_data(c.id, super::pe_sip::show)
            } else {
                None
            };
            let client_port = if pe.is_some() { 0 } else { c.client.port };
            out.push(ConnEntry {
                ip_proto: c.proto,
                client: c.client.addr,
                client_port,
                virt: c.virt.addr,
                virt_port: c.virt.port,
                dest: c.dest.addr,
                dest_port: c.dest.port,
                // A template is ASSURED once one of its connections was.
                state: c.state_name().to_string(),
                expires_ms: c.expires_in_ms(now),
                pe_name: pe.as_ref().map(|_| super::pe_sip::PE_NAME.to_string()),
                pe_data: pe,
                template: c.is_template(),
                fwmark: c.fwmark,
            });
        });
        out
    }
}
