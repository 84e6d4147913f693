//! Steering: which packets rvsd claims from the kernel.
//!
//! A packet socket sees every frame of an interface, but the kernel handles them
//! too: it would RST a TCP SYN to a VIP port nobody listens on, or forward a NAT
//! reply a second time. An nftables `netdev` ingress chain runs after the packet
//! taps and before the IP stack, so a drop there hides exactly the claimed packets
//! from the kernel while rvsd still receives them. Everything not claimed (ARP,
//! ICMP echo to the VIP, SSH, VRRP...) stays with the kernel.
//!
//! [`Steering`] is the claim computed from the configuration; [`Steering::ruleset`]
//! renders it as one nft table; `nft` applies and removes it.

mod nft;

pub use nft::{cleanup_stale, nft_available, SteeringError, SteeringGuard};

use core::fmt::Write as _;
use core::net::IpAddr;
use rvs_core::model::{Family, ForwardMethod, Protocol, ServiceKey, VirtualService};
use std::collections::BTreeSet;

const ALL_PROTOCOLS: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

/// How a firewall-mark service's packets are recognised. LVS users mark packets in
/// iptables' mangle table, which runs after the ingress hook, so rvs needs the
/// match itself to claim them: destination prefix, optional protocol and ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FwmarkMatch {
    pub mark: u32,
    pub dst: IpAddr,
    pub prefix_len: u8,
    pub proto: Option<Protocol>,
    /// Inclusive destination port range; needs `proto`.
    pub dports: Option<(u16, u16)>,
}

/// The packets one rvsd instance claims, in a canonical (sorted) form so equal
/// configurations render identical rulesets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Steering {
    /// (VIP, protocol, port): a virtual service. Port 0 means every port.
    services: BTreeSet<(IpAddr, Protocol, u16)>,
    /// (real server, protocol, port): replies of NAT and FULLNAT real servers.
    /// Port 0 means every port (fwmark services, whose real servers keep the port).
    replies: BTreeSet<(IpAddr, Protocol, u16)>,
    /// FULLNAT local addresses: every TCP/UDP/SCTP packet to them is a reply.
    local_addrs: BTreeSet<IpAddr>,
    fwmarks: BTreeSet<FwmarkMatch>,
}

fn is_v4(a: &IpAddr) -> bool {
    a.is_ipv4()
}

fn proto_word(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}

impl Steering {
    /// The claim of `services`. `fwmark_matches` says how each fwmark is recognised
    /// (entries whose mark no service uses are ignored); `fullnat_pool` lists the
    /// local addresses of FULLNAT.
    pub fn compute(
        services: &[VirtualService],
        fwmark_matches: &[FwmarkMatch],
        fullnat_pool: &[IpAddr],
    ) -> Steering {
        let mut s = Steering::default();
        for vs in services {
            let protos: &[Protocol] = match vs.config.key {
                ServiceKey::Addr { proto, addr, port } => {
                    s.services.insert((addr, proto, port));
                    match proto {
                        Protocol::Tcp => &[Protocol::Tcp],
                        Protocol::Udp => &[Protocol::Udp],
                        Protocol::Sctp => &[Protocol::Sctp],
                    }
                }
                ServiceKey::Fwmark { mark, family } => {
                    for m in fwmark_matches {
                        if m.mark == mark && Family::of(&m.dst) == family {
                            s.fwmarks.insert(*m);
                        }
                    }
                    &ALL_PROTOCOLS
                }
            };
            let fwmark = matches!(vs.config.key, ServiceKey::Fwmark { .. });
            for d in &vs.dests {
                if matches!(d.method, ForwardMethod::Masq | ForwardMethod::FullNat) {
                    let port = if fwmark { 0 } else { d.port };
                    for p in protos {
                        s.replies.insert((d.addr, *p, port));
                    }
                }
            }
        }
        s.local_addrs.extend(fullnat_pool.iter().copied());
        s
    }

    /// True when nothing is claimed.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
            && self.replies.is_empty()
            && self.local_addrs.is_empty()
            && self.fwmarks.is_empty()
    }

    /// The nft script that atomically replaces table `netdev <table>` with this
    /// claim, one ingress chain per interface in `interfaces`.
    pub fn ruleset(&self, table: &str, interfaces: &[String]) -> String {
        let mut out = String::new();
        // Declaring then deleting makes the script work whether or not the table
        // exists; nft runs the whole file as one transaction.
        let _ = writeln!(out, "table netdev {table}");
        let _ = writeln!(out, "delete table netdev {table}");
        let _ = writeln!(out, "table netdev {table} {{");
        self.write_sets(&mut out);
        for (i, ifname) in interfaces.iter().enumerate() {
            let _ = writeln!(out, "\tchain ingress{i} {{");
            let _ = writeln!(
                out,
                "\t\ttype filter hook ingress device \"{ifname}\" priority -500; policy accept;"
            );
            self.write_rules(&mut out);
            let _ = writeln!(out, "\t}}");
        }
        let _ = writeln!(out, "}}");
        out
    }

    fn write_sets(&self, out: &mut String) {
        let by_port = |v4: bool, any: bool| {
            self.services
                .iter()
                .filter(move |(a, _, p)| is_v4(a) == v4 && (*p == 0) == any)
        };
        let replies = |v4: bool, any: bool| {
            self.replies
                .iter()
                .filter(move |(a, _, p)| is_v4(a) == v4 && (*p == 0) == any)
        };
        for v4 in [true, false] {
            let (fam, addr_t) = if v4 {
                ("4", "ipv4_addr")
            } else {
                ("6", "ipv6_addr")
            };
            write_set(
                out,
                &format!("svc{fam}"),
                &format!("{addr_t} . inet_proto . inet_service"),
                by_port(v4, false).map(|(a, pr, p)| format!("{a} . {} . {p}", proto_word(*pr))),
            );
            write_set(
                out,
                &format!("svcall{fam}"),
                &format!("{addr_t} . inet_proto"),
                by_port(v4, true).map(|(a, pr, _)| format!("{a} . {}", proto_word(*pr))),
            );
            write_set(
                out,
                &format!("rs{fam}"),
                &format!("{addr_t} . inet_proto . inet_service"),
                replies(v4, false).map(|(a, pr, p)| format!("{a} . {} . {p}", proto_word(*pr))),
            );
            write_set(
                out,
                &format!("rsall{fam}"),
                &format!("{addr_t} . inet_proto"),
                replies(v4, true).map(|(a, pr, _)| format!("{a} . {}", proto_word(*pr))),
            );
            write_set(
                out,
                &format!("local{fam}"),
                addr_t,
                self.local_addrs
                    .iter()
                    .filter(|a| is_v4(a) == v4)
                    .map(|a| a.to_string()),
            );
        }
    }

    fn write_rules(&self, out: &mut String) {
        for (fam, ip) in [("4", "ip"), ("6", "ip6")] {
            let _ = writeln!(
                out,
                "\t\t{ip} daddr . meta l4proto . th dport @svc{fam} drop"
            );
            let _ = writeln!(out, "\t\t{ip} daddr . meta l4proto @svcall{fam} drop");
            let _ = writeln!(
                out,
                "\t\t{ip} saddr . meta l4proto . th sport @rs{fam} drop"
            );
            let _ = writeln!(out, "\t\t{ip} saddr . meta l4proto @rsall{fam} drop");
            let _ = writeln!(
                out,
                "\t\t{ip} daddr @local{fam} meta l4proto {{ tcp, udp, sctp }} drop"
            );
        }
        for m in &self.fwmarks {
            let ip = if is_v4(&m.dst) { "ip" } else { "ip6" };
            let _ = write!(out, "\t\t{ip} daddr {}/{}", m.dst, m.prefix_len);
            if let Some(p) = m.proto {
                let _ = write!(out, " meta l4proto {}", proto_word(p));
                if let Some((lo, hi)) = m.dports {
                    if lo == hi {
                        let _ = write!(out, " th dport {lo}");
                    } else {
                        let _ = write!(out, " th dport {lo}-{hi}");
                    }
                }
            }
            let _ = writeln!(out, " drop comment \"fwmark {}\"", m.mark);
        }
    }
}

fn write_set(out: &mut String, name: &str, ty: &str, elems: impl Iterator<Item = String>) {
    let elems: Vec<String> = elems.collect();
    let _ = write!(out, "\tset {name} {{ type {ty};");
    if !elems.is_empty() {
        let _ = write!(out, " elements = {{ {} }}", elems.join(", "));
    }
    let _ = writeln!(out, " }}");
}

#[cfg(test)]
mod tests;
