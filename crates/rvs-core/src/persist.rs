//! Persistence templates (`-p`, `-M`): how the kernel's `ip_vs_sched_persist` keys
//! them and when an existing template may still be used.
//!
//! A template is an entry of the connection table flagged TEMPLATE, found by its
//! [`InKey`] through [`crate::conn::ConnTable::lookup_template`]:
//! ⟨proto, client address masked to the granularity, port 0, virtual address, vport⟩,
//! where proto is IPPROTO_IP (0) and the virtual address is the mark for firewall-mark
//! services, and vport is 0 for port-0 services, FTP (port 21) and firewall marks.
//! Its timeout is the persistence timeout; it counts in its real server's PersistConn;
//! each new connection scheduled through it links to it (`control`) and restarts its
//! timer; it outlives its timeout while it still controls connections.
//!
//! A service with a persistence engine (`--pe sip`) adds the engine's data to the
//! key: [`PeDataStore`] holds it and maps ⟨key, data⟩ to the template, whose client
//! port is then a probe port instead of 0 (listed as 0).

use crate::conn::reuse::DestStatus;
use crate::conn::{Endpoint, InKey, NewConn};
use crate::model::{Family, ForwardMethod, Persistence, ServiceKey};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The FTP control port, whose templates cover every port (the kernel's FTPPORT).
pub const FTP_PORT: u16 = 21;

/// `addr` with only its first `prefix_len` bits kept (IPv4 /0..32, IPv6 /0..128; larger
/// lengths keep the whole address).
pub fn mask_addr(addr: IpAddr, prefix_len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let mask = match prefix_len {
                0 => 0,
                p if p >= 32 => u32::MAX,
                p => u32::MAX << (32 - p),
            };
            IpAddr::V4(Ipv4Addr::from(bits & mask))
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let mask = match prefix_len {
                0 => 0,
                p if p >= 128 => u128::MAX,
                p => u128::MAX << (128 - p),
            };
            IpAddr::V6(Ipv6Addr::from(bits & mask))
        }
    }
}

/// How the kernel writes a firewall mark where an address goes: the mark in the first
/// four bytes (network order), the rest zero.
pub fn fwmark_addr(mark: u32, family: Family) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::from(mark)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from((mark as u128) << 96)),
    }
}

/// The packet fields a template key is built from (client → virtual packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketTuple {
    /// IP protocol of the packet.
    pub proto: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub dst_port: u16,
}

/// The template key for a packet of a persistent service.
pub fn template_key(svc: &ServiceKey, p: &Persistence, pkt: &PacketTuple) -> InKey {
    let client = Endpoint::new(mask_addr(pkt.src, p.prefix_len), 0);
    let (svc_port, fwmark) = match *svc {
        ServiceKey::Addr { port, .. } => (port, None),
        ServiceKey::Fwmark { mark, family } => (0, Some((mark, family))),
    };
    let (proto, virt) = if pkt.dst_port == svc_port {
        // <proto, caddr, 0, vaddr, vport>; FTP templates cover every port.
        let vport = if svc_port != FTP_PORT {
            pkt.dst_port
        } else {
            0
        };
        (pkt.proto, Endpoint::new(pkt.dst, vport))
    } else if let Some((mark, family)) = fwmark {
        // <IPPROTO_IP, caddr, 0, fwmark, 0>
        (0, Endpoint::new(fwmark_addr(mark, family), 0))
    } else {
        // Port-zero service: <proto, caddr, 0, vaddr, 0>
        (pkt.proto, Endpoint::new(pkt.dst, 0))
    };
    InKey {
        proto,
        client,
        virt,
    }
}

/// The real-server port recorded in a template: the server's port when the packet's
/// port is the service's, else 0 (port-zero and firewall-mark services).
pub fn template_dest_port(svc: &ServiceKey, dst_port: u16, dest_port: u16) -> u16 {
    let svc_port = match *svc {
        ServiceKey::Addr { port, .. } => port,
        ServiceKey::Fwmark { .. } => 0,
    };
    if dst_port == svc_port {
        dest_port
    } else {
        0
    }
}

/// A template entry for `key` pointing at a real server.
pub fn new_template(
    key: &InKey,
    dest: Endpoint,
    method: ForwardMethod,
    p: &Persistence,
    fwmark: u32,
) -> NewConn {
    let mut n = NewConn::scheduled(key.proto, key.client, key.virt, dest, method);
    n.template = true;
    n.fwmark = fwmark;
    n.timeout_ms = Some(p.timeout.saturating_mul(1000));
    n
}

/// `ip_vs_check_template`: whether a found template may still direct new connections.
/// When not, the engine invalidates it ([`crate::conn::ConnTable::invalidate_template`])
/// and schedules afresh.
pub fn template_usable(dest: Option<DestStatus>, expire_quiescent_template: bool) -> bool {
    match dest {
        None => false,
        Some(d) => d.available && !(expire_quiescent_template && d.weight == 0),
    }
}

pub use pe_data::{PeDataStore, PE_DATA_MAX};

mod pe_data;
