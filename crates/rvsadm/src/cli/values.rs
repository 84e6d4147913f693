//! ipvsadm's readings of option values: numbers as `strtol` reads them, timeouts,
//! marks, `host[:port]`, masks and scheduler flags.

use super::entry::Addr;
use super::Exit;
use crate::resolve::{inet_aton, inet_pton6, Resolver};
use core::net::IpAddr;
use rvs_core::model::{Family, Protocol, SchedFlags};

/// Longest accepted timeout, in seconds (31 days).
pub const MAX_TIMEOUT: u32 = 86400 * 31;
/// Timeout of a bare `-p`.
pub const DEFAULT_PERSISTENT_TIMEOUT: u32 = 360;

pub fn string_to_number(s: &str, min: i64, max: i64) -> Option<i64> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Out of `long` range is ERANGE: refused like any out-of-range value.
    let magnitude: i64 = digits.parse().ok()?;
    let n = if neg { -magnitude } else { magnitude };
    (min..=max).contains(&n).then_some(n)
}

/// `atoi`: leading blanks, a sign, then as many digits as there are; 0 if none.
pub(crate) fn atoi(s: &str) -> i64 {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .take(18)
        .collect();
    let n: i64 = digits.parse().unwrap_or(0);
    if neg {
        -n
    } else {
        n
    }
}

pub(crate) fn parse_timeout(value: Option<&str>, min: u32, max: u32) -> Result<u32, Exit> {
    let Some(v) = value else {
        return Ok(DEFAULT_PERSISTENT_TIMEOUT);
    };
    string_to_number(v, i64::from(min), i64::from(max))
        .map(|n| n as u32)
        .ok_or_else(|| Exit::usage(format!("invalid timeout value `{v}' specified")))
}

pub(crate) fn parse_fwmark(v: &str) -> Result<u32, Exit> {
    match string_to_number(v, 1, i64::from(u32::MAX)) {
        Some(n) => Ok(n as u32),
        None => Err(Exit::usage(format!("invalid fwmark value `{v}' specified"))),
    }
}

/// ipvsadm's `parse_service`: `host[:port]` or `[ipv6]:port`; `None` when no
/// address could be read. `base` is the entry it starts from (a real server
/// starts from the service, so its port defaults to the service's).
pub(crate) fn parse_addr(
    text: &str,
    proto: Option<Protocol>,
    base: Addr,
    names: &dyn Resolver,
) -> Option<(Addr, bool)> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut out = base;
    let mut host = text;
    let mut port_text: Option<&str> = None;
    if let Some(inner) = text.strip_prefix('[') {
        let close = inner.find(']')?;
        let after = &inner[close + 1..];
        let rest = after.strip_prefix(':')?;
        host = &inner[..close];
        port_text = Some(rest);
    }
    if let Some(v6) = inet_pton6(host) {
        out.addr = IpAddr::V6(v6);
        out.family = Some(Family::V6);
    } else {
        // A colon that is not an IPv6 address separates the port; this replaces
        // any bracketed port, exactly as ipvsadm does.
        port_text = None;
        if let Some(i) = host.rfind(':') {
            port_text = Some(&host[i + 1..]);
            host = &host[..i];
        }
        let v4 = inet_aton(host).or_else(|| names.host_to_v4(host))?;
        out.addr = IpAddr::V4(v4);
        out.family = Some(Family::V4);
    }
    let Some(p) = port_text else {
        return Some((out, false));
    };
    out.port = match string_to_number(p, 0, 65535) {
        Some(n) => n as u16,
        None => names.service_to_port(p, proto?)?,
    };
    Some((out, true))
}

pub(crate) fn mask_to_prefix(mask: u32) -> Option<u8> {
    let ones = mask.leading_ones();
    (mask.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

pub(crate) fn parse_sched_flags(sched: &str, arg: &str) -> Result<u32, Exit> {
    let sched = if sched.is_empty() { "wlc" } else { sched };
    let mut flags = 0;
    let mut any = false;
    for flag in arg.split(',').filter(|f| !f.is_empty()) {
        any = true;
        let (bit, only) = match flag {
            "flag-1" => (SchedFlags::FLAG1, None),
            "flag-2" => (SchedFlags::FLAG2, None),
            "flag-3" => (SchedFlags::FLAG3, None),
            "sh-fallback" => (SchedFlags::FLAG1, Some("sh")),
            "sh-port" => (SchedFlags::FLAG2, Some("sh")),
            "mh-fallback" => (SchedFlags::FLAG1, Some("mh")),
            "mh-port" => (SchedFlags::FLAG2, Some("mh")),
            _ => return Err(Exit::usage(format!("invalid scheduler flag `{flag}'"))),
        };
        flags |= bit;
        if only.is_some_and(|s| s != sched) {
            return Err(Exit::usage(format!("incompatible scheduler flag `{flag}'")));
        }
    }
    if !any {
        return Err(Exit::usage(format!("invalid scheduler flag `{arg}'")));
    }
    Ok(flags)
}

/// Keeps the first `max` bytes of `s` (ipvsadm copies names into fixed buffers).
pub(crate) fn truncated(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}
