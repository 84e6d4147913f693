//! Finishing partial checksums.
//!
//! A frame sent by a local socket through a veth (or any device with checksum
//! offload) carries CHECKSUM_PARTIAL: its TCP/UDP checksum field holds only the
//! pseudo-header sum, and the packet ring flags it `TP_STATUS_CSUMNOTREADY`. The
//! engine updates checksums incrementally, which needs a complete one, so the data
//! plane computes it in full first.

const ETH_HLEN: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;

/// One's-complement sum of `data` added to `acc` (not folded). Sums 32-bit words
/// into a 64-bit accumulator (no carry handling per word), which is the same sum.
fn sum_bytes(acc: u32, data: &[u8]) -> u32 {
    let mut wide = u64::from(acc);
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        wide += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    let rest = words.remainder();
    let mut tail = [0u8; 4];
    tail[..rest.len()].copy_from_slice(rest);
    wide += u64::from(u32::from_be_bytes(tail));
    // Fold 64 -> 32 bits keeping the one's-complement value.
    while wide > 0xffff_ffff {
        wide = (wide & 0xffff_ffff) + (wide >> 32);
    }
    let folded = (wide & 0xffff) + (wide >> 16);
    folded as u32
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Compute the full TCP or UDP checksum of an Ethernet frame in place. Returns false
/// (leaving the frame unchanged) when the frame is not IPv4/IPv6 + TCP/UDP or is
/// shorter than its headers say.
pub fn finish_l4_checksum(frame: &mut [u8]) -> bool {
    if frame.len() < ETH_HLEN {
        return false;
    }
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    let ip = &mut frame[ETH_HLEN..];
    let (proto, l4_off, l4_len, pseudo) = match ethertype {
        ETHERTYPE_IPV4 => {
            if ip.len() < 20 || ip[0] >> 4 != 4 {
                return false;
            }
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            let frag = u16::from_be_bytes([ip[6], ip[7]]);
            // A fragment's checksum covers the reassembled datagram: not ours to finish.
            if ihl < 20 || total < ihl || total > ip.len() || frag & 0x3fff != 0 {
                return false;
            }
            let l4_len = total - ihl;
            let mut acc = sum_bytes(0, &ip[12..20]);
            acc = acc
                .wrapping_add(u32::from(ip[9]))
                .wrapping_add(l4_len as u32);
            (ip[9], ihl, l4_len, acc)
        }
        ETHERTYPE_IPV6 => {
            if ip.len() < 40 || ip[0] >> 4 != 6 {
                return false;
            }
            let payload = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
            if 40 + payload > ip.len() {
                return false;
            }
            let mut acc = sum_bytes(0, &ip[8..40]);
            acc = acc
                .wrapping_add(u32::from(ip[6]))
                .wrapping_add(payload as u32);
            (ip[6], 40, payload, acc)
        }
        _ => return false,
    };
    let csum_at = match proto {
        PROTO_TCP if l4_len >= 20 => 16,
        PROTO_UDP if l4_len >= 8 => 6,
        _ => return false,
    };
    let l4 = &mut ip[l4_off..l4_off + l4_len];
    l4[csum_at] = 0;
    l4[csum_at + 1] = 0;
    let mut csum = !fold(sum_bytes(pseudo, l4));
    if proto == PROTO_UDP && csum == 0 {
        // RFC 768: a computed zero is sent as all ones (zero means "no checksum").
        csum = 0xffff;
    }
    l4[csum_at..csum_at + 2].copy_from_slice(&csum.to_be_bytes());
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ethernet + IPv4 + UDP "hi" from 10.0.0.1:1000 to 10.0.0.2:2000.
    fn udp4() -> Vec<u8> {
        let mut f = vec![0u8; 14];
        f[12] = 0x08;
        let ip = [
            0x45, 0, 0, 30, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        f.extend_from_slice(&ip);
        f.extend_from_slice(&[0x03, 0xe8, 0x07, 0xd0, 0, 10, 0xab, 0xcd, b'h', b'i']);
        f
    }

    fn verify_udp4(f: &[u8]) -> bool {
        let ip = &f[14..];
        let l4 = &ip[20..30];
        let mut acc = sum_bytes(0, &ip[12..20]);
        acc = acc.wrapping_add(17).wrapping_add(10);
        fold(sum_bytes(acc, l4)) == 0xffff
    }

    #[test]
    fn finishes_udp_over_ipv4() {
        let mut f = udp4();
        assert!(!verify_udp4(&f));
        assert!(finish_l4_checksum(&mut f));
        assert!(verify_udp4(&f));
        // Hand-checked value for this packet.
        assert_eq!(&f[14 + 26..14 + 28], &[0x77, 0xb6]);
    }

    #[test]
    fn ignores_trailing_padding() {
        let mut f = udp4();
        f.extend_from_slice(&[0xee; 16]);
        assert!(finish_l4_checksum(&mut f));
        assert!(verify_udp4(&f));
    }

    #[test]
    fn refuses_short_or_foreign_frames() {
        let mut f = udp4();
        f.truncate(40);
        let before = f.clone();
        assert!(!finish_l4_checksum(&mut f));
        assert_eq!(f, before);
        let mut arp = vec![0u8; 60];
        arp[12] = 0x08;
        arp[13] = 0x06;
        assert!(!finish_l4_checksum(&mut arp));
        assert!(!finish_l4_checksum(&mut []));
    }

    #[test]
    fn word_sum_matches_the_16_bit_definition() {
        let data: Vec<u8> = (0..200u32).map(|i| (i * 37 + 11) as u8).collect();
        for len in 0..data.len() {
            let mut reference: u32 = 0x1234;
            for c in data[..len].chunks(2) {
                let w = if c.len() == 2 {
                    u16::from_be_bytes([c[0], c[1]])
                } else {
                    u16::from(c[0]) << 8
                };
                reference += u32::from(w);
            }
            assert_eq!(
                fold(sum_bytes(0x1234, &data[..len])),
                fold(reference),
                "len {len}"
            );
        }
    }

    #[test]
    fn leaves_fragments_alone() {
        let mut f = udp4();
        f[14 + 6] = 0x20; // more fragments
        assert!(!finish_l4_checksum(&mut f));
    }
}
