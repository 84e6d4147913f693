//! UDP answers sent from the address the question was sent to.
//!
//! A socket bound to a wildcard address answers from whatever source the route
//! to the client picks: the real server's own address in DR and TUN, where the
//! question went to the VIP held on lo. Real UDP servers bind each address, or
//! reply from the one asked (IP_PKTINFO / IPV6_PKTINFO) as this responder does,
//! so the lab's strict client (which only accepts answers from the VIP) sees what
//! a real one would. The SCTP responder's raw sockets use the same calls.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

/// Room for one IPv6 packet-info control message (the larger of the two).
const CONTROL_LEN: usize = 64;

/// Ask the kernel to report the destination address of every datagram.
pub fn enable_pktinfo(socket: &UdpSocket) -> io::Result<()> {
    enable_pktinfo_on(socket, socket.local_addr()?.is_ipv6())
}

/// [`enable_pktinfo`] for any datagram or raw socket of the family given.
pub fn enable_pktinfo_on(socket: &impl AsRawFd, v6: bool) -> io::Result<()> {
    let (level, name) = if v6 {
        // Covers IPv4 on a dual-stack socket too (as v4-mapped addresses).
        (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO)
    } else {
        (libc::IPPROTO_IP, libc::IP_PKTINFO)
    };
    let on: libc::c_int = 1;
    // SAFETY: `on` lives for the call and its size is passed.
    let r = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// What the kernel said about a datagram: where it went, on which interface.
#[derive(Debug, Clone, Copy)]
pub enum PacketInfo {
    V4 { addr: [u8; 4], ifindex: i32 },
    V6 { addr: [u8; 16], ifindex: u32 },
}

/// Receive one datagram: its length, sender and packet information (if any).
pub fn recv_with_info(
    socket: &impl AsRawFd,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<PacketInfo>)> {
    let mut control = [0u64; CONTROL_LEN / 8];
    // SAFETY: all-zero is a valid sockaddr_storage and msghdr.
    let mut from: libc::sockaddr_storage = unsafe { zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&mut from as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = CONTROL_LEN as _;
    // SAFETY: every pointer in `msg` points to live buffers of the given sizes.
    let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let peer = sockaddr_to_std(&from)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "sender of unknown family"))?;
    let mut info = None;
    // SAFETY: the CMSG_* macros walk the control buffer the kernel filled, within
    // msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let data = libc::CMSG_DATA(c);
            if (*c).cmsg_level == libc::IPPROTO_IP && (*c).cmsg_type == libc::IP_PKTINFO {
                let p = std::ptr::read_unaligned(data as *const libc::in_pktinfo);
                info = Some(PacketInfo::V4 {
                    addr: p.ipi_addr.s_addr.to_ne_bytes(),
                    ifindex: p.ipi_ifindex,
                });
            } else if (*c).cmsg_level == libc::IPPROTO_IPV6 && (*c).cmsg_type == libc::IPV6_PKTINFO
            {
                let p = std::ptr::read_unaligned(data as *const libc::in6_pktinfo);
                info = Some(PacketInfo::V6 {
                    addr: p.ipi6_addr.s6_addr,
                    ifindex: p.ipi6_ifindex,
                });
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, peer, info))
}

/// Send `data` to `to` from the address in `info` (the one that was asked).
pub fn send_from(
    socket: &impl AsRawFd,
    data: &[u8],
    to: SocketAddr,
    info: PacketInfo,
) -> io::Result<()> {
    let mut control = [0u64; CONTROL_LEN / 8];
    let (mut storage, name_len) = std_to_sockaddr(to);
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: all-zero is a valid msghdr.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&mut storage as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = name_len;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    // SAFETY: the control buffer has room for one message of either kind
    // (CONTROL_LEN >= CMSG_SPACE(in6_pktinfo)); the CMSG_* macros stay inside it.
    unsafe {
        let (level, kind, len) = match info {
            PacketInfo::V4 { .. } => (
                libc::IPPROTO_IP,
                libc::IP_PKTINFO,
                size_of::<libc::in_pktinfo>(),
            ),
            PacketInfo::V6 { .. } => (
                libc::IPPROTO_IPV6,
                libc::IPV6_PKTINFO,
                size_of::<libc::in6_pktinfo>(),
            ),
        };
        msg.msg_controllen = libc::CMSG_SPACE(len as u32) as _;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = level;
        (*c).cmsg_type = kind;
        (*c).cmsg_len = libc::CMSG_LEN(len as u32) as _;
        let data = libc::CMSG_DATA(c);
        match info {
            PacketInfo::V4 { addr, .. } => {
                let mut p: libc::in_pktinfo = zeroed();
                // The source to use; the interface is left to the route.
                p.ipi_spec_dst.s_addr = u32::from_ne_bytes(addr);
                std::ptr::write_unaligned(data as *mut libc::in_pktinfo, p);
            }
            PacketInfo::V6 { addr, ifindex } => {
                let mut p: libc::in6_pktinfo = zeroed();
                p.ipi6_addr.s6_addr = addr;
                // Link-local sources need their interface; others take the route's.
                let link_local = addr[0] == 0xfe && addr[1] & 0xc0 == 0x80;
                p.ipi6_ifindex = if link_local { ifindex } else { 0 };
                std::ptr::write_unaligned(data as *mut libc::in6_pktinfo, p);
            }
        }
    }
    // SAFETY: every pointer in `msg` points to live buffers of the given sizes.
    let n = unsafe { libc::sendmsg(socket.as_raw_fd(), &msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn sockaddr_to_std(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(s.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a = unsafe { &*(s as *const _ as *const libc::sockaddr_in) };
            Some(SocketAddr::new(
                IpAddr::from(a.sin_addr.s_addr.to_ne_bytes()),
                u16::from_be(a.sin_port),
            ))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a = unsafe { &*(s as *const _ as *const libc::sockaddr_in6) };
            Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                a.sin6_addr.s6_addr.into(),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

fn std_to_sockaddr(a: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut s: libc::sockaddr_storage = unsafe { zeroed() };
    let len = match a {
        SocketAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
            let sin = unsafe { &mut *(&mut s as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = v4.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(v4.ip().octets());
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut s as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = v6.port().to_be();
            sin6.sin6_addr.s6_addr = v6.ip().octets();
            sin6.sin6_scope_id = v6.scope_id();
            size_of::<libc::sockaddr_in6>()
        }
    };
    (s, len as libc::socklen_t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Over loopback: the answer comes from the address asked (127.0.0.2, not
    /// 127.0.0.1 which the route would pick), so a connected client receives it.
    #[test]
    fn answers_come_from_the_address_asked() {
        let server = UdpSocket::bind("0.0.0.0:0").unwrap();
        enable_pktinfo(&server).unwrap();
        let port = server.local_addr().unwrap().port();
        let asked: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.connect(asked).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        client.send(b"who?").unwrap();
        let mut buf = [0u8; 64];
        let (n, peer, info) = recv_with_info(&server, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"who?");
        let info = info.expect("packet info");
        assert!(
            matches!(
                info,
                PacketInfo::V4 {
                    addr: [127, 0, 0, 2],
                    ..
                }
            ),
            "{info:?}"
        );
        send_from(&server, b"rsX", peer, info).unwrap();
        let n = client.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"rsX");
    }
}
