use super::*;
use crate::checksum::finish_l4_checksum;
use crate::gso::{first_segment, segment};

const SIZE: u16 = 1000;

/// Ethernet + IPv4 or IPv6 + TCP (20 bytes) with `n` payload bytes and `flags`,
/// checksums left as a sender with offload would (any value).
fn tcp(v6: bool, n: usize, flags: u8) -> Vec<u8> {
    let mut f = vec![0u8; 14];
    if v6 {
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        let mut ip = vec![0u8; 40];
        ip[0] = 0x60;
        ip[4..6].copy_from_slice(&((20 + n) as u16).to_be_bytes());
        ip[6] = 6;
        ip[7] = 64;
        ip[8..24].copy_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        ip[24..40].copy_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        f.extend_from_slice(&ip);
    } else {
        f[12] = 0x08;
        let mut ip = vec![
            0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        ip[2..4].copy_from_slice(&((40 + n) as u16).to_be_bytes());
        f.extend_from_slice(&ip);
    }
    let mut th = vec![
        0x30, 0x39, 0x00, 0x50, 0, 0, 0x10, 0, 0, 0, 0, 9, 0x50, flags,
    ];
    th.extend_from_slice(&[0x01, 0x00, 0xab, 0xcd, 0, 0]);
    f.extend_from_slice(&th);
    f.extend((0..n).map(|i| (i * 13 % 251) as u8));
    f
}

fn gso() -> Gso {
    Gso {
        kind: GsoKind::Tcp,
        size: SIZE,
    }
}

/// What NAT does to a segment: new destination address and port, new MACs,
/// checksums made complete again.
fn nat(seg: &mut [u8]) {
    seg[0..12].copy_from_slice(&[2, 0, 0, 0, 0, 9, 2, 0, 0, 0, 0, 8]);
    let (dst, l4) = if seg[12] == 0x08 {
        (30..34, 34)
    } else {
        (38..54, 54)
    };
    let last = dst.end - 1;
    seg[last] = 77;
    seg[l4 + 2..l4 + 4].copy_from_slice(&8080u16.to_be_bytes());
    if seg[12] == 0x08 {
        let ip = &mut seg[14..];
        ipv4_header_checksum(ip, 20);
    }
    assert!(finish_l4_checksum(seg));
}

fn cut_all(frame: &[u8]) -> Vec<Vec<u8>> {
    let slot = 2048;
    let mut out = vec![0u8; 80 * slot];
    let mut lens = vec![0usize; 80];
    let k = segment(frame, gso(), &mut out, slot, 0, &mut lens).expect("segment");
    (0..k)
        .map(|i| out[i * slot..i * slot + lens[i]].to_vec())
        .collect()
}

fn first(frame: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 2048];
    let n = first_segment(frame, gso(), &mut out, 0).expect("first segment");
    out.truncate(n);
    out
}

#[test]
fn a_nat_rewrite_of_the_first_segment_is_applied_to_the_whole_super_frame() {
    for v6 in [false, true] {
        // PSH on the super-frame: the kernel's segments carry it on the last only.
        let orig = tcp(v6, 5 * usize::from(SIZE) + 123, 0x18);
        let expected: Vec<Vec<u8>> = cut_all(&orig)
            .into_iter()
            .map(|mut s| {
                nat(&mut s);
                s
            })
            .collect();

        let keep = keep_whole(&orig, gso()).expect("keepable");
        let mut probe = first(&orig);
        assert_eq!(
            probe,
            cut_all(&orig)[0],
            "first segment as segment() cuts it"
        );
        nat(&mut probe);
        let mut whole = orig.clone();
        let tx = keep.apply(&mut whole, &probe).expect("kept");
        assert_eq!(tx.size, SIZE);
        assert_eq!(tx.ipv6, v6);
        assert!(!tx.ecn);
        let l4 = if v6 { 54 } else { 34 };
        assert_eq!(usize::from(tx.csum_start), l4);
        assert_eq!(usize::from(tx.hdr_len), l4 + 20);

        // The partial checksum finishes (sum from csum_start, invert) to the full one.
        let mut full = whole.clone();
        assert!(finish_l4_checksum(&mut full));
        let finished = !fold(sum16(&padded(&whole[l4..])));
        assert_eq!(finished.to_be_bytes(), [full[l4 + 16], full[l4 + 17]]);

        // Segmenting the kept super-frame gives exactly the NATed segments.
        assert_eq!(cut_all(&whole), expected, "v6 {v6}");
    }
}

fn padded(b: &[u8]) -> Vec<u8> {
    let mut v = b.to_vec();
    if v.len() % 2 == 1 {
        v.push(0);
    }
    v
}

#[test]
fn cwr_asks_for_ecn_segmentation() {
    let orig = tcp(false, 3 * usize::from(SIZE), 0x90);
    let keep = keep_whole(&orig, gso()).expect("keepable");
    let mut whole = orig.clone();
    let tx = keep.apply(&mut whole, &first(&orig)).expect("kept");
    assert!(tx.ecn);
    let vnet = tx.vnet_header();
    assert_eq!(vnet[0], 1, "NEEDS_CSUM");
    assert_eq!(vnet[1], 0x81, "TCPV4 with ECN");
    assert_eq!(u16::from_le_bytes([vnet[4], vnet[5]]), SIZE);
    assert_eq!(u16::from_le_bytes([vnet[8], vnet[9]]), 16);
}

#[test]
fn flags_for_other_segments_and_small_or_udp_frames_are_not_kept() {
    for flags in [0x11, 0x02, 0x14, 0x30] {
        let f = tcp(false, 3 * usize::from(SIZE), flags);
        assert_eq!(keep_whole(&f, gso()), None, "flags {flags:#x}");
    }
    let one_segment = tcp(false, usize::from(SIZE), 0x10);
    assert_eq!(keep_whole(&one_segment, gso()), None);
    let f = tcp(false, 3 * usize::from(SIZE), 0x10);
    let udp = Gso {
        kind: GsoKind::Udp,
        size: SIZE,
    };
    assert_eq!(keep_whole(&f, udp), None);
    let mut trailing = f.clone();
    trailing.extend_from_slice(&[0; 4]);
    assert_eq!(keep_whole(&trailing, gso()), None);
    assert_eq!(keep_whole(&f[..30], gso()), None);
}

#[test]
fn anything_but_an_in_place_header_rewrite_leaves_the_super_frame_alone() {
    let orig = tcp(false, 3 * usize::from(SIZE), 0x10);
    let keep = keep_whole(&orig, gso()).expect("keepable");
    let probe = first(&orig);

    // Encapsulated (IPIP in front), an ICMP answer (shorter), a changed payload.
    let mut tunnelled = probe[..14].to_vec();
    tunnelled.extend_from_slice(&[0x45; 20]);
    tunnelled.extend_from_slice(&probe[14..]);
    let short = probe[..70].to_vec();
    let mut payload = probe.clone();
    let last = payload.len() - 1;
    payload[last] ^= 0xff;
    let mut v6 = probe.clone();
    v6[12..14].copy_from_slice(&[0x86, 0xdd]);
    for bad in [tunnelled, short, payload, v6, Vec::new()] {
        let mut whole = orig.clone();
        assert_eq!(keep.apply(&mut whole, &bad), None);
        assert_eq!(whole, orig, "untouched");
    }
    // A frame of another length than the one checked.
    let mut longer = orig.clone();
    longer.push(0);
    assert_eq!(keep.apply(&mut longer, &probe), None);
}
