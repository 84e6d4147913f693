//! `rvs-lab garbage`: malformed and hostile frames for a director, sent raw on the
//! LAN, to check that bad input is dropped or passed without disturbing anyone.
//!
//! Every frame goes to one MAC address (the director's) on one interface of the
//! lab's own namespaces: nothing leaves them.

use rvs_wire::checksum;
use rvs_wire::ip::IpProtocol;
use std::io;
use std::net::Ipv4Addr;

/// The kinds of bad input, each a different way a frame can be wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Runt,
    BadIpChecksum,
    TruncatedIp,
    ShortIhl,
    BadTcpChecksum,
    FirstFragment,
    LaterFragment,
    UnknownProtocol,
    SpoofedReply,
    AckWithoutConnection,
    BadUdpChecksum,
    IcmpErrorForNobody,
    RandomBytes,
}

pub const ALL: [Kind; 13] = [
    Kind::Runt,
    Kind::BadIpChecksum,
    Kind::TruncatedIp,
    Kind::ShortIhl,
    Kind::BadTcpChecksum,
    Kind::FirstFragment,
    Kind::LaterFragment,
    Kind::UnknownProtocol,
    Kind::SpoofedReply,
    Kind::AckWithoutConnection,
    Kind::BadUdpChecksum,
    Kind::IcmpErrorForNobody,
    Kind::RandomBytes,
];

/// Addresses the frames are built around.
#[derive(Debug, Clone, Copy)]
pub struct Targets {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    /// The source address the frames claim.
    pub src: Ipv4Addr,
    pub vip: Ipv4Addr,
    /// A real server, for spoofed "replies".
    pub rip: Ipv4Addr,
    /// A client, for spoofed "replies".
    pub client: Ipv4Addr,
}

fn pseudo(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> u32 {
    checksum::pseudo_header_v4(src, dst, IpProtocol::from(proto), len as u16)
}

fn ethernet(t: &Targets, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&t.dst_mac);
    out.extend_from_slice(&t.src_mac);
    out.extend_from_slice(&[0x08, 0x00]);
}

/// Append an IPv4 header (valid checksum) for `payload_len` bytes of `proto`.
fn ipv4(out: &mut Vec<u8>, src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload_len: usize, frag: u16) {
    let start = out.len();
    let total = (20 + payload_len) as u16;
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&[0x12, 0x34]);
    out.extend_from_slice(&frag.to_be_bytes());
    out.extend_from_slice(&[64, proto, 0, 0]);
    out.extend_from_slice(&src.octets());
    out.extend_from_slice(&dst.octets());
    let c = checksum::checksum(&out[start..start + 20]);
    out[start + 10..start + 12].copy_from_slice(&c.to_be_bytes());
}

fn tcp(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    flags: u8,
    good_csum: bool,
) -> Vec<u8> {
    let mut seg = Vec::with_capacity(20);
    seg.extend_from_slice(&sport.to_be_bytes());
    seg.extend_from_slice(&dport.to_be_bytes());
    seg.extend_from_slice(&0x1000_0000u32.to_be_bytes());
    seg.extend_from_slice(&0u32.to_be_bytes());
    seg.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    let c = checksum::transport(pseudo(src, dst, 6, seg.len()), &seg);
    let c = if good_csum { c } else { c ^ 0x5a5a };
    seg[16..18].copy_from_slice(&c.to_be_bytes());
    seg
}

/// Build one frame of `kind` into `out`; `n` varies ports and bytes between frames.
pub fn build(kind: Kind, t: &Targets, n: u32, out: &mut Vec<u8>) {
    ethernet(t, out);
    let sport = 20000 + (n % 20000) as u16;
    match kind {
        Kind::Runt => out.truncate(10),
        Kind::BadIpChecksum => {
            let seg = tcp(t.src, t.vip, sport, 80, 0x02, true);
            ipv4(out, t.src, t.vip, 6, seg.len(), 0);
            out[24] ^= 0xff;
            out.extend_from_slice(&seg);
        }
        Kind::TruncatedIp => {
            let seg = tcp(t.src, t.vip, sport, 80, 0x02, true);
            ipv4(out, t.src, t.vip, 6, seg.len() + 400, 0);
            out.extend_from_slice(&seg[..10]);
        }
        Kind::ShortIhl => {
            let seg = tcp(t.src, t.vip, sport, 80, 0x02, true);
            ipv4(out, t.src, t.vip, 6, seg.len(), 0);
            out[14] = 0x43;
            out.extend_from_slice(&seg);
        }
        Kind::BadTcpChecksum => {
            let seg = tcp(t.src, t.vip, sport, 80, 0x02, false);
            ipv4(out, t.src, t.vip, 6, seg.len(), 0);
            out.extend_from_slice(&seg);
        }
        Kind::FirstFragment => {
            let seg = tcp(t.src, t.vip, sport, 80, 0x02, true);
            ipv4(out, t.src, t.vip, 6, seg.len(), 0x2000);
            out.extend_from_slice(&seg);
        }
        Kind::LaterFragment => {
            ipv4(out, t.src, t.vip, 6, 16, 0x0010);
            out.extend_from_slice(&[0xab; 16]);
        }
        Kind::UnknownProtocol => {
            ipv4(out, t.src, t.vip, 253, 8, 0);
            out.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        }
        Kind::SpoofedReply => {
            let seg = tcp(t.rip, t.client, 80, sport, 0x10, true);
            ipv4(out, t.rip, t.client, 6, seg.len(), 0);
            out.extend_from_slice(&seg);
        }
        Kind::AckWithoutConnection => {
            let seg = tcp(t.src, t.vip, sport, 80, 0x10, true);
            ipv4(out, t.src, t.vip, 6, seg.len(), 0);
            out.extend_from_slice(&seg);
        }
        Kind::BadUdpChecksum => {
            let mut d = Vec::new();
            d.extend_from_slice(&sport.to_be_bytes());
            d.extend_from_slice(&53u16.to_be_bytes());
            d.extend_from_slice(&12u16.to_be_bytes());
            d.extend_from_slice(&[0xde, 0xad, 1, 2, 3, 4]);
            ipv4(out, t.src, t.vip, 17, d.len(), 0);
            out.extend_from_slice(&d);
        }
        Kind::IcmpErrorForNobody => {
            // Destination unreachable quoting a TCP packet VIP:80 -> src:sport that
            // no connection matches.
            let mut quoted = Vec::new();
            let seg = tcp(t.vip, t.src, 80, sport, 0x12, true);
            ipv4(&mut quoted, t.vip, t.src, 6, seg.len(), 0);
            quoted.extend_from_slice(&seg[..8]);
            let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
            icmp.extend_from_slice(&quoted);
            let c = checksum::checksum(&icmp);
            icmp[2..4].copy_from_slice(&c.to_be_bytes());
            ipv4(out, t.src, t.vip, 1, icmp.len(), 0);
            out.extend_from_slice(&icmp);
        }
        Kind::RandomBytes => {
            let mut x = n.wrapping_mul(2_654_435_761) | 1;
            for _ in 0..(20 + n % 60) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                out.push(x as u8);
            }
        }
    }
}

/// A raw packet socket bound to one interface.
pub struct RawSender {
    fd: std::os::fd::OwnedFd,
    ifindex: i32,
}

impl RawSender {
    pub fn open(iface: &str) -> io::Result<RawSender> {
        let ifindex: i32 = std::fs::read_to_string(format!("/sys/class/net/{iface}/ifindex"))?
            .trim()
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        // SAFETY: plain socket(2) call; the result is checked before use.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor we own.
        let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        Ok(RawSender { fd, ifindex })
    }

    pub fn send(&self, frame: &[u8], dst_mac: [u8; 6]) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        // SAFETY: sockaddr_ll is plain data; zeroed then filled.
        let mut ll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        ll.sll_family = libc::AF_PACKET as u16;
        ll.sll_ifindex = self.ifindex;
        ll.sll_halen = 6;
        ll.sll_addr[..6].copy_from_slice(&dst_mac);
        // SAFETY: frame and ll are valid for the call with the lengths given.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&ll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

/// Read an interface's MAC address.
pub fn mac_of(iface: &str) -> io::Result<[u8; 6]> {
    parse_mac(std::fs::read_to_string(format!("/sys/class/net/{iface}/address"))?.trim())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad MAC address"))
}

pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in mac.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> Targets {
        Targets {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src: Ipv4Addr::new(10, 201, 2, 11),
            vip: Ipv4Addr::new(10, 201, 2, 100),
            rip: Ipv4Addr::new(10, 201, 2, 12),
            client: Ipv4Addr::new(10, 201, 1, 2),
        }
    }

    #[test]
    fn each_kind_is_broken_the_way_it_says() {
        let t = targets();
        let mut f = Vec::new();
        build(Kind::BadTcpChecksum, &t, 1, &mut f);
        // The IPv4 header is fine, the TCP checksum is not.
        let tcp_ok = |f: &[u8]| {
            let p = pseudo(t.src, t.vip, 6, f.len() - 34);
            checksum::verifies(checksum::add(p, checksum::sum(&f[34..])))
        };
        let ip_ok = |f: &[u8]| checksum::verifies(checksum::sum(&f[14..34]));
        assert!(ip_ok(&f));
        assert!(!tcp_ok(&f));
        build(Kind::AckWithoutConnection, &t, 1, &mut f);
        assert!(tcp_ok(&f));
        build(Kind::BadIpChecksum, &t, 1, &mut f);
        assert!(!ip_ok(&f));
        build(Kind::FirstFragment, &t, 1, &mut f);
        assert_eq!(f[20] & 0x20, 0x20);
        build(Kind::Runt, &t, 1, &mut f);
        assert_eq!(f.len(), 10);
        assert_eq!(parse_mac("02:00:00:00:00:0a"), Some([2, 0, 0, 0, 0, 10]));
        assert_eq!(parse_mac("02:00"), None);
    }
}
