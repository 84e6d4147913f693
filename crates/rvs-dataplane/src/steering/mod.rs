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

pub use nft::{cleanup_dead_instances, cleanup_stale, nft_available, SteeringError, SteeringGuard};

use core::fmt::Write as _;
use core::net::IpAddr;
use rvs_core::engine::FullNatPool;
use rvs_core::model::{
    Family, ForwardMethod, FwmarkRule, Prefix, Protocol, ServiceKey, VirtualService,
};
use std::collections::BTreeSet;

const ALL_PROTOCOLS: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];
const ICMP4_ERRORS: &str = "{ destination-unreachable, time-exceeded, parameter-problem }";
const ICMP6_ERRORS: &str =
    "{ destination-unreachable, packet-too-big, time-exceeded, parameter-problem }";

/// The packets one rvsd instance claims, in a canonical (sorted) form so equal
/// configurations render identical rulesets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Steering {
    /// (VIP, protocol, port): a virtual service. Port 0 means every port.
    services: BTreeSet<(IpAddr, Protocol, u16)>,
    /// (real server, protocol, port): replies of NAT and FULLNAT real servers.
    /// Port 0 means every port (fwmark services, whose real servers keep the port).
    /// Only claimed when not addressed to the director itself (health checks).
    replies: BTreeSet<(IpAddr, Protocol, u16)>,
    /// FULLNAT local addresses: TCP/UDP/SCTP packets to them within `local_ports`
    /// are replies.
    local_addrs: BTreeSet<IpAddr>,
    local_ports: (u16, u16),
    /// The fwmark classifier rules of fwmark services that exist.
    fwmarks: Vec<FwmarkRule>,
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
    /// The claim of `services`. `fwmark_rules` say how each fwmark is recognised
    /// (the engine's own classifier; rules whose mark no service uses are ignored);
    /// `fullnat` is the engine's FULLNAT local address pool.
    pub fn compute(
        services: &[VirtualService],
        fwmark_rules: &[FwmarkRule],
        fullnat: &FullNatPool,
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
                    for r in fwmark_rules {
                        // A rule mixing families cannot match anything.
                        let coherent = Family::of(&r.dst.addr) == r.family
                            && r.src.is_none_or(|p| Family::of(&p.addr) == r.family);
                        if r.mark == mark
                            && r.family == family
                            && coherent
                            && !s.fwmarks.contains(r)
                        {
                            s.fwmarks.push(*r);
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
        s.local_addrs.extend(fullnat.addrs.iter().copied());
        s.local_ports = fullnat.ports;
        // Keep the engine's order (first match wins there; here all rules drop, so
        // the order only makes the text deterministic).
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
            let rs_addrs: BTreeSet<&IpAddr> = self
                .replies
                .iter()
                .filter(|(a, _, _)| is_v4(a) == v4)
                .map(|(a, _, _)| a)
                .collect();
            write_set(
                out,
                &format!("rsaddr{fam}"),
                addr_t,
                rs_addrs.iter().map(|a| a.to_string()),
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
            // Replies to the director's own addresses (its health checks of the
            // real servers) stay with the kernel.
            let _ = writeln!(
                out,
                "\t\t{ip} saddr . meta l4proto . th sport @rs{fam} fib daddr type != local drop"
            );
            let _ = writeln!(
                out,
                "\t\t{ip} saddr . meta l4proto @rsall{fam} fib daddr type != local drop"
            );
            let (lo, hi) = self.local_ports;
            let _ = writeln!(
                out,
                "\t\t{ip} daddr @local{fam} meta l4proto {{ tcp, udp, sctp }} th dport {} drop",
                port_range(lo, hi)
            );
            // ICMP errors about connections: from NAT/FULLNAT real servers towards
            // clients, and towards FULLNAT local addresses. The engine translates
            // them; the kernel must not forward them untranslated.
            let (icmp, errors) = if fam == "4" {
                ("icmp", ICMP4_ERRORS)
            } else {
                ("icmpv6", ICMP6_ERRORS)
            };
            let _ = writeln!(
                out,
                "\t\t{ip} saddr @rsaddr{fam} fib daddr type != local {icmp} type {errors} drop"
            );
            let _ = writeln!(out, "\t\t{ip} daddr @local{fam} {icmp} type {errors} drop");
        }
        for r in &self.fwmarks {
            let ip = if r.family == Family::V4 { "ip" } else { "ip6" };
            let _ = write!(out, "\t\t{ip} daddr {}", prefix(&r.dst));
            if let Some(src) = &r.src {
                let _ = write!(out, " {ip} saddr {}", prefix(src));
            }
            match r.proto {
                Some(p) => {
                    let _ = write!(out, " meta l4proto {}", proto_word(p));
                }
                None => {
                    let _ = write!(out, " meta l4proto {{ tcp, udp, sctp }}");
                }
            }
            if let Some((lo, hi)) = r.dst_ports {
                let _ = write!(out, " th dport {}", port_range(lo, hi));
            }
            let _ = writeln!(out, " drop comment \"fwmark {}\"", r.mark);
        }
    }
}

fn port_range(lo: u16, hi: u16) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("{}-{}", lo.min(hi), lo.max(hi))
    }
}

/// A prefix as nft reads it (nft itself clears the host bits).
fn prefix(p: &Prefix) -> String {
    let max = if p.addr.is_ipv4() { 32 } else { 128 };
    format!("{}/{}", p.addr, p.len.min(max))
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
