//! `conn_out` (called by the worker's packet path once wired, so tested here
//! directly) and the release of Call-ID records.

use super::super::worker::L4;
use super::super::{Engine, EngineConfig, FullNatPool};
use super::show;
use crate::conn::{Endpoint, PacketEvent};
use crate::model::*;
use crate::status::ConnEntry;
use crate::time::Instant;
use crate::verdict::{DropReason, Egress, Frame, Verdict};
use core::net::{IpAddr, Ipv4Addr};
use rvs_wire::ethernet::{self, EtherType, MacAddr};
use rvs_wire::packet::{parse_frame, verify_checksums};
use rvs_wire::{checksum, ipv4, udp, IpProtocol};

const VIP: &str = "10.0.0.100";
const CIP: &str = "192.0.2.10";
const RS1: &str = "192.168.1.11";
const RS2: &str = "192.168.1.12";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn udp_frame(src: (&str, u16), dst: (&str, u16), payload: &[u8]) -> Vec<u8> {
    let (IpAddr::V4(s), IpAddr::V4(d)) = (ip(src.0), ip(dst.0)) else {
        unreachable!()
    };
    let seg = 8 + payload.len();
    let mut b = vec![0u8; 14 + 20 + seg];
    let mut o = ethernet::Repr {
        src: MacAddr([2, 0, 0, 0, 0, 1]),
        dst: MacAddr([2, 0, 0, 0, 0, 2]),
        vlan_tci: None,
        ethertype: EtherType::IPV4,
    }
    .emit(&mut b)
    .unwrap();
    o += ipv4::Repr {
        src: s,
        dst: d,
        protocol: IpProtocol::UDP,
        payload_len: seg as u16,
        ttl: 64,
        tos: 0,
        ident: 1,
        dont_frag: true,
    }
    .emit(&mut b[o..])
    .unwrap();
    udp::Repr {
        src_port: src.1,
        dst_port: dst.1,
        payload_len: payload.len() as u16,
    }
    .emit(&mut b[o..])
    .unwrap();
    b[o + 8..].copy_from_slice(payload);
    udp::Packet::new_unchecked(&mut b[o..]).fill_checksum(checksum::pseudo_header_v4(
        s,
        d,
        IpProtocol::UDP,
        seg as u16,
    ));
    b
}

fn invite(call_id: &str) -> Vec<u8> {
    format!("INVITE sip:alice@client SIP/2.0\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\r\n")
        .into_bytes()
}

fn engine(persistent: bool, method: ForwardMethod) -> Engine {
    engine_with(persistent, method, false)
}

fn engine_with(persistent: bool, method: ForwardMethod, one_packet: bool) -> Engine {
    engine_of(sip_service(persistent, method, one_packet))
}

/// One engine worker serving `svc`.
fn engine_of(svc: VirtualService) -> Engine {
    let e = Engine::new(EngineConfig {
        workers: 1,
        max_conns: 4096,
        fullnat_pool: FullNatPool {
            addrs: vec![ip("172.16.0.1")],
            ports: (20000, 20999),
        },
        tunnel_src_v4: Some(Ipv4Addr::new(10, 0, 0, 1)),
        ..EngineConfig::default()
    })
    .unwrap();
    e.apply(&[svc], &[], Timeouts::default(), t(0));
    e
}

/// UDP VIP:5060 with `--pe sip`, real servers RS1 and RS2.
fn sip_service(persistent: bool, method: ForwardMethod, one_packet: bool) -> VirtualService {
    VirtualService {
        config: ServiceConfig {
            key: ServiceKey::Addr {
                proto: Protocol::Udp,
                addr: ip(VIP),
                port: 5060,
            },
            scheduler: SchedulerKind::Rr,
            sched_flags: SchedFlags::default(),
            persistence: persistent.then_some(Persistence {
                timeout: 60,
                prefix_len: 32,
            }),
            one_packet,
            pe_name: Some("sip".into()),
        },
        dests: [RS1, RS2]
            .iter()
            .map(|a| DestConfig {
                addr: ip(a),
                port: 5060,
                method,
                weight: 1,
                u_threshold: 0,
                l_threshold: 0,
            })
            .collect(),
    }
}

/// Run a real server's datagram through `sip_conn_out`; the verdict and the frame.
fn conn_out(e: &Engine, pkt: &[u8], now: Instant) -> (Option<Verdict>, Vec<u8>) {
    let w = e.worker(0);
    let mut buf = vec![0u8; 64 + pkt.len()];
    buf[64..].copy_from_slice(pkt);
    let mut f = Frame::new(&mut buf, 64, pkt.len());
    let info = parse_frame(f.bytes()).unwrap();
    let (sp, dp) = info.ip.transport.ports().unwrap();
    let l4 = L4 {
        proto: Protocol::Udp,
        src: Endpoint::new(info.ip.src, sp),
        dst: Endpoint::new(info.ip.dst, dp),
        event: PacketEvent::Udp,
    };
    let v = w.sip_conn_out(&mut f, &info.ip, &l4, now);
    (v, f.bytes().to_vec())
}

/// A client datagram through the whole packet path: the real server it reached.
fn from_client(e: &Engine, sport: u16, payload: &[u8], now: Instant) -> IpAddr {
    let mut w = e.worker(0);
    let pkt = udp_frame((CIP, sport), (VIP, 5060), payload);
    let mut buf = vec![0u8; 64 + pkt.len()];
    buf[64..].copy_from_slice(&pkt);
    let mut f = Frame::new(&mut buf, 64, pkt.len());
    match w.process(&mut f, now) {
        Verdict::Forward(Egress { next_hop, .. }) => next_hop,
        v => panic!("client datagram not forwarded: {v:?}"),
    }
}

fn templates(e: &Engine, now: Instant) -> Vec<ConnEntry> {
    e.connections(now)
        .into_iter()
        .filter(|c| c.template)
        .collect()
}

#[test]
fn a_real_server_calling_a_client_gets_a_template_and_a_connection() {
    let e = engine(true, ForwardMethod::Masq);
    // RS2 calls the client: rr alone would give the client's first call to RS1.
    let pkt = udp_frame((RS2, 5060), (CIP, 5070), &invite("srv-call"));
    let (v, out) = conn_out(&e, &pkt, t(0));
    let Some(Verdict::Forward(egress)) = v else {
        panic!("not forwarded: {v:?}")
    };
    assert_eq!(egress.next_hop, ip(CIP));
    let p = parse_frame(&out).unwrap();
    assert!(verify_checksums(&out, &p.ip));
    assert_eq!((p.ip.src, p.ip.dst), (ip(VIP), ip(CIP)));
    assert_eq!(p.ip.transport.ports(), Some((5060, 5070)));

    let rows = templates(&e, t(0));
    assert_eq!(rows.len(), 1);
    let tpl = &rows[0];
    assert_eq!(tpl.pe_data.as_deref(), Some("srv-call"));
    assert_eq!((tpl.client, tpl.client_port), (ip(CIP), 0));
    assert_eq!((tpl.virt, tpl.virt_port), (ip(VIP), 5060));
    assert_eq!((tpl.dest, tpl.dest_port), (ip(RS2), 5060));
    let conn: Vec<_> = e
        .connections(t(0))
        .into_iter()
        .filter(|c| !c.template)
        .collect();
    assert_eq!(conn.len(), 1);
    assert_eq!((conn[0].client, conn[0].client_port), (ip(CIP), 5070));
    assert_eq!((conn[0].dest, conn[0].dest_port), (ip(RS2), 5060));
    assert_eq!(e.status(t(0))[0].stats.conns, 1);

    // The client answers on that connection, and calls in the same dialog from
    // another port follow the template.
    assert_eq!(
        from_client(&e, 5070, b"SIP/2.0 200 OK\r\n\r\n", t(1)),
        ip(RS2)
    );
    assert_eq!(from_client(&e, 5080, &invite("srv-call"), t(2)), ip(RS2));
    // A new dialog of the client is scheduled as usual.
    assert_eq!(from_client(&e, 5090, &invite("client-call"), t(3)), ip(RS1));
}

#[test]
fn a_real_server_takes_over_a_call_id_bound_to_another() {
    let e = engine(true, ForwardMethod::Masq);
    assert_eq!(from_client(&e, 5070, &invite("shared"), t(0)), ip(RS1));
    let pkt = udp_frame((RS2, 5060), (CIP, 5071), &invite("shared"));
    assert!(matches!(
        conn_out(&e, &pkt, t(1)).0,
        Some(Verdict::Forward(_))
    ));
    // `ip_vs_check_template` with the sending server: the old template is
    // invalidated, a new one points to RS2.
    assert_eq!(from_client(&e, 5072, &invite("shared"), t(2)), ip(RS2));
    let rows = templates(&e, t(2));
    assert_eq!(
        rows.len(),
        2,
        "the old template stays while it controls a connection"
    );
    assert!(rows
        .iter()
        .all(|r| r.pe_data.as_deref() == Some("shared") && r.client_port == 0));
}

#[test]
fn with_one_packet_scheduling_replies_leave_through_conn_out_and_the_template() {
    // -o keeps no connection, so a real server's answer finds none: `conn_out`
    // translates it, through the Call-ID's template (same real server: reused).
    let e = engine_with(true, ForwardMethod::Masq, true);
    let rs = from_client(&e, 5060, &invite("ops-call"), t(0));
    let answer = b"SIP/2.0 200 OK\r\nCall-ID: ops-call\r\nCSeq: 1 INVITE\r\n\r\n";
    let rs_ip = rs.to_string();
    let pkt = udp_frame((&rs_ip, 5060), (CIP, 5060), answer);
    let (v, out) = conn_out(&e, &pkt, t(10_000));
    assert!(matches!(v, Some(Verdict::Forward(_))), "{v:?}");
    let p = parse_frame(&out).unwrap();
    assert_eq!((p.ip.src, p.ip.dst), (ip(VIP), ip(CIP)));
    assert_eq!(p.ip.transport.ports(), Some((5060, 5060)));
    let rows = templates(&e, t(10_000));
    assert_eq!(rows.len(), 1, "the client's template was reused");
    // Its timer restarted with the answer.
    assert_eq!(rows[0].expires_ms, 60_000);
    assert!(e.connections(t(10_000)).iter().all(|c| c.template));
}

#[test]
fn conn_out_needs_a_call_id_a_sip_service_and_a_nat_server() {
    let e = engine(true, ForwardMethod::Masq);
    // No Call-ID: not IPVS's packet, nothing created.
    let pkt = udp_frame((RS2, 5060), (CIP, 5070), b"NOTIFY x SIP/2.0\r\n\r\n");
    assert_eq!(conn_out(&e, &pkt, t(0)).0, None);
    // Not from a real server's port.
    let pkt = udp_frame((RS2, 5061), (CIP, 5070), &invite("x"));
    assert_eq!(conn_out(&e, &pkt, t(0)).0, None);
    assert!(e.connections(t(0)).is_empty());
    // A corrupted datagram creates no state.
    let mut pkt = udp_frame((RS2, 5060), (CIP, 5070), &invite("x"));
    let last = pkt.len() - 1;
    pkt[last] ^= 0x55;
    assert_eq!(
        conn_out(&e, &pkt, t(0)).0,
        Some(Verdict::Drop(DropReason::BadChecksum))
    );
    assert!(e.connections(t(0)).is_empty());

    // Direct routing: replies never pass the director; the kernel only looks at NAT.
    let e = engine(true, ForwardMethod::Route);
    let pkt = udp_frame((RS2, 5060), (CIP, 5070), &invite("x"));
    assert_eq!(conn_out(&e, &pkt, t(0)).0, None);
}

#[test]
fn without_persistence_conn_out_makes_a_connection_without_a_template() {
    let e = engine(false, ForwardMethod::Masq);
    let pkt = udp_frame((RS2, 5060), (CIP, 5070), b"OPTIONS x SIP/2.0\r\n\r\n");
    assert!(matches!(
        conn_out(&e, &pkt, t(0)).0,
        Some(Verdict::Forward(_))
    ));
    let all = e.connections(t(0));
    assert_eq!(all.len(), 1);
    assert!(!all[0].template);
}

#[test]
fn call_id_records_are_freed_with_their_templates() {
    let e = engine(true, ForwardMethod::Masq);
    for i in 0..50 {
        from_client(&e, 6000 + i, &invite(&format!("c{i}")), t(0));
    }
    assert_eq!(e.shared.pe_data.len(), 50);
    // Connections (UDP, 300 s) expire; their templates, whose timer restarts while
    // they control connections, go a persistence timeout later.
    e.tick(t(400_000));
    e.tick(t(500_000));
    assert!(e.connections(t(500_000)).is_empty());
    assert_eq!(e.shared.pe_data.len(), 0);
}

#[test]
fn listing_text_is_lossless_latin1() {
    assert_eq!(show(b"caf\xe9"), "café");
    assert_eq!(show(b"a@b"), "a@b");
}

#[test]
fn a_taken_probe_port_moves_the_template_to_the_next_one() {
    let e = engine(true, ForwardMethod::Masq);
    // Another template already holds the first probe port of Call-ID "X" (as one of
    // another Call-ID whose hash folds to the same port would).
    let key = crate::persist::template_key(
        &ServiceKey::Addr {
            proto: Protocol::Udp,
            addr: ip(VIP),
            port: 5060,
        },
        &Persistence {
            timeout: 60,
            prefix_len: 32,
        },
        &crate::persist::PacketTuple {
            proto: 17,
            src: ip(CIP),
            dst: ip(VIP),
            dst_port: 5060,
        },
    );
    let port = e.shared.pe_data.first_port(&key, b"X");
    let mut blocker = key;
    blocker.client.port = port;
    let tmpl = crate::persist::new_template(
        &blocker,
        Endpoint::new(ip(RS2), 5060),
        ForwardMethod::Masq,
        &Persistence {
            timeout: 60,
            prefix_len: 32,
        },
        0,
    );
    e.shared.conns.insert(tmpl, t(0)).unwrap();

    let first = from_client(&e, 5060, &invite("X"), t(1));
    for sport in 5061..5065 {
        assert_eq!(from_client(&e, sport, &invite("X"), t(2)), first);
    }
    let rows = templates(&e, t(2));
    assert_eq!(rows.len(), 2);
    let sip: Vec<_> = rows.iter().filter(|r| r.pe_data.is_some()).collect();
    assert_eq!(sip.len(), 1);
    assert_eq!((sip[0].client_port, sip[0].dest), (0, first));
    // The blocker is listed as it is, with its own port and no PE data.
    assert!(rows
        .iter()
        .any(|r| r.pe_data.is_none() && r.client_port == port));
}

mod sync;
