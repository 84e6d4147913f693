//! The Internet checksum (RFC 1071), its incremental update (RFC 1624), pseudo-headers,
//! completion of partial (offloaded) checksums, and SCTP's CRC32c.
//!
//! Vocabulary used below:
//! * a **sum** is a 32-bit one's-complement accumulator of big-endian 16-bit words
//!   ([`sum`], [`add`]); it is not folded and not complemented;
//! * a **checksum** is the complemented folded sum, the value stored in a header
//!   ([`finish`]). A packet verifies when the sum over it, checksum field included, folds to
//!   `0xffff` ([`verifies`]).
//!
//! Sums of regions that start at even offsets of a packet can be added in any order, which
//! is what pseudo-headers and the incremental update rely on.

use core::net::{Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};
use crate::ip::IpProtocol;

/// One's-complement addition of two sums (end-around carry).
#[inline]
pub fn add(a: u32, b: u32) -> u32 {
    let (s, carry) = a.overflowing_add(b);
    s + carry as u32
}

/// The sum of `data` as big-endian 16-bit words; an odd last byte is padded with zero.
#[inline]
pub fn sum(data: &[u8]) -> u32 {
    // One's-complement sums do not depend on byte order (RFC 1071 §2(B)): add the data
    // in native order (`sum_ne`), fold, and read the folded 16 bits as big-endian.
    let folded = fold_u64(sum_ne(data));
    u32::from(u16::from_be_bytes(folded.to_ne_bytes()))
}

/// The one's-complement sum of `data` as native-order 16-bit words (an odd last byte
/// padded with zero after it), unfolded: add several, then [`fold_u64`]. Cannot
/// overflow for any slice that fits in memory (32-bit halves into 64 bits).
#[inline]
pub fn sum_ne(data: &[u8]) -> u64 {
    let mut acc: u64 = 0;
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        let x = u64::from_ne_bytes(b);
        acc += (x & 0xffff_ffff) + (x >> 32);
    }
    // The tail in fixed-size steps (no variable-length copy).
    let mut rest = words.remainder();
    if let [a, b, c, d, tail @ ..] = rest {
        acc += u64::from(u32::from_ne_bytes([*a, *b, *c, *d]));
        rest = tail;
    }
    if let [a, b, tail @ ..] = rest {
        acc += u64::from(u16::from_ne_bytes([*a, *b]));
        rest = tail;
    }
    if let [a] = rest {
        acc += u64::from(u16::from_ne_bytes([*a, 0]));
    }
    acc
}

/// Whether a 64-bit one's-complement accumulator (of [`sum_ne`], or of any byte
/// order) folds to all ones, i.e. the data it summed verifies: the folded value is the
/// accumulator modulo 0xffff, and 0 only for 0. One remainder instead of the folds.
#[inline]
pub fn verifies_u64(acc: u64) -> bool {
    acc != 0 && acc % 0xffff == 0
}

/// Fold a 64-bit one's-complement accumulator (of [`sum_ne`]) to 16 bits, still in
/// native order.
#[inline]
pub fn fold_u64(acc: u64) -> u16 {
    // 64 to 32 bits with the end-around carry (the second add cannot carry again).
    let (s, carry) = (acc as u32).overflowing_add((acc >> 32) as u32);
    let s = s + u32::from(carry);
    // 32 to 16: the high half of s + (s rotated by 16) is hi + lo with its carry
    // folded back in.
    (s.wrapping_add(s.rotate_right(16)) >> 16) as u16
}

/// Fold a sum to 16 bits (not complemented).
#[inline]
pub fn fold(mut s: u32) -> u16 {
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// The checksum to store for a sum: complemented and folded.
#[inline]
pub fn finish(s: u32) -> u16 {
    !fold(s)
}

/// The Internet checksum of `data` (computed with its checksum field zeroed, or over data
/// that has none): what IPv4 headers and ICMPv4 store.
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum(data))
}

/// True when a sum over data including its checksum field (and pseudo-header) verifies.
#[inline]
pub fn verifies(s: u32) -> bool {
    fold(s) == 0xffff
}

/// The sum of the IPv4 pseudo-header (RFC 793/768): addresses, protocol, L4 length.
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: IpProtocol, l4_len: u16) -> u32 {
    let s = src.octets();
    let d = dst.octets();
    let mut acc = u32::from(u16::from_be_bytes([s[0], s[1]]));
    acc += u32::from(u16::from_be_bytes([s[2], s[3]]));
    acc += u32::from(u16::from_be_bytes([d[0], d[1]]));
    acc += u32::from(u16::from_be_bytes([d[2], d[3]]));
    acc += u32::from(proto.0);
    acc += u32::from(l4_len);
    acc
}

/// The sum of the IPv6 pseudo-header (RFC 8200 section 8.1).
pub fn pseudo_header_v6(src: &Ipv6Addr, dst: &Ipv6Addr, proto: IpProtocol, l4_len: u32) -> u32 {
    let mut acc = add(sum(&src.octets()), sum(&dst.octets()));
    acc = add(acc, l4_len >> 16);
    acc = add(acc, l4_len & 0xffff);
    add(acc, u32::from(proto.0))
}

/// The checksum of a transport segment (TCP, UDP, ICMPv6) given its pseudo-header sum.
/// The segment's checksum field must be zero.
pub fn transport(pseudo: u32, segment: &[u8]) -> u16 {
    finish(add(pseudo, sum(segment)))
}

/// RFC 1624 equation 3 for one 16-bit word: `HC' = ~(~HC + ~m + m')`.
#[inline]
pub fn update16(csum: u16, old: u16, new: u16) -> u16 {
    let mut d = Delta::new();
    d.word(old, new);
    d.apply(csum)
}

/// RFC 1624 update for a field changed from `old` to `new` (same even length, at an even
/// offset of the checksummed data: addresses, ports, identifiers).
pub fn update_bytes(csum: u16, old: &[u8], new: &[u8]) -> u16 {
    let mut d = Delta::new();
    d.bytes(old, new);
    d.apply(csum)
}

/// An accumulated set of changes to checksummed data, applied to a checksum at once.
///
/// Record each changed 16-bit-aligned field, then [`Delta::apply`] it to every checksum that
/// covers those fields (a field can be covered by several: an address is in both the IPv4
/// header checksum and the TCP pseudo-header).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delta(u32);

impl Delta {
    pub const fn new() -> Delta {
        Delta(0)
    }

    /// A 16-bit word changed from `old` to `new`.
    #[inline]
    pub fn word(&mut self, old: u16, new: u16) {
        self.0 = add(self.0, u32::from(!old));
        self.0 = add(self.0, u32::from(new));
    }

    /// A field changed from `old` to `new`. Both must have the same length, which should
    /// be even; an odd last byte counts as the high byte of a word, as in [`sum`].
    pub fn bytes(&mut self, old: &[u8], new: &[u8]) {
        let n = old.len().min(new.len());
        let (old, new) = (&old[..n], &new[..n]);
        // sum(new) - sum(old), in one's complement: adding the complement subtracts.
        self.0 = add(self.0, sum(new));
        self.0 = add(self.0, u32::from(!fold(sum(old))));
    }

    /// Add another delta (changes recorded elsewhere that the same checksum covers).
    pub fn merge(&mut self, other: Delta) {
        self.0 = add(self.0, other.0);
    }

    /// True when nothing that changes a sum was recorded.
    pub fn is_empty(&self) -> bool {
        fold(self.0) == 0 || fold(self.0) == 0xffff
    }

    /// The checksum `csum` updated with the recorded changes.
    #[inline]
    pub fn apply(&self, csum: u16) -> u16 {
        finish(add(u32::from(!csum), self.0))
    }

    /// The recorded change as a sum: add it to a sum (not a checksum), e.g. to update the
    /// pseudo-header sum stored in a `CHECKSUM_PARTIAL` packet.
    pub fn as_sum(&self) -> u32 {
        self.0
    }
}

/// Finish a partial checksum (Linux `CHECKSUM_PARTIAL`, virtio-net `NEEDS_CSUM`): the
/// sender stored the pseudo-header sum at `csum_start + csum_offset` and left the rest to
/// the device. Sums `data[csum_start..]` and stores the checksum there, `0xffff` for a
/// computed zero (so a UDP checksum is never sent as "none").
///
/// `data` must end where the IP packet ends (no Ethernet padding). For TCP `csum_start` is
/// the L4 offset and `csum_offset` is 16; for UDP it is 6.
pub fn finish_partial(data: &mut [u8], csum_start: usize, csum_offset: usize) -> Result<()> {
    let field = csum_start
        .checked_add(csum_offset)
        .ok_or(Error::Malformed)?;
    if field.checked_add(2).is_none_or(|end| end > data.len()) {
        return Err(Error::Truncated);
    }
    let c = finish(sum(&data[csum_start..]));
    let c = if c == 0 { 0xffff } else { c };
    data[field..field + 2].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

const CASTAGNOLI: crc::Crc<u32, crc::Table<16>> =
    crc::Crc::<u32, crc::Table<16>>::new(&crc::CRC_32_ISCSI);

/// CRC32c (Castagnoli, as in iSCSI and SCTP) of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    CASTAGNOLI.checksum(data)
}

/// CRC32c of several pieces as if they were one buffer: lets SCTP skip its checksum field
/// without copying (`crc32c_parts(&[head, &[0; 4], tail])`).
pub fn crc32c_parts(parts: &[&[u8]]) -> u32 {
    let mut d = CASTAGNOLI.digest();
    for p in parts {
        d.update(p);
    }
    d.finalize()
}

#[cfg(test)]
mod tests {

    /// Folding step by step, 16 bits at a time: the definition.
    fn fold_u64_by_steps(acc: u64) -> u16 {
        let s = (acc & 0xffff_ffff) + (acc >> 32);
        let s = (s & 0xffff_ffff) + (s >> 32);
        let s = (s & 0xffff) + (s >> 16);
        let s = (s & 0xffff) + (s >> 16);
        ((s & 0xffff) + (s >> 16)) as u16
    }

    #[test]
    fn fold_u64_folds_as_step_by_step() {
        let edges = [
            0,
            1,
            0xffff,
            0x1_0000,
            0x1_fffe,
            0xffff_ffff,
            0x1_0000_0000,
            0x1_ffff_fffe,
            0xffff_fffe_ffff_0001,
            u64::MAX,
        ];
        for acc in edges {
            assert_eq!(fold_u64(acc), fold_u64_by_steps(acc), "{acc:#x}");
        }
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for acc in [x, x >> 20, x >> 40, x & 0x3_ffff_ffff] {
                assert_eq!(fold_u64(acc), fold_u64_by_steps(acc), "{acc:#x}");
            }
        }
    }

    #[test]
    fn verifies_u64_is_folding_to_all_ones() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for edge in [
            0u64,
            0xffff,
            0x1fffe,
            0xffff_ffff,
            0x1_0000_fffe,
            5 * 0xffff_ffff,
        ] {
            assert_eq!(verifies_u64(edge), fold_u64(edge) == 0xffff, "{edge:#x}");
        }
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let acc = x >> (x % 30);
            assert_eq!(verifies_u64(acc), fold_u64(acc) == 0xffff, "{acc:#x}");
        }
    }

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3 example: the sum of these bytes is 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&data)), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn known_ipv4_header() {
        // A classic example header (Wikipedia "IPv4 header checksum"): checksum 0xb861.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&h), 0xb861);
        h[10] = 0xb8;
        h[11] = 0x61;
        assert!(verifies(sum(&h)));
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(sum(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        assert_eq!(sum(&[]), 0);
    }

    #[test]
    fn crc32c_known_answers() {
        // The CRC catalogue check value, and RFC 3720 B.4 (32 bytes of zeros / of 0xff).
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62a8_ab43);
        assert_eq!(crc32c_parts(&[b"1234", b"", b"56789"]), 0xe306_9283);
    }

    #[test]
    fn finish_partial_matches_full() {
        // A UDP segment whose checksum field holds the pseudo-header sum.
        let src = Ipv4Addr::new(10, 0, 0, 1);
        let dst = Ipv4Addr::new(10, 0, 0, 2);
        let mut seg = [0x30, 0x39, 0x00, 0x35, 0x00, 0x0b, 0, 0, b'a', b'b', b'c'];
        let pseudo = pseudo_header_v4(src, dst, IpProtocol::UDP, 11);
        let full = transport(pseudo, &seg);
        seg[6..8].copy_from_slice(&fold(pseudo).to_be_bytes());
        finish_partial(&mut seg, 0, 6).unwrap();
        assert_eq!(u16::from_be_bytes([seg[6], seg[7]]), full);
        assert_eq!(finish_partial(&mut seg, 0, 10), Err(Error::Truncated));
        assert_eq!(
            finish_partial(&mut seg, usize::MAX, 10),
            Err(Error::Malformed)
        );
    }

    proptest! {
        #[test]
        fn sum_is_order_independent_at_even_splits(data in proptest::collection::vec(any::<u8>(), 0..200), at in 0usize..100) {
            let at = (at * 2).min(data.len() & !1);
            let whole = fold(sum(&data));
            let parts = fold(add(sum(&data[..at]), sum(&data[at..])));
            // +0 and -0 are the same one's-complement number.
            prop_assert!(whole == parts || (whole | parts) == 0xffff && (whole & parts) == 0);
        }

        #[test]
        fn incremental_equals_full(mut data in proptest::collection::vec(any::<u8>(), 2..100), at in 0usize..50, new in any::<[u8; 4]>()) {
            let n = data.len() & !1;
            let at = (at * 2) % n;
            let end = (at + 4).min(n);
            let before = checksum(&data[..n]);
            let old: [u8; 4] = {
                let mut o = [0u8; 4];
                o[..end - at].copy_from_slice(&data[at..end]);
                o
            };
            data[at..end].copy_from_slice(&new[..end - at]);
            let full = checksum(&data[..n]);
            let inc = update_bytes(before, &old[..end - at], &new[..end - at]);
            prop_assert!(inc == full || (inc == 0xffff && full == 0) || (inc == 0 && full == 0xffff));
            // The stored checksum verifies either way, unless every covered byte is
            // zero: then RFC 1624's equation 3 may give 0x0000 (-0), and a sum of
            // zeros is +0. No real header is all zeros (version, protocol, lengths).
            let mut check = data[..n].to_vec();
            check.extend_from_slice(&inc.to_be_bytes());
            if data[..n].iter().any(|&b| b != 0) {
                prop_assert!(verifies(sum(&check)));
            }
        }
    }
}
