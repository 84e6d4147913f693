//! The packet I/O seam (in the spirit of smoltcp's `phy`): a backend hands out
//! received frames in batches and sends batches. AF_PACKET is the first backend;
//! AF_XDP can implement the same trait.

use std::io;
use std::time::Duration;

/// What the backend knows about a received frame beyond its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxMeta {
    /// Interface it arrived on.
    pub ifindex: u32,
    /// Its length on the wire; more than the bytes handed over when truncated.
    pub wire_len: usize,
    /// The TCP/UDP checksum is partial (CHECKSUM_PARTIAL) and must be finished.
    pub csum_partial: bool,
    /// The kernel (or the NIC) verified the checksums (CHECKSUM_UNNECESSARY).
    pub csum_valid: bool,
    /// The frame carried a VLAN tag that the kernel stripped.
    pub vlan_stripped: bool,
    /// A GSO super-frame (from a local sender or a veth peer with TSO) that must be
    /// cut into segments of this size before forwarding.
    pub gso: Option<crate::gso::Gso>,
}

/// One frame to send: `len` bytes at `offset` in the caller's buffer, out of
/// interface `ifindex`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxDesc {
    pub ifindex: u32,
    pub offset: usize,
    pub len: usize,
}

/// How one batch of transmissions went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TxOutcome {
    pub sent: usize,
    pub sent_bytes: usize,
    pub failed: usize,
}

pub trait PacketIo {
    /// Hand up to `max` received frames to `sink` without blocking; returns how many.
    /// `sink` returns false to stop after the frame it was given.
    fn receive(&mut self, max: usize, sink: &mut dyn FnMut(&[u8], RxMeta) -> bool) -> usize;

    /// Send the frames `descs` describe in `buf`.
    fn transmit(&mut self, buf: &[u8], descs: &[TxDesc]) -> TxOutcome;

    /// Sleep until a frame may be ready or `timeout` passes.
    fn wait(&mut self, timeout: Duration) -> io::Result<()>;
}
