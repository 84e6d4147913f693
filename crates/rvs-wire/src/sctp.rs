//! SCTP packets (RFC 9260): the common header, the chunks, and the CRC32c checksum.

use core::fmt;

use crate::checksum;
use crate::error::{Error, Result};
use crate::ip::{be16, be32, put16, put32};

/// Byte ranges of the common header and of a chunk header (relative to the chunk).
pub mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const VERIFICATION_TAG: Range<usize> = 4..8;
    /// CRC32c, stored least significant byte first (RFC 9260 appendix A).
    pub const CHECKSUM: Range<usize> = 8..12;
    pub const CHUNK_TYPE: usize = 0;
    pub const CHUNK_FLAGS: usize = 1;
    pub const CHUNK_LENGTH: Range<usize> = 2..4;
}

/// Length of the common header.
pub const HEADER_LEN: usize = 12;
/// Length of a chunk header.
pub const CHUNK_HEADER_LEN: usize = 4;

/// A chunk type.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkType(pub u8);

impl ChunkType {
    pub const DATA: ChunkType = ChunkType(0);
    pub const INIT: ChunkType = ChunkType(1);
    pub const INIT_ACK: ChunkType = ChunkType(2);
    pub const SACK: ChunkType = ChunkType(3);
    pub const HEARTBEAT: ChunkType = ChunkType(4);
    pub const HEARTBEAT_ACK: ChunkType = ChunkType(5);
    pub const ABORT: ChunkType = ChunkType(6);
    pub const SHUTDOWN: ChunkType = ChunkType(7);
    pub const SHUTDOWN_ACK: ChunkType = ChunkType(8);
    pub const ERROR: ChunkType = ChunkType(9);
    pub const COOKIE_ECHO: ChunkType = ChunkType(10);
    pub const COOKIE_ACK: ChunkType = ChunkType(11);
    pub const ECNE: ChunkType = ChunkType(12);
    pub const CWR: ChunkType = ChunkType(13);
    pub const SHUTDOWN_COMPLETE: ChunkType = ChunkType(14);
}

impl fmt::Debug for ChunkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 15] = [
            "DATA",
            "INIT",
            "INIT_ACK",
            "SACK",
            "HEARTBEAT",
            "HEARTBEAT_ACK",
            "ABORT",
            "SHUTDOWN",
            "SHUTDOWN_ACK",
            "ERROR",
            "COOKIE_ECHO",
            "COOKIE_ACK",
            "ECNE",
            "CWR",
            "SHUTDOWN_COMPLETE",
        ];
        match NAMES.get(usize::from(self.0)) {
            Some(n) => f.write_str(n),
            None => write!(f, "ChunkType({})", self.0),
        }
    }
}

/// A chunk header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Chunk {
    pub chunk_type: ChunkType,
    pub flags: u8,
    /// Length field: header plus value, without padding.
    pub length: u16,
}

/// A view of an SCTP packet. The buffer should end where the packet ends (the IP payload):
/// the CRC covers all of it.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap after checking the common header is present.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Packet::new_unchecked(buffer);
        if p.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(p)
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT.start)
    }

    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT.start)
    }

    pub fn verification_tag(&self) -> u32 {
        be32(self.buffer.as_ref(), field::VERIFICATION_TAG.start)
    }

    /// The stored CRC32c value.
    pub fn checksum(&self) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_le_bytes([b[8], b[9], b[10], b[11]])
    }

    /// The CRC32c of the packet computed with a zero checksum field.
    pub fn compute_checksum(&self) -> u32 {
        let b = self.buffer.as_ref();
        checksum::crc32c_parts(&[&b[..8], &[0; 4], &b[HEADER_LEN..]])
    }

    pub fn verify_checksum(&self) -> bool {
        self.checksum() == self.compute_checksum()
    }

    /// The chunks after the common header.
    pub fn chunks(&self) -> Chunks<'_> {
        Chunks {
            rest: &self.buffer.as_ref()[HEADER_LEN..],
        }
    }

    /// The first chunk's header (what the connection state machine looks at), if present.
    pub fn first_chunk(&self) -> Option<Chunk> {
        chunk_header(&self.buffer.as_ref()[HEADER_LEN..])
    }

    /// The initiate tag of an INIT or INIT_ACK first chunk.
    pub fn initiate_tag(&self) -> Option<u32> {
        let c = self.first_chunk()?;
        if c.chunk_type != ChunkType::INIT && c.chunk_type != ChunkType::INIT_ACK {
            return None;
        }
        let b = self.buffer.as_ref();
        (b.len() >= HEADER_LEN + 8).then(|| be32(b, HEADER_LEN + 4))
    }
}

/// The chunk header at the start of `b`, if there are 4 bytes.
fn chunk_header(b: &[u8]) -> Option<Chunk> {
    let h = b.get(..CHUNK_HEADER_LEN)?;
    Some(Chunk {
        chunk_type: ChunkType(h[field::CHUNK_TYPE]),
        flags: h[field::CHUNK_FLAGS],
        length: be16(h, field::CHUNK_LENGTH.start),
    })
}

/// Iterator over chunk headers and values. Stops at the end of the packet or at the first
/// malformed chunk (length below 4 or past the end).
#[derive(Debug, Clone)]
pub struct Chunks<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Chunks<'a> {
    type Item = (Chunk, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let c = chunk_header(self.rest)?;
        let len = usize::from(c.length);
        if len < CHUNK_HEADER_LEN || len > self.rest.len() {
            self.rest = &[];
            return None;
        }
        let value = &self.rest[CHUNK_HEADER_LEN..len];
        let padded = (len + 3) & !3;
        self.rest = self.rest.get(padded..).unwrap_or(&[]);
        Some((c, value))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_src_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::SRC_PORT.start, v);
    }

    pub fn set_dst_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::DST_PORT.start, v);
    }

    pub fn set_verification_tag(&mut self, v: u32) {
        put32(self.buffer.as_mut(), field::VERIFICATION_TAG.start, v);
    }

    pub fn set_checksum(&mut self, v: u32) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_le_bytes());
    }

    /// Compute and store the CRC32c.
    pub fn fill_checksum(&mut self) {
        let c = self.compute_checksum();
        self.set_checksum(c);
    }
}

/// An owned SCTP common header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    pub src_port: u16,
    pub dst_port: u16,
    pub verification_tag: u32,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Repr {
        Repr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            verification_tag: p.verification_tag(),
        }
    }

    /// Write the common header with a zero checksum; add the chunks, then
    /// [`Packet::fill_checksum`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let b = buf.get_mut(..HEADER_LEN).ok_or(Error::NoRoom)?;
        let mut p = Packet::new_unchecked(b);
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_verification_tag(self.verification_tag);
        p.set_checksum(0);
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An INIT chunk (20 bytes) after the common header.
    fn init_packet() -> [u8; 32] {
        let mut b = [0u8; 32];
        Repr {
            src_port: 5000,
            dst_port: 80,
            verification_tag: 0,
        }
        .emit(&mut b)
        .unwrap();
        b[12] = 1; // INIT
        b[14..16].copy_from_slice(&20u16.to_be_bytes());
        b[16..20].copy_from_slice(&0x1234_5678u32.to_be_bytes()); // initiate tag
        b
    }

    #[test]
    fn chunks_and_fields() {
        let b = init_packet();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (5000, 80));
        let c = p.first_chunk().unwrap();
        assert_eq!(c.chunk_type, ChunkType::INIT);
        assert_eq!(c.length, 20);
        assert_eq!(p.initiate_tag(), Some(0x1234_5678));
        assert_eq!(p.chunks().count(), 1);
        assert_eq!(format!("{:?}", ChunkType::COOKIE_ECHO), "COOKIE_ECHO");
    }

    #[test]
    fn checksum_known_answer() {
        // The CRC is the standard CRC32c of the packet with the field zeroed, stored
        // least significant byte first.
        let mut b = init_packet();
        let expect = checksum::crc32c(&b);
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!(&b[8..12], &expect.to_le_bytes());
        b[20] ^= 1;
        assert!(!Packet::new_checked(&b[..]).unwrap().verify_checksum());
    }

    #[test]
    fn several_chunks_with_padding() {
        let mut b = [0u8; 12 + 8 + 4];
        b[12] = ChunkType::DATA.0;
        b[14..16].copy_from_slice(&5u16.to_be_bytes()); // 1 byte of data, 3 of padding
        b[16] = 0xaa;
        b[20] = ChunkType::SHUTDOWN.0;
        b[22..24].copy_from_slice(&4u16.to_be_bytes());
        let p = Packet::new_checked(&b[..]).unwrap();
        let mut it = p.chunks();
        let (c, v) = it.next().unwrap();
        assert_eq!((c.chunk_type, v), (ChunkType::DATA, &[0xaa][..]));
        assert_eq!(it.next().unwrap().0.chunk_type, ChunkType::SHUTDOWN);
        assert!(it.next().is_none());
    }

    proptest! {
        #[test]
        fn emit_parse_round_trip(sp in any::<u16>(), dp in any::<u16>(), tag in any::<u32>(), chunk in proptest::collection::vec(any::<u8>(), 0..20)) {
            let r = Repr { src_port: sp, dst_port: dp, verification_tag: tag };
            let mut b = vec![0u8; HEADER_LEN + chunk.len()];
            prop_assert_eq!(r.emit(&mut b), Ok(HEADER_LEN));
            b[HEADER_LEN..].copy_from_slice(&chunk);
            let mut p = Packet::new_checked(&mut b[..]).unwrap();
            p.fill_checksum();
            prop_assert!(p.verify_checksum());
            prop_assert_eq!(Repr::parse(&p), r);
        }

        #[test]
        fn any_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (Repr::parse(&p), p.first_chunk(), p.initiate_tag(), p.verify_checksum());
                prop_assert!(p.chunks().count() <= data.len() / 4);
            }
        }
    }
}
