//! In-place address and port rewriting with incremental checksum updates: the NAT and
//! FULLNAT primitive of the engine.
//!
//! # Use
//!
//! 1. Parse once: [`crate::packet::parse_frame`] (or [`crate::packet::parse_ip`]) gives an
//!    [`IpInfo`] of offsets into the buffer.
//! 2. Say what changes in a [`NatRewrite`] (`None` keeps a field).
//! 3. Call [`rewrite`] with the same buffer, or [`rewrite_icmp_error`] for an ICMP error
//!    that belongs to a connection (it also rewrites the quoted packet).
//!
//! Both are O(1) in the packet length (except SCTP, whose CRC32c is recomputed over the
//! packet when a port changes) and allocate nothing. Either everything is rewritten or,
//! on error, nothing is: every bound and precondition is checked before the first write.
//! The [`IpInfo`] is not updated; parse again if you need the new values.
//!
//! # What gets fixed
//!
//! | packet | fields | checksums updated (RFC 1624, incremental) |
//! |---|---|---|
//! | IPv4 | addresses | IPv4 header checksum, and the transport's pseudo-header part |
//! | IPv6 | addresses | the transport's pseudo-header part (IPv6 has no header checksum) |
//! | TCP | ports | TCP checksum |
//! | UDP | ports | UDP checksum; over IPv4 a checksum of 0 ("none") stays 0, and a result of 0 is stored as `0xffff` |
//! | SCTP | ports | CRC32c recomputed over the packet (no pseudo-header: address changes leave it) |
//! | ICMP/ICMPv6 echo | identifier, from `src_port` (or `dst_port` if only it is set) | ICMP checksum; ICMPv6 also for the addresses |
//! | other ICMPv6 | addresses | ICMPv6 checksum (pseudo-header) |
//! | other protocols, non-first fragments | addresses only | IPv4 header checksum |
//!
//! Fragments: a first fragment is rewritten like a whole packet (its transport checksum
//! covers the whole datagram and the incremental update stays right); later fragments
//! carry no transport header, so only their addresses change. Rewriting every fragment of
//! a datagram the same way keeps the datagram consistent. SCTP ports in a fragment cannot
//! be rewritten (the CRC needs the whole packet): [`Error::Unsupported`].
//!
//! Checksums must be complete: finish `CHECKSUM_PARTIAL` frames first with
//! [`crate::checksum::finish_partial`], or the update starts from a value that is not a
//! checksum.
//!
//! # ICMP errors
//!
//! An ICMP error about a connection quotes a packet of that connection going the *other*
//! way. A router near the client that cannot forward the reply `VIP:80 -> CIP:1234`
//! sends `ICMP frag-needed` to the VIP quoting that reply. To forward it to the real server
//! in NAT mode:
//!
//! ```text
//! outer:  dst_addr = RIP                    (like any packet of the connection going in)
//! quoted: src_addr = RIP, src_port = 8080   (the quote becomes the reply as the RS sent it)
//! ```
//!
//! [`rewrite_icmp_error`] changes the outer addresses, the quoted addresses and ports, the
//! quoted IPv4 header checksum, the quoted TCP/UDP/ICMP checksum when the quote holds it,
//! and updates the outer ICMP checksum for all of it (incrementally). The quoted SCTP CRC
//! is left as it is (it covers bytes the quote does not have), and so is a quoted
//! checksum field that the end of the quote cuts in half.
//!
//! # Example
//!
//! ```
//! use core::net::{IpAddr, Ipv4Addr};
//! use rvs_wire::packet::parse_frame;
//! use rvs_wire::rewrite::{rewrite, NatRewrite};
//! let mut buf = [0u8; 54];
//! rvs_wire::rewrite::example_frame_bytes(&mut buf); // Ethernet / IPv4 / TCP to 10.0.0.100:80
//! let info = parse_frame(&buf).unwrap();
//! let to_rs = NatRewrite::dst(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 11)), 8080);
//! rewrite(&mut buf, &info.ip, &to_rs).unwrap();
//! let after = parse_frame(&buf).unwrap();
//! assert_eq!(after.ip.transport.ports().unwrap().1, 8080);
//! assert!(rvs_wire::packet::verify_checksums(&buf, &after.ip));
//! ```

use core::net::IpAddr;

use crate::checksum::{self, Delta};
use crate::error::{Error, Result};
use crate::ip::{addr_bytes, be16, put16, IpProtocol};
use crate::packet::{Fragment, IpInfo, Quoted, Transport};

/// The fields to change in a packet; `None` keeps a field as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct NatRewrite {
    pub src_addr: Option<IpAddr>,
    pub dst_addr: Option<IpAddr>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
}

impl NatRewrite {
    /// Change nothing.
    pub const NONE: NatRewrite = NatRewrite {
        src_addr: None,
        dst_addr: None,
        src_port: None,
        dst_port: None,
    };

    /// Change the source address and port.
    pub fn src(addr: IpAddr, port: u16) -> NatRewrite {
        NatRewrite {
            src_addr: Some(addr),
            src_port: Some(port),
            ..NatRewrite::NONE
        }
    }

    /// Change the destination address and port.
    pub fn dst(addr: IpAddr, port: u16) -> NatRewrite {
        NatRewrite {
            dst_addr: Some(addr),
            dst_port: Some(port),
            ..NatRewrite::NONE
        }
    }

    /// Change both ends (FULLNAT).
    pub fn both(src: (IpAddr, u16), dst: (IpAddr, u16)) -> NatRewrite {
        NatRewrite {
            src_addr: Some(src.0),
            src_port: Some(src.1),
            dst_addr: Some(dst.0),
            dst_port: Some(dst.1),
        }
    }

    fn has_ports(&self) -> bool {
        self.src_port.is_some() || self.dst_port.is_some()
    }

    fn has_addrs(&self) -> bool {
        self.src_addr.is_some() || self.dst_addr.is_some()
    }

    /// The new echo identifier, if any; two different values are a contradiction.
    fn echo_ident(&self) -> Result<Option<u16>> {
        match (self.src_port, self.dst_port) {
            (Some(a), Some(b)) if a != b => Err(Error::Unsupported),
            (a, b) => Ok(a.or(b)),
        }
    }

    /// Both addresses, if given, are of the family of the packet.
    fn check_family(&self, v6: bool) -> Result<()> {
        // By reference: copying the `Option<IpAddr>`s into an array cost a third of a
        // rewrite (store-forwarding stalls).
        let fits = |a: &Option<IpAddr>| a.as_ref().is_none_or(|a| a.is_ipv6() == v6);
        if fits(&self.src_addr) && fits(&self.dst_addr) {
            Ok(())
        } else {
            Err(Error::Unsupported)
        }
    }
}

/// Where the fields of an IP header are, relative to its start.
struct IpLayout {
    src: usize,
    dst: usize,
    addr_len: usize,
    min_header: usize,
    /// IPv4 header checksum offset.
    checksum: Option<usize>,
}

const V4: IpLayout = IpLayout {
    src: 12,
    dst: 16,
    addr_len: 4,
    min_header: 20,
    checksum: Some(10),
};
const V6: IpLayout = IpLayout {
    src: 8,
    dst: 24,
    addr_len: 16,
    min_header: 40,
    checksum: None,
};

fn layout(v6: bool) -> &'static IpLayout {
    if v6 {
        &V6
    } else {
        &V4
    }
}

/// Check that an IP header of family `v6` starts at `off` with its transport at `l4` and
/// its bytes end at `end`, all inside `len`.
fn check_ip(buf: &[u8], off: usize, l4: usize, end: usize, v6: bool) -> Result<()> {
    let lay = layout(v6);
    if end > buf.len() || l4 > end || off.checked_add(lay.min_header).is_none_or(|h| h > l4) {
        return Err(Error::Malformed);
    }
    let version = buf[off] >> 4;
    if version != if v6 { 6 } else { 4 } {
        return Err(Error::Malformed);
    }
    Ok(())
}

/// Write `new` over the bytes at `at`, recording the change in `d`.
fn swap_bytes(buf: &mut [u8], at: usize, new: &[u8], d: &mut Delta) {
    let field = &mut buf[at..at + new.len()];
    d.bytes(field, new);
    field.copy_from_slice(new);
}

/// Write a 16-bit value at `at`, recording the change in `d`.
fn swap16(buf: &mut [u8], at: usize, new: u16, d: &mut Delta) {
    d.word(be16(buf, at), new);
    put16(buf, at, new);
}

/// Rewrite the addresses of the IP header at `off`; returns the change (the pseudo-header
/// part of transport checksums) and fixes the IPv4 header checksum. Every change to the
/// header's bytes, checksum included, is also recorded in `outer` when given.
fn write_addrs(
    buf: &mut [u8],
    off: usize,
    v6: bool,
    rw: &NatRewrite,
    mut outer: Option<&mut Delta>,
) -> Delta {
    let lay = layout(v6);
    let mut d = Delta::new();
    for (addr, at) in [(&rw.src_addr, lay.src), (&rw.dst_addr, lay.dst)] {
        if let Some(a) = addr {
            let (bytes, n) = addr_bytes(a);
            swap_bytes(buf, off + at, &bytes[..n.min(lay.addr_len)], &mut d);
        }
    }
    if let Some(o) = outer.as_deref_mut() {
        o.merge(d);
    }
    if let Some(c) = lay.checksum {
        if rw.has_addrs() {
            let at = off + c;
            let new = d.apply(be16(buf, at));
            let mut hd = Delta::new();
            swap16(buf, at, new, &mut hd);
            if let Some(o) = outer {
                o.merge(hd);
            }
        }
    }
    d
}

/// Rewrite addresses and ports of a parsed packet in `buf`, fixing its checksums. See the
/// module documentation for what is updated; ports are refused ([`Error::Unsupported`])
/// for protocols without them and for ICMP errors (use [`rewrite_icmp_error`]).
pub fn rewrite(buf: &mut [u8], ip: &IpInfo, rw: &NatRewrite) -> Result<()> {
    let v6 = ip.is_ipv6();
    rw.check_family(v6)?;
    check_ip(buf, ip.offset, ip.l4, ip.end, v6)?;
    let seg_len = ip.end - ip.l4;
    let icmp_proto = if v6 {
        IpProtocol::ICMPV6
    } else {
        IpProtocol::ICMP
    };

    // Validate the transport part before touching anything.
    match ip.transport {
        Transport::Tcp { .. } if seg_len < 20 => return Err(Error::Malformed),
        Transport::Udp { .. } if seg_len < 8 => return Err(Error::Malformed),
        Transport::Sctp { .. } if seg_len < 12 => return Err(Error::Malformed),
        Transport::Sctp { .. } if rw.has_ports() && ip.fragment != Fragment::None => {
            return Err(Error::Unsupported)
        }
        Transport::IcmpEcho { .. } if seg_len < 8 || ip.protocol != icmp_proto => {
            return Err(Error::Malformed)
        }
        Transport::IcmpEcho { .. } => {
            rw.echo_ident()?;
        }
        Transport::IcmpError { .. } | Transport::IcmpOther { .. } | Transport::Opaque
            if rw.has_ports() =>
        {
            return Err(Error::Unsupported)
        }
        Transport::IcmpError { .. } | Transport::IcmpOther { .. } if seg_len < 4 => {
            return Err(Error::Malformed)
        }
        _ => {}
    }

    let d_addr = write_addrs(buf, ip.offset, v6, rw, None);
    let l4 = ip.l4;
    let mut d_port = Delta::new();
    match ip.transport {
        Transport::Tcp { .. } => {
            write_ports(buf, l4, rw, &mut d_port);
            let mut d = d_addr;
            d.merge(d_port);
            put16(buf, l4 + 16, d.apply(be16(buf, l4 + 16)));
        }
        Transport::Udp { .. } => {
            write_ports(buf, l4, rw, &mut d_port);
            let mut d = d_addr;
            d.merge(d_port);
            update_udp_checksum(buf, l4 + 6, &d, v6);
        }
        Transport::Sctp { .. } => {
            if rw.has_ports() {
                write_ports(buf, l4, rw, &mut d_port);
                let mut s = crate::sctp::Packet::new_unchecked(&mut buf[l4..ip.end]);
                s.fill_checksum();
            }
        }
        Transport::IcmpEcho { .. } => {
            if let Ok(Some(id)) = rw.echo_ident() {
                swap16(buf, l4 + 4, id, &mut d_port);
            }
            let mut d = d_port;
            if v6 {
                d.merge(d_addr);
            }
            put16(buf, l4 + 2, d.apply(be16(buf, l4 + 2)));
        }
        Transport::IcmpError { .. } | Transport::IcmpOther { .. } => {
            if v6 {
                put16(buf, l4 + 2, d_addr.apply(be16(buf, l4 + 2)));
            }
        }
        Transport::Opaque => {}
    }
    Ok(())
}

/// Write the requested ports of a TCP/UDP/SCTP header at `l4`.
fn write_ports(buf: &mut [u8], l4: usize, rw: &NatRewrite, d: &mut Delta) {
    if let Some(p) = rw.src_port {
        swap16(buf, l4, p, d);
    }
    if let Some(p) = rw.dst_port {
        swap16(buf, l4 + 2, p, d);
    }
}

/// Apply `d` to the UDP checksum at `at`: over IPv4 a 0 ("none") stays 0; a result of 0
/// is stored as `0xffff`. The change of this field is recorded in `record` if given.
fn update_udp_checksum_recorded(
    buf: &mut [u8],
    at: usize,
    d: &Delta,
    v6: bool,
    record: &mut Delta,
) {
    let old = be16(buf, at);
    if old == 0 && !v6 {
        return;
    }
    let new = match d.apply(old) {
        0 => 0xffff,
        c => c,
    };
    swap16(buf, at, new, record);
}

fn update_udp_checksum(buf: &mut [u8], at: usize, d: &Delta, v6: bool) {
    update_udp_checksum_recorded(buf, at, d, v6, &mut Delta::new());
}

/// Rewrite an ICMP or ICMPv6 error that belongs to a connection: `outer` changes the
/// addresses of the packet carrying the error (ports are refused: an error has none),
/// `quoted` changes the addresses and ports of the packet it quotes. All checksums are
/// updated (see the module documentation).
///
/// [`Error::Unsupported`] when `ip` is not an ICMP error with a parsed quote, when an
/// address family does not match, or when quoted ports are asked for but the quote does
/// not hold them.
pub fn rewrite_icmp_error(
    buf: &mut [u8],
    ip: &IpInfo,
    outer: &NatRewrite,
    quoted: &NatRewrite,
) -> Result<()> {
    let Transport::IcmpError {
        quoted: Some(q), ..
    } = ip.transport
    else {
        return Err(Error::Unsupported);
    };
    let v6 = ip.is_ipv6();
    let qv6 = q.src.is_ipv6();
    if outer.has_ports() {
        return Err(Error::Unsupported);
    }
    outer.check_family(v6)?;
    quoted.check_family(qv6)?;
    check_ip(buf, ip.offset, ip.l4, ip.end, v6)?;
    check_quote(buf, ip, &q)?;
    let quoted_echo = matches!(q.protocol, IpProtocol::ICMP | IpProtocol::ICMPV6);
    if quoted.has_ports() {
        if q.ports.is_none() || q.fragment == Fragment::NonFirst {
            return Err(Error::Unsupported);
        }
        if quoted_echo {
            quoted.echo_ident()?;
        }
    }

    // Everything written inside the ICMP message is recorded in `icmp`.
    let mut icmp = Delta::new();
    let d_qaddr = write_addrs(buf, q.offset, qv6, quoted, Some(&mut icmp));
    let mut d_qport = Delta::new();
    let avail = q.end - q.l4;
    let ql4 = q.l4;
    match q.protocol {
        IpProtocol::TCP | IpProtocol::UDP | IpProtocol::SCTP if q.ports.is_some() => {
            write_ports(buf, ql4, quoted, &mut d_qport);
        }
        IpProtocol::ICMP | IpProtocol::ICMPV6 if q.ports.is_some() => {
            if let Ok(Some(id)) = quoted.echo_ident() {
                swap16(buf, ql4 + 4, id, &mut d_qport);
            }
        }
        _ => {}
    }
    icmp.merge(d_qport);
    let mut d_ql4 = d_qaddr;
    d_ql4.merge(d_qport);
    match q.protocol {
        IpProtocol::TCP if avail >= 18 && q.fragment != Fragment::NonFirst => {
            let new = d_ql4.apply(be16(buf, ql4 + 16));
            swap16(buf, ql4 + 16, new, &mut icmp);
        }
        IpProtocol::UDP if avail >= 8 && q.fragment != Fragment::NonFirst => {
            update_udp_checksum_recorded(buf, ql4 + 6, &d_ql4, qv6, &mut icmp);
        }
        IpProtocol::ICMP | IpProtocol::ICMPV6 if q.ports.is_some() && avail >= 4 => {
            // ICMPv4 has no pseudo-header; ICMPv6 does.
            let mut d = d_qport;
            if q.protocol == IpProtocol::ICMPV6 {
                d = d_ql4;
            }
            let new = d.apply(be16(buf, ql4 + 2));
            swap16(buf, ql4 + 2, new, &mut icmp);
        }
        _ => {}
    }

    let d_outer = write_addrs(buf, ip.offset, v6, outer, None);
    if v6 {
        icmp.merge(d_outer);
    }
    let at = ip.l4 + 2;
    put16(buf, at, icmp.apply(be16(buf, at)));
    Ok(())
}

/// Check a quote's offsets before writing: inside the ICMP message, its IP header of the
/// right version and length, and at even distances from the ICMP header (the incremental
/// update of the ICMP checksum relies on 16-bit alignment).
fn check_quote(buf: &[u8], ip: &IpInfo, q: &Quoted) -> Result<()> {
    let qv6 = q.src.is_ipv6();
    if q.offset < ip.l4 + 8 || q.end > ip.end {
        return Err(Error::Malformed);
    }
    check_ip(buf, q.offset, q.l4, q.end, qv6)?;
    if (q.offset - ip.l4) % 2 != 0 || (q.l4 - ip.l4) % 2 != 0 {
        return Err(Error::Malformed);
    }
    if q.ports.is_some() {
        let need = if matches!(q.protocol, IpProtocol::ICMP | IpProtocol::ICMPV6) {
            6
        } else {
            4
        };
        if q.end - q.l4 < need {
            return Err(Error::Malformed);
        }
    }
    Ok(())
}

/// A small Ethernet/IPv4/TCP frame for documentation examples and benches: 10.0.0.1:43210
/// to 10.0.0.100:80, a SYN with valid checksums.
#[doc(hidden)]
pub fn example_frame_bytes(out: &mut [u8; 54]) {
    use crate::ethernet::{self, EtherType, MacAddr};
    use crate::{ipv4, tcp};
    let eth = ethernet::Repr {
        src: MacAddr([2, 0, 0, 0, 0, 1]),
        dst: MacAddr([2, 0, 0, 0, 0, 2]),
        vlan_tci: None,
        ethertype: EtherType::IPV4,
    };
    let _ = eth.emit(out);
    let ip = ipv4::Repr {
        src: core::net::Ipv4Addr::new(10, 0, 0, 1),
        dst: core::net::Ipv4Addr::new(10, 0, 0, 100),
        protocol: IpProtocol::TCP,
        payload_len: 20,
        ttl: 64,
        tos: 0,
        ident: 1,
        dont_frag: true,
    };
    let _ = ip.emit(&mut out[14..]);
    let t = tcp::Repr {
        src_port: 43210,
        dst_port: 80,
        seq_number: 1,
        ack_number: 0,
        flags: tcp::Flags::SYN,
        window_len: 64240,
        urgent_at: 0,
    };
    let _ = t.emit(&mut out[34..]);
    let pseudo = checksum::pseudo_header_v4(ip.src, ip.dst, IpProtocol::TCP, 20);
    tcp::Packet::new_unchecked(&mut out[34..]).fill_checksum(pseudo);
}
