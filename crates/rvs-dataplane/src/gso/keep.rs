//! Keeping TCP super-frames whole through the data plane.
//!
//! Cutting a 64 KiB super-frame into MTU-sized frames in user space costs a pass of
//! the engine, a message and a kernel buffer per segment. Instead the engine sees
//! only the first segment (cut as the kernel's GSO would): when it merely rewrote
//! headers in place (NAT, DR, FULLNAT: same start, same length, same payload), the
//! same header bytes are written over the whole super-frame, which then leaves with
//! a virtio-net header asking the kernel to segment it. Anything else (a tunnel, an
//! ICMP answer, a drop, a changed payload) is left to the caller, which falls back to
//! cutting the super-frame in user space.
//!
//! Only super-frames without SYN, FIN, RST or URG qualify: the engine tracks TCP
//! state from the flags it sees, and FIN belongs to the last segment, not the first.

use super::{ipv4_header_checksum, layout, Gso, GsoKind, ETH_HLEN};
use crate::io::TxGso;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const URG: u8 = 0x20;
const CWR: u8 = 0x80;

/// A super-frame that may stay whole, and where its headers are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepWhole {
    gso: Gso,
    v4: bool,
    l4: usize,
    headers: usize,
    len: usize,
}

/// Whether `frame` (announced as `gso`) may stay whole: TCP over IPv4 or IPv6, more
/// than one segment of payload, nothing after the IP datagram, and no flag the
/// engine must see on another segment than the first.
pub fn keep_whole(frame: &[u8], gso: Gso) -> Option<KeepWhole> {
    if gso.kind != GsoKind::Tcp || gso.size == 0 {
        return None;
    }
    let lay = layout(frame, gso.kind)?;
    let flags = *frame.get(lay.l4 + 13)?;
    let payload = lay.end - lay.headers;
    let fits_length_field = if lay.v4 {
        frame.len() - ETH_HLEN <= usize::from(u16::MAX)
    } else {
        frame.len() - ETH_HLEN - 40 <= usize::from(u16::MAX)
    };
    let ok = lay.end == frame.len()
        && fits_length_field
        && flags & (FIN | SYN | RST | URG) == 0
        && payload > usize::from(gso.size)
        && lay.headers <= usize::from(u16::MAX);
    ok.then_some(KeepWhole {
        gso,
        v4: lay.v4,
        l4: lay.l4,
        headers: lay.headers,
        len: frame.len(),
    })
}

impl KeepWhole {
    /// The segmentation the super-frame asked for.
    pub fn gso(&self) -> Gso {
        self.gso
    }

    /// Length of the super-frame.
    pub fn frame_len(&self) -> usize {
        self.len
    }

    /// Write the headers of `first` (the first segment after the engine) over
    /// `whole` (the untouched super-frame) and make `whole` ready for the kernel to
    /// segment. Returns `None`, leaving `whole` untouched, when the engine did more
    /// than rewrite headers in place.
    pub fn apply(&self, whole: &mut [u8], first: &[u8]) -> Option<TxGso> {
        let h = self.headers;
        // The first segment as cut: all headers and one segment of payload.
        let first_len = h + usize::from(self.gso.size);
        if whole.len() != self.len || first.len() != first_len {
            return None;
        }
        // Same link and network layout (ethertype, IPv4 header length or IPv6 next
        // header) and the same payload bytes: only header fields changed.
        let same_shape = first[12..14] == whole[12..14]
            && if self.v4 {
                first[ETH_HLEN] == whole[ETH_HLEN] && first[ETH_HLEN + 9] == 6
            } else {
                first[ETH_HLEN + 6] == 6
            };
        if !same_shape || first[h..] != whole[h..first.len()] {
            return None;
        }
        let psh = whole[self.l4 + 13] & PSH;
        whole[..h].copy_from_slice(&first[..h]);
        // The first segment lost PSH (it belongs to the last); the kernel puts it
        // back on the last segment it cuts.
        whole[self.l4 + 13] |= psh;
        let ecn = whole[self.l4 + 13] & CWR != 0;
        let ip_len = whole.len() - ETH_HLEN;
        let l4_len = whole.len() - self.l4;
        let ip = &mut whole[ETH_HLEN..];
        let pseudo = if self.v4 {
            ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
            ipv4_header_checksum(ip, self.l4 - ETH_HLEN);
            sum16(&ip[12..20])
        } else {
            ip[4..6].copy_from_slice(&((ip_len - 40) as u16).to_be_bytes());
            sum16(&ip[8..40])
        };
        // CHECKSUM_PARTIAL: the field holds the pseudo-header sum, not inverted; the
        // kernel adds the segment's bytes and inverts.
        let partial = fold(pseudo + 6 + l4_len as u32);
        let l4 = &mut whole[self.l4..];
        l4[16..18].copy_from_slice(&partial.to_be_bytes());
        Some(TxGso {
            ipv6: !self.v4,
            ecn,
            size: self.gso.size,
            hdr_len: h as u16,
            csum_start: self.l4 as u16,
        })
    }
}

fn sum16(data: &[u8]) -> u32 {
    data.chunks_exact(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum()
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

#[cfg(test)]
#[path = "keep_tests.rs"]
mod tests;
