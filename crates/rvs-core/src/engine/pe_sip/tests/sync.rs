//! SIP templates through connection sync: the master sends a template with its
//! Call-ID and the engine's name (client port 0, as the kernel's), and a backup makes
//! of it a template that the next datagram of that Call-ID finds.

use super::*;
use crate::engine::{ConnFlags, SyncConn, SyncImportError, SyncPe};

fn drain(e: &Engine) -> Vec<SyncConn> {
    let mut out = Vec::new();
    e.drain_sync(&mut out);
    out
}

/// The template a master on RS2 would send for Call-ID `call_id`.
fn synced_template(call_id: &[u8]) -> SyncConn {
    SyncConn {
        family: Family::V4,
        ip_proto: 17,
        caddr: ip(CIP),
        cport: 0,
        vaddr: ip(VIP),
        vport: 5060,
        daddr: ip(RS2),
        dport: 5060,
        fwmark: 0,
        flags: ConnFlags::TEMPLATE | ConnFlags::INACTIVE | ConnFlags::SYNC,
        state: 0,
        timeout: 60,
        pe: SyncPe::new(b"sip", call_id).unwrap(),
    }
}

#[test]
fn a_one_packet_master_queues_the_template_with_its_call_id_per_datagram() {
    let e = engine_with(true, ForwardMethod::Masq, true);
    e.set_sync_master(true);
    let rs = from_client(&e, 5060, &invite("call-A"), t(0));
    let out = drain(&e);
    // The datagram keeps no entry: only its template goes, every time.
    assert_eq!(out.len(), 1, "{out:?}");
    let s = &out[0];
    assert_ne!(s.flags & ConnFlags::TEMPLATE, 0);
    assert_eq!((s.ip_proto, s.caddr, s.cport), (17, ip(CIP), 0));
    assert_eq!(
        (s.vaddr, s.vport, s.daddr, s.dport),
        (ip(VIP), 5060, rs, 5060)
    );
    assert_eq!((s.state, s.timeout), (0, 60));
    assert_eq!((s.pe.name(), s.pe.data()), (&b"sip"[..], &b"call-A"[..]));
    from_client(&e, 5061, &invite("call-A"), t(1));
    from_client(&e, 5062, &invite("call-B"), t(2));
    let calls: Vec<Vec<u8>> = drain(&e).iter().map(|s| s.pe.data().to_vec()).collect();
    assert_eq!(calls, vec![b"call-A".to_vec(), b"call-B".to_vec()]);
}

#[test]
fn a_connection_at_the_threshold_goes_with_its_sip_template() {
    let e = engine(true, ForwardMethod::Masq);
    e.set_sync_master(true);
    // One worker: packet counts are per worker.
    let mut w = e.worker(0);
    let pkt = udp_frame((CIP, 5060), (VIP, 5060), &invite("call-A"));
    for i in 0..3 {
        let mut buf = vec![0u8; 64 + pkt.len()];
        buf[64..].copy_from_slice(&pkt);
        let mut f = Frame::new(&mut buf, 64, pkt.len());
        assert!(matches!(w.process(&mut f, t(i)), Verdict::Forward(_)));
        if i < 2 {
            // Below sync_threshold the connection waits, but its template is
            // exempt from the periodic rule (`ip_vs_sync_conn_needed`): it goes on
            // every packet while sync_period is set.
            let out = drain(&e);
            assert_eq!(out.len(), 1, "packet {i}: {out:?}");
            assert_eq!((out[0].cport, out[0].pe.data()), (0, &b"call-A"[..]));
        }
    }
    // At the threshold: the connection first, then its template (`ip_vs_sync_conn`).
    let out = drain(&e);
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[0].flags & ConnFlags::TEMPLATE, 0);
    assert_eq!((out[0].cport, out[0].pe), (5060, SyncPe::NONE));
    assert_ne!(out[1].flags & ConnFlags::TEMPLATE, 0);
    assert_eq!((out[1].cport, out[1].pe.data()), (0, &b"call-A"[..]));
}

#[test]
fn a_backup_sends_a_synced_call_id_to_the_synced_server() {
    let backup = engine(true, ForwardMethod::Masq);
    backup
        .sync_import(&synced_template(b"call-A"), t(0))
        .unwrap();
    let rows = templates(&backup, t(0));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].pe_name.as_deref(), Some("sip"));
    assert_eq!(rows[0].pe_data.as_deref(), Some("call-A"));
    assert_eq!((rows[0].client_port, rows[0].dest), (0, ip(RS2)));
    // rr alone would pick RS1 first: the Call-ID's template decides, from any port.
    assert_eq!(from_client(&backup, 6000, &invite("call-A"), t(1)), ip(RS2));
    assert_eq!(from_client(&backup, 6001, &invite("call-A"), t(2)), ip(RS2));
    // Another Call-ID is scheduled as usual, and gets its own template.
    assert_eq!(from_client(&backup, 6002, &invite("call-B"), t(3)), ip(RS1));
    assert_eq!(templates(&backup, t(3)).len(), 2);
    // The same template synced again is the same template, and a found template
    // keeps its real server (`ip_vs_proc_conn` updates flags, state and timeout).
    let mut moved = synced_template(b"call-A");
    moved.daddr = ip(RS1);
    moved.timeout = 90;
    backup.sync_import(&moved, t(4)).unwrap();
    let rows = templates(&backup, t(4));
    assert_eq!(rows.len(), 2);
    let a = rows
        .iter()
        .find(|r| r.pe_data.as_deref() == Some("call-A"))
        .unwrap();
    assert_eq!((a.dest, a.expires_ms), (ip(RS2), 90_000));
    assert_eq!(from_client(&backup, 6003, &invite("call-A"), t(5)), ip(RS2));
}

#[test]
fn what_the_master_sends_the_backup_follows() {
    let master = engine_with(true, ForwardMethod::Masq, true);
    master.set_sync_master(true);
    // Two calls so that the second lands on RS2.
    from_client(&master, 5060, &invite("first"), t(0));
    let rs = from_client(&master, 5060, &invite("second"), t(1));
    assert_eq!(rs, ip(RS2));
    let backup = engine(true, ForwardMethod::Masq);
    for s in drain(&master) {
        backup.sync_import(&s, t(2)).unwrap();
    }
    assert_eq!(from_client(&backup, 7000, &invite("second"), t(3)), ip(RS2));
    assert_eq!(from_client(&backup, 7001, &invite("first"), t(3)), ip(RS1));
}

#[test]
fn pe_data_needs_a_known_engine_name_and_a_name_alone_is_ignored() {
    let backup = engine(true, ForwardMethod::Masq);
    let mut unknown = synced_template(b"call-U");
    unknown.pe = SyncPe::new(b"xyz", b"call-U").unwrap();
    assert_eq!(
        backup.sync_import(&unknown, t(0)),
        Err(SyncImportError::UnknownPe("xyz".into()))
    );
    let mut nameless = synced_template(b"call-V");
    nameless.pe = SyncPe::new(b"", b"call-V").unwrap();
    assert_eq!(
        backup.sync_import(&nameless, t(0)),
        Err(SyncImportError::PeNameMissing)
    );
    assert_eq!(backup.conn_count(), 0);
    // A name without data: an ordinary template (the kernel's too), which no SIP
    // datagram uses.
    let mut dataless = synced_template(b"");
    dataless.pe = SyncPe::new(b"sip", b"").unwrap();
    backup.sync_import(&dataless, t(0)).unwrap();
    let rows = templates(&backup, t(0));
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].pe_data.as_deref(), rows[0].dest), (None, ip(RS2)));
    assert_eq!(from_client(&backup, 6000, &invite("call-U"), t(1)), ip(RS1));
}

#[test]
fn a_sip_template_for_a_service_without_the_engine_is_refused() {
    let mut svc = sip_service(true, ForwardMethod::Masq, false);
    svc.config.pe_name = None;
    let backup = engine_of(svc);
    assert_eq!(
        backup.sync_import(&synced_template(b"call-A"), t(0)),
        Err(SyncImportError::NotSip)
    );
    assert_eq!(backup.conn_count(), 0);
}
