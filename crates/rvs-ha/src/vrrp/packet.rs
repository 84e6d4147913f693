//! VRRP advertisements, versions 2 (RFC 3768) and 3 (RFC 5798), as keepalived sends
//! them: parse with every check a receiver makes, and emit.
//!
//! ```text
//!  0                   1                   2                   3
//! |Version| Type  | Virtual Rtr ID|   Priority    | Count IPvX Addr|
//! v2: | Auth Type |  Adver Int  |          Checksum          |
//! v3: |(rsvd)| Max Adver Int (centiseconds, 12 bits) | Checksum |
//! | IPvX addresses ... | v2 only: 8 bytes of authentication data |
//! ```
//! The v2 checksum covers the VRRP message only; the v3 checksum adds the IP
//! pseudo-header (RFC 5798 5.2.8).

use std::net::IpAddr;

/// IP protocol number of VRRP.
pub const IPPROTO_VRRP: u8 = 112;
/// Multicast group of VRRP over IPv4.
pub const MCAST_V4: [u8; 4] = [224, 0, 0, 18];
/// Multicast group of VRRP over IPv6 (ff02::12).
pub const MCAST_V6: [u8; 16] = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12];
/// Advertisements must arrive with this TTL / hop limit (they never cross a router).
pub const REQUIRED_TTL: u8 = 255;

const HEADER_LEN: usize = 8;
const AUTH_LEN: usize = 8;
const TYPE_ADVERTISEMENT: u8 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V2,
    V3,
}

/// v2 authentication (keepalived supports PASS; AH is obsolete and refused here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    None,
    /// Simple text password, zero-padded to 8 bytes.
    Pass([u8; AUTH_LEN]),
}

impl Auth {
    /// keepalived truncates passwords to 8 bytes.
    pub fn pass(password: &str) -> Auth {
        let mut p = [0u8; AUTH_LEN];
        for (d, s) in p.iter_mut().zip(password.bytes()) {
            *d = s;
        }
        Auth::Pass(p)
    }
}

/// One advertisement, in owned form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    pub version: Version,
    pub vrid: u8,
    pub priority: u8,
    /// Advertisement interval in centiseconds (v2 carries whole seconds).
    pub interval_cs: u16,
    pub auth: Auth,
    pub addrs: Vec<IpAddr>,
}

/// Why a received advertisement was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    Truncated,
    BadVersion(u8),
    BadType(u8),
    BadChecksum,
    /// The address count does not match the length, or the family differs.
    BadAddressCount,
    /// v2 authentication types other than none and simple password.
    UnsupportedAuth(u8),
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::Truncated => f.write_str("truncated advertisement"),
            ParseError::BadVersion(v) => write!(f, "unsupported VRRP version {v}"),
            ParseError::BadType(t) => write!(f, "unknown VRRP packet type {t}"),
            ParseError::BadChecksum => f.write_str("bad checksum"),
            ParseError::BadAddressCount => f.write_str("address count does not match length"),
            ParseError::UnsupportedAuth(t) => write!(f, "unsupported authentication type {t}"),
        }
    }
}

impl Advert {
    /// Parse a VRRP message (the IP payload). `src` and `dst` are the IP header's
    /// addresses, needed for the v3 pseudo-header checksum; the address family of the
    /// carried addresses follows `src`.
    pub fn parse(msg: &[u8], src: IpAddr, dst: IpAddr) -> Result<Advert, ParseError> {
        if msg.len() < HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        let version = match msg[0] >> 4 {
            2 => Version::V2,
            3 => Version::V3,
            v => return Err(ParseError::BadVersion(v)),
        };
        if msg[0] & 0x0f != TYPE_ADVERTISEMENT {
            return Err(ParseError::BadType(msg[0] & 0x0f));
        }
        let count = msg[3] as usize;
        let alen = if src.is_ipv4() { 4 } else { 16 };
        let auth_len = if version == Version::V2 { AUTH_LEN } else { 0 };
        let expected = HEADER_LEN + count * alen + auth_len;
        // keepalived accepts v2 packets without the trailing auth field when auth is none.
        let v2_short = version == Version::V2 && msg.len() == expected - AUTH_LEN && msg[4] == 0;
        if msg.len() < expected && !v2_short {
            return Err(if msg.len() < HEADER_LEN + count * alen {
                ParseError::BadAddressCount
            } else {
                ParseError::Truncated
            });
        }
        let msg = &msg[..msg.len().min(expected)];
        let sum = match version {
            Version::V2 => checksum(&[msg]),
            Version::V3 => pseudo_checksum(src, dst, msg),
        };
        if sum != 0 {
            return Err(ParseError::BadChecksum);
        }
        let (interval_cs, auth) = match version {
            Version::V2 => {
                let auth = match msg[4] {
                    0 => Auth::None,
                    1 => {
                        let mut p = [0u8; AUTH_LEN];
                        let at = HEADER_LEN + count * alen;
                        p.copy_from_slice(msg.get(at..at + AUTH_LEN).ok_or(ParseError::Truncated)?);
                        Auth::Pass(p)
                    }
                    t => return Err(ParseError::UnsupportedAuth(t)),
                };
                (msg[5] as u16 * 100, auth)
            }
            Version::V3 => (u16::from_be_bytes([msg[4], msg[5]]) & 0x0fff, Auth::None),
        };
        let mut addrs = Vec::with_capacity(count);
        for i in 0..count {
            let at = HEADER_LEN + i * alen;
            let raw = &msg[at..at + alen];
            addrs.push(if alen == 4 {
                IpAddr::from(<[u8; 4]>::try_from(raw).map_err(|_| ParseError::Truncated)?)
            } else {
                IpAddr::from(<[u8; 16]>::try_from(raw).map_err(|_| ParseError::Truncated)?)
            });
        }
        Ok(Advert {
            version,
            vrid: msg[1],
            priority: msg[2],
            interval_cs,
            auth,
            addrs,
        })
    }

    /// Emit the message into `out` (cleared first), with its checksum.
    pub fn emit(&self, src: IpAddr, dst: IpAddr, out: &mut Vec<u8>) {
        out.clear();
        let version = match self.version {
            Version::V2 => 2u8,
            Version::V3 => 3u8,
        };
        out.push(version << 4 | TYPE_ADVERTISEMENT);
        out.push(self.vrid);
        out.push(self.priority);
        out.push(self.addrs.len().min(255) as u8);
        match self.version {
            Version::V2 => {
                out.push(match self.auth {
                    Auth::None => 0,
                    Auth::Pass(_) => 1,
                });
                out.push((self.interval_cs / 100).clamp(1, 255) as u8);
            }
            Version::V3 => out.extend_from_slice(&(self.interval_cs & 0x0fff).to_be_bytes()),
        }
        out.extend_from_slice(&[0, 0]);
        for a in self.addrs.iter().take(255) {
            match a {
                IpAddr::V4(v4) => out.extend_from_slice(&v4.octets()),
                IpAddr::V6(v6) => out.extend_from_slice(&v6.octets()),
            }
        }
        if self.version == Version::V2 {
            match self.auth {
                Auth::None => out.extend_from_slice(&[0; AUTH_LEN]),
                Auth::Pass(p) => out.extend_from_slice(&p),
            }
        }
        let sum = match self.version {
            Version::V2 => checksum(&[out]),
            Version::V3 => pseudo_checksum(src, dst, out),
        };
        out[6..8].copy_from_slice(&sum.to_be_bytes());
    }
}

/// Internet checksum (RFC 1071) over several byte slices taken as one sequence of
/// 16-bit words; each slice but the last must have even length.
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for part in parts {
        let mut chunks = part.chunks_exact(2);
        for c in &mut chunks {
            sum += u16::from_be_bytes([c[0], c[1]]) as u32;
        }
        if let [last] = chunks.remainder() {
            sum += (*last as u32) << 8;
        }
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn pseudo_checksum(src: IpAddr, dst: IpAddr, msg: &[u8]) -> u16 {
    let len = msg.len() as u32;
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let lenb = (len as u16).to_be_bytes();
            let pseudo = [0, IPPROTO_VRRP, lenb[0], lenb[1]];
            checksum(&[&s.octets(), &d.octets(), &pseudo, msg])
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let lenb = len.to_be_bytes();
            let pseudo = [lenb[0], lenb[1], lenb[2], lenb[3], 0, 0, 0, IPPROTO_VRRP];
            checksum(&[&s.octets(), &d.octets(), &pseudo, msg])
        }
        // Mixed families cannot come from one IP header: make the check fail.
        _ => 0xffff,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v2_with_password_round_trips() {
        let a = Advert {
            version: Version::V2,
            vrid: 51,
            priority: 150,
            interval_cs: 100,
            auth: Auth::pass("labpass"),
            addrs: vec![v4("10.0.0.200")],
        };
        let mut buf = Vec::new();
        a.emit(v4("10.0.0.1"), v4("224.0.0.18"), &mut buf);
        assert_eq!(buf.len(), 8 + 4 + 8);
        assert_eq!(&buf[..6], &[0x21, 51, 150, 1, 1, 1]);
        assert_eq!(&buf[12..], b"labpass\0");
        assert_eq!(Advert::parse(&buf, v4("10.0.0.1"), v4("224.0.0.18")), Ok(a));
    }

    /// A v2 advertisement as keepalived 2.2 sends it (vrid 51, prio 100, one VIP
    /// 192.168.1.10, auth none, interval 1 s), checksum computed by hand:
    /// words 0x2133 0x6401 0x0001 0xc0a8 0x010a sum to 0x146e7, folded 0x46e8, so the
    /// checksum is !0x46e8 = 0xb917.
    #[test]
    fn v2_known_checksum() {
        let msg = [
            0x21, 0x33, 0x64, 0x01, 0x00, 0x01, 0xb9, 0x17, 192, 168, 1, 10, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let a = Advert::parse(&msg, v4("192.168.1.1"), v4("224.0.0.18")).unwrap();
        assert_eq!(a.vrid, 51);
        assert_eq!(a.priority, 100);
        assert_eq!(a.interval_cs, 100);
        assert_eq!(a.addrs, vec![v4("192.168.1.10")]);
        let mut out = Vec::new();
        a.emit(v4("192.168.1.1"), v4("224.0.0.18"), &mut out);
        assert_eq!(out, msg);
    }

    #[test]
    fn v3_ipv6_round_trips_and_checksum_covers_pseudo_header() {
        let src: IpAddr = "fe80::1".parse().unwrap();
        let dst = IpAddr::from(MCAST_V6);
        let a = Advert {
            version: Version::V3,
            vrid: 7,
            priority: 200,
            interval_cs: 50,
            auth: Auth::None,
            addrs: vec!["2001:db8::100".parse().unwrap()],
        };
        let mut buf = Vec::new();
        a.emit(src, dst, &mut buf);
        assert_eq!(buf.len(), 8 + 16);
        assert_eq!(Advert::parse(&buf, src, dst), Ok(a));
        let other: IpAddr = "fe80::2".parse().unwrap();
        assert_eq!(
            Advert::parse(&buf, other, dst),
            Err(ParseError::BadChecksum)
        );
    }

    #[test]
    fn corrupted_or_short_messages_are_refused() {
        let a = Advert {
            version: Version::V2,
            vrid: 1,
            priority: 100,
            interval_cs: 100,
            auth: Auth::None,
            addrs: vec![v4("10.0.0.1"), v4("10.0.0.2")],
        };
        let (s, d) = (v4("10.0.0.9"), v4("224.0.0.18"));
        let mut buf = Vec::new();
        a.emit(s, d, &mut buf);
        let mut bad = buf.clone();
        bad[2] ^= 1;
        assert_eq!(Advert::parse(&bad, s, d), Err(ParseError::BadChecksum));
        assert_eq!(Advert::parse(&buf[..5], s, d), Err(ParseError::Truncated));
        assert_eq!(
            Advert::parse(&buf[..10], s, d),
            Err(ParseError::BadAddressCount)
        );
        let mut v4type = buf.clone();
        v4type[0] = 0x22;
        assert_eq!(Advert::parse(&v4type, s, d), Err(ParseError::BadType(2)));
        for len in 0..buf.len() {
            let _ = Advert::parse(&buf[..len], s, d);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut x: u32 = 0x1234_5678;
        for _ in 0..20_000 {
            let mut buf = [0u8; 64];
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let len = (x % 64) as usize;
            for (i, b) in buf.iter_mut().enumerate() {
                *b = (x.rotate_left(i as u32) & 0xff) as u8;
            }
            buf[0] = 0x20 | (buf[0] & 0x1f);
            let _ = Advert::parse(&buf[..len], v4("10.0.0.1"), v4("224.0.0.18"));
            let _ = Advert::parse(
                &buf[..len],
                "fe80::1".parse().unwrap(),
                IpAddr::from(MCAST_V6),
            );
        }
    }
}
