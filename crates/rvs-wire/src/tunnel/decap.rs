//! Finding the inner packet of a tunnelled one (the real server's side).

use super::gue::RemoteChecksum;
use super::{gre, gue};
use crate::error::{Error, Result};
use crate::ethernet::EtherType;
use crate::ip::{IpProtocol, IpVersion};
use crate::packet::{IpInfo, Transport};
use crate::udp;

/// The kind of tunnel a packet came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunnelKind {
    /// IPv4 or IPv6 directly inside IPv4 or IPv6.
    Ipip,
    /// GUE variant 0.
    Gue,
    /// GUE variant 1: the UDP payload is the IP packet.
    GueDirect,
    Gre,
}

/// Where the inner packet of a tunnelled one is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decap {
    pub kind: TunnelKind,
    /// Offset of the inner IP header in the buffer.
    pub inner: usize,
    /// End of the inner packet (the end of the outer one).
    pub end: usize,
    /// GUE remote checksum offload: finish the inner checksum with
    /// `checksum::finish_partial(&mut buf[inner..end], rc.start, rc.field - rc.start)`.
    pub remote_checksum: Option<RemoteChecksum>,
}

/// Find the inner packet of a tunnelled packet parsed as `outer` in `buf`. UDP counts as
/// GUE only to `gue_port`. [`Error::Unsupported`] for anything that is not a tunnel to
/// us (other protocols, GUE control messages, GRE with another payload or version),
/// `Malformed` when the inner bytes are not an IP packet of the announced version.
/// Checksums are not verified here (see [`crate::packet::verify_checksums`] and
/// [`gre::Packet::verify_checksum`]).
pub fn decapsulate(buf: &[u8], outer: &IpInfo, gue_port: Option<u16>) -> Result<Decap> {
    let seg = buf.get(outer.l4..outer.end).ok_or(Error::Malformed)?;
    if outer.fragment != crate::packet::Fragment::None {
        return Err(Error::Unsupported);
    }
    let (kind, rel, want, remote_checksum) = match outer.protocol {
        IpProtocol::IPV4 => (TunnelKind::Ipip, 0, Some(IpVersion::V4), None),
        IpProtocol::IPV6 => (TunnelKind::Ipip, 0, Some(IpVersion::V6), None),
        IpProtocol::UDP => {
            let Transport::Udp { dst_port, .. } = outer.transport else {
                return Err(Error::Unsupported);
            };
            if gue_port != Some(dst_port) {
                return Err(Error::Unsupported);
            }
            let u = udp::Packet::new_checked(seg)?;
            let g = gue::Header::new_checked(u.payload())?;
            match g.variant() {
                0 if g.is_control() => return Err(Error::Unsupported),
                0 => {
                    let want = match g.protocol() {
                        IpProtocol::IPV4 => IpVersion::V4,
                        IpProtocol::IPV6 => IpVersion::V6,
                        _ => return Err(Error::Unsupported),
                    };
                    (
                        TunnelKind::Gue,
                        udp::HEADER_LEN + g.header_len(),
                        Some(want),
                        g.remote_checksum(),
                    )
                }
                1 => (TunnelKind::GueDirect, udp::HEADER_LEN, None, None),
                _ => return Err(Error::Unsupported),
            }
        }
        IpProtocol::GRE => {
            let g = gre::Packet::new_checked(seg)?;
            let want = match g.protocol() {
                EtherType::IPV4 => IpVersion::V4,
                EtherType::IPV6 => IpVersion::V6,
                _ => return Err(Error::Unsupported),
            };
            (TunnelKind::Gre, g.header_len(), Some(want), None)
        }
        _ => return Err(Error::Unsupported),
    };
    let inner = outer.l4 + rel;
    let version = buf[..outer.end]
        .get(inner)
        .and_then(|b| IpVersion::of(*b))
        .ok_or(Error::Malformed)?;
    if want.is_some_and(|w| w != version) {
        return Err(Error::Malformed);
    }
    Ok(Decap {
        kind,
        inner,
        end: outer.end,
        remote_checksum,
    })
}
