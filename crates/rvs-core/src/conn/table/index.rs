//! The index of one shard: keys (as 64-bit hashes) to slab slots.
//!
//! Open addressing over cache-line buckets: a bucket holds twelve one-byte tags (from
//! the hash's top bits, 0 = empty), the twelve slot values they belong to, and an
//! overflow count of keys that had to go past it because it was full. A lookup reads
//! one bucket (one cache line) in the common case and then the slab entry its caller
//! compares: two dependent memory accesses per hit, one per miss.
//!
//! The bucket array is sized once (load at most one half) and never grows, and removal
//! needs no tombstones (the overflow counts say where a probe may stop), so nothing here
//! ever allocates after construction.

const WIDTH: usize = 12;

#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(64))]
struct Bucket {
    tags: [u8; WIDTH],
    values: [u32; WIDTH],
    /// Keys stored in a later bucket whose probe passed this one.
    overflow: u32,
}

const _: () = assert!(core::mem::size_of::<Bucket>() == 64);

/// A fixed-capacity multimap from hashes to `u32` values.
#[derive(Debug)]
pub(super) struct BucketIndex {
    buckets: Vec<Bucket>,
    mask: usize,
    len: usize,
    capacity: usize,
}

fn tag_of(hash: u64) -> u8 {
    // Top byte; 0 marks an empty place, so fold it onto 1.
    ((hash >> 56) as u8).max(1)
}

/// A bit per place of `tags` equal to `tag` (bit j for place j), computed on two words
/// instead of twelve compares.
#[inline]
fn matching_tags(tags: &[u8; WIDTH], tag: u8) -> u16 {
    let mut lo = [0u8; 8];
    lo.copy_from_slice(&tags[..8]);
    // Places 8..12; the upper four bytes stay 0 and never match (tags are non-zero).
    let mut hi = [0u8; 8];
    hi[..4].copy_from_slice(&tags[8..]);
    let spread = u64::from_ne_bytes([tag; 8]);
    eq_bytes(u64::from_le_bytes(lo) ^ spread) | eq_bytes(u64::from_le_bytes(hi) ^ spread) << 8
}

/// Bit j set where byte j (little-endian order) of `x` is zero.
#[inline]
fn eq_bytes(x: u64) -> u16 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    // Exact zero-byte test (no borrow between bytes): bit 8j+7 set iff byte j is zero.
    let z = !(((x & LOW7) + LOW7) | x | LOW7);
    // Gather bits 8j+7 into bits 56+j: the products land on distinct bits, no carries.
    (((z >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56) as u16
}

impl BucketIndex {
    /// An index for up to `capacity` keys.
    pub(super) fn with_capacity(capacity: usize) -> Self {
        // At most half full: probes stay short and a free place always exists.
        let buckets = (capacity * 2).div_ceil(WIDTH).next_power_of_two().max(1);
        BucketIndex {
            buckets: vec![Bucket::default(); buckets],
            mask: buckets - 1,
            len: 0,
            capacity,
        }
    }

    fn home(&self, hash: u64) -> usize {
        hash as usize & self.mask
    }

    /// Add `value` under `hash`. Returns false (and stores nothing) when the index holds
    /// `capacity` keys already.
    pub(super) fn insert(&mut self, hash: u64, value: u32) -> bool {
        if self.len >= self.capacity {
            return false;
        }
        let tag = tag_of(hash);
        let mut i = self.home(hash);
        // The load bound guarantees a free place within the table; the loop is bounded
        // by the bucket count all the same.
        for _ in 0..self.buckets.len() {
            let b = &mut self.buckets[i];
            if let Some(j) = b.tags.iter().position(|&t| t == 0) {
                b.tags[j] = tag;
                b.values[j] = value;
                self.len += 1;
                return true;
            }
            b.overflow += 1;
            i = (i + 1) & self.mask;
        }
        false
    }

    /// The first value stored under `hash` for which `eq` holds.
    #[inline]
    pub(super) fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let tag = tag_of(hash);
        let mut i = self.home(hash);
        for _ in 0..self.buckets.len() {
            let b = &self.buckets[i];
            let mut hits = matching_tags(&b.tags, tag);
            while hits != 0 {
                let j = hits.trailing_zeros() as usize;
                hits &= hits - 1;
                if eq(b.values[j]) {
                    return Some(b.values[j]);
                }
            }
            if b.overflow == 0 {
                return None;
            }
            i = (i + 1) & self.mask;
        }
        None
    }

    /// Remove `value` stored under `hash`. Returns whether it was there.
    pub(super) fn remove(&mut self, hash: u64, value: u32) -> bool {
        let tag = tag_of(hash);
        let home = self.home(hash);
        let mut i = home;
        for steps in 0..self.buckets.len() {
            let b = &mut self.buckets[i];
            if let Some(j) = (0..WIDTH).find(|&j| b.tags[j] == tag && b.values[j] == value) {
                b.tags[j] = 0;
                self.len -= 1;
                // The buckets this key's probe passed no longer overflow on its account.
                let mut k = home;
                for _ in 0..steps {
                    self.buckets[k].overflow -= 1;
                    k = (k + 1) & self.mask;
                }
                return true;
            }
            if b.overflow == 0 {
                return false;
            }
            i = (i + 1) & self.mask;
        }
        false
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Bytes reserved by the index.
    pub(super) fn reserved_bytes(&self) -> usize {
        self.buckets.len() * core::mem::size_of::<Bucket>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_find_remove_with_overflow_chains() {
        // 8 buckets of 12: force long chains by giving every key the same home.
        let mut ix = BucketIndex::with_capacity(40);
        let h = |n: u64| (n << 56) | 3; // home bucket 3, tag n
        for n in 0..40u64 {
            assert!(ix.insert(h(n % 7 + 1), n as u32));
        }
        assert!(!ix.insert(h(1), 99), "capacity reached");
        assert_eq!(ix.len(), 40);
        for n in 0..40u64 {
            assert_eq!(ix.find(h(n % 7 + 1), |v| v == n as u32), Some(n as u32));
        }
        assert_eq!(ix.find(h(9), |_| true), None);
        // Remove from the head bucket and from the far end of the chain.
        for n in (0..40u64).step_by(3) {
            assert!(ix.remove(h(n % 7 + 1), n as u32));
            assert!(!ix.remove(h(n % 7 + 1), n as u32));
        }
        for n in 0..40u64 {
            let found = ix.find(h(n % 7 + 1), |v| v == n as u32);
            assert_eq!(found.is_some(), n % 3 != 0, "key {n}");
        }
        for n in 0..40u64 {
            if n % 3 != 0 {
                assert!(ix.remove(h(n % 7 + 1), n as u32));
            }
        }
        assert_eq!(ix.len(), 0);
        assert!(ix
            .buckets
            .iter()
            .all(|b| b.overflow == 0 && b.tags == [0; WIDTH]));
    }

    #[test]
    fn matching_tags_marks_exactly_the_equal_places() {
        let tags: [u8; WIDTH] = [1, 7, 0, 7, 0x80, 0xff, 7, 2, 7, 0x87, 0, 7];
        assert_eq!(
            matching_tags(&tags, 7),
            (1 << 1) | (1 << 3) | (1 << 6) | (1 << 8) | (1 << 11)
        );
        assert_eq!(matching_tags(&tags, 0xff), 1 << 5);
        assert_eq!(matching_tags(&tags, 0x80), 1 << 4);
        assert_eq!(matching_tags(&tags, 0x87), 1 << 9);
        assert_eq!(matching_tags(&tags, 3), 0);
        for t in 1..=255u8 {
            let all = [t; WIDTH];
            assert_eq!(matching_tags(&all, t), 0x0fff, "tag {t}");
            let expect = tags
                .iter()
                .enumerate()
                .filter(|&(_, &x)| x == t)
                .fold(0u16, |m, (j, _)| m | 1 << j);
            assert_eq!(matching_tags(&tags, t), expect, "tag {t}");
        }
    }

    #[test]
    fn tag_zero_is_never_used() {
        assert_eq!(tag_of(0), 1);
        assert_eq!(tag_of(0xFF00_0000_0000_0000), 0xFF);
    }
}
