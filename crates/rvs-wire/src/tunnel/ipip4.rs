//! The outer header of an IPv4-in-IPv4 flow, prepared once: what [`super::encapsulate`]
//! writes with [`super::Encap::Ipip`] for every packet of a flow, with the per-flow
//! part (addresses, their checksum sum) computed ahead and only the per-packet fields
//! (length, DS field, DF and identification, TTL) filled in. A flow cache's fast path
//! uses it; the differential tests hold the two to the same bytes.

use core::net::Ipv4Addr;

use super::encap::outer_ds_field;
use crate::checksum;
use crate::ip::IpProtocol;
use crate::ipv4;

/// The outer IPv4 header of IPIP packets from `src` to `dst` (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipip4Header {
    src: [u8; 4],
    dst: [u8; 4],
    /// The addresses' 16-bit words summed (host order).
    addr_sum: u32,
}

impl Ipip4Header {
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr) -> Ipip4Header {
        let (s, d) = (src.octets(), dst.octets());
        let word = |b: [u8; 4], i: usize| u32::from(u16::from_be_bytes([b[i], b[i + 1]]));
        Ipip4Header {
            src: s,
            dst: d,
            addr_sum: word(s, 0) + word(s, 2) + word(d, 0) + word(d, 2),
        }
    }

    /// The outer header for an inner IPv4 packet of `inner_len` bytes whose header
    /// starts with `inner` (TTL already decremented): as [`super::Outer::from_inner`]
    /// and [`super::encapsulate`] make it. `ident` gives the identification of a header
    /// without DF (called only then).
    #[inline(always)]
    pub fn header(
        &self,
        inner: &[u8; 20],
        inner_len: u16,
        ident: impl FnOnce() -> u16,
    ) -> [u8; 20] {
        let tos = outer_ds_field(inner[1]);
        let ttl = inner[8];
        let dont_frag = inner[6] & 0x40 != 0;
        let (id, flags) = if dont_frag {
            (0, 0x4000u16)
        } else {
            (ident(), 0)
        };
        let total = inner_len.wrapping_add(ipv4::HEADER_LEN as u16);
        let first = 0x4500 | u16::from(tos);
        let ttl_proto = u16::from_be_bytes([ttl, IpProtocol::IPV4.0]);
        let sum = self.addr_sum
            + u32::from(first)
            + u32::from(total)
            + u32::from(id)
            + u32::from(flags)
            + u32::from(ttl_proto);
        // Never 0 (the first word is not): folds as `checksum::finish` does.
        let csum = !checksum::fold_u64(u64::from(sum));
        let mut h = [0u8; 20];
        h[0..2].copy_from_slice(&first.to_be_bytes());
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[4..6].copy_from_slice(&id.to_be_bytes());
        h[6..8].copy_from_slice(&flags.to_be_bytes());
        h[8..10].copy_from_slice(&ttl_proto.to_be_bytes());
        h[10..12].copy_from_slice(&csum.to_be_bytes());
        h[12..16].copy_from_slice(&self.src);
        h[16..20].copy_from_slice(&self.dst);
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tunnel::{encapsulate, Encap, Outer};
    use core::net::IpAddr;
    use proptest::prelude::*;

    proptest! {
        // Whatever the inner header, the prepared header is what the general
        // encapsulation writes.
        #[test]
        fn matches_the_general_encapsulation(
            src in any::<u32>(),
            dst in any::<u32>(),
            tos in any::<u8>(),
            ttl in 1u8..,
            flags in prop_oneof![Just(0u8), Just(0x40u8)],
            payload in 0usize..1400,
            ident in any::<u16>(),
        ) {
            let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
            let inner_len = 20 + payload;
            let mut buf = vec![0u8; 20 + inner_len];
            {
                let inner = &mut buf[20..40];
                inner[0] = 0x45;
                inner[1] = tos;
                inner[2..4].copy_from_slice(&(inner_len as u16).to_be_bytes());
                inner[6] = flags;
                inner[8] = ttl;
                inner[9] = 6;
            }
            let inner: [u8; 20] = buf[20..40].try_into().unwrap();
            let mut outer = Outer::from_inner(IpAddr::V4(src), IpAddr::V4(dst), &inner).unwrap();
            if outer.needs_ident() {
                outer.ident = ident;
            }
            let start = encapsulate(&mut buf, 20, inner_len, &outer, &Encap::Ipip).unwrap();
            prop_assert_eq!(start, 0);
            let fast = Ipip4Header::new(src, dst).header(&inner, inner_len as u16, || ident);
            prop_assert_eq!(&fast[..], &buf[..20]);
        }
    }

    #[test]
    fn identification_only_without_df() {
        let h = Ipip4Header::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        let mut inner = [0u8; 20];
        inner[0] = 0x45;
        inner[6] = 0x40;
        let with_df = h.header(&inner, 40, || panic!("no identification with DF"));
        assert_eq!(&with_df[4..8], &[0, 0, 0x40, 0]);
        inner[6] = 0;
        let without = h.header(&inner, 40, || 0x1234);
        assert_eq!(&without[4..8], &[0x12, 0x34, 0, 0]);
    }
}
