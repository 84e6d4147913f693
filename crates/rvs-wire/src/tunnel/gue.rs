//! Generic UDP Encapsulation headers (draft-ietf-intarea-gue), as Linux `fou` and IPVS
//! use them: variant 0 with an optional private-flags field carrying remote checksum
//! offload, and variant 1 (the UDP payload is directly an IPv4 or IPv6 packet).

use crate::error::{Error, Result};
use crate::ip::{be16, be32, put16, put32, IpProtocol};

/// Length of the base header.
pub const HEADER_LEN: usize = 4;
/// Flags bit meaning "a private-flags word follows" (Linux `GUE_FLAG_PRIV`).
pub const FLAG_PRIV: u16 = 0x0001;
/// Private flag: remote checksum offload data follows (Linux `GUE_PFLAG_REMCSUM`).
pub const PFLAG_REMCSUM: u32 = 0x8000_0000;

/// Remote checksum offload (RFC 7605 style): where the receiver must finish the inner
/// transport checksum. Both offsets are relative to the start of the inner packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RemoteChecksum {
    /// Start of the checksummed region (the inner transport header).
    pub start: u16,
    /// Offset of the checksum field itself.
    pub field: u16,
}

/// A view of a GUE header (the UDP payload).
#[derive(Debug, Clone, Copy)]
pub struct Header<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Header<T> {
    pub const fn new_unchecked(buffer: T) -> Header<T> {
        Header { buffer }
    }

    /// Wrap after checking the header (variant 0: with its extension fields) is present.
    pub fn new_checked(buffer: T) -> Result<Header<T>> {
        let h = Header::new_unchecked(buffer);
        let b = h.buffer.as_ref();
        let first = *b.first().ok_or(Error::Truncated)?;
        if first >> 6 == 0 && b.len() < HEADER_LEN + usize::from(first & 0x1f) * 4 {
            return Err(Error::Truncated);
        }
        Ok(h)
    }

    /// The variant: 0 (GUE header) or 1 (direct IP); 2 and 3 are reserved.
    pub fn variant(&self) -> u8 {
        self.buffer.as_ref()[0] >> 6
    }

    /// Variant 0 only: true for a control message.
    pub fn is_control(&self) -> bool {
        self.variant() == 0 && self.buffer.as_ref()[0] & 0x20 != 0
    }

    /// Variant 0: length of the extension fields in 4-byte words.
    pub fn hlen(&self) -> u8 {
        self.buffer.as_ref()[0] & 0x1f
    }

    /// Variant 0: the protocol of the payload (or control type).
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol(self.buffer.as_ref().get(1).copied().unwrap_or(0))
    }

    /// Variant 0: the flags.
    pub fn flags(&self) -> u16 {
        let b = self.buffer.as_ref();
        if self.variant() == 0 {
            be16(b, 2)
        } else {
            0
        }
    }

    /// Length of the whole header: 4 plus the extension fields for variant 0, 0 for the
    /// direct IP of variant 1.
    pub fn header_len(&self) -> usize {
        if self.variant() == 0 {
            HEADER_LEN + usize::from(self.hlen()) * 4
        } else {
            0
        }
    }

    /// The remote checksum offload data, if the private flags carry it.
    pub fn remote_checksum(&self) -> Option<RemoteChecksum> {
        if self.variant() != 0 || self.flags() & FLAG_PRIV == 0 {
            return None;
        }
        // Only the private-flags field is defined here, so it comes first.
        let ext = &self.buffer.as_ref()[HEADER_LEN..self.header_len()];
        if ext.len() < 8 || be32(ext, 0) & PFLAG_REMCSUM == 0 {
            return None;
        }
        Some(RemoteChecksum {
            start: be16(ext, 4),
            field: be16(ext, 6),
        })
    }
}

/// An owned variant-0 GUE header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// `IpProtocol::IPV4` or `IpProtocol::IPV6` for IP tunnels.
    pub protocol: IpProtocol,
    pub remote_checksum: Option<RemoteChecksum>,
}

impl Repr {
    pub fn header_len(&self) -> usize {
        HEADER_LEN + if self.remote_checksum.is_some() { 8 } else { 0 }
    }

    /// Write the header at the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let n = self.header_len();
        let b = buf.get_mut(..n).ok_or(Error::NoRoom)?;
        b[0] = ((n - HEADER_LEN) / 4) as u8;
        b[1] = self.protocol.0;
        match self.remote_checksum {
            Some(rc) => {
                put16(b, 2, FLAG_PRIV);
                put32(b, 4, PFLAG_REMCSUM);
                put16(b, 8, rc.start);
                put16(b, 10, rc.field);
            }
            None => put16(b, 2, 0),
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_header() {
        let mut b = [0u8; 4];
        let r = Repr {
            protocol: IpProtocol::IPV4,
            remote_checksum: None,
        };
        assert_eq!(r.emit(&mut b), Ok(4));
        assert_eq!(b, [0, 4, 0, 0]);
        let h = Header::new_checked(&b[..]).unwrap();
        assert_eq!(
            (h.variant(), h.header_len(), h.protocol()),
            (0, 4, IpProtocol::IPV4)
        );
        assert_eq!(h.remote_checksum(), None);
    }

    #[test]
    fn remote_checksum_round_trip() {
        let rc = RemoteChecksum {
            start: 20,
            field: 36,
        };
        let r = Repr {
            protocol: IpProtocol::IPV6,
            remote_checksum: Some(rc),
        };
        let mut b = [0u8; 12];
        assert_eq!(r.emit(&mut b), Ok(12));
        assert_eq!(b, [2, 41, 0, 1, 0x80, 0, 0, 0, 0, 20, 0, 36]);
        let h = Header::new_checked(&b[..]).unwrap();
        assert_eq!(h.header_len(), 12);
        assert_eq!(h.remote_checksum(), Some(rc));
        assert_eq!(Header::new_checked(&b[..11]).err(), Some(Error::Truncated));
    }

    #[test]
    fn direct_ip_variant() {
        let b = [0x45u8, 0, 0, 20];
        let h = Header::new_checked(&b[..]).unwrap();
        assert_eq!((h.variant(), h.header_len()), (1, 0));
        let b = [0x60u8];
        assert_eq!(Header::new_checked(&b[..]).unwrap().variant(), 1);
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(h) = Header::new_checked(&data[..]) {
                let _ = (h.is_control(), h.protocol(), h.flags(), h.remote_checksum());
                prop_assert!(h.header_len() <= data.len());
            }
        }
    }
}
