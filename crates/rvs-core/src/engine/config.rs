//! Settings of an [`Engine`](super::Engine) fixed at creation: sizes, the FULLNAT
//! local address pool, tunnel source addresses and the kernel's sysctl knobs.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The `net.ipv4.vs.*` knobs the engine honours (Documentation/networking/ipvs-sysctl.rst).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sysctls {
    /// Bit 0: reschedule a new connection that reuses the ports of a TIME_WAIT one
    /// (NAT) instead of reviving it; bit 1: also from FIN_WAIT for DR/TUN. Default 1.
    pub conn_reuse_mode: u8,
    /// Expire a connection whose real server was removed on its next packet
    /// (the packet is dropped either way). Default false.
    pub expire_nodest_conn: bool,
    /// Invalidate a persistence template whose real server was quiesced (weight 0).
    /// Default false.
    pub expire_quiescent_template: bool,
    /// `sync_threshold` "3 50": a connection is sent to the backup when its input
    /// packet count modulo `period` equals `threshold`.
    pub sync_threshold: u32,
    pub sync_period: u32,
}

impl Default for Sysctls {
    fn default() -> Self {
        Sysctls {
            conn_reuse_mode: 1,
            expire_nodest_conn: false,
            expire_quiescent_template: false,
            sync_threshold: 3,
            sync_period: 50,
        }
    }
}

/// Local addresses and ports FULLNAT connections take as their source towards the
/// real servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullNatPool {
    pub addrs: Vec<IpAddr>,
    /// Inclusive source port range handed out per local address.
    pub ports: (u16, u16),
}

impl Default for FullNatPool {
    fn default() -> Self {
        FullNatPool {
            addrs: Vec::new(),
            ports: (1024, 65535),
        }
    }
}

/// Everything an engine is created with. Changing these means a new engine; the
/// services themselves change through [`Engine::apply`](super::Engine::apply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// Number of data-plane workers (one [`Worker`](super::Worker) each); at least 1.
    pub workers: usize,
    /// Most connection entries (templates included); new ones beyond are refused
    /// with `DropReason::TableFull`.
    pub max_conns: usize,
    pub fullnat_pool: FullNatPool,
    /// Outer source address of IPv4 tunnels (IPIP, GUE, GRE over IPv4). The engine
    /// writes the outer header itself, so the data plane must tell it which address
    /// the director uses towards its real servers (rvsd takes it from the kernel's
    /// route to the real servers). Without it, tunnel dests of that family are
    /// unusable and packets to them are dropped (`NoDestination`).
    pub tunnel_src_v4: Option<Ipv4Addr>,
    /// Outer source address of IPv6 tunnels.
    pub tunnel_src_v6: Option<Ipv6Addr>,
    /// Seed of the randomised schedulers (twos) and of hash keys.
    pub seed: u64,
    pub sysctls: Sysctls,
    /// Egress MTU of the director. A tunnelled packet that would exceed it is turned
    /// into an ICMP error for its sender, as the kernel does (IPv4 with DF: "fragmentation
    /// needed", IPv6: "packet too big", with this MTU minus the tunnel overhead), and
    /// returned as `Verdict::Forward` towards the client; an IPv4 packet without DF is
    /// refused with `DropReason::TooBig`. 0 = no limit but the 64 KiB IP maximum.
    pub mtu: u16,
    /// Entries of each worker's flow cache, the lock-free fast path for the packets
    /// of established connections (rounded up to a power of two; 0 turns it off,
    /// which changes no outcome, only the cost). 168 bytes each.
    pub flow_cache: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            workers: 1,
            max_conns: 1 << 20,
            fullnat_pool: FullNatPool::default(),
            tunnel_src_v4: None,
            tunnel_src_v6: None,
            seed: 0x5256_535f_656e_6731,
            sysctls: Sysctls::default(),
            mtu: 0,
            flow_cache: 4096,
        }
    }
}
