//! Userspace decapsulation for TUN real servers on kernels without `ipip`, `ip_gre`
//! or `fou`.
//!
//! A packet socket on the interface sees IPIP (protocol 4), IPv6-in-IP (41), GRE (47)
//! and, when asked, GUE (UDP) packets; an nft ingress rule hides them from the kernel.
//! The outer headers are stripped and the inner packet is written to a TUN device,
//! so the local stack, which has the VIP on `lo`, answers the client directly.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use core::net::IpAddr;
use core::ops::Range;

use rvs_wire::packet::{self, parse_ip};
use rvs_wire::tunnel::{self, gre, TunnelKind};
use rvs_wire::{checksum, ipv4, ipv6, udp, IpProtocol};

use crate::args::DecapArgs;
use crate::nft::DecapTable;
use crate::sysctl;
use crate::tun::Tun;

/// Where the inner IP packet of `buf[at..]` ends: per its own length field, so that
/// nothing after it (padding) reaches the stack. `None` unless it is a whole IPv4 or
/// IPv6 packet.
fn inner_end(buf: &[u8], at: usize) -> Option<usize> {
    let b = buf.get(at..)?;
    let len = match b.first()? >> 4 {
        4 => usize::from(ipv4::Packet::new_checked_header(b).ok()?.total_len()),
        6 => {
            ipv6::HEADER_LEN + usize::from(ipv6::Packet::new_checked_header(b).ok()?.payload_len())
        }
        _ => return None,
    };
    (len <= b.len()).then_some(at + len)
}

/// Strip the tunnel headers from the IP packet `pkt` as the kernel's receivers would,
/// and return where the inner packet is:
///
/// - IPIP and IPv6-in-IP (`ipip`, `sit`, `ip6_tunnel`);
/// - GRE version 0 carrying IPv4 or IPv6, with the checksum verified when present
///   (`ip_gre`'s fallback device `gre0`, which IPVS's `--tun-type gre` reaches);
/// - GUE to `gue_port` (`fou`): a UDP checksum verified unless it is 0 (an IPv6 zero
///   checksum accepted, as IPVS sends one with `--tun-nocsum`), control messages
///   refused, a remote checksum offload finished in place.
///
/// `None` for anything else, fragments included (which the caller ignores).
pub fn decapsulate(pkt: &mut [u8], gue_port: Option<u16>) -> Option<Range<usize>> {
    let outer = parse_ip(pkt, 0).ok()?;
    // IP input drops an IPv4 header whose checksum is wrong before any tunnel sees it.
    if !outer.is_ipv6() && !packet::ipv4_header_ok(pkt.get(..outer.l4)?) {
        return None;
    }
    let d = tunnel::decapsulate(pkt, &outer, gue_port).ok()?;
    let seg = pkt.get(outer.l4..outer.end)?;
    match d.kind {
        TunnelKind::Ipip => {}
        TunnelKind::Gre => {
            if !gre::Packet::new_checked(seg).ok()?.verify_checksum() {
                return None;
            }
        }
        TunnelKind::Gue | TunnelKind::GueDirect => {
            let pseudo = match (outer.src, outer.dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    checksum::pseudo_header_v4(s, d, IpProtocol::UDP, seg.len() as u16)
                }
                (IpAddr::V6(s), IpAddr::V6(d)) => {
                    checksum::pseudo_header_v6(&s, &d, IpProtocol::UDP, seg.len() as u32)
                }
                _ => return None,
            };
            if !udp::Packet::new_checked(seg)
                .ok()?
                .verify_checksum(pseudo, true)
            {
                return None;
            }
        }
    }
    let end = inner_end(&pkt[..d.end], d.inner)?;
    if let Some(rc) = d.remote_checksum {
        let offset = rc.field.checked_sub(rc.start)?;
        checksum::finish_partial(&mut pkt[d.inner..end], rc.start.into(), offset.into()).ok()?;
    }
    Some(d.inner..end)
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn packet_socket(ifname: &str) -> io::Result<OwnedFd> {
    let c = std::ffi::CString::new(ifname)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in interface name"))?;
    // SAFETY: `c` is a valid C string for the call.
    let ifindex = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if ifindex == 0 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no interface {ifname:?}"),
        ));
    }
    // SAFETY: plain syscall; checked below. Protocol 0 receives nothing before bind.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    let timeout = libc::timeval {
        tv_sec: 0,
        tv_usec: 200_000,
    };
    // SAFETY: sockaddr_ll is plain old data; all-zero is valid.
    let mut sa: libc::sockaddr_ll = unsafe { core::mem::zeroed() };
    sa.sll_family = libc::AF_PACKET as u16;
    sa.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    sa.sll_ifindex = ifindex as i32;
    // SAFETY: each option value is a live local of the size passed; `sa` likewise.
    let rc = unsafe {
        if libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_IGNORE_OUTGOING,
            (&one as *const libc::c_int).cast(),
            core::mem::size_of::<libc::c_int>() as u32,
        ) < 0
            || libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&timeout as *const libc::timeval).cast(),
                core::mem::size_of::<libc::timeval>() as u32,
            ) < 0
        {
            -1
        } else {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_ll).cast(),
                core::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        }
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// Writes a sysctl back when dropped.
struct RestoreSysctl {
    path: std::path::PathBuf,
    value: String,
}

impl Drop for RestoreSysctl {
    fn drop(&mut self) {
        if let Err(e) = sysctl::write(&self.path, &self.value) {
            eprintln!("rvs-realserver: restoring {}: {e}", self.path.display());
        }
    }
}

/// Counters printed at exit.
#[derive(Debug, Default, Clone, Copy)]
pub struct DecapStats {
    pub decapsulated: u64,
    pub ignored: u64,
    pub inject_errors: u64,
}

/// Run the decapsulator until SIGINT/SIGTERM. `ready` is called once everything is
/// in place (the binary prints a line then).
pub fn run(args: &DecapArgs, ready: impl FnOnce()) -> Result<DecapStats, String> {
    // SAFETY: installing a handler that only stores to an atomic (async-signal-safe).
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
    let tun = Tun::open(&args.tun_name)
        .map_err(|e| format!("cannot create TUN device {}: {e}", args.tun_name))?;
    let status = std::process::Command::new("ip")
        .args(["link", "set", &args.tun_name, "up"])
        .status()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if !status.success() {
        return Err(format!("cannot bring {} up", args.tun_name));
    }
    // Inner packets come from clients reached through other interfaces, and the
    // TUN device has no address, so only "no reverse-path check" lets them in; the
    // kernel applies max(all, device). `setup --mode tun` already sets `all`; if it
    // did not run, do it here and restore it at exit.
    sysctl::write(&sysctl::ipv4_conf(&args.tun_name, "rp_filter"), "0")?;
    let all_rp = sysctl::ipv4_conf("all", "rp_filter");
    let all_before = sysctl::read(&all_rp)?;
    let _restore_all = if all_before != "0" {
        sysctl::write(&all_rp, "0")?;
        eprintln!(
            "rvs-realserver: net.ipv4.conf.all.rp_filter set to 0 (was {all_before}) until exit"
        );
        Some(RestoreSysctl {
            path: all_rp,
            value: all_before,
        })
    } else {
        None
    };
    let sock =
        packet_socket(&args.iface).map_err(|e| format!("packet socket on {}: {e}", args.iface))?;
    let _table = DecapTable::install(&args.table, &args.iface, args.gue_port)?;
    ready();

    let mut stats = DecapStats::default();
    let mut buf = vec![0u8; 65536];
    while !STOP.load(Ordering::Relaxed) {
        // SAFETY: sockaddr_ll is plain old data; all-zero is valid.
        let mut from: libc::sockaddr_ll = unsafe { core::mem::zeroed() };
        let mut from_len = core::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: receiving into a live buffer and address of the sizes given.
        let n = unsafe {
            libc::recvfrom(
                sock.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                (&mut from as *mut libc::sockaddr_ll).cast(),
                &mut from_len,
            )
        };
        if n <= 0 {
            continue; // timeout or signal: check STOP
        }
        // Only packets addressed to this host at layer 2.
        if from.sll_pkttype != libc::PACKET_HOST {
            continue;
        }
        match decapsulate(&mut buf[..n as usize], args.gue_port) {
            Some(inner) => match tun.send(&buf[inner]) {
                Ok(()) => stats.decapsulated += 1,
                Err(_) => stats.inject_errors += 1,
            },
            None => stats.ignored += 1,
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
        let total = (20 + payload.len()) as u16;
        let mut p = vec![
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p[2..4].copy_from_slice(&total.to_be_bytes());
        ipv4::Packet::new_unchecked(&mut p[..]).fill_checksum();
        p.extend_from_slice(payload);
        p
    }

    fn udp(dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut u = vec![0x13, 0x88, 0, 0, 0, 0, 0, 0];
        u[2..4].copy_from_slice(&dport.to_be_bytes());
        u[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        u.extend_from_slice(payload);
        u
    }

    /// GRE around `inner` (IPv4), with a checksum when asked.
    fn gre(csum: bool, inner: &[u8]) -> Vec<u8> {
        let mut g = if csum {
            vec![0x80, 0, 0x08, 0, 0, 0, 0, 0]
        } else {
            vec![0, 0, 0x08, 0]
        };
        g.extend_from_slice(inner);
        if csum {
            let c = checksum::checksum(&g);
            g[4..6].copy_from_slice(&c.to_be_bytes());
        }
        g
    }

    /// The inner packet `decapsulate` finds, copied out.
    fn decap(pkt: &[u8], gue_port: Option<u16>) -> Option<Vec<u8>> {
        let mut b = pkt.to_vec();
        let r = decapsulate(&mut b, gue_port)?;
        Some(b[r].to_vec())
    }

    #[test]
    fn ipip_yields_the_inner_packet_without_padding() {
        let inner_pkt = ipv4(17, &udp(53, b"q"));
        let mut outer = ipv4(4, &inner_pkt);
        outer.extend_from_slice(&[0; 6]); // Ethernet padding after the datagram
        assert_eq!(decap(&outer, None), Some(inner_pkt.clone()));
        // Padding inside the outer packet, after the inner one, is not passed on.
        let mut padded = inner_pkt.clone();
        padded.extend_from_slice(&[0; 4]);
        assert_eq!(decap(&ipv4(4, &padded), None), Some(inner_pkt));
    }

    #[test]
    fn ipv6_in_ipv6() {
        let mut inner6 = vec![0x60, 0, 0, 0, 0, 0, 59, 64];
        inner6.extend_from_slice(&[0; 32]);
        let mut outer = vec![0x60, 0, 0, 0, 0, 40, 41, 64];
        outer.extend_from_slice(&[0; 32]);
        outer.extend_from_slice(&inner6);
        assert_eq!(decap(&outer, None), Some(inner6));
    }

    #[test]
    fn gue_versions_zero_and_one() {
        let inner_pkt = ipv4(6, &[0; 20]);
        let mut v0 = vec![0x00, 4, 0, 0];
        v0.extend_from_slice(&inner_pkt);
        let outer = ipv4(17, &udp(6080, &v0));
        assert_eq!(decap(&outer, Some(6080)), Some(inner_pkt.clone()));
        // Wrong port, or GUE not enabled: ignored.
        assert_eq!(decap(&outer, Some(6081)), None);
        assert_eq!(decap(&outer, None), None);
        // Version 0 with one word of optional fields.
        let mut v0opt = vec![0x01, 4, 0, 0, 9, 9, 9, 9];
        v0opt.extend_from_slice(&inner_pkt);
        let outer = ipv4(17, &udp(6080, &v0opt));
        assert_eq!(decap(&outer, Some(6080)), Some(inner_pkt.clone()));
        // Version 1: direct IP.
        let outer = ipv4(17, &udp(6080, &inner_pkt));
        assert_eq!(decap(&outer, Some(6080)), Some(inner_pkt.clone()));
        // Control messages are not data.
        let mut ctl = vec![0x20, 0, 0, 0];
        ctl.extend_from_slice(&inner_pkt);
        assert_eq!(decap(&ipv4(17, &udp(6080, &ctl)), Some(6080)), None);
    }

    #[test]
    fn gue_udp_checksum_is_verified_unless_zero() {
        let inner_pkt = ipv4(6, &[0; 20]);
        let mut g = vec![0x00, 4, 0, 0];
        g.extend_from_slice(&inner_pkt);
        let mut outer = ipv4(17, &udp(6080, &g));
        let pseudo = checksum::pseudo_header_v4(
            [10, 0, 0, 1].into(),
            [10, 0, 0, 2].into(),
            IpProtocol::UDP,
            (outer.len() - 20) as u16,
        );
        udp::Packet::new_unchecked(&mut outer[20..]).fill_checksum(pseudo);
        assert_eq!(decap(&outer, Some(6080)), Some(inner_pkt.clone()));
        outer[20 + 6] ^= 0x40;
        assert_eq!(decap(&outer, Some(6080)), None, "bad UDP checksum");
    }

    #[test]
    fn gre_with_and_without_checksum() {
        let inner_pkt = ipv4(6, &[0; 20]);
        for csum in [false, true] {
            let outer = ipv4(47, &gre(csum, &inner_pkt));
            assert_eq!(decap(&outer, None), Some(inner_pkt.clone()), "csum {csum}");
        }
        // IPv6 inside, named by the GRE protocol.
        let mut inner6 = vec![0x60, 0, 0, 0, 0, 0, 59, 64];
        inner6.extend_from_slice(&[0; 32]);
        let mut g = vec![0, 0, 0x86, 0xdd];
        g.extend_from_slice(&inner6);
        assert_eq!(decap(&ipv4(47, &g), None), Some(inner6.clone()));
        // A corrupted checksum, a protocol that is not IP, a version other than 0, an
        // inner version that is not the announced one: ignored.
        let mut bad = ipv4(47, &gre(true, &inner_pkt));
        bad[20 + 8 + 12] ^= 1;
        assert_eq!(decap(&bad, None), None, "bad GRE checksum");
        let mut arp = ipv4(47, &gre(false, &inner_pkt));
        arp[22..24].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(decap(&arp, None), None, "not IP inside");
        let mut pptp = ipv4(47, &gre(false, &inner_pkt));
        pptp[21] = 1;
        assert_eq!(decap(&pptp, None), None, "GRE version 1");
        let mut g6 = vec![0, 0, 0x86, 0xdd];
        g6.extend_from_slice(&inner_pkt);
        assert_eq!(decap(&ipv4(47, &g6), None), None, "IPv4 announced as IPv6");
    }

    #[test]
    fn malformed_and_foreign_packets_are_ignored() {
        let inner_pkt = ipv4(17, &udp(53, b"q"));
        for good in [ipv4(4, &inner_pkt), ipv4(47, &gre(true, &inner_pkt))] {
            for cut in 0..good.len() {
                assert_eq!(decap(&good[..cut], None), None, "cut at {cut}");
            }
        }
        // Not a tunnel.
        assert_eq!(decap(&ipv4(6, &[0; 20]), None), None);
        // Inner version does not match the protocol.
        assert_eq!(decap(&ipv4(41, &inner_pkt), None), None);
        // A fragment.
        let mut frag = ipv4(4, &inner_pkt);
        frag[6] = 0x20;
        ipv4::Packet::new_unchecked(&mut frag[..]).fill_checksum();
        assert_eq!(decap(&frag, None), None);
        // A corrupted outer IPv4 header.
        let mut bad = ipv4(4, &inner_pkt);
        bad[8] ^= 1;
        assert_eq!(decap(&bad, None), None, "bad header checksum");
        assert_eq!(decap(&[], None), None);
        assert_eq!(decap(&[0xff; 64], Some(1)), None);
    }
}
