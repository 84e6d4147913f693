//! Userspace decapsulation for TUN real servers on kernels without `ipip`.
//!
//! A packet socket on the interface sees IPIP (protocol 4), IPv6-in-IP (41) and,
//! when asked, GUE (UDP) packets; an nft ingress rule hides them from the kernel.
//! The outer headers are stripped and the inner packet is written to a TUN device,
//! so the local stack, which has the VIP on `lo`, answers the client directly.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::args::DecapArgs;
use crate::nft::DecapTable;
use crate::sysctl;
use crate::tun::Tun;

const PROTO_IPIP: u8 = 4;
const PROTO_IPV6: u8 = 41;
const PROTO_UDP: u8 = 17;

/// The inner packet of `inner_proto` at `payload`, if its version matches.
fn inner(payload: &[u8], inner_proto: u8) -> Option<&[u8]> {
    let version = payload.first()? >> 4;
    let (want, min, len) = match inner_proto {
        PROTO_IPIP if payload.len() >= 20 => (
            4,
            20,
            usize::from(u16::from_be_bytes([payload[2], payload[3]])),
        ),
        PROTO_IPV6 if payload.len() >= 40 => (
            6,
            40,
            40 + usize::from(u16::from_be_bytes([payload[4], payload[5]])),
        ),
        _ => return None,
    };
    if version != want || len < min || len > payload.len() {
        return None;
    }
    Some(&payload[..len])
}

/// The inner packet of a GUE payload (after the UDP header).
fn gue(payload: &[u8]) -> Option<&[u8]> {
    let first = *payload.first()?;
    match first >> 6 {
        // Version 1: the IP header follows directly (its version nibble is 4 or 6).
        1 => match first >> 4 {
            4 => inner(payload, PROTO_IPIP),
            6 => inner(payload, PROTO_IPV6),
            _ => None,
        },
        // Version 0: 4-byte header, optional fields of `hlen` words, then `proto`.
        0 => {
            if payload.len() < 4 || first & 0x20 != 0 {
                return None; // control message
            }
            let hlen = usize::from(first & 0x1f) * 4;
            inner(payload.get(4 + hlen..)?, payload[1])
        }
        _ => None,
    }
}

/// Strip the tunnel headers from the IP packet `pkt`: IPIP, IPv6-in-IP, or GUE on
/// `gue_port`. `None` for anything else (which the caller ignores).
pub fn decapsulate(pkt: &[u8], gue_port: Option<u16>) -> Option<&[u8]> {
    let (proto, payload) = match pkt.first()? >> 4 {
        4 => {
            if pkt.len() < 20 {
                return None;
            }
            let ihl = usize::from(pkt[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
            let frag = u16::from_be_bytes([pkt[6], pkt[7]]);
            if ihl < 20 || total < ihl || total > pkt.len() || frag & 0x3fff != 0 {
                return None;
            }
            (pkt[9], &pkt[ihl..total])
        }
        6 => {
            if pkt.len() < 40 {
                return None;
            }
            let end = 40 + usize::from(u16::from_be_bytes([pkt[4], pkt[5]]));
            (pkt[6], pkt.get(40..end)?)
        }
        _ => return None,
    };
    match proto {
        PROTO_IPIP | PROTO_IPV6 => inner(payload, proto),
        PROTO_UDP => {
            let port = gue_port?;
            if payload.len() < 8 || u16::from_be_bytes([payload[2], payload[3]]) != port {
                return None;
            }
            gue(&payload[8..])
        }
        _ => None,
    }
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
        match decapsulate(&buf[..n as usize], args.gue_port) {
            Some(inner) => match tun.send(inner) {
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

    #[test]
    fn ipip_yields_the_inner_packet_without_padding() {
        let inner_pkt = ipv4(17, &udp(53, b"q"));
        let mut outer = ipv4(4, &inner_pkt);
        outer.extend_from_slice(&[0; 6]); // Ethernet padding after the datagram
        assert_eq!(decapsulate(&outer, None), Some(&inner_pkt[..]));
    }

    #[test]
    fn ipv6_in_ipv6() {
        let mut inner6 = vec![0x60, 0, 0, 0, 0, 0, 17, 64];
        inner6.extend_from_slice(&[0; 32]);
        let mut outer = vec![0x60, 0, 0, 0, 0, 40, 41, 64];
        outer.extend_from_slice(&[0; 32]);
        outer.extend_from_slice(&inner6);
        assert_eq!(decapsulate(&outer, None), Some(&inner6[..]));
    }

    #[test]
    fn gue_versions_zero_and_one() {
        let inner_pkt = ipv4(6, &[0; 20]);
        let mut v0 = vec![0x00, 4, 0, 0];
        v0.extend_from_slice(&inner_pkt);
        let outer = ipv4(17, &udp(6080, &v0));
        assert_eq!(decapsulate(&outer, Some(6080)), Some(&inner_pkt[..]));
        // Wrong port, or GUE not enabled: ignored.
        assert_eq!(decapsulate(&outer, Some(6081)), None);
        assert_eq!(decapsulate(&outer, None), None);
        // Version 0 with one word of optional fields.
        let mut v0opt = vec![0x01, 4, 0, 0, 9, 9, 9, 9];
        v0opt.extend_from_slice(&inner_pkt);
        let outer = ipv4(17, &udp(6080, &v0opt));
        assert_eq!(decapsulate(&outer, Some(6080)), Some(&inner_pkt[..]));
        // Version 1: direct IP.
        let outer = ipv4(17, &udp(6080, &inner_pkt));
        assert_eq!(decapsulate(&outer, Some(6080)), Some(&inner_pkt[..]));
        // Control messages are not data.
        let mut ctl = vec![0x20, 0, 0, 0];
        ctl.extend_from_slice(&inner_pkt);
        assert_eq!(decapsulate(&ipv4(17, &udp(6080, &ctl)), Some(6080)), None);
    }

    #[test]
    fn malformed_and_foreign_packets_are_ignored() {
        let inner_pkt = ipv4(17, &udp(53, b"q"));
        let good = ipv4(4, &inner_pkt);
        for cut in 0..good.len() {
            assert_eq!(decapsulate(&good[..cut], None), None, "cut at {cut}");
        }
        // Not a tunnel.
        assert_eq!(decapsulate(&ipv4(6, &[0; 20]), None), None);
        // Inner version does not match the protocol.
        assert_eq!(decapsulate(&ipv4(41, &inner_pkt), None), None);
        // A fragment.
        let mut frag = good.clone();
        frag[6] = 0x20;
        assert_eq!(decapsulate(&frag, None), None);
        assert_eq!(decapsulate(&[], None), None);
        assert_eq!(decapsulate(&[0xff; 64], Some(1)), None);
    }
}
