//! The kernel side of VRRP: raw IP sockets for advertisements, gratuitous ARP and
//! unsolicited neighbour advertisements, and the virtual addresses on an interface.

use super::packet::{IPPROTO_VRRP, MCAST_V4, MCAST_V6, REQUIRED_TTL};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};
use std::process::Command;

/// What the kernel knows about an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub index: u32,
    pub mac: [u8; 6],
}

impl Interface {
    pub fn lookup(name: &str) -> io::Result<Interface> {
        let index = std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex"))
            .map_err(|e| io::Error::new(e.kind(), format!("interface {name}: {e}")))?
            .trim()
            .parse::<u32>()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let mac_text = std::fs::read_to_string(format!("/sys/class/net/{name}/address"))?;
        let mut mac = [0u8; 6];
        for (d, part) in mac.iter_mut().zip(mac_text.trim().split(':')) {
            *d = u8::from_str_radix(part, 16).unwrap_or(0);
        }
        Ok(Interface {
            name: name.to_string(),
            index,
            mac,
        })
    }

    /// Whether the link is up (tracked interfaces put instances in FAULT when not).
    pub fn is_up(name: &str) -> bool {
        let flags = std::fs::read_to_string(format!("/sys/class/net/{name}/flags"))
            .ok()
            .and_then(|s| u32::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok())
            .unwrap_or(0);
        let carrier = std::fs::read_to_string(format!("/sys/class/net/{name}/carrier"))
            .map(|s| s.trim() == "1")
            .unwrap_or(false);
        flags & libc::IFF_UP as u32 != 0 && carrier
    }

    /// The interface's primary address of a family (the first one the kernel lists
    /// that is not in `exclude`): VRRP's source address and tie-breaker. Over IPv6
    /// that is the link-local address (RFC 5798 5.1.2.1), which is also the source
    /// the kernel picks for ff02::12: the checksum's pseudo-header must use it, or
    /// keepalived drops every advertisement.
    pub fn primary_address(&self, v6: bool, exclude: &[IpAddr]) -> io::Result<IpAddr> {
        let out = Command::new("ip")
            .args([
                if v6 { "-6" } else { "-4" },
                "-o",
                "addr",
                "show",
                "dev",
                &self.name,
            ])
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        if let Some(ip) = pick_primary(&listed_addresses(&text), exclude) {
            return Ok(ip);
        }
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "interface {} has no {} address",
                self.name,
                if v6 { "IPv6" } else { "IPv4" }
            ),
        ))
    }
}

/// The addresses in `ip -o addr show` output, in the order listed.
fn listed_addresses(text: &str) -> Vec<IpAddr> {
    let mut found = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        while let Some(w) = words.next() {
            if w == "inet" || w == "inet6" {
                if let Some(ip) = words
                    .next()
                    .and_then(|a| a.split('/').next())
                    .and_then(|a| a.parse::<IpAddr>().ok())
                {
                    found.push(ip);
                }
            }
        }
    }
    found
}

/// The first link-local address of `listed` not in `exclude`, else the first one.
fn pick_primary(listed: &[IpAddr], exclude: &[IpAddr]) -> Option<IpAddr> {
    let usable = || listed.iter().filter(|ip| !exclude.contains(ip));
    usable()
        .find(|ip| is_link_local_v6(ip))
        .or_else(|| usable().next())
        .copied()
}

/// fe80::/10.
fn is_link_local_v6(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80)
}

/// A received advertisement: IP source and destination, TTL/hop limit, VRRP bytes.
#[derive(Debug)]
pub struct Received<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ttl: u8,
    pub payload: &'a [u8],
}

/// A raw VRRP socket on one interface and family, joined to the VRRP group.
#[derive(Debug)]
pub struct VrrpSocket {
    socket: Socket,
    v6: bool,
    buf: Vec<u8>,
}

impl VrrpSocket {
    pub fn open(iface: &Interface, v6: bool) -> io::Result<VrrpSocket> {
        let proto = Protocol::from(IPPROTO_VRRP as i32);
        let socket = if v6 {
            let s = Socket::new(Domain::IPV6, Type::RAW, Some(proto))?;
            s.join_multicast_v6(&Ipv6Addr::from(MCAST_V6), iface.index)?;
            s.set_multicast_hops_v6(REQUIRED_TTL as u32)?;
            s.set_multicast_if_v6(iface.index)?;
            s.set_multicast_loop_v6(false)?;
            s.set_unicast_hops_v6(REQUIRED_TTL as u32)?;
            set_int_opt(&s, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1)?;
            set_int_opt(&s, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)?;
            s
        } else {
            let s = Socket::new(Domain::IPV4, Type::RAW, Some(proto))?;
            s.join_multicast_v4_n(
                &Ipv4Addr::from(MCAST_V4),
                &socket2::InterfaceIndexOrAddress::Index(iface.index),
            )?;
            s.set_multicast_ttl_v4(REQUIRED_TTL as u32)?;
            set_multicast_if_index_v4(&s, iface.index)?;
            s.set_multicast_loop_v4(false)?;
            s.set_ttl(REQUIRED_TTL as u32)?;
            s
        };
        socket.bind_device(Some(iface.name.as_bytes()))?;
        socket.set_nonblocking(true)?;
        Ok(VrrpSocket {
            socket,
            v6,
            buf: vec![0u8; 2048],
        })
    }

    pub fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    /// Send a VRRP message to the group (or to a unicast peer).
    pub fn send(&self, msg: &[u8], to: Option<IpAddr>) -> io::Result<()> {
        let dst = match (to, self.v6) {
            (Some(ip), _) => SocketAddr::new(ip, 0),
            (None, false) => SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(MCAST_V4), 0)),
            (None, true) => SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(MCAST_V6), 0, 0, 0)),
        };
        self.socket.send_to(msg, &SockAddr::from(dst)).map(|_| ())
    }

    /// The next advertisement waiting on the socket, if any (non-blocking).
    pub fn recv(&mut self) -> io::Result<Option<Received<'_>>> {
        if self.v6 {
            self.recv_v6()
        } else {
            self.recv_v4()
        }
    }

    fn recv_v4(&mut self) -> io::Result<Option<Received<'_>>> {
        let n = match recv_raw(self.socket.as_raw_fd(), &mut self.buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        };
        // A raw IPv4 socket hands over the IP header too.
        let pkt = &self.buf[..n];
        if pkt.len() < 20 || pkt[0] >> 4 != 4 {
            return Ok(None);
        }
        let ihl = (pkt[0] & 0x0f) as usize * 4;
        let total = (u16::from_be_bytes([pkt[2], pkt[3]]) as usize).min(pkt.len());
        if ihl < 20 || total < ihl || pkt[9] != IPPROTO_VRRP {
            return Ok(None);
        }
        let src = IpAddr::from([pkt[12], pkt[13], pkt[14], pkt[15]]);
        let dst = IpAddr::from([pkt[16], pkt[17], pkt[18], pkt[19]]);
        Ok(Some(Received {
            src,
            dst,
            ttl: pkt[8],
            payload: &self.buf[ihl..total],
        }))
    }

    fn recv_v6(&mut self) -> io::Result<Option<Received<'_>>> {
        let mut src: libc::sockaddr_in6 = unsafe_zeroed_sockaddr_in6();
        let mut control = [0u8; 128];
        let mut iov = libc::iovec {
            iov_base: self.buf.as_mut_ptr().cast(),
            iov_len: self.buf.len(),
        };
        // SAFETY: msghdr is plain data; every pointer set below refers to a live local
        // or to self.buf, and the lengths are those buffers' lengths.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&mut src as *mut libc::sockaddr_in6).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = control.len();
        // SAFETY: msg is fully initialised above and the fd is our open socket.
        let n = unsafe { libc::recvmsg(self.socket.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::WouldBlock {
                Ok(None)
            } else {
                Err(e)
            };
        }
        let mut hops = 0u8;
        let mut dst = IpAddr::from(MCAST_V6);
        // SAFETY: the CMSG_* helpers walk the control buffer the kernel filled, within
        // msg_controllen; data reads are bounded by each cmsg's declared length.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                let c = &*cmsg;
                let data = libc::CMSG_DATA(cmsg);
                if c.cmsg_level == libc::IPPROTO_IPV6 && c.cmsg_type == libc::IPV6_HOPLIMIT {
                    hops = std::ptr::read_unaligned(data.cast::<libc::c_int>()) as u8;
                } else if c.cmsg_level == libc::IPPROTO_IPV6 && c.cmsg_type == libc::IPV6_PKTINFO {
                    let info = std::ptr::read_unaligned(data.cast::<libc::in6_pktinfo>());
                    dst = IpAddr::from(info.ipi6_addr.s6_addr);
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
        Ok(Some(Received {
            src: IpAddr::from(src.sin6_addr.s6_addr),
            dst,
            ttl: hops,
            payload: &self.buf[..n as usize],
        }))
    }
}

fn unsafe_zeroed_sockaddr_in6() -> libc::sockaddr_in6 {
    // SAFETY: sockaddr_in6 is plain old data; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

fn recv_raw(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is a valid writable buffer of buf.len() bytes for the call.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

pub(crate) fn set_multicast_if_index_v4(s: &Socket, index: u32) -> io::Result<()> {
    let mreqn = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr { s_addr: 0 },
        imr_address: libc::in_addr { s_addr: 0 },
        imr_ifindex: index as i32,
    };
    // SAFETY: passes a pointer to a live ip_mreqn with its exact size.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            (&mreqn as *const libc::ip_mreqn).cast(),
            std::mem::size_of::<libc::ip_mreqn>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn set_int_opt(s: &Socket, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: passes a pointer to a live c_int with its exact size.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sends gratuitous ARPs (as broadcast ARP requests for the address itself, as
/// keepalived does) through a packet socket on one interface.
#[derive(Debug)]
pub struct GarpSender {
    socket: Socket,
    iface: Interface,
}

impl GarpSender {
    pub fn open(iface: &Interface) -> io::Result<GarpSender> {
        let socket = Socket::new(
            Domain::PACKET,
            Type::RAW,
            Some(Protocol::from((libc::ETH_P_ARP as u16).to_be() as i32)),
        )?;
        Ok(GarpSender {
            socket,
            iface: iface.clone(),
        })
    }

    pub fn send(&self, addr: Ipv4Addr) -> io::Result<()> {
        let frame = garp_frame(self.iface.mac, addr);
        // SAFETY: sockaddr_ll is plain data; zeroed then filled field by field.
        let mut ll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        ll.sll_family = libc::AF_PACKET as u16;
        ll.sll_protocol = (libc::ETH_P_ARP as u16).to_be();
        ll.sll_ifindex = self.iface.index as i32;
        ll.sll_halen = 6;
        ll.sll_addr[..6].copy_from_slice(&[0xff; 6]);
        // SAFETY: frame and ll are live for the call; lengths are theirs.
        let rc = unsafe {
            libc::sendto(
                self.socket.as_raw_fd(),
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

/// A gratuitous ARP: broadcast request with sender and target IP both `addr`.
pub fn garp_frame(mac: [u8; 6], addr: Ipv4Addr) -> [u8; 42] {
    let mut f = [0u8; 42];
    f[0..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    f[14..16].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
    f[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // IPv4
    f[18] = 6;
    f[19] = 4;
    f[20..22].copy_from_slice(&1u16.to_be_bytes()); // request
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&addr.octets());
    f[32..38].copy_from_slice(&[0; 6]);
    f[38..42].copy_from_slice(&addr.octets());
    f
}

/// Sends unsolicited neighbour advertisements for IPv6 virtual addresses.
#[derive(Debug)]
pub struct NaSender {
    socket: Socket,
    mac: [u8; 6],
}

impl NaSender {
    pub fn open(iface: &Interface) -> io::Result<NaSender> {
        let socket = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
        socket.set_multicast_hops_v6(255)?;
        socket.set_multicast_if_v6(iface.index)?;
        socket.bind_device(Some(iface.name.as_bytes()))?;
        Ok(NaSender {
            socket,
            mac: iface.mac,
        })
    }

    /// An unsolicited NA (override flag set) to all-nodes; the kernel fills in the
    /// ICMPv6 checksum of raw ICMPv6 sockets.
    pub fn send(&self, addr: Ipv6Addr) -> io::Result<()> {
        let mut m = [0u8; 32];
        m[0] = 136; // neighbour advertisement
        m[4] = 0x20; // override
        m[8..24].copy_from_slice(&addr.octets());
        m[24] = 2; // target link-layer address option
        m[25] = 1;
        m[26..32].copy_from_slice(&self.mac);
        let all_nodes: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
        self.socket
            .send_to(&m, &SockAddr::from(SocketAddrV6::new(all_nodes, 0, 0, 0)))
            .map(|_| ())
    }
}

/// A virtual address as written in `virtual_ipaddress`: `ADDR[/LEN] [dev IF] [label L]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualAddress {
    pub addr: IpAddr,
    pub prefix_len: u8,
    pub dev: Option<String>,
    pub label: Option<String>,
}

impl VirtualAddress {
    pub fn parse(text: &str) -> Result<VirtualAddress, String> {
        let mut words = text.split_whitespace();
        let first = words.next().ok_or("empty virtual address")?;
        let (a, len) = match first.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (first, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| format!("invalid address '{a}'"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix_len = match len {
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= max)
                .ok_or_else(|| format!("invalid prefix length '{l}'"))?,
            None => max,
        };
        let (mut dev, mut label) = (None, None);
        while let Some(w) = words.next() {
            match w {
                "dev" => dev = words.next().map(str::to_string),
                "label" => label = words.next().map(str::to_string),
                // brd, scope, etc. do not change which address is held.
                _ => {
                    words.next();
                }
            }
        }
        Ok(VirtualAddress {
            addr,
            prefix_len,
            dev,
            label,
        })
    }

    /// Add (or remove) the address on `default_dev` (or its own `dev`).
    pub fn apply(&self, default_dev: &str, add: bool) -> io::Result<()> {
        let dev = self.dev.as_deref().unwrap_or(default_dev);
        let cidr = format!("{}/{}", self.addr, self.prefix_len);
        let mut cmd = Command::new("ip");
        cmd.args([
            "addr",
            if add { "replace" } else { "del" },
            &cidr,
            "dev",
            dev,
        ]);
        if let (true, Some(l)) = (add, &self.label) {
            cmd.args(["label", l]);
        }
        if self.addr.is_ipv6() && add {
            cmd.arg("nodad");
        }
        let out = cmd.output()?;
        // Removing an address that is not there is not an error worth reporting.
        if out.status.success() || !add {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "ip addr add {cidr} dev {dev}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }
}

/// Wait until one of `fds` is readable or `timeout_ms` passes; returns which are.
pub fn poll_readable(fds: &[RawFd], timeout_ms: i32, ready: &mut Vec<bool>) -> io::Result<()> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: pfds is a live array of pfds.len() pollfd structs.
    let rc = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    ready.clear();
    ready.extend(pfds.iter().map(|p| p.revents & libc::POLLIN != 0));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ipv6_primary_address_is_the_link_local_one() {
        let text = "2: eth0    inet6 fd00:201:2::100/64 scope global \\       valid_lft forever\n\
                    2: eth0    inet6 fd00:201:2::4/64 scope global \\       valid_lft forever\n\
                    2: eth0    inet6 fe80::dcd4:6aff:fe7f:5cf/64 scope link \\       valid_lft forever\n";
        let listed = listed_addresses(text);
        assert_eq!(listed.len(), 3);
        let vip: IpAddr = "fd00:201:2::100".parse().unwrap();
        let ll: IpAddr = "fe80::dcd4:6aff:fe7f:5cf".parse().unwrap();
        assert_eq!(pick_primary(&listed, &[vip]), Some(ll));
        // Without a link-local address, the first address that is not a VIP.
        assert_eq!(
            pick_primary(&listed[..2], &[vip]),
            Some("fd00:201:2::4".parse().unwrap())
        );
        let v4 = listed_addresses(
            "2: eth0    inet 10.201.2.100/24 scope global eth0\n\
                                   2: eth0    inet 10.201.2.2/24 scope global eth0\n",
        );
        assert_eq!(
            pick_primary(&v4, &["10.201.2.100".parse().unwrap()]),
            Some("10.201.2.2".parse().unwrap())
        );
        assert_eq!(
            pick_primary(&v4[..1], &["10.201.2.100".parse().unwrap()]),
            None
        );
    }

    #[test]
    fn virtual_addresses_parse_as_keepalived_writes_them() {
        let v = VirtualAddress::parse("10.0.0.200/24 dev eth1 label eth1:vip").unwrap();
        assert_eq!(v.addr, "10.0.0.200".parse::<IpAddr>().unwrap());
        assert_eq!(v.prefix_len, 24);
        assert_eq!(v.dev.as_deref(), Some("eth1"));
        assert_eq!(v.label.as_deref(), Some("eth1:vip"));
        let w = VirtualAddress::parse("192.168.200.16").unwrap();
        assert_eq!(w.prefix_len, 32);
        let x = VirtualAddress::parse("2001:db8::1/64").unwrap();
        assert_eq!(x.prefix_len, 64);
        assert!(VirtualAddress::parse("10.0.0.1/40").is_err());
        assert!(VirtualAddress::parse("nonsense").is_err());
    }

    #[test]
    fn garp_is_an_arp_request_for_the_address_itself() {
        let f = garp_frame([2, 0, 0, 0, 0, 1], Ipv4Addr::new(10, 0, 0, 200));
        assert_eq!(&f[0..6], &[0xff; 6]);
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        assert_eq!(&f[20..22], &[0, 1]);
        assert_eq!(&f[28..32], &[10, 0, 0, 200]);
        assert_eq!(&f[38..42], &[10, 0, 0, 200]);
    }
}
