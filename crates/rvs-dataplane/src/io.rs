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
    /// A TCP super-frame for the kernel to segment on output.
    pub gso: Option<TxGso>,
}

/// How the kernel must cut a TCP super-frame on transmit (what a virtio-net header
/// says): `size` payload bytes per segment, its TCP checksum left partial (the
/// pseudo-header sum in the field, to be finished from `csum_start` on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxGso {
    pub ipv6: bool,
    /// The first segment carries CWR (SKB_GSO_TCP_ECN).
    pub ecn: bool,
    pub size: u16,
    /// Bytes of headers (Ethernet to the end of TCP).
    pub hdr_len: u16,
    /// Offset of the TCP header in the frame.
    pub csum_start: u16,
}

impl TxGso {
    /// The virtio-net header announcing this super-frame.
    pub fn vnet_header(&self) -> [u8; 10] {
        const NEEDS_CSUM: u8 = 1;
        const GSO_TCPV4: u8 = 1;
        const GSO_TCPV6: u8 = 4;
        const GSO_ECN: u8 = 0x80;
        const TCP_CHECK_OFFSET: u16 = 16;
        let mut kind = if self.ipv6 { GSO_TCPV6 } else { GSO_TCPV4 };
        if self.ecn {
            kind |= GSO_ECN;
        }
        let mut h = [0u8; 10];
        h[0] = NEEDS_CSUM;
        h[1] = kind;
        h[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        h[4..6].copy_from_slice(&self.size.to_le_bytes());
        h[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        h[8..10].copy_from_slice(&TCP_CHECK_OFFSET.to_le_bytes());
        h
    }
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
