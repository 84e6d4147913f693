//! What the engine says about a frame, and the buffer it works in.
//!
//! The engine rewrites frames in place. Encapsulation (TUN) needs room in front of the
//! packet, so a [`Frame`] is a window into a larger buffer with headroom before it:
//! the engine may move `start` back (to prepend an outer header) or forward.

use core::net::IpAddr;

/// An Ethernet frame inside a buffer with headroom.
#[derive(Debug)]
pub struct Frame<'a> {
    buf: &'a mut [u8],
    start: usize,
    len: usize,
    /// The NIC or kernel already verified the checksums (CHECKSUM_UNNECESSARY).
    csum_verified: bool,
    /// Length of the TCP super-frame this frame is the first segment of; 0 if none.
    super_len: u32,
}

impl<'a> Frame<'a> {
    /// A frame of `len` bytes starting at `start` in `buf`. Out-of-range values are
    /// clamped so the frame always lies inside the buffer.
    #[inline]
    pub fn new(buf: &'a mut [u8], start: usize, len: usize) -> Frame<'a> {
        let start = start.min(buf.len());
        let len = len.min(buf.len() - start);
        Frame {
            buf,
            start,
            len,
            csum_verified: false,
            super_len: 0,
        }
    }

    /// This frame is the first segment of a TCP super-frame (GRO/TSO) of `len` bytes
    /// (Ethernet header included) that the data plane sends whole, with the headers the
    /// engine gives the segment. The counters then count the super-frame's bytes (one
    /// packet), as the kernel counts a GRO packet.
    #[inline]
    pub fn set_super_frame_len(&mut self, len: usize) {
        self.super_len = u32::try_from(len).unwrap_or(u32::MAX);
    }

    /// The length of the super-frame this frame begins, 0 if none (see
    /// [`Frame::set_super_frame_len`]).
    #[inline]
    pub fn super_frame_len(&self) -> usize {
        self.super_len as usize
    }

    /// The IP bytes the counters count for this frame, whose IP packet starts at
    /// `ip_offset` and is `ip_len` bytes long.
    #[inline]
    pub fn counted_ip_len(&self, ip_offset: usize, ip_len: usize) -> u64 {
        counted_ip_len(self.super_frame_len(), ip_offset, ip_len)
    }

    /// Mark the frame's checksums as already verified (the kernel's
    /// `CHECKSUM_UNNECESSARY`, e.g. from a virtio-net header or a NIC), so the engine
    /// does not verify them again. Checksums left partial (`CHECKSUM_PARTIAL`) must be
    /// finished before processing (`rvs_wire::checksum::finish_partial`).
    #[inline]
    pub fn set_checksum_verified(&mut self, yes: bool) {
        self.csum_verified = yes;
    }

    #[inline]
    pub fn checksum_verified(&self) -> bool {
        self.csum_verified
    }

    /// The frame's bytes (Ethernet header first).
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }

    #[inline]
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }

    #[inline]
    pub fn start(&self) -> usize {
        self.start
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes available in front of the frame.
    #[inline]
    pub fn headroom(&self) -> usize {
        self.start
    }

    /// Bytes available after the frame.
    #[inline]
    pub fn tailroom(&self) -> usize {
        self.buf.len() - self.start - self.len
    }

    /// Grow the frame at the front by `n` bytes (the new bytes are uninitialised
    /// garbage for the caller to fill). Returns false, changing nothing, without room.
    #[inline]
    pub fn push_front(&mut self, n: usize) -> bool {
        if n > self.start {
            return false;
        }
        self.start -= n;
        self.len += n;
        true
    }

    /// Drop `n` bytes from the front. Returns false, changing nothing, if too short.
    pub fn pull_front(&mut self, n: usize) -> bool {
        if n > self.len {
            return false;
        }
        self.start += n;
        self.len -= n;
        true
    }

    /// Set the frame length (within the buffer). Returns false if there is no room.
    #[inline]
    pub fn set_len(&mut self, len: usize) -> bool {
        if len > self.buf.len() - self.start {
            return false;
        }
        self.len = len;
        true
    }

    /// The whole underlying buffer and the frame's offset in it.
    #[inline]
    pub fn raw_mut(&mut self) -> (&mut [u8], usize) {
        (self.buf, self.start)
    }
}

/// [`Frame::counted_ip_len`] for a frame whose super-frame length (0 if none) is
/// `super_len`: the whole super-frame's IP bytes, or the packet's own.
#[inline]
pub fn counted_ip_len(super_len: usize, ip_offset: usize, ip_len: usize) -> u64 {
    super_len.saturating_sub(ip_offset).max(ip_len) as u64
}

/// Where a forwarded frame goes. The data plane resolves `next_hop` through the
/// kernel's routing and neighbour tables and fills in the Ethernet addresses.
///
/// Aligned to 8 bytes so that a [`Verdict`] moves as three words, not piece by piece
/// (it is returned for every packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(align(8))]
pub struct Egress {
    /// The address to route towards: the real server (NAT, DR, TUN outer
    /// destination, FULLNAT) or the client (replies).
    pub next_hop: IpAddr,
    /// DR: the real server must be reached on-link (its MAC on the shared LAN), never
    /// through a gateway.
    pub on_link: bool,
}

/// Why the engine dropped a frame; counted per reason by the data plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Too short or malformed headers.
    Malformed,
    /// A checksum did not verify.
    BadChecksum,
    /// IP fragments are not balanced (the kernel reassembles first; rvs does not).
    Fragment,
    /// The service has no usable real server.
    NoDestination,
    /// The connection table is full and the policy refused a new entry.
    TableFull,
    /// A packet that does not start a connection and matches none (e.g. a spoofed reply).
    NoConnection,
    /// The real server of the connection is gone (expire_nodest_conn).
    DestRemoved,
    /// No room in the buffer to encapsulate.
    NoHeadroom,
    /// The packet would not fit the egress MTU.
    TooBig,
    /// The packet's TTL or hop limit ran out on its way to the real server, and the
    /// "time exceeded" answer did not fit the buffer.
    TtlExceeded,
}

/// The engine's decision about one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The frame was rewritten; transmit it towards `Egress`.
    Forward(Egress),
    /// Not for rvs: let the kernel handle it unchanged.
    Pass,
    /// Drop it, for this reason.
    Drop(DropReason),
}
