//! GRE headers (RFC 2784, with the key and sequence fields of RFC 2890).

use crate::checksum;
use crate::error::{Error, Result};
use crate::ethernet::EtherType;
use crate::ip::{be16, be32, put16};

/// Length of the base header.
pub const HEADER_LEN: usize = 4;
const FLAG_CSUM: u16 = 0x8000;
const FLAG_KEY: u16 = 0x2000;
const FLAG_SEQ: u16 = 0x1000;
const VERSION_MASK: u16 = 0x0007;

/// A view of a GRE packet (header and payload).
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap after checking version 0 and that the optional fields are present.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Packet::new_unchecked(buffer);
        let b = p.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if p.version() != 0 {
            return Err(Error::Unsupported);
        }
        if b.len() < p.header_len() {
            return Err(Error::Truncated);
        }
        Ok(p)
    }

    fn flags(&self) -> u16 {
        be16(self.buffer.as_ref(), 0)
    }

    pub fn version(&self) -> u16 {
        self.flags() & VERSION_MASK
    }

    pub fn has_checksum(&self) -> bool {
        self.flags() & FLAG_CSUM != 0
    }

    pub fn has_key(&self) -> bool {
        self.flags() & FLAG_KEY != 0
    }

    pub fn has_sequence(&self) -> bool {
        self.flags() & FLAG_SEQ != 0
    }

    /// The EtherType of the payload.
    pub fn protocol(&self) -> EtherType {
        EtherType(be16(self.buffer.as_ref(), 2))
    }

    /// Header length with the optional fields.
    pub fn header_len(&self) -> usize {
        HEADER_LEN
            + 4 * (usize::from(self.has_checksum())
                + usize::from(self.has_key())
                + usize::from(self.has_sequence()))
    }

    pub fn key(&self) -> Option<u32> {
        let at = HEADER_LEN + 4 * usize::from(self.has_checksum());
        self.has_key().then(|| be32(self.buffer.as_ref(), at))
    }

    pub fn sequence(&self) -> Option<u32> {
        let at = HEADER_LEN + 4 * (usize::from(self.has_checksum()) + usize::from(self.has_key()));
        self.has_sequence().then(|| be32(self.buffer.as_ref(), at))
    }

    /// True when there is no checksum or it verifies (it covers header and payload).
    pub fn verify_checksum(&self) -> bool {
        !self.has_checksum() || checksum::verifies(checksum::sum(self.buffer.as_ref()))
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

/// An owned GRE header as IPVS sends it: no key, no sequence, optional checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    pub protocol: EtherType,
    pub checksum: bool,
}

impl Repr {
    pub fn header_len(&self) -> usize {
        HEADER_LEN + if self.checksum { 4 } else { 0 }
    }

    /// Write the header at the start of `buf`, whose rest is the payload; with a checksum
    /// it is computed over `buf` as a whole. Returns the header length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let n = self.header_len();
        if buf.len() < n {
            return Err(Error::NoRoom);
        }
        put16(buf, 0, if self.checksum { FLAG_CSUM } else { 0 });
        put16(buf, 2, self.protocol.0);
        if self.checksum {
            buf[4..8].fill(0);
            let c = checksum::checksum(buf);
            put16(buf, 4, c);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_and_checksummed() {
        let mut b = [0u8; 4 + 3];
        b[4..].copy_from_slice(&[1, 2, 3]);
        let r = Repr {
            protocol: EtherType::IPV4,
            checksum: false,
        };
        r.emit(&mut b).unwrap();
        assert_eq!(&b[..4], &[0, 0, 0x08, 0x00]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!((p.header_len(), p.payload()), (4, &[1u8, 2, 3][..]));

        let mut b = [0u8; 8 + 2];
        b[8..].copy_from_slice(&[0xaa, 0xbb]);
        let r = Repr {
            protocol: EtherType::IPV6,
            checksum: true,
        };
        assert_eq!(r.emit(&mut b), Ok(8));
        // 8000 86dd 0000 0000 aabb -> sum 0x1b198 -> 0xb199 -> checksum 0x4e66.
        assert_eq!(&b[..8], &[0x80, 0, 0x86, 0xdd, 0x4e, 0x66, 0, 0]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.protocol(), EtherType::IPV6);
        b[9] ^= 1;
        assert!(!Packet::new_checked(&b[..]).unwrap().verify_checksum());
    }

    #[test]
    fn key_and_sequence_are_skipped() {
        let b = [0x30, 0, 0x08, 0, 0, 0, 0, 7, 0, 0, 0, 9, 0x45];
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            (p.key(), p.sequence(), p.header_len()),
            (Some(7), Some(9), 12)
        );
        assert_eq!(p.payload(), &[0x45]);
        assert_eq!(Packet::new_checked(&b[..11]).err(), Some(Error::Truncated));
        let v1 = [0, 1, 0x88, 0x0b];
        assert_eq!(Packet::new_checked(&v1[..]).err(), Some(Error::Unsupported));
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (p.key(), p.sequence(), p.verify_checksum(), p.payload());
            }
        }
    }
}
