use super::*;

fn sum(mut acc: u32, data: &[u8]) -> u32 {
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from(c[0]) << 8
        };
        acc += u32::from(w);
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Whether the IP header (v4) and transport checksums of `seg` verify.
fn checksums_ok(seg: &[u8], proto: u8) -> bool {
    let ip = &seg[14..];
    if ip[0] >> 4 == 4 {
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        if fold(sum(0, &ip[..ihl])) != 0xffff {
            return false;
        }
        let l4 = &ip[ihl..usize::from(u16::from_be_bytes([ip[2], ip[3]]))];
        let pseudo = sum(0, &ip[12..20]) + u32::from(proto) + l4.len() as u32;
        fold(sum(pseudo, l4)) == 0xffff
    } else {
        let l4 = &ip[40..40 + usize::from(u16::from_be_bytes([ip[4], ip[5]]))];
        let pseudo = sum(0, &ip[8..40]) + u32::from(proto) + l4.len() as u32;
        fold(sum(pseudo, l4)) == 0xffff
    }
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

/// Ethernet + IPv4 (id 0x1000, DF) + TCP with 12 bytes of options + `data`.
fn tcp4(data: &[u8], flags: u8) -> Vec<u8> {
    let mut f = vec![0u8; 14];
    f[12] = 0x08;
    let total = (20 + 32 + data.len()) as u16;
    let mut ip = vec![
        0x45, 0, 0, 0, 0x10, 0x00, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&ip);
    let mut tcp = vec![0x30, 0x39, 0x00, 0x50, 0xff, 0xff, 0xff, 0x00, 0, 0, 0, 1];
    tcp.extend_from_slice(&[0x80, flags, 0x01, 0x00, 0, 0, 0, 0]);
    tcp.extend_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
    f.extend_from_slice(&tcp);
    f.extend_from_slice(data);
    f
}

const SLOT: usize = 2048;
const HEAD: usize = 64;

fn run(frame: &[u8], gso: Gso, slots: usize) -> Result<Vec<Vec<u8>>, GsoError> {
    let mut out = vec![0u8; slots * SLOT];
    let mut lens = vec![0usize; slots];
    let n = segment(frame, gso, &mut out, SLOT, HEAD, &mut lens)?;
    Ok((0..n)
        .map(|i| out[i * SLOT + HEAD..i * SLOT + HEAD + lens[i]].to_vec())
        .collect())
}

#[test]
fn tcp_over_ipv4_like_the_kernel() {
    let data = payload(4000);
    // CWR | FIN | PSH | ACK
    let frame = tcp4(&data, 0x80 | 0x10 | 0x08 | 0x01);
    let gso = Gso {
        kind: GsoKind::Tcp,
        size: 1448,
    };
    let segs = run(&frame, gso, 8).unwrap();
    assert_eq!(
        segs.iter().map(Vec::len).collect::<Vec<_>>(),
        [1514, 1514, 1170]
    );
    let mut joined = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        assert!(checksums_ok(s, 6), "segment {i}");
        let ip = &s[14..];
        assert_eq!(
            usize::from(u16::from_be_bytes([ip[2], ip[3]])),
            s.len() - 14
        );
        assert_eq!(u16::from_be_bytes([ip[4], ip[5]]), 0x1000 + i as u16);
        let tcp = &ip[20..];
        let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
        assert_eq!(seq, 0xffff_ff00u32.wrapping_add((i * 1448) as u32), "wraps");
        let flags = tcp[13];
        assert_eq!(flags & 0x80 != 0, i == 0, "CWR only first");
        assert_eq!(flags & 0x09 != 0, i == 2, "FIN/PSH only last");
        assert_eq!(flags & 0x10, 0x10, "ACK everywhere");
        joined.extend_from_slice(&tcp[32..]);
    }
    assert_eq!(joined, data);
}

#[test]
fn tcp_over_ipv6_and_udp_segments() {
    let data = payload(3000);
    let mut f = vec![0u8; 14];
    f[12] = 0x86;
    f[13] = 0xdd;
    let mut ip = vec![0x60, 0, 0, 0, 0, 0, 6, 64];
    ip[4..6].copy_from_slice(&((20 + data.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    ip.extend_from_slice(&[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[
        0, 1, 0, 2, 0, 0, 0, 7, 0, 0, 0, 0, 0x50, 0x18, 1, 0, 0, 0, 0, 0,
    ]);
    f.extend_from_slice(&data);
    let segs = run(
        &f,
        Gso {
            kind: GsoKind::Tcp,
            size: 1000,
        },
        4,
    )
    .unwrap();
    assert_eq!(segs.len(), 3);
    for s in &segs {
        assert!(checksums_ok(s, 6));
        assert_eq!(u16::from_be_bytes([s[18], s[19]]), 1020);
    }

    // UDP_SEGMENT over IPv4: three datagrams of 1000, 1000, 500 bytes.
    let data = payload(2500);
    let mut u = tcp4(&[], 0)[..34].to_vec();
    u[14 + 9] = 17;
    u[16..18].copy_from_slice(&((28 + data.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0x13, 0x88, 0x00, 0x35, 0, 0, 0, 0]);
    u.extend_from_slice(&data);
    let segs = run(
        &u,
        Gso {
            kind: GsoKind::Udp,
            size: 1000,
        },
        4,
    )
    .unwrap();
    let udp_lens: Vec<u16> = segs
        .iter()
        .map(|s| u16::from_be_bytes([s[38], s[39]]))
        .collect();
    assert_eq!(udp_lens, [1008, 1008, 508]);
    assert!(segs.iter().all(|s| checksums_ok(s, 17)));
}

#[test]
fn refuses_what_it_cannot_cut() {
    let frame = tcp4(&payload(4000), 0x10);
    let tcp = Gso {
        kind: GsoKind::Tcp,
        size: 1448,
    };
    assert_eq!(run(&frame, tcp, 2), Err(GsoError::TooMany));
    // Segments larger than a slot.
    let big = Gso {
        kind: GsoKind::Tcp,
        size: 4000,
    };
    assert_eq!(run(&frame, big, 8), Err(GsoError::TooMany));
    // Announced UDP but carries TCP; zero size; every truncation.
    let udp = Gso {
        kind: GsoKind::Udp,
        size: 1000,
    };
    assert_eq!(run(&frame, udp, 8), Err(GsoError::Malformed));
    let zero = Gso {
        kind: GsoKind::Tcp,
        size: 0,
    };
    assert_eq!(run(&frame, zero, 8), Err(GsoError::Malformed));
    for cut in 0..66 {
        assert_eq!(
            run(&frame[..cut], tcp, 8),
            Err(GsoError::Malformed),
            "cut {cut}"
        );
    }
}
