//! Address folding and the two hashes of the kernel's dh/sh/lblc/lblcr.

use core::net::IpAddr;

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

/// `hash_32(val, bits)` of include/linux/hash.h: multiply by GOLDEN_RATIO_32
/// and keep the top `bits` bits (dh, lblc and lblcr bucket with it).
pub fn hash_32(val: u32, bits: u32) -> usize {
    (val.wrapping_mul(0x61C8_8647) >> (32 - bits)) as usize
}
