//! Address folding and the multiplicative hash the kernel's dh/sh/lblc share.

use core::net::IpAddr;

/// Knuth's multiplicative constant (2^32 / golden ratio, rounded to a prime).
pub const GOLDEN_PRIME: u32 = 2_654_435_761;

/// The address as the kernel's `ntohl(addr_fold)`: IPv4 as a host-order u32,
/// IPv6 as the XOR of its four 32-bit words.
pub fn fold(addr: &IpAddr) -> u32 {
    match addr {
        IpAddr::V4(a) => u32::from(*a),
        IpAddr::V6(a) => {
            let o = a.octets();
            let word = |i: usize| u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
            word(0) ^ word(4) ^ word(8) ^ word(12)
        }
    }
}

/// `(ntohl(addr) * 2654435761) & mask`: only the low bits survive the mask, so
/// 32-bit wrapping arithmetic gives the kernel's (64-bit long) result.
pub fn multiplicative(addr: &IpAddr, mask: u32) -> usize {
    (fold(addr).wrapping_mul(GOLDEN_PRIME) & mask) as usize
}
