//! The kernel's `hsiphash` on 64-bit machines, which Linux implements as
//! SipHash-1-3 with 64-bit key words, truncated to 32 bits (lib/siphash.c:
//! "on 64-bit, we make HalfSipHash1-3 actually be SipHash1-3"). mh hashes with
//! it, so its table layout depends on this exact function.

/// A 128-bit key as two 64-bit words (`hsiphash_key_t` on 64-bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HsipKey(pub [u64; 2]);

struct State([u64; 4]);

impl State {
    fn new(key: &HsipKey) -> Self {
        State([
            0x736f_6d65_7073_6575 ^ key.0[0],
            0x646f_7261_6e64_6f6d ^ key.0[1],
            0x6c79_6765_6e65_7261 ^ key.0[0],
            0x7465_6462_7974_6573 ^ key.0[1],
        ])
    }

    fn round(&mut self) {
        let v = &mut self.0;
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }

    /// One compression round per message word.
    fn absorb(&mut self, m: u64) {
        self.0[3] ^= m;
        self.round();
        self.0[0] ^= m;
    }

    /// Three finalization rounds.
    fn finish(mut self) -> u64 {
        self.0[2] ^= 0xff;
        self.round();
        self.round();
        self.round();
        self.0[0] ^ self.0[1] ^ self.0[2] ^ self.0[3]
    }
}

/// SipHash-1-3 of `data` under `key`, the full 64-bit result.
pub fn siphash13(data: &[u8], key: &HsipKey) -> u64 {
    let mut s = State::new(key);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        s.absorb(u64::from_le_bytes(w));
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    let last = u64::from_le_bytes(tail) | ((data.len() as u64 & 0xff) << 56);
    s.absorb(last);
    s.finish()
}

/// `hsiphash(&v, sizeof(u32), key)` of a 32-bit value as it lies in memory on a
/// little-endian machine (x86_64, the lab's architecture).
pub fn hsiphash_u32(v: u32, key: &HsipKey) -> u32 {
    siphash13(&v.to_le_bytes(), key) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first 16 of the kernel's 64-bit hsiphash self-test vectors
    /// (lib/siphash_kunit.c): key bytes 00..0f, message bytes 00..n-1.
    const VECTORS: [u32; 16] = [
        0x050fc4dc, 0x7d57ca93, 0x4dc7d44d, 0xe7ddf7fb, 0x88d38328, 0x49533b67, 0xc59f22a7,
        0x9bb11140, 0x8d299a8e, 0x6c063de4, 0x92ff097f, 0xf94dc352, 0x57b4d9a2, 0x1229ffa7,
        0xc0f95d34, 0x2a519956,
    ];

    #[test]
    fn matches_the_kernel_self_test_vectors() {
        let key = HsipKey([0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908]);
        let msg: Vec<u8> = (0u8..16).collect();
        for (n, want) in VECTORS.iter().enumerate() {
            assert_eq!(siphash13(&msg[..n], &key) as u32, *want, "length {n}");
        }
        // The u32 entry point is the 4-byte message in little-endian order.
        assert_eq!(hsiphash_u32(0x0302_0100, &key), VECTORS[4]);
    }
}
