//! The few rtnetlink requests the resolver needs: route lookup, neighbour lookup,
//! link address, and "please resolve this neighbour" (NTF_USE).

use core::net::IpAddr;
use std::io;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE,
    NLM_F_REQUEST,
};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// Multicast groups (RTMGRP_*) the event socket listens to.
pub const GROUPS: u32 = 0x1 /* LINK */
    | 0x4 /* NEIGH */
    | 0x10 /* IPV4_IFADDR */
    | 0x40 /* IPV4_ROUTE */
    | 0x100 /* IPV6_IFADDR */
    | 0x400 /* IPV6_ROUTE */;

/// The kernel's route to an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub oif: u32,
    pub gateway: Option<IpAddr>,
    /// The source address the kernel would use towards the destination.
    pub prefsrc: Option<IpAddr>,
    pub unicast: bool,
}

/// A neighbour entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Neigh {
    pub state: NeighbourState,
    pub mac: Option<[u8; 6]>,
}

impl Neigh {
    /// Usable for sending: the kernel has (or had recently) a confirmed address.
    pub fn usable(&self) -> Option<[u8; 6]> {
        match self.state {
            NeighbourState::Reachable
            | NeighbourState::Stale
            | NeighbourState::Delay
            | NeighbourState::Probe
            | NeighbourState::Permanent
            | NeighbourState::Noarp => self.mac,
            _ => None,
        }
    }
}

fn family(addr: &IpAddr) -> AddressFamily {
    match addr {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

fn mac6(bytes: &[u8]) -> Option<[u8; 6]> {
    bytes.try_into().ok()
}

fn route_addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

pub fn neigh_addr(a: &NeighbourAddress) -> Option<IpAddr> {
    match a {
        NeighbourAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        NeighbourAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// Parse a neighbour message into (ifindex, address, entry).
pub fn parse_neigh(m: &NeighbourMessage) -> Option<(u32, IpAddr, Neigh)> {
    let mut addr = None;
    let mut mac = None;
    for a in &m.attributes {
        match a {
            NeighbourAttribute::Destination(d) => addr = neigh_addr(d),
            NeighbourAttribute::LinkLayerAddress(l) => mac = mac6(l),
            _ => {}
        }
    }
    Some((
        m.header.ifindex,
        addr?,
        Neigh {
            state: m.header.state,
            mac,
        },
    ))
}

/// A request/response rtnetlink socket.
pub struct RtNetlink {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl RtNetlink {
    pub fn open() -> io::Result<RtNetlink> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        Ok(RtNetlink {
            sock,
            seq: 0,
            buf: vec![0; 64 * 1024],
        })
    }

    /// A socket subscribed to route, neighbour, link and address changes.
    pub fn events() -> io::Result<Socket> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind(&SocketAddr::new(0, GROUPS))?;
        sock.set_non_blocking(true)?;
        // Neighbour churn on a busy LAN comes in bursts; a lost notification costs
        // a full re-resolution (ENOBUFS), so give the socket room.
        sock.set_rx_buf_sz(1usize << 20)?;
        Ok(sock)
    }

    /// Send `msg` and return the first answer: `Ok(Some(msg))` for a message,
    /// `Ok(None)` for an ACK, `Err` for a NACK.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Option<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut out = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut out);
        self.sock.send(&out, 0)?;
        loop {
            let n = self.sock.recv(&mut &mut self.buf[..], 0)?;
            let mut off = 0;
            while off < n {
                let reply =
                    NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.buf[off..n])
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let len = reply.header.length as usize;
                let seq = reply.header.sequence_number;
                off += len.max(16).next_multiple_of(4);
                if seq != self.seq {
                    continue;
                }
                match reply.payload {
                    NetlinkPayload::InnerMessage(m) => return Ok(Some(m)),
                    NetlinkPayload::Error(e) => match e.code {
                        None => return Ok(None),
                        Some(code) => return Err(io::Error::from_raw_os_error(-code.get())),
                    },
                    NetlinkPayload::Done(_) => return Ok(None),
                    _ => {}
                }
            }
        }
    }

    /// The route the kernel would use for `dst`; `None` when unreachable.
    pub fn route_get(&mut self, dst: IpAddr) -> io::Result<Option<Route>> {
        let mut m = RouteMessage::default();
        m.header.address_family = family(&dst);
        m.header.destination_prefix_length = if dst.is_ipv4() { 32 } else { 128 };
        m.attributes
            .push(RouteAttribute::Destination(RouteAddress::from(dst)));
        let reply = match self.request(RouteNetlinkMessage::GetRoute(m), 0) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENETUNREACH | libc::EHOSTUNREACH | libc::EINVAL)
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        let Some(RouteNetlinkMessage::NewRoute(r)) = reply else {
            return Ok(None);
        };
        let mut route = Route {
            oif: 0,
            gateway: None,
            prefsrc: None,
            unicast: r.header.kind == RouteType::Unicast,
        };
        for a in &r.attributes {
            match a {
                RouteAttribute::Oif(i) => route.oif = *i,
                RouteAttribute::Gateway(g) => route.gateway = route_addr(g),
                RouteAttribute::PrefSource(p) => route.prefsrc = route_addr(p),
                _ => {}
            }
        }
        Ok(Some(route))
    }

    /// The neighbour entry of `addr` on `ifindex`, if the kernel has one.
    pub fn neigh_get(&mut self, ifindex: u32, addr: IpAddr) -> io::Result<Option<Neigh>> {
        let mut m = NeighbourMessage::default();
        m.header.family = family(&addr);
        m.header.ifindex = ifindex;
        m.attributes
            .push(NeighbourAttribute::Destination(match addr {
                IpAddr::V4(a) => NeighbourAddress::Inet(a),
                IpAddr::V6(a) => NeighbourAddress::Inet6(a),
            }));
        match self.request(RouteNetlinkMessage::GetNeighbour(m), 0) {
            Ok(Some(RouteNetlinkMessage::NewNeighbour(n))) => {
                Ok(parse_neigh(&n).map(|(_, _, e)| e))
            }
            Ok(_) => Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Ask the kernel to resolve (or revalidate) `addr` on `ifindex`, as traffic of
    /// its own would (NTF_USE: `ip neigh replace ADDR dev IF use`).
    pub fn neigh_use(&mut self, ifindex: u32, addr: IpAddr) -> io::Result<()> {
        let mut m = NeighbourMessage::default();
        m.header.family = family(&addr);
        m.header.ifindex = ifindex;
        m.header.state = NeighbourState::Permanent;
        m.header.flags = NeighbourFlags::Use;
        m.attributes
            .push(NeighbourAttribute::Destination(match addr {
                IpAddr::V4(a) => NeighbourAddress::Inet(a),
                IpAddr::V6(a) => NeighbourAddress::Inet6(a),
            }));
        self.request(
            RouteNetlinkMessage::NewNeighbour(m),
            NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK,
        )
        .map(|_| ())
    }

    /// The hardware address of interface `ifindex`, if it has an Ethernet one.
    pub fn link_mac(&mut self, ifindex: u32) -> io::Result<Option<[u8; 6]>> {
        let mut m = LinkMessage::default();
        m.header.index = ifindex;
        match self.request(RouteNetlinkMessage::GetLink(m), 0) {
            Ok(Some(RouteNetlinkMessage::NewLink(l))) => {
                Ok(l.attributes.iter().find_map(|a| match a {
                    LinkAttribute::Address(b) => mac6(b),
                    _ => None,
                }))
            }
            Ok(_) => Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
