//! Software segmentation of GSO super-frames.
//!
//! A local sender or a veth peer with TSO hands the packet taps whole 64 KiB TCP
//! "packets" (and UDP ones with UDP_SEGMENT); the kernel would cut them up on
//! output, but rvs forwards frames as they are, so it cuts them itself, exactly as
//! the kernel's GSO would: `gso_size` payload bytes per segment, IPv4 ID counting
//! up, TCP sequence numbers advancing, FIN/PSH on the last segment only and CWR on
//! the first, lengths and checksums complete.

use crate::checksum::finish_l4_checksum;

mod keep;
pub use keep::{keep_whole, KeepWhole};

const ETH_HLEN: usize = 14;

/// The segmentation the kernel asked for (from the frame's virtio-net header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gso {
    pub kind: GsoKind,
    /// Payload bytes per segment.
    pub size: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GsoKind {
    Tcp,
    /// UDP_SEGMENT: every segment is a datagram of its own.
    Udp,
}

/// Why a super-frame could not be segmented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GsoError {
    /// Headers missing, not IPv4/IPv6 + TCP/UDP as announced, or IPv6 extension
    /// headers.
    Malformed,
    /// More segments than `max_segments`, or a segment larger than a slot.
    TooMany,
}

struct Layout {
    v4: bool,
    /// Offset of the transport header and length of all headers.
    l4: usize,
    headers: usize,
    /// End of the IP datagram in the frame.
    end: usize,
}

fn layout(frame: &[u8], kind: GsoKind) -> Option<Layout> {
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let ip = frame.get(ETH_HLEN..)?;
    let (v4, proto, ip_hlen, ip_len) = match ethertype {
        0x0800 => {
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
            (true, *ip.get(9)?, ihl, total)
        }
        0x86dd => {
            let payload = usize::from(u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]));
            (false, *ip.get(6)?, 40, 40 + payload)
        }
        _ => return None,
    };
    if ip_hlen < 20 || ip.len() < ip_hlen {
        return None;
    }
    // A GSO IPv4 packet may carry 0 (or a bogus value) as its total length when
    // larger than 64 KiB; trust the frame then.
    let end = if ip_len >= ip_hlen && ip_len <= ip.len() {
        ETH_HLEN + ip_len
    } else {
        frame.len()
    };
    let l4 = ETH_HLEN + ip_hlen;
    let l4_hlen = match (kind, proto) {
        (GsoKind::Tcp, 6) => usize::from(frame.get(l4 + 12)? >> 4) * 4,
        (GsoKind::Udp, 17) => 8,
        _ => return None,
    };
    if l4_hlen < 8 || l4 + l4_hlen > end {
        return None;
    }
    Some(Layout {
        v4,
        l4,
        headers: l4 + l4_hlen,
        end,
    })
}

fn ipv4_header_checksum(ip: &mut [u8], ihl: usize) {
    ip[10] = 0;
    ip[11] = 0;
    let mut sum: u32 = 0;
    for c in ip[..ihl].chunks_exact(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
}

/// Cut `frame` into segments: segment `i` goes to `out[i * slot_size + headroom..]`
/// and its length to `lens[i]`. Returns the number of segments. Nothing is
/// written to `lens` on error.
pub fn segment(
    frame: &[u8],
    gso: Gso,
    out: &mut [u8],
    slot_size: usize,
    headroom: usize,
    lens: &mut [usize],
) -> Result<usize, GsoError> {
    cut(frame, gso, out, slot_size, headroom, lens, true)
}

/// Cut only the first segment of `frame` into `out[headroom..]`, exactly as
/// [`segment`] would; returns its length.
pub fn first_segment(
    frame: &[u8],
    gso: Gso,
    out: &mut [u8],
    headroom: usize,
) -> Result<usize, GsoError> {
    let mut len = [0usize; 1];
    cut(frame, gso, out, out.len(), headroom, &mut len, false)?;
    Ok(len[0])
}

/// Cut `frame` into the slots of `out`: all its segments (`whole`, or an error if
/// they do not fit), or as many as fit. Returns the number written.
fn cut(
    frame: &[u8],
    gso: Gso,
    out: &mut [u8],
    slot_size: usize,
    headroom: usize,
    lens: &mut [usize],
    whole: bool,
) -> Result<usize, GsoError> {
    let lay = layout(frame, gso.kind).ok_or(GsoError::Malformed)?;
    let size = usize::from(gso.size);
    if size == 0 {
        return Err(GsoError::Malformed);
    }
    let payload = &frame[lay.headers..lay.end];
    let count = payload.len().div_ceil(size).max(1);
    let max_segments = lens.len().min(out.len() / slot_size.max(1));
    if (whole && count > max_segments)
        || max_segments == 0
        || headroom + lay.headers + size.min(payload.len()) > slot_size
    {
        return Err(GsoError::TooMany);
    }
    let hdr = &frame[..lay.headers];
    let (seq0, first_flags) = match gso.kind {
        GsoKind::Tcp => (
            u32::from_be_bytes([
                hdr[lay.l4 + 4],
                hdr[lay.l4 + 5],
                hdr[lay.l4 + 6],
                hdr[lay.l4 + 7],
            ]),
            hdr[lay.l4 + 13],
        ),
        GsoKind::Udp => (0, 0),
    };
    let id0 = if lay.v4 {
        u16::from_be_bytes([hdr[ETH_HLEN + 4], hdr[ETH_HLEN + 5]])
    } else {
        0
    };
    for (i, chunk) in payload
        .chunks(size)
        .chain(
            // A super-frame without payload still yields its one packet.
            core::iter::once(&payload[..0]).filter(|_| payload.is_empty()),
        )
        .enumerate()
        .take(max_segments)
    {
        let at = i * slot_size + headroom;
        let len = lay.headers + chunk.len();
        let seg = &mut out[at..at + len];
        seg[..lay.headers].copy_from_slice(hdr);
        seg[lay.headers..].copy_from_slice(chunk);
        let ip_len = len - ETH_HLEN;
        if lay.v4 {
            let ip = &mut seg[ETH_HLEN..];
            ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
            ip[4..6].copy_from_slice(&id0.wrapping_add(i as u16).to_be_bytes());
            let ihl = lay.l4 - ETH_HLEN;
            ipv4_header_checksum(ip, ihl);
        } else {
            let ip = &mut seg[ETH_HLEN..];
            ip[4..6].copy_from_slice(&((ip_len - 40) as u16).to_be_bytes());
        }
        let l4 = &mut seg[lay.l4..];
        match gso.kind {
            GsoKind::Tcp => {
                let seq = seq0.wrapping_add((i * size) as u32);
                l4[4..8].copy_from_slice(&seq.to_be_bytes());
                let last = i + 1 == count;
                let mut flags = first_flags;
                if !last {
                    flags &= !(0x01 | 0x08); // FIN, PSH
                }
                if i > 0 {
                    flags &= !0x80; // CWR
                }
                l4[13] = flags;
            }
            GsoKind::Udp => {
                let udp_len = (len - lay.l4) as u16;
                l4[4..6].copy_from_slice(&udp_len.to_be_bytes());
            }
        }
        finish_l4_checksum(seg);
        lens[i] = len;
    }
    Ok(count.min(max_segments))
}

#[cfg(test)]
mod tests;
