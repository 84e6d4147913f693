//! Names of hosts and services, as ipvsadm looks them up: host names forward with
//! the system resolver (IPv4 only, like `gethostbyname`), addresses backward
//! (reverse DNS), service names in /etc/services per protocol. Behind a trait so
//! that tests and golden files never depend on the machine's name service.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use rvs_core::model::Protocol;
use std::ffi::{CStr, CString};

pub trait Resolver {
    /// A host name to its first IPv4 address.
    fn host_to_v4(&self, name: &str) -> Option<Ipv4Addr>;
    /// An address to its host name (reverse lookup).
    fn addr_to_host(&self, addr: IpAddr) -> Option<String>;
    /// A service name to its port for `proto`.
    fn service_to_port(&self, name: &str, proto: Protocol) -> Option<u16>;
    /// A port to its service name for `proto`.
    fn port_to_service(&self, port: u16, proto: Protocol) -> Option<String>;
}

/// The machine's resolver (NSS: /etc/hosts, DNS, /etc/services).
pub struct SystemResolver;

fn proto_cstr(proto: Protocol) -> &'static CStr {
    match proto {
        Protocol::Tcp => c"tcp",
        Protocol::Udp => c"udp",
        Protocol::Sctp => c"sctp",
    }
}

impl Resolver for SystemResolver {
    fn host_to_v4(&self, name: &str) -> Option<Ipv4Addr> {
        let cname = CString::new(name).ok()?;
        // SAFETY: hints is zero-initialised as getaddrinfo requires; the result list is
        // read only while alive and freed exactly once.
        unsafe {
            let mut hints: libc::addrinfo = core::mem::zeroed();
            hints.ai_family = libc::AF_INET;
            hints.ai_socktype = libc::SOCK_STREAM;
            let mut res: *mut libc::addrinfo = core::ptr::null_mut();
            if libc::getaddrinfo(cname.as_ptr(), core::ptr::null(), &hints, &mut res) != 0 {
                return None;
            }
            let mut found = None;
            if !res.is_null() && !(*res).ai_addr.is_null() && (*res).ai_family == libc::AF_INET {
                let sin = &*((*res).ai_addr as *const libc::sockaddr_in);
                found = Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
            }
            libc::freeaddrinfo(res);
            found
        }
    }

    fn addr_to_host(&self, addr: IpAddr) -> Option<String> {
        let mut host = [0 as libc::c_char; 1025];
        // SAFETY: the sockaddr is fully initialised and its length given; getnameinfo
        // writes a NUL-terminated string into `host` of the stated size.
        let rc = unsafe {
            match addr {
                IpAddr::V4(a) => {
                    let mut sin: libc::sockaddr_in = core::mem::zeroed();
                    sin.sin_family = libc::AF_INET as libc::sa_family_t;
                    sin.sin_addr.s_addr = u32::from(a).to_be();
                    libc::getnameinfo(
                        &sin as *const _ as *const libc::sockaddr,
                        core::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                        host.as_mut_ptr(),
                        host.len() as libc::socklen_t,
                        core::ptr::null_mut(),
                        0,
                        libc::NI_NAMEREQD,
                    )
                }
                IpAddr::V6(a) => {
                    let mut sin6: libc::sockaddr_in6 = core::mem::zeroed();
                    sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                    sin6.sin6_addr.s6_addr = a.octets();
                    libc::getnameinfo(
                        &sin6 as *const _ as *const libc::sockaddr,
                        core::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                        host.as_mut_ptr(),
                        host.len() as libc::socklen_t,
                        core::ptr::null_mut(),
                        0,
                        libc::NI_NAMEREQD,
                    )
                }
            }
        };
        if rc != 0 {
            return None;
        }
        // SAFETY: getnameinfo succeeded, so `host` holds a NUL-terminated string.
        let name = unsafe { CStr::from_ptr(host.as_ptr()) };
        Some(name.to_string_lossy().into_owned())
    }

    fn service_to_port(&self, name: &str, proto: Protocol) -> Option<u16> {
        let cname = CString::new(name).ok()?;
        // SAFETY: getservbyname returns NULL or a pointer to static storage that we
        // read before any other call; rvsadm is single-threaded.
        unsafe {
            let s = libc::getservbyname(cname.as_ptr(), proto_cstr(proto).as_ptr());
            if s.is_null() {
                return None;
            }
            Some(u16::from_be((*s).s_port as u16))
        }
    }

    fn port_to_service(&self, port: u16, proto: Protocol) -> Option<String> {
        // SAFETY: as in service_to_port; s_name is a NUL-terminated string.
        unsafe {
            let s = libc::getservbyport(i32::from(port.to_be()), proto_cstr(proto).as_ptr());
            if s.is_null() || (*s).s_name.is_null() {
                return None;
            }
            Some(CStr::from_ptr((*s).s_name).to_string_lossy().into_owned())
        }
    }
}

/// A resolver that knows nothing: every lookup fails (as with `-n`, but for input).
pub struct NoResolver;

impl Resolver for NoResolver {
    fn host_to_v4(&self, _: &str) -> Option<Ipv4Addr> {
        None
    }
    fn addr_to_host(&self, _: IpAddr) -> Option<String> {
        None
    }
    fn service_to_port(&self, _: &str, _: Protocol) -> Option<u16> {
        None
    }
    fn port_to_service(&self, _: u16, _: Protocol) -> Option<String> {
        None
    }
}

/// A resolver with fixed tables, for tests and golden files.
#[derive(Default, Clone)]
pub struct TableResolver {
    pub hosts: Vec<(String, IpAddr)>,
    /// (name, port, protocol), in /etc/services order.
    pub services: Vec<(String, u16, Protocol)>,
}

impl TableResolver {
    /// The /etc/services entries the lab captures use.
    pub fn lab() -> TableResolver {
        let svc = |n: &str, p: u16, pr: Protocol| (n.to_string(), p, pr);
        TableResolver {
            hosts: Vec::new(),
            services: vec![
                svc("ssh", 22, Protocol::Tcp),
                svc("smtp", 25, Protocol::Tcp),
                svc("domain", 53, Protocol::Tcp),
                svc("domain", 53, Protocol::Udp),
                svc("http", 80, Protocol::Tcp),
                svc("https", 443, Protocol::Tcp),
                svc("https", 443, Protocol::Udp),
                svc("sip", 5060, Protocol::Tcp),
                svc("sip", 5060, Protocol::Udp),
                svc("http-alt", 8080, Protocol::Tcp),
            ],
        }
    }
}

impl Resolver for TableResolver {
    fn host_to_v4(&self, name: &str) -> Option<Ipv4Addr> {
        self.hosts.iter().find_map(|(n, a)| match a {
            IpAddr::V4(v4) if n == name => Some(*v4),
            _ => None,
        })
    }
    fn addr_to_host(&self, addr: IpAddr) -> Option<String> {
        self.hosts
            .iter()
            .find(|(_, a)| *a == addr)
            .map(|(n, _)| n.clone())
    }
    fn service_to_port(&self, name: &str, proto: Protocol) -> Option<u16> {
        self.services
            .iter()
            .find(|(n, _, p)| n == name && *p == proto)
            .map(|(_, port, _)| *port)
    }
    fn port_to_service(&self, port: u16, proto: Protocol) -> Option<String> {
        self.services
            .iter()
            .find(|(_, po, p)| *po == port && *p == proto)
            .map(|(n, _, _)| n.clone())
    }
}

/// `inet_aton`: one to four parts, each decimal, octal (leading 0) or hex (0x);
/// the last part fills the remaining bytes. Trailing whitespace and what follows it
/// are ignored, as glibc does.
pub fn inet_aton(text: &str) -> Option<Ipv4Addr> {
    let text = match text.find(|c: char| c.is_ascii_whitespace()) {
        Some(i) => &text[..i],
        None => text,
    };
    let mut parts: Vec<u64> = Vec::with_capacity(4);
    for part in text.split('.') {
        if parts.len() == 4 {
            return None;
        }
        parts.push(parse_c_ulong(part)?);
    }
    let n = parts.len();
    let (last, head) = parts.split_last()?;
    if head.iter().any(|&p| p > 0xff) {
        return None;
    }
    let max_last = [0xffff_ffffu64, 0xff_ffff, 0xffff, 0xff][n - 1];
    if *last > max_last {
        return None;
    }
    let mut value: u32 = 0;
    for (i, p) in head.iter().enumerate() {
        value |= (*p as u32) << (24 - 8 * i);
    }
    value |= *last as u32;
    Some(Ipv4Addr::from(value))
}

/// strtoul with base 0 on a whole string (no sign, no empty).
fn parse_c_ulong(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() {
        // "0x" alone is not a number for inet_aton.
        return if radix == 16 { None } else { Some(0) };
    }
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix)
        .ok()
        .filter(|v| *v <= 0xffff_ffff)
}

/// `inet_pton(AF_INET6, ...)`.
pub fn inet_pton6(text: &str) -> Option<Ipv6Addr> {
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inet_aton_forms() {
        assert_eq!(inet_aton("10.0.0.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(inet_aton("10.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(inet_aton("0x0a000001"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(inet_aton("010.0.0.1"), Some(Ipv4Addr::new(8, 0, 0, 1)));
        assert_eq!(inet_aton("1234"), Some(Ipv4Addr::new(0, 0, 4, 210)));
        assert_eq!(inet_aton("300.1.1.1"), None);
        assert_eq!(inet_aton("1.2.3.4.5"), None);
        assert_eq!(inet_aton("a.b.c.d"), None);
        assert_eq!(inet_aton(""), None);
        assert_eq!(inet_aton("1..2"), None);
        assert_eq!(inet_aton("09.1.1.1"), None);
    }

    #[test]
    fn table_resolver_is_per_protocol() {
        let r = TableResolver::lab();
        assert_eq!(
            r.port_to_service(53, Protocol::Udp).as_deref(),
            Some("domain")
        );
        assert_eq!(r.port_to_service(8080, Protocol::Udp), None);
        assert_eq!(r.service_to_port("http", Protocol::Tcp), Some(80));
    }
}
