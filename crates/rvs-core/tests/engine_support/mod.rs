//! Shared helpers of the engine integration tests: frames built with rvs-wire's
//! emitters, a worker runner with headroom, engines with a few services.
#![allow(dead_code, unused_imports)]

pub use core::net::{IpAddr, Ipv4Addr};
pub use rvs_core::engine::{Engine, EngineConfig, FullNatPool, Worker};
pub use rvs_core::model::*;
pub use rvs_core::time::Instant;
pub use rvs_core::verdict::{DropReason, Egress, Frame, Verdict};
use rvs_wire::ethernet::{self, EtherType, MacAddr};
pub use rvs_wire::packet::{parse_frame, parse_ip, verify_checksums, PacketInfo, Transport};
pub use rvs_wire::{checksum, icmpv4, ipv4, tcp, udp, IpProtocol};

pub const HEADROOM: usize = 128;
pub const SYN: u16 = 0x002;
pub const ACK: u16 = 0x010;
pub const FIN: u16 = 0x001;

pub fn v4(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub const CIP: &str = "192.0.2.10";
pub const VIP: &str = "10.0.0.100";

pub fn eth(buf: &mut [u8]) -> usize {
    ethernet::Repr {
        src: MacAddr([2, 0, 0, 0, 0, 1]),
        dst: MacAddr([2, 0, 0, 0, 0, 2]),
        vlan_tci: None,
        ethertype: EtherType::IPV4,
    }
    .emit(buf)
    .unwrap()
}

pub fn ip4(
    buf: &mut [u8],
    src: IpAddr,
    dst: IpAddr,
    proto: IpProtocol,
    payload_len: usize,
) -> usize {
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src, dst) else {
        panic!("IPv4 only")
    };
    ipv4::Repr {
        src: s,
        dst: d,
        protocol: proto,
        payload_len: payload_len as u16,
        ttl: 64,
        tos: 0,
        ident: 1,
        dont_frag: true,
    }
    .emit(buf)
    .unwrap()
}

pub fn pseudo(src: IpAddr, dst: IpAddr, proto: IpProtocol, len: usize) -> u32 {
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src, dst) else {
        panic!("IPv4 only")
    };
    checksum::pseudo_header_v4(s, d, proto, len as u16)
}

/// An Ethernet/IPv4/TCP frame.
pub fn tcp_frame(src: (IpAddr, u16), dst: (IpAddr, u16), flags: u16, payload: &[u8]) -> Vec<u8> {
    let seg_len = 20 + payload.len();
    let mut b = vec![0u8; 14 + 20 + seg_len];
    let mut o = eth(&mut b);
    o += ip4(&mut b[o..], src.0, dst.0, IpProtocol::TCP, seg_len);
    tcp::Repr {
        src_port: src.1,
        dst_port: dst.1,
        seq_number: 1000,
        ack_number: 0,
        flags: tcp::Flags(flags),
        window_len: 1024,
        urgent_at: 0,
    }
    .emit(&mut b[o..])
    .unwrap();
    b[o + 20..].copy_from_slice(payload);
    tcp::Packet::new_unchecked(&mut b[o..]).fill_checksum(pseudo(
        src.0,
        dst.0,
        IpProtocol::TCP,
        seg_len,
    ));
    b
}

pub fn udp_frame(src: (IpAddr, u16), dst: (IpAddr, u16), payload: &[u8]) -> Vec<u8> {
    let seg_len = 8 + payload.len();
    let mut b = vec![0u8; 14 + 20 + seg_len];
    let mut o = eth(&mut b);
    o += ip4(&mut b[o..], src.0, dst.0, IpProtocol::UDP, seg_len);
    udp::Repr {
        src_port: src.1,
        dst_port: dst.1,
        payload_len: payload.len() as u16,
    }
    .emit(&mut b[o..])
    .unwrap();
    b[o + 8..].copy_from_slice(payload);
    udp::Packet::new_unchecked(&mut b[o..]).fill_checksum(pseudo(
        src.0,
        dst.0,
        IpProtocol::UDP,
        seg_len,
    ));
    b
}

/// ICMP frag-needed from `from` to `to`, quoting the IP packet of `quoted_frame`.
pub fn frag_needed(from: IpAddr, to: IpAddr, quoted_frame: &[u8]) -> Vec<u8> {
    let quote = &quoted_frame[14..14 + 28];
    let len = 8 + quote.len();
    let mut b = vec![0u8; 14 + 20 + len];
    let mut o = eth(&mut b);
    o += ip4(&mut b[o..], from, to, IpProtocol::ICMP, len);
    icmpv4::Repr {
        msg_type: icmpv4::types::DEST_UNREACHABLE,
        code: icmpv4::CODE_FRAG_NEEDED,
        rest: [0, 0, 0x05, 0xdc],
    }
    .emit(&mut b[o..], quote)
    .unwrap();
    b
}

/// Run one frame through the worker; returns the verdict and the frame as it left.
pub fn run(w: &mut Worker, pkt: &[u8], now: Instant) -> (Verdict, Vec<u8>) {
    let mut buf = vec![0u8; HEADROOM + pkt.len() + 64];
    buf[HEADROOM..HEADROOM + pkt.len()].copy_from_slice(pkt);
    let mut f = Frame::new(&mut buf, HEADROOM, pkt.len());
    let v = w.process(&mut f, now);
    let out = f.bytes().to_vec();
    (v, out)
}

pub fn parsed(bytes: &[u8]) -> PacketInfo {
    let p = parse_frame(bytes).unwrap();
    assert!(verify_checksums(bytes, &p.ip), "checksums must verify");
    p
}

pub fn ports(p: &PacketInfo) -> (u16, u16) {
    p.ip.transport.ports().unwrap()
}

pub fn dest(addr: &str, port: u16, method: ForwardMethod, weight: u32) -> DestConfig {
    DestConfig {
        addr: v4(addr),
        port,
        method,
        weight,
        u_threshold: 0,
        l_threshold: 0,
    }
}

pub fn service(
    proto: Protocol,
    port: u16,
    sched: SchedulerKind,
    dests: Vec<DestConfig>,
) -> VirtualService {
    VirtualService {
        config: ServiceConfig {
            key: ServiceKey::Addr {
                proto,
                addr: v4(VIP),
                port,
            },
            scheduler: sched,
            sched_flags: SchedFlags::default(),
            persistence: None,
            one_packet: false,
            pe_name: None,
        },
        dests,
    }
}

pub fn engine_with(services: &[VirtualService]) -> Engine {
    let e = Engine::new(EngineConfig {
        workers: 2,
        max_conns: 4096,
        fullnat_pool: FullNatPool {
            addrs: vec![v4("172.16.0.1")],
            ports: (20000, 20999),
        },
        tunnel_src_v4: Some(Ipv4Addr::new(10, 0, 0, 1)),
        ..EngineConfig::default()
    })
    .unwrap();
    e.apply(services, &[], Timeouts::default(), Instant::ZERO);
    e
}

pub fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

pub fn fwd(v: Verdict) -> Egress {
    match v {
        Verdict::Forward(e) => e,
        other => panic!("expected Forward, got {other:?}"),
    }
}

/// `frame` (Ethernet/IPv4) as the director routes it on: one TTL less, header
/// checksum updated (the kernel's `decrement_ttl` on the way to a real server).
pub fn routed(frame: &[u8]) -> Vec<u8> {
    let mut b = frame.to_vec();
    let mut h = ipv4::Packet::new_unchecked(&mut b[14..]);
    h.set_ttl(h.ttl() - 1);
    h.fill_checksum();
    b
}

/// An engine with one TCP service on VIP:80 (rr) and one real server.
pub fn one_server(addr: &str, port: u16, method: ForwardMethod) -> Engine {
    engine_with(&[service(
        Protocol::Tcp,
        80,
        SchedulerKind::Rr,
        vec![dest(addr, port, method, 1)],
    )])
}
