//! SIP persistence templates through connection sync, against Linux 6.1 (lab VM,
//! scenario lab/scenarios/sip-sync.sh: `ipvsadm -A -u 10.0.0.100:5060 -s rr -p 60
//! --pe sip -o`, three NAT real servers 10.0.2.11-13, sync daemon syncid 7).
//!
//! - The kernel master sent one message of four template records, one per datagram
//!   (`-o` connections are not synced, their template is, on every datagram): client
//!   port 0, PE_DATA = the Call-ID, PE_NAME = "sip".
//! - rvs, configured the same and sent the same datagrams, queues the same templates,
//!   and its encoder writes the kernel's bytes.
//! - The kernel backup, fed that message, listed the three templates with their
//!   Call-IDs and sent a synced Call-ID from a new client port to the synced server;
//!   rvs's backup does the same from the decoded message. Hand-made records: PE
//!   data with an unknown name or without a name is skipped, a name without data
//!   makes an ordinary template.
//!
//! Linux 6.12 (same scenario, `-k 6.12`) sent the same bytes and its backup behaved
//! the same.

use rvs_core::engine::{Engine, EngineConfig, SyncConn, SyncImportError};
use rvs_core::model::*;
use rvs_core::time::Instant;
use rvs_core::verdict::{Egress, Frame, Verdict};
use rvs_ha::sync::codec::{decode, flags, Encoder, DEFAULT_MAXLEN};
use rvs_ha::sync::engine::{from_wire, to_wire};
use std::net::{IpAddr, Ipv4Addr};

const DIR: &str = "tests/fixtures/sip-sync-6.1";
const MASTER_MSG: &[u8] = include_bytes!("fixtures/sip-sync-6.1/master-sync-1.bin");
const MASTER_SIP: &str = include_str!("fixtures/sip-sync-6.1/master-sip.jsonl");
const BACKUP_LCN: &str = include_str!("fixtures/sip-sync-6.1/backup-Lcn-synced.txt");
const BACKUP_SIP: &str = include_str!("fixtures/sip-sync-6.1/backup-sip.jsonl");
const CRAFTED_LCN: &str = include_str!("fixtures/sip-sync-6.1/backup-Lcn-crafted.txt");

const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn rs(n: &str) -> IpAddr {
    let i: u8 = n.trim_start_matches("rs").parse().unwrap();
    IpAddr::V4(Ipv4Addr::new(10, 0, 2, 10 + i))
}

/// (call-id, source port, real server) of each datagram a scenario step sent.
fn datagrams(jsonl: &str) -> Vec<(String, u16, Option<IpAddr>)> {
    let field = |l: &str, k: &str| -> String {
        let at = l.find(&format!("\"{k}\": ")).unwrap() + k.len() + 4;
        let v = &l[at..];
        if let Some(v) = v.strip_prefix('"') {
            v[..v.find('"').unwrap()].to_string()
        } else {
            v[..v.find(['}', ',']).unwrap()].to_string()
        }
    };
    jsonl
        .lines()
        .map(|l| {
            let src = field(l, "src");
            let port = src.rsplit(':').next().unwrap().parse().unwrap();
            let to = field(l, "rs");
            (field(l, "callid"), port, (to != "null").then(|| rs(&to)))
        })
        .collect()
}

/// Ethernet + IPv4 + UDP, checksums filled.
fn sip_frame(sport: u16, call_id: &str) -> Vec<u8> {
    let payload = format!("INVITE sip:x SIP/2.0\r\nCall-ID: {call_id}\r\n\r\n");
    let udp_len = 8 + payload.len();
    let ip_len = 20 + udp_len;
    let mut b = vec![0u8; 14];
    b[..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    b[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    b[12..14].copy_from_slice(&[0x08, 0x00]);
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
    ip.extend_from_slice(&CLIENT.octets());
    ip.extend_from_slice(&VIP.octets());
    let sum = |words: &[u8], init: u32| -> u16 {
        let mut s = init;
        for c in words.chunks(2) {
            s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    };
    let c = sum(&ip, 0);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut udp = Vec::new();
    udp.extend_from_slice(&sport.to_be_bytes());
    udp.extend_from_slice(&5060u16.to_be_bytes());
    udp.extend_from_slice(&(udp_len as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload.as_bytes());
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&CLIENT.octets());
    pseudo.extend_from_slice(&VIP.octets());
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&(udp_len as u16).to_be_bytes());
    pseudo.extend_from_slice(&udp);
    let c = sum(&pseudo, 0);
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    b.extend_from_slice(&ip);
    b.extend_from_slice(&udp);
    b
}

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// The lab's service: `-A -u 10.0.0.100:5060 -s rr -p 60 --pe sip -o`, then
/// `-a ... -m -w 1` for rs1, rs2, rs3 (the kernel lists the newest first).
fn lab_engine() -> Engine {
    let e = Engine::new(EngineConfig {
        workers: 1,
        max_conns: 4096,
        ..EngineConfig::default()
    })
    .unwrap();
    let svc = VirtualService {
        config: ServiceConfig {
            key: ServiceKey::Addr {
                proto: Protocol::Udp,
                addr: IpAddr::V4(VIP),
                port: 5060,
            },
            scheduler: SchedulerKind::Rr,
            sched_flags: SchedFlags::default(),
            persistence: Some(Persistence {
                timeout: 60,
                prefix_len: 32,
            }),
            one_packet: true,
            pe_name: Some("sip".into()),
        },
        dests: ["rs3", "rs2", "rs1"]
            .iter()
            .map(|n| DestConfig {
                addr: rs(n),
                port: 5060,
                method: ForwardMethod::Masq,
                weight: 1,
                u_threshold: 0,
                l_threshold: 0,
            })
            .collect(),
    };
    e.apply(&[svc], &[], Timeouts::default(), t(0));
    e
}

/// Send one client datagram; the real server it reached.
fn send(e: &Engine, sport: u16, call_id: &str, now: Instant) -> IpAddr {
    let mut w = e.worker(0);
    let pkt = sip_frame(sport, call_id);
    let mut buf = vec![0u8; 64 + pkt.len()];
    buf[64..].copy_from_slice(&pkt);
    let mut f = Frame::new(&mut buf, 64, pkt.len());
    match w.process(&mut f, now) {
        Verdict::Forward(Egress { next_hop, .. }) => next_hop,
        v => panic!("datagram {call_id} not forwarded: {v:?}"),
    }
}

#[test]
fn the_kernel_master_sends_each_sip_template_with_its_call_id() {
    let m = decode(MASTER_MSG).expect("kernel message decodes");
    assert_eq!((m.version, m.syncid, m.skipped), (1, 7, 0));
    let sent = datagrams(MASTER_SIP);
    assert_eq!(
        m.conns.len(),
        sent.len(),
        "one template record per datagram"
    );
    for (c, (call_id, _, to)) in m.conns.iter().zip(&sent) {
        assert_eq!(c.flags & !flags::SYNC, flags::TEMPLATE | flags::INACTIVE);
        assert_eq!((c.protocol, c.state, c.timeout, c.fwmark), (17, 0, 60, 0));
        assert_eq!((c.caddr, c.cport), (IpAddr::V4(CLIENT), 0));
        assert_eq!((c.vaddr, c.vport, c.dport), (IpAddr::V4(VIP), 5060, 5060));
        assert_eq!(Some(c.daddr), *to);
        assert_eq!(c.pe_name, "sip");
        assert_eq!(c.pe_data, call_id.as_bytes());
    }
}

#[test]
fn rvs_as_master_writes_the_kernels_bytes() {
    let e = lab_engine();
    e.set_sync_master(true);
    let sent = datagrams(MASTER_SIP);
    let mut queued: Vec<SyncConn> = Vec::new();
    for (i, (call_id, sport, _)) in sent.iter().enumerate() {
        send(&e, *sport, call_id, t(i as u64));
        e.drain_sync(&mut queued);
    }
    assert_eq!(queued.len(), sent.len());
    let kernel = decode(MASTER_MSG).unwrap().conns;
    let mut enc = Encoder::new(7, DEFAULT_MAXLEN);
    for (q, k) in queued.iter().zip(&kernel) {
        // rr's first pick is the kernel's, so each template names the same server.
        assert_eq!(q.daddr, k.daddr, "{q:?}");
        assert!(enc.push(&to_wire(q)).is_none());
    }
    assert_eq!(enc.flush().unwrap(), MASTER_MSG);
}

#[test]
fn rvs_as_backup_of_the_kernel_master_follows_its_templates() {
    let e = lab_engine();
    for c in decode(MASTER_MSG).unwrap().conns {
        e.sync_import(&from_wire(&c), t(0)).unwrap();
    }
    // The kernel backup's listing: three templates (callA twice is one), port 0.
    let mut listed: Vec<(String, IpAddr)> = e
        .connections(t(0))
        .into_iter()
        .filter(|c| c.template)
        .map(|c| {
            assert_eq!((c.client_port, c.pe_name.as_deref()), (0, Some("sip")));
            (c.pe_data.unwrap(), c.dest)
        })
        .collect();
    listed.sort();
    let mut kernel: Vec<(String, IpAddr)> = BACKUP_LCN
        .lines()
        .skip(2)
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(w[3], "10.0.0.2:0");
            let dest = w[5].split(':').next().unwrap().parse().unwrap();
            (w[7].to_string(), dest)
        })
        .collect();
    kernel.sort();
    assert_eq!(listed, kernel);
    // Then the kernel backup's datagrams: synced Call-IDs from new ports to their
    // synced servers, a new one scheduled (rr from the start, as on the kernel).
    for (i, (call_id, sport, to)) in datagrams(BACKUP_SIP).iter().take(3).enumerate() {
        assert_eq!(
            Some(send(&e, *sport, call_id, t(1 + i as u64))),
            *to,
            "{call_id}"
        );
    }
}

#[test]
fn pe_records_the_kernel_skips_are_skipped() {
    let read = |name: &str| std::fs::read(format!("{DIR}/{name}")).unwrap();
    // The kernel backup listed no template for callU (unknown pe "xyz") nor callV
    // (data without a name), and one without PE data for the name without data.
    assert!(!CRAFTED_LCN.contains("callU") && !CRAFTED_LCN.contains("callV"));
    let e = lab_engine();
    let one = |f: &str| {
        let m = decode(&read(f)).unwrap();
        assert_eq!(m.conns.len(), 1);
        e.sync_import(&from_wire(&m.conns[0]), t(0))
    };
    assert_eq!(
        one("crafted-unknown-pe.bin"),
        Err(SyncImportError::UnknownPe("xyz".into()))
    );
    assert_eq!(
        one("crafted-data-no-name.bin"),
        Err(SyncImportError::PeNameMissing)
    );
    assert_eq!(e.conn_count(), 0);
    one("crafted-name-no-data.bin").unwrap();
    let rows = e.connections(t(0));
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].pe_data.as_deref(), rows[0].dest),
        (None, rs("rs1"))
    );
    let last = CRAFTED_LCN.lines().last().unwrap();
    assert!(last.ends_with("10.0.2.11:5060"), "{last}");
}
