//! Path-MTU discovery through TUN forwarding, as the kernel's
//! `ensure_mtu_is_adequate` does for `ip_vs_tunnel_xmit`: a client packet that would
//! exceed the egress MTU once encapsulated is answered with ICMP "fragmentation
//! needed" (IPv4 with DF set) or ICMPv6 "packet too big", carrying the MTU minus the
//! tunnel's overhead, so that the client lowers its segment size. The frame is
//! rewritten into that error, from the virtual address to the client.

use super::config::EngineConfig;
use super::tunnel;
use crate::model::Tunnel;
use crate::verdict::{Egress, Frame, Verdict};
use core::net::IpAddr;
use rvs_wire::packet::IpInfo;
use rvs_wire::{icmpv4, icmpv6, ipv4};

/// Smallest MTU an IPv4 path may announce (RFC 791), below which the kernel drops.
const MIN_MTU_V4: usize = 68;
/// Smallest IPv6 link MTU (RFC 8200).
const MIN_MTU_V6: usize = 1280;

/// Rewrite `frame` (parsed as `ip`, refused by [`tunnel::encapsulate`] as too big for
/// a tunnel to `rip`) into the ICMP error for its sender. `None` (frame unchanged)
/// when the kernel would not answer: an IPv4 packet without DF (the kernel would
/// fragment the outer packet; rvs cannot, so it is dropped), an MTU left below the
/// protocol minimum, or no room for the error.
pub(crate) fn answer_too_big(
    cfg: &EngineConfig,
    frame: &mut Frame<'_>,
    ip: &IpInfo,
    rip: IpAddr,
    tun: &Tunnel,
) -> Option<Verdict> {
    let limit = if cfg.mtu == 0 { u16::MAX } else { cfg.mtu };
    let mtu = usize::from(limit).saturating_sub(tunnel::overhead(rip, tun));
    let original = frame.bytes().get(ip.offset..ip.end)?;
    let (v4, v6) = match ip.src {
        IpAddr::V4(_) => {
            let df = ipv4::Packet::new_checked(original).ok()?.dont_frag();
            if !df || mtu < MIN_MTU_V4 {
                return None;
            }
            (icmpv4::Repr::frag_needed(mtu as u16), None)
        }
        IpAddr::V6(_) => {
            if mtu < MIN_MTU_V6 {
                return None;
            }
            let unused = icmpv4::Repr::frag_needed(0);
            (unused, Some(icmpv6::Repr::packet_too_big(mtu as u32)))
        }
    };
    answer(frame, ip, &v4, v6.as_ref())
}

/// Rewrite `frame` (parsed as `ip`, a client packet whose TTL or hop limit ran out
/// on its way to the real server) into ICMP "time exceeded in transit" for its
/// sender, from the virtual address, as the kernel's `decrement_ttl` answers. `None`
/// (frame unchanged) when there is no room for the error.
pub(crate) fn answer_time_exceeded(frame: &mut Frame<'_>, ip: &IpInfo) -> Option<Verdict> {
    let v4 = icmpv4::Repr {
        msg_type: icmpv4::types::TIME_EXCEEDED,
        code: 0,
        rest: [0; 4],
    };
    let v6 = icmpv6::Repr {
        msg_type: icmpv6::types::TIME_EXCEEDED,
        code: 0,
        rest: [0; 4],
    };
    answer(frame, ip, &v4, Some(&v6))
}

/// Rewrite `frame` into the ICMP error `v4` (or ICMPv6 `v6`) about it, from its
/// destination (the virtual address) back to its source.
fn answer(
    frame: &mut Frame<'_>,
    ip: &IpInfo,
    v4: &icmpv4::Repr,
    v6: Option<&icmpv6::Repr>,
) -> Option<Verdict> {
    let eth = ip.offset;
    let mut scratch = [0u8; icmpv6::MAX_ERROR_LEN];
    let original = frame.bytes().get(ip.offset..ip.end)?;
    let n = match (ip.src, ip.dst, v6) {
        (IpAddr::V4(_), IpAddr::V4(vip), _) => {
            icmpv4::emit_error_packet(&mut scratch, vip, v4, original).ok()?
        }
        (IpAddr::V6(_), IpAddr::V6(vip), Some(v6)) => {
            icmpv6::emit_error_packet(&mut scratch, vip, v6, original).ok()?
        }
        _ => return None,
    };
    // Same family as the original: the Ethernet header stays (the data plane sets
    // its addresses for the route back to the client).
    if !frame.set_len(eth + n) {
        return None;
    }
    frame.bytes_mut()[eth..eth + n].copy_from_slice(&scratch[..n]);
    Some(Verdict::Forward(Egress {
        next_hop: ip.src,
        on_link: false,
    }))
}

#[cfg(test)]
mod tests {
    use super::super::{Engine, EngineConfig};
    use crate::model::*;
    use crate::time::Instant;
    use crate::verdict::{DropReason, Egress, Frame, Verdict};
    use core::net::{IpAddr, Ipv4Addr};
    use rvs_wire::ethernet::{self, EtherType, MacAddr};
    use rvs_wire::packet::{parse_frame, Transport};
    use rvs_wire::{checksum, icmpv4, ipv4, tcp, IpProtocol};

    const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
    const CIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
    const RIP: Ipv4Addr = Ipv4Addr::new(192, 168, 2, 13);
    const HEADROOM: usize = 128;

    fn tun_engine(mtu: u16) -> Engine {
        let e = Engine::new(EngineConfig {
            workers: 1,
            tunnel_src_v4: Some(Ipv4Addr::new(10, 0, 0, 1)),
            mtu,
            ..EngineConfig::default()
        })
        .unwrap();
        let svc = VirtualService {
            config: ServiceConfig {
                key: ServiceKey::Addr {
                    proto: Protocol::Tcp,
                    addr: IpAddr::V4(VIP),
                    port: 80,
                },
                scheduler: SchedulerKind::Rr,
                sched_flags: SchedFlags::default(),
                persistence: None,
                one_packet: false,
                pe_name: None,
            },
            dests: vec![DestConfig {
                addr: IpAddr::V4(RIP),
                port: 80,
                method: ForwardMethod::Tunnel(Tunnel::default()),
                weight: 1,
                u_threshold: 0,
                l_threshold: 0,
            }],
        };
        e.apply(&[svc], &[], Timeouts::default(), Instant::ZERO);
        e
    }

    /// An Ethernet/IPv4/TCP SYN client → VIP with `payload` bytes, in a buffer with
    /// headroom; returns (buffer, frame length).
    fn syn(payload: usize, dont_frag: bool) -> (Vec<u8>, usize) {
        let mut buf = vec![0u8; HEADROOM + 2048];
        let b = &mut buf[HEADROOM..];
        let mut o = ethernet::Repr {
            src: MacAddr([2, 0, 0, 0, 0, 1]),
            dst: MacAddr([2, 0, 0, 0, 0, 2]),
            vlan_tci: None,
            ethertype: EtherType::IPV4,
        }
        .emit(b)
        .unwrap();
        let seg = 20 + payload;
        o += ipv4::Repr {
            src: CIP,
            dst: VIP,
            protocol: IpProtocol::TCP,
            payload_len: seg as u16,
            ttl: 64,
            tos: 0,
            ident: 7,
            dont_frag,
        }
        .emit(&mut b[o..])
        .unwrap();
        tcp::Repr {
            src_port: 40000,
            dst_port: 80,
            seq_number: 1,
            ack_number: 0,
            flags: tcp::Flags(0x002),
            window_len: 512,
            urgent_at: 0,
        }
        .emit(&mut b[o..])
        .unwrap();
        b[o + 20..o + seg].fill(0x61);
        let pseudo = checksum::pseudo_header_v4(CIP, VIP, IpProtocol::TCP, seg as u16);
        tcp::Packet::new_unchecked(&mut b[o..o + seg]).fill_checksum(pseudo);
        (buf, o + seg)
    }

    fn run(e: &Engine, payload: usize, dont_frag: bool) -> (Verdict, Vec<u8>, Vec<u8>) {
        let (mut buf, n) = syn(payload, dont_frag);
        let original = buf[HEADROOM..HEADROOM + n].to_vec();
        let mut f = Frame::new(&mut buf, HEADROOM, n);
        let v = e.worker(0).process(&mut f, Instant::ZERO);
        (v, f.bytes().to_vec(), original)
    }

    #[test]
    fn a_df_packet_too_big_for_the_tunnel_gets_frag_needed_with_the_inner_mtu() {
        let e = tun_engine(1000);
        // 20 + 20 + 961 = 1001 bytes of IP: 1021 once encapsulated, over 1000 (980
        // bytes of IP would have fitted).
        let (v, out, original) = run(&e, 961, true);
        assert_eq!(
            v,
            Verdict::Forward(Egress {
                next_hop: IpAddr::V4(CIP),
                on_link: false
            })
        );
        assert_eq!(&out[..14], &original[..14], "Ethernet header kept");
        let p = parse_frame(&out).unwrap();
        assert_eq!(
            (p.ip.src, p.ip.dst),
            (IpAddr::V4(VIP), IpAddr::V4(CIP)),
            "from the VIP back to the client"
        );
        assert!(rvs_wire::packet::verify_checksums(&out, &p.ip));
        let Transport::IcmpError {
            msg_type,
            code,
            quoted: Some(q),
        } = p.ip.transport
        else {
            panic!("not an ICMP error: {:?}", p.ip.transport)
        };
        assert_eq!((msg_type, code), (3, 4), "fragmentation needed");
        let icmp = icmpv4::Packet::new_checked(&out[p.ip.l4..p.ip.end]).unwrap();
        let next_hop_mtu = u16::from_be_bytes([out[p.ip.l4 + 6], out[p.ip.l4 + 7]]);
        assert_eq!(next_hop_mtu, 980, "the MTU less the 20-byte IPIP header");
        assert!(icmp.verify_checksum());
        assert_eq!(
            (q.src, q.dst, q.ports),
            (IpAddr::V4(CIP), IpAddr::V4(VIP), Some((40000, 80)))
        );
        // The quote is the start of the client's packet, cut to 576 bytes in all, as
        // the kernel quotes it: after the route to the real server took one TTL.
        let mut sent = original[14..14 + (576 - 28)].to_vec();
        let mut h = ipv4::Packet::new_unchecked(&mut sent[..]);
        h.set_ttl(h.ttl() - 1);
        h.fill_checksum();
        assert_eq!(&out[q.offset..q.end], &sent[..]);
        // The kernel counts the packet (ip_vs_in_stats runs before the transmitter
        // refuses it), though it never reaches the real server.
        let s = &e.status(Instant::ZERO)[0];
        assert_eq!((s.stats.in_pkts, s.dests[0].stats.in_pkts), (1, 1));
    }

    #[test]
    fn a_packet_that_fits_or_lacks_df_is_not_answered() {
        let e = tun_engine(1000);
        let (v, out, _) = run(&e, 940, true);
        assert_eq!(
            v,
            Verdict::Forward(Egress {
                next_hop: IpAddr::V4(RIP),
                on_link: false
            }),
            "980 + 20 = 1000 bytes once encapsulated: fits"
        );
        assert_eq!(out.len(), 14 + 20 + 980);
        let e = tun_engine(1000);
        let (v, out, original) = run(&e, 961, false);
        assert_eq!(
            v,
            Verdict::Drop(DropReason::TooBig),
            "no DF: nothing to tell"
        );
        assert_eq!(
            out.len(),
            original.len(),
            "a refused frame is not encapsulated"
        );
    }
}
