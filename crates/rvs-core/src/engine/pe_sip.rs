//! The SIP persistence engine (`ipvsadm ... -p T --pe sip`), as the kernel's
//! `ip_vs_pe_sip.c` and its callers in `ip_vs_core.c` / `ip_vs_conn.c` run it.
//!
//! - `fill_param`: the Call-ID of the datagram ([`call_id`]) joins the template key.
//!   Only UDP has one; a packet of another protocol, or without a parsable Call-ID,
//!   makes `ip_vs_sched_persist` fail with `*ignored = -1` and the packet is DROPPED
//!   (no ICMP), never scheduled without persistence. rvs counts it as
//!   [`DropReason::Malformed`].
//! - `ct_match` / `hashkey_raw`: a template matches when the client address under the
//!   persistence netmask, the virtual address, vport, protocol and the Call-ID bytes
//!   are all equal (not the client port). Two clients with the same Call-ID thus get
//!   two templates, unless the netmask puts them in one network; one client with two
//!   Call-IDs gets two templates, each scheduled on its own (with `-o`, or from two
//!   source ports: without `-o` the UDP connection of a source port keeps every later
//!   datagram on its real server, whatever its Call-ID, as in the kernel).
//! - The template times out after the persistence timeout, like any other; its real
//!   server must still be usable (`ip_vs_check_template`), else it is invalidated and
//!   the Call-ID scheduled afresh.
//! - `show_pe_data`: listings show `sip` and the Call-ID after the template
//!   ([`super::Engine::connections`], `ipvsadm -Lc --persistent-conn`).
//! - `conn_out`: a UDP datagram from a NAT real server of a SIP service that matches
//!   no connection (the server calling the client) creates the template and the
//!   connection as if the client had called (`ip_vs_new_conn_out`), then leaves as a
//!   reply, from the virtual address ([`Worker::sip_conn_out`]).
//!
//! - Connection sync (`ip_vs_sync.c`): a master sends a template with its Call-ID
//!   (PE_DATA) and `sip` (PE_NAME), client port 0 as the kernel's (rvs's probe port
//!   stays local); with `-o` the template goes on every datagram, the datagram's own
//!   entry never. A backup keys and records it here ([`place_template`]) as if it had
//!   scheduled it, so that the next datagram of that Call-ID finds it; PE data with
//!   an unknown name, or without one, is skipped (see `engine/sync/import.rs`).
//!
//! How a template carries its Call-ID without growing the connection table: see
//! [`crate::persist::PeDataStore`].
//!
//! Checked against Linux 6.1 and 6.12 in the lab VM (`ipvsadm -A -u VIP:5060 -s rr -p 60
//! --pe sip -o`, three NAT real servers): the real server of 26 datagrams (drops
//! included, as replayed by `tests/pe_sip.rs`), the `-Lcn --persistent-conn` rows
//! (`UDP 00:48 NONE 10.0.0.2:0 10.0.0.100:5060 10.0.2.13:5060 sip A`), and
//! `conn_out`: a real server's request with a Call-ID reached the client from
//! VIP:5060 and bound the Call-ID to that server; one without a Call-ID passed
//! untranslated.

mod callid;

pub use callid::call_id;

use super::registry::{Dest, Service};
use super::worker::{Worker, L4};
use super::xmit;
use crate::conn::{Conn, ConnFlags, ConnId, ConnTable, Endpoint, InKey, InsertError, NewConn};
use crate::model::{ForwardMethod, Persistence, Protocol, ServiceConfig, ServiceKey};
use crate::persist::{self, PacketTuple, PeDataStore};
use crate::sched::SchedInput;
use crate::time::Instant;
use crate::verdict::{DropReason, Frame, Verdict};
use rvs_wire::packet::IpInfo;

/// The persistence engine's name, as configured and listed.
pub const PE_NAME: &str = "sip";

/// How many probe ports a new template tries before going without persistence (the
/// ports of other Call-IDs of the same client network and service).
const PROBES: u16 = 16;

/// Whether a service uses the SIP persistence engine (the kernel compares names
/// exactly).
pub fn is_sip(config: &ServiceConfig) -> bool {
    config.pe_name.as_deref() == Some(PE_NAME)
}

/// The UDP payload of a parsed packet: from the end of the UDP header to the end of
/// the IP packet (its length field, as the kernel trims the buffer to it).
pub fn udp_payload<'a>(bytes: &'a [u8], ip: &IpInfo) -> Option<&'a [u8]> {
    bytes.get(ip.l4.checked_add(8)?..ip.end)
}

/// How listings show a Call-ID: the kernel prints its bytes as they are; each byte
/// becomes the Latin-1 character of that value (the kernel's letters are Latin-1),
/// so the text is lossless.
pub fn show(data: &[u8]) -> String {
    data.iter().map(|&b| char::from(b)).collect()
}

/// The kernel's `ip_vs_check_template` (with `cdest` for `conn_out`).
enum Want<'d, 'i> {
    /// A client packet: schedule when no usable template exists.
    Schedule(&'i SchedInput),
    /// A real server's packet: the template must point to this server, else a new
    /// one is made for it.
    Dest(&'d Dest),
}

/// A SIP template to find or make.
pub(crate) struct SipKey<'k> {
    /// The template key, client port 0 ([`persist::template_key`]).
    pub key: InKey,
    pub call_id: &'k [u8],
    pub persistence: Persistence,
    pub fwmark: u32,
}

fn with_port(key: &InKey, port: u16) -> InKey {
    let mut k = *key;
    k.client.port = port;
    k
}

/// Where [`place_template`] put a new template.
pub(crate) enum Placed {
    /// Inserted at a probe port and recorded for its Call-ID.
    Recorded(ConnId),
    /// The same Call-ID's template, inserted by someone else a moment ago.
    Existing(ConnId),
    /// Inserted but not recorded (another record won the race, or the store is
    /// full); the new template was expired again.
    Unrecorded,
    /// The table refused it: full, or (`Exists`) every probe port taken by other
    /// Call-IDs' templates.
    NoRoom(InsertError),
}

/// Insert the template `make` builds for a probe port of ⟨`key`, `call_id`⟩ (`key`
/// has client port 0) and record it in the store, replacing the record of `stale`
/// (a template found gone). Shared by the packet path and the sync import, so that
/// both place a Call-ID's template where the other's lookups find it.
pub(crate) fn place_template(
    store: &PeDataStore,
    conns: &ConnTable,
    key: &InKey,
    call_id: &[u8],
    stale: Option<ConnId>,
    now: Instant,
    make: impl Fn(&InKey) -> NewConn,
) -> Placed {
    let first = store.first_port(key, call_id);
    let mut taken = InsertError::Full;
    for i in 0..PROBES {
        // 1..=65535: port 0 is where templates without PE data live.
        let port = ((u32::from(first) - 1 + u32::from(i)) % 65535 + 1) as u16;
        match conns.insert(make(&with_port(key, port)), now) {
            Ok(t) => {
                if store.record(key, call_id, port, t.id, stale) {
                    return Placed::Recorded(t.id);
                }
                conns.expire_now(t.id);
                return Placed::Unrecorded;
            }
            Err(InsertError::Exists(id)) if store.holds(id, key, call_id) => {
                return Placed::Existing(id)
            }
            // Another Call-ID's template holds this port: try the next one.
            Err(e @ InsertError::Exists(_)) => taken = e,
            Err(e) => return Placed::NoRoom(e),
        }
    }
    Placed::NoRoom(taken)
}

/// Find the live template recorded for ⟨`key`, `call_id`⟩: its entry, or the id of
/// a record whose template is gone (to be replaced), or nothing.
pub(crate) fn find_template(
    store: &PeDataStore,
    conns: &ConnTable,
    key: &InKey,
    call_id: &[u8],
    now: Instant,
) -> Option<Result<Conn, ConnId>> {
    let (tid, port) = store.find(key, call_id)?;
    Some(
        conns
            .lookup_template(&with_port(key, port), now)
            .filter(|t| t.id == tid)
            .ok_or(tid),
    )
}

impl Worker {
    /// `ip_vs_sched_persist` for a SIP service, once the Call-ID is known: the real
    /// server of the Call-ID's template, or a scheduled one with a new template.
    /// `None`: no real server.
    pub(crate) fn pick_dest_sip<'a>(
        &self,
        sk: &SipKey<'_>,
        input: &SchedInput,
        svc: &'a Service,
        now: Instant,
    ) -> Option<(&'a Dest, Option<ConnId>)> {
        self.sip_template(sk, svc, now, Want::Schedule(input))
    }

    /// Find the usable template of ⟨`key`, `call_id`⟩ or make one (`key` has client
    /// port 0; the template's own port is its probe port).
    fn sip_template<'a>(
        &self,
        sk: &SipKey<'_>,
        svc: &'a Service,
        now: Instant,
        want: Want<'a, '_>,
    ) -> Option<(&'a Dest, Option<ConnId>)> {
        let (key, call_id) = (&sk.key, sk.call_id);
        let store = &self.sh.pe_data;
        let conns = &self.sh.conns;
        let mut stale = None;
        if let Some(found) = find_template(store, conns, key, call_id, now) {
            if let Ok(t) = &found {
                let dest = svc.dest_by_id(t.dest_id);
                let status = dest.map(|d| d.rt.status());
                let same = match &want {
                    Want::Schedule(_) => true,
                    Want::Dest(d) => d.rt.id == t.dest_id,
                };
                if same
                    && persist::template_usable(
                        status,
                        self.sh.cfg.sysctls.expire_quiescent_template,
                    )
                {
                    if let Some(d) = dest {
                        return Some((d, Some(t.id)));
                    }
                }
                conns.invalidate_template(t.id);
            }
            // Expired or invalidated: the next template takes its record over.
            stale = Some(found.map_or_else(|tid| tid, |t| t.id));
        }
        let (dest, tport) = match want {
            Want::Schedule(input) => {
                let d = svc.rt.schedule(&svc.dests, input, now)?;
                let port =
                    persist::template_dest_port(&svc.config.key, input.dst_port, d.config.port);
                (d, port)
            }
            Want::Dest(d) => (d, d.config.port),
        };
        let placed = place_template(store, conns, key, call_id, stale, now, |k| {
            let mut tmpl = persist::new_template(
                k,
                Endpoint::new(dest.config.addr, tport),
                dest.config.method,
                &sk.persistence,
                sk.fwmark,
            );
            tmpl.service = svc.rt.id;
            tmpl.dest_id = dest.rt.id;
            tmpl.counters = Some(dest.rt.counters.clone());
            tmpl
        });
        Some(match placed {
            Placed::Recorded(id) => (dest, Some(id)),
            // The same Call-ID, recorded by another worker a moment ago.
            Placed::Existing(id) => {
                let d = conns
                    .get(id)
                    .and_then(|t| svc.dest_by_id(t.dest_id))
                    .unwrap_or(dest);
                (d, Some(id))
            }
            // Another worker recorded this Call-ID a moment ago (follow its
            // template), or there is no room for the Call-ID (go without).
            Placed::Unrecorded => {
                let theirs = store
                    .find(key, call_id)
                    .and_then(|(id, _)| Some((conns.get(id)?, id)))
                    .and_then(|(t, id)| Some((svc.dest_by_id(t.dest_id)?, id)));
                match theirs {
                    Some((d, id)) => (d, Some(id)),
                    None => (dest, None),
                }
            }
            // No room for a template: the connection still goes, unpersisted.
            Placed::NoRoom(_) => (dest, None),
        })
    }

    /// The kernel's `conn_out` for SIP (`__ip_vs_rs_conn_out` → `ip_vs_sip_conn_out`
    /// → `ip_vs_new_conn_out`): a UDP datagram from a NAT real server of a service
    /// with `--pe sip`, matching no connection, is a request of the server to the
    /// client. Create (or reuse) the Call-ID's template pointing to that server (for
    /// a persistent service), and a connection client ↔ virtual service ↔ server under
    /// it, then send the datagram to the client from the virtual address and port.
    ///
    /// `None` when this does not apply (the caller goes on as before: the packet is
    /// not IPVS's). It does not apply to firewall-mark services, services on port 0,
    /// a persistent service's datagram without a Call-ID or without room for its
    /// template, or when the client already
    /// has a connection to the service through another real server.
    ///
    /// To be called by the worker for a packet not addressed to a virtual address
    /// that matched no connection in either direction and no service.
    // The worker's packet path (owned elsewhere) is to call this; until then only the
    // tests do.
    pub(crate) fn sip_conn_out(
        &self,
        frame: &mut Frame<'_>,
        ip: &IpInfo,
        l4: &L4,
        now: Instant,
    ) -> Option<Verdict> {
        if l4.proto != Protocol::Udp || !self.sh.pe_data.conn_out_enabled() || l4.src.port == 0 {
            return None;
        }
        let (svc, dest) = self.sip_real_service(l4)?;
        let ServiceKey::Addr {
            addr: vaddr,
            port: vport,
            ..
        } = svc.config.key
        else {
            return None;
        };
        if vport == 0 {
            return None;
        }
        // A packet that would create state must verify, as for client packets.
        if !frame.checksum_verified() {
            if !rvs_wire::packet::verify_checksums(frame.bytes(), ip) {
                return Some(Verdict::Drop(DropReason::BadChecksum));
            }
            frame.set_checksum_verified(true);
        }
        let client = l4.dst;
        let virt = Endpoint::new(vaddr, vport);
        let control = match svc.config.persistence {
            None => None,
            Some(p) => {
                let call_id = udp_payload(frame.bytes(), ip).and_then(call_id)?;
                let tuple = PacketTuple {
                    proto: l4.proto.ip_proto(),
                    src: client.addr,
                    dst: vaddr,
                    dst_port: vport,
                };
                let sk = SipKey {
                    key: persist::template_key(&svc.config.key, &p, &tuple),
                    call_id,
                    persistence: p,
                    fwmark: 0,
                };
                // No template (no room): the kernel creates no connection either.
                Some(self.sip_template(&sk, svc, now, Want::Dest(dest))?.1?)
            }
        };
        dest.rt.stats.conn(self.index);
        svc.rt.stats.conn(self.index);
        let method = ForwardMethod::Masq;
        let bytes = ip.len() as u64;
        if svc.config.one_packet {
            // Answered without an entry, as the kernel's unhashed one-packet entries;
            // the template's timer restarts as for client packets.
            if let Some(ctl) = control {
                self.sh.conns.touch(ctl, now);
            }
            let route = xmit::OutRoute {
                flags: ConnFlags::for_new(method, false, true),
                virt,
                client,
            };
            let v = xmit::outbound(&self.sh.cfg, frame, ip, &route);
            if let Verdict::Forward(_) = v {
                dest.rt.stats.outbound(self.index, bytes);
                svc.rt.stats.outbound(self.index, bytes);
            }
            return Some(v);
        }
        let mut new = NewConn::scheduled(l4.proto.ip_proto(), client, virt, l4.src, method);
        new.service = svc.rt.id;
        new.dest_id = dest.rt.id;
        new.counters = Some(dest.rt.counters.clone());
        new.control = control;
        match self.sh.conns.insert(new, now) {
            Ok(c) => self.pkt_counts[super::sync::count_slot(c.id)].set(0),
            // Inserted by another worker a moment ago: it is found below.
            Err(InsertError::Exists(_)) => {}
            Err(_) => return Some(Verdict::Drop(DropReason::TableFull)),
        }
        self.sh
            .conns
            .process_out_with(&l4.out_key(), l4.event, now, |c, _| {
                let v = xmit::outbound(&self.sh.cfg, frame, ip, &xmit::OutRoute::of_view(&c));
                if let Verdict::Forward(_) = v {
                    dest.rt.stats.outbound(self.index, bytes);
                    svc.rt.stats.outbound(self.index, bytes);
                }
                v
            })
    }

    /// `ip_vs_find_real_service` restricted to what `conn_out` needs: the first NAT
    /// real server (in configuration order) at the packet's source address and port
    /// of a UDP service with `--pe sip`.
    fn sip_real_service(&self, l4: &L4) -> Option<(&Service, &Dest)> {
        self.reg
            .services
            .iter()
            .filter(|s| is_sip(&s.config))
            .filter(|s| {
                matches!(
                    s.config.key,
                    ServiceKey::Addr {
                        proto: Protocol::Udp,
                        ..
                    }
                )
            })
            .find_map(|s| {
                let d = s.dests.iter().find(|d| {
                    d.config.method == ForwardMethod::Masq
                        && d.config.addr == l4.src.addr
                        && d.config.port == l4.src.port
                })?;
                Some((&**s, d))
            })
    }
}

#[cfg(test)]
mod tests;
