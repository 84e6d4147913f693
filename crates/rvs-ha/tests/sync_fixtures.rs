//! The sync codec against real Linux IPVS (lab VM, Debian 6.1 kernel; scenario
//! lab/scenarios/sync-interop.sh): it reads what the kernel's master daemon sent, and
//! the kernel's backup daemon accepted what rvs's encoder writes.

use rvs_ha::sync::codec::{decode, flags, Encoder, SyncedConn, DEFAULT_MAXLEN};
use std::net::IpAddr;

const PCAP: &[u8] = include_bytes!("fixtures/sync/master.pcap");
const MASTER_LCN: &str = include_str!("fixtures/sync/master-Lcn.txt");
const BACKUP_LCN: &str = include_str!("fixtures/sync/backup-Lcn.txt");
const RVS_SYNC_1: &[u8] = include_bytes!("fixtures/sync/rvs-sync-1.bin");
const RVS_SYNC_2: &[u8] = include_bytes!("fixtures/sync/rvs-sync-2-other-syncid.bin");

/// UDP payloads of a classic little-endian pcap of Ethernet/IPv4/UDP frames.
fn udp_payloads(pcap: &[u8]) -> Vec<&[u8]> {
    assert_eq!(&pcap[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= pcap.len() {
        let incl = u32::from_le_bytes(pcap[off + 8..off + 12].try_into().unwrap()) as usize;
        let frame = &pcap[off + 16..off + 16 + incl];
        off += 16 + incl;
        let ihl = (frame[14] & 0x0f) as usize * 4;
        out.push(&frame[14 + ihl + 8..]);
    }
    out
}

/// (protocol, client, virtual, destination, state) rows of `ipvsadm -Lcn`.
fn lcn_rows(text: &str) -> Vec<(String, String, String, String, String)> {
    text.lines()
        .skip(2)
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.len() == 6).then(|| {
                (
                    w[0].to_string(),
                    w[3].to_string(),
                    w[4].to_string(),
                    w[5].to_string(),
                    w[2].to_string(),
                )
            })
        })
        .collect()
}

fn endpoint(a: IpAddr, port: u16) -> String {
    format!("{a}:{port}")
}

#[test]
fn kernel_master_messages_decode_to_its_connection_table() {
    let payloads = udp_payloads(PCAP);
    assert_eq!(payloads.len(), 4);
    let mut conns: Vec<SyncedConn> = Vec::new();
    for p in payloads {
        let m = decode(p).expect("kernel message decodes");
        assert_eq!((m.version, m.syncid, m.skipped), (1, 7, 0));
        conns.extend(m.conns);
    }
    for (proto, client, virt, dest, _state) in lcn_rows(MASTER_LCN) {
        let found = conns.iter().any(|c| {
            let p = if c.protocol == 6 { "TCP" } else { "UDP" };
            p == proto
                && endpoint(c.caddr, c.cport) == client
                && endpoint(c.vaddr, c.vport) == virt
                && endpoint(c.daddr, c.dport) == dest
        });
        assert!(
            found,
            "{proto} {client} -> {dest} was listed but never synced"
        );
    }
    // Persistence templates travel with the TEMPLATE flag and client port 0.
    let templates: Vec<_> = conns
        .iter()
        .filter(|c| c.flags & flags::TEMPLATE != 0)
        .collect();
    assert!(!templates.is_empty());
    assert!(templates.iter().all(|t| t.cport == 0 && t.timeout == 120));
    // Every message sets F_SYNC on receipt and keeps the forwarding method (MASQ = 0).
    assert!(conns.iter().all(|c| c.flags & flags::SYNC != 0));
    assert!(conns
        .iter()
        .all(|c| c.flags & flags::FWD_MASK == flags::MASQ));
}

fn fixture_conn(
    proto: u8,
    fl: u32,
    state: u16,
    client: (&str, u16),
    vport: u16,
    rip: &str,
    timeout: u32,
) -> SyncedConn {
    SyncedConn {
        protocol: proto,
        flags: fl,
        state,
        cport: client.1,
        vport,
        dport: 8000,
        fwmark: 0,
        timeout,
        caddr: client.0.parse().unwrap(),
        vaddr: "10.0.0.100".parse().unwrap(),
        daddr: rip.parse().unwrap(),
        seq: None,
        pe_data: Vec::new(),
        pe_name: String::new(),
    }
}

/// The datagram replayed to the kernel backup is exactly what the encoder writes.
#[test]
fn replayed_fixture_is_what_the_encoder_writes() {
    let mut e = Encoder::new(7, DEFAULT_MAXLEN);
    for c in [
        fixture_conn(
            6,
            flags::MASQ,
            1,
            ("10.1.0.101", 41001),
            80,
            "10.0.2.11",
            900,
        ),
        fixture_conn(
            6,
            flags::MASQ,
            1,
            ("10.1.0.102", 41002),
            80,
            "10.0.2.12",
            850,
        ),
        fixture_conn(
            6,
            flags::MASQ | flags::INACTIVE,
            4,
            ("10.1.0.103", 41003),
            80,
            "10.0.2.13",
            100,
        ),
        fixture_conn(
            17,
            flags::MASQ | flags::INACTIVE,
            0,
            ("10.1.0.104", 41004),
            53,
            "10.0.2.11",
            290,
        ),
        fixture_conn(
            17,
            flags::MASQ | flags::TEMPLATE,
            0,
            ("10.1.0.104", 0),
            53,
            "10.0.2.11",
            120,
        ),
    ] {
        assert!(e.push(&c).is_none());
    }
    assert_eq!(e.flush().unwrap(), RVS_SYNC_1);
    assert_eq!(decode(RVS_SYNC_2).unwrap().syncid, 8);
}

/// What the kernel backup listed after receiving rvs's datagrams: every connection
/// of syncid 7 with its state, none of syncid 8.
#[test]
fn kernel_backup_accepted_rvs_messages() {
    let rows = lcn_rows(BACKUP_LCN);
    let has = |client: &str, dest: &str, state: &str| {
        rows.iter()
            .any(|r| r.1 == client && r.3 == dest && r.4 == state)
    };
    assert!(has("10.1.0.101:41001", "10.0.2.11:8000", "ESTABLISHED"));
    assert!(has("10.1.0.102:41002", "10.0.2.12:8000", "ESTABLISHED"));
    assert!(has("10.1.0.103:41003", "10.0.2.13:8000", "FIN_WAIT"));
    assert!(has("10.1.0.104:41004", "10.0.2.11:8000", "UDP"));
    assert!(has("10.1.0.104:0", "10.0.2.11:8000", "NONE"));
    assert!(!rows.iter().any(|r| r.1.starts_with("10.1.0.199")));
}
