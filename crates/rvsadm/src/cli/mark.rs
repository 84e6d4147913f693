//! rvs's extension for firewall-mark rules: `--add-mark` and `--del-mark` say which
//! packets carry a mark, as `iptables -t mangle -A PREROUTING ... -j MARK
//! --set-mark N` does for the kernel (a userspace data plane cannot see the
//! kernel's mark). The rule's text form is shared with `-S`.
//!
//! ```text
//! --add-mark -f MARK [-6] -t|-u|--sctp-service ADDR[/LEN][:PORT[-PORT]] [--source ADDR[/LEN]]
//! --add-mark -f MARK [-6] --destination ADDR[/LEN] [--source ADDR[/LEN]]
//! ```
//! IPv6 addresses with a port go in brackets, the length inside: `[2001:db8::/64]:443`.

use super::table::{Tag, TABLE};
use super::values::parse_fwmark;
use super::{Action, Exit, Parsed};
use crate::options::Cmd;
use crate::popt::Popt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use rvs_api::request::Request;
use rvs_core::model::{Family, FwmarkRule, Prefix, Protocol};

/// What the destination option said.
struct Destination {
    proto: Option<Protocol>,
    prefix: Prefix,
    ports: Option<(u16, u16)>,
}

/// Reads the rest of a `--add-mark`/`--del-mark` command line.
pub(crate) fn parse(cmd: Cmd, popt: &mut Popt<'_, Tag>) -> Result<Parsed, Exit> {
    let name = cmd.name();
    let mut mark = None;
    let mut v6 = false;
    let mut dst: Option<Destination> = None;
    let mut src: Option<Prefix> = None;
    while let Some(next) = popt.next_opt() {
        let (tag, value) = next.map_err(|err| Exit {
            code: 255,
            stdout: String::new(),
            stderr: format!("{}: {}\n", err.word, err.kind.message()),
        })?;
        let v = value.as_deref().unwrap_or("");
        let twice = |what: &str| Exit::usage(format!("multiple '{what}' options specified"));
        match tag {
            Tag::Fwmark if mark.is_some() => return Err(twice("fwmark-service")),
            Tag::Fwmark => mark = Some(parse_fwmark(v)?),
            Tag::Ipv6 => v6 = true,
            Tag::Tcp | Tag::Udp | Tag::Sctp | Tag::Destination if dst.is_some() => {
                return Err(Exit::usage(format!(
                    "the '{name}' command takes one destination (-t, -u, --sctp-service or \
                     --destination)"
                )))
            }
            Tag::Tcp => dst = Some(destination(v, Some(Protocol::Tcp))?),
            Tag::Udp => dst = Some(destination(v, Some(Protocol::Udp))?),
            Tag::Sctp => dst = Some(destination(v, Some(Protocol::Sctp))?),
            Tag::Destination => dst = Some(destination(v, None)?),
            Tag::Source if src.is_some() => return Err(twice("source")),
            Tag::Source => {
                src = Some(prefix(v).ok_or_else(|| {
                    Exit::usage(format!("illegal source address[/len] `{v}' specified"))
                })?)
            }
            other => {
                let option = TABLE
                    .iter()
                    .find(|spec| spec.tag == other)
                    .map_or("?", |spec| spec.long);
                return Err(Exit::usage(format!(
                    "Illegal '{option}' option with the '{name}' command"
                )));
            }
        }
    }
    if let Some(extra) = popt.leftovers().first() {
        return Err(Exit::usage(format!("unexpected argument {extra}")));
    }
    let Some(mark) = mark else {
        return Err(Exit::usage(format!(
            "You need to supply the 'fwmark-service' option for the '{name}' command"
        )));
    };
    let Some(dst) = dst else {
        return Err(Exit::usage(format!(
            "You need to supply a destination (-t, -u, --sctp-service or --destination) for \
             the '{name}' command"
        )));
    };
    let family = Family::of(&dst.prefix.addr);
    if v6 != (family == Family::V6) {
        return Err(Exit::usage(if v6 {
            "-6 needs an IPv6 destination"
        } else {
            "an IPv6 destination needs -6 (the mark's service is -f MARK -6)"
        }));
    }
    if src.is_some_and(|s| Family::of(&s.addr) != family) {
        return Err(Exit::usage(
            "the source and the destination are of different address families",
        ));
    }
    let rule = FwmarkRule {
        mark,
        family,
        proto: dst.proto,
        dst: dst.prefix,
        dst_ports: dst.ports,
        src,
    };
    let request = match cmd {
        Cmd::DelMark => Request::DelFwmarkRule(rule),
        _ => Request::AddFwmarkRule(rule),
    };
    Ok(Parsed {
        cmd,
        action: Action::Apply(request),
    })
}

/// `ADDR[/LEN][:PORTS]`, `[ADDR6[/LEN]]:PORTS` or `ADDR6[/LEN]`; PORTS is `N`, `N-M`
/// or `0` (any port). A destination without a protocol takes no ports.
fn destination(text: &str, proto: Option<Protocol>) -> Result<Destination, Exit> {
    let bad = || {
        Exit::usage(format!(
            "illegal destination address[/len][:port[-port]] `{text}' specified"
        ))
    };
    let (addr, ports) = if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or_else(bad)?;
        let ports = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or_else(bad)?),
        };
        (inside, ports)
    } else if text.matches(':').count() == 1 {
        let (addr, ports) = text.split_once(':').ok_or_else(bad)?;
        (addr, Some(ports))
    } else {
        (text, None)
    };
    let prefix = prefix(addr).ok_or_else(bad)?;
    if text.starts_with('[') && prefix.addr.is_ipv4() {
        return Err(bad());
    }
    let ports = match ports {
        None => None,
        Some(_) if proto.is_none() => {
            return Err(Exit::usage(
                "--destination matches every protocol and takes no port: use -t, -u or \
                 --sctp-service for ports",
            ))
        }
        Some(p) => port_range(p).ok_or_else(|| {
            Exit::usage(format!(
                "illegal port or port range `{p}' specified (N, N-M with N <= M, or 0 for any)"
            ))
        })?,
    };
    Ok(Destination {
        proto,
        prefix,
        ports,
    })
}

/// `ADDR` or `ADDR/LEN`, numeric only; without a length the prefix is the host.
fn prefix(text: &str) -> Option<Prefix> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let addr = if addr.contains(':') {
        IpAddr::V6(addr.parse::<Ipv6Addr>().ok()?)
    } else {
        IpAddr::V4(addr.parse::<Ipv4Addr>().ok()?)
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) if !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()) => {
            l.parse::<u8>().ok().filter(|n| *n <= max)?
        }
        Some(_) => return None,
    };
    Some(Prefix::new(addr, len))
}

/// `N`, `N-M` (N <= M) or `0` for any port.
fn port_range(text: &str) -> Option<Option<(u16, u16)>> {
    let port = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u16>().ok())
            .flatten()
    };
    match text.split_once('-') {
        None => match port(text)? {
            0 => Some(None),
            p => Some(Some((p, p))),
        },
        Some((lo, hi)) => {
            let (lo, hi) = (port(lo)?, port(hi)?);
            (lo <= hi).then_some(Some((lo, hi)))
        }
    }
}

/// The rule as a command line `-R` reads (without the program name): what `-S`
/// prints after the services.
pub fn save_line(rule: &FwmarkRule) -> String {
    let mut line = format!("--add-mark -f {}", rule.mark);
    if rule.family == Family::V6 {
        line.push_str(" -6");
    }
    let addr = prefix_text(&rule.dst);
    match (rule.proto, rule.dst_ports) {
        (None, _) => line.push_str(&format!(" --destination {addr}")),
        (Some(proto), ports) => {
            let option = match proto {
                Protocol::Tcp => "-t",
                Protocol::Udp => "-u",
                Protocol::Sctp => "--sctp-service",
            };
            let addr = match (rule.family, ports) {
                (Family::V6, Some(_)) => format!("[{addr}]"),
                _ => addr,
            };
            match ports {
                None => line.push_str(&format!(" {option} {addr}")),
                Some(p) => line.push_str(&format!(" {option} {addr}:{}", ports_text(p))),
            }
        }
    }
    if let Some(src) = &rule.src {
        line.push_str(&format!(" --source {}", prefix_text(src)));
    }
    line
}

/// `ADDR` for a host, `ADDR/LEN` for a shorter prefix.
pub fn prefix_text(p: &Prefix) -> String {
    let full = if p.addr.is_ipv4() { 32 } else { 128 };
    if p.len >= full {
        p.addr.to_string()
    } else {
        format!("{}/{}", p.addr, p.len)
    }
}

/// `80` or `80-90`.
pub fn ports_text((lo, hi): (u16, u16)) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}-{hi}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        let p = |s| prefix(s).map(|p| (p.addr.to_string(), p.len));
        assert_eq!(p("10.0.0.1"), Some(("10.0.0.1".into(), 32)));
        assert_eq!(p("10.0.0.0/8"), Some(("10.0.0.0".into(), 8)));
        assert_eq!(p("2001:db8::/32"), Some(("2001:db8::".into(), 32)));
        for bad in [
            "10.0.0.1/33",
            "10.0.0.1/",
            "10.0.0.1/x",
            "10.1",
            "host",
            "::1/129",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }

    #[test]
    fn port_ranges() {
        assert_eq!(port_range("80"), Some(Some((80, 80))));
        assert_eq!(port_range("0"), Some(None));
        assert_eq!(port_range("80-90"), Some(Some((80, 90))));
        for bad in ["", "90-80", "65536", "-1", "80-", "http", "1-2-3"] {
            assert_eq!(port_range(bad), None, "{bad}");
        }
    }

    #[test]
    fn destinations() {
        let d = destination("[2001:db8::/64]:443", Some(Protocol::Tcp)).unwrap();
        assert_eq!((d.prefix.len, d.ports), (64, Some((443, 443))));
        let d = destination("2001:db8::1", Some(Protocol::Tcp)).unwrap();
        assert_eq!((d.prefix.len, d.ports), (128, None));
        let d = destination("172.16.100.0/24:80-90", Some(Protocol::Udp)).unwrap();
        assert_eq!((d.prefix.len, d.ports), (24, Some((80, 90))));
        assert!(destination("[10.0.0.1]:80", Some(Protocol::Tcp)).is_err());
        assert!(destination("[2001:db8::1]80", Some(Protocol::Tcp)).is_err());
        assert!(destination("10.0.0.1:80", None).is_err());
    }
}
