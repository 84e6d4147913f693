//! ipvsadm's listings, byte for byte, from the daemon's [`Snapshot`] and
//! [`ConnEntry`] rows. Every function returns the text ipvsadm would print.

mod conn;
mod list;
mod marks;
mod sort;

pub use conn::format_connections;
pub use list::{
    format_daemons, format_list_all, format_service_listing, format_timeout, HEADER_VERSION,
};
pub use marks::{format_mark_lines, format_marks, MARKS_HEADER};
pub use sort::{glibc_msort, ipvs_cmp_dests, ipvs_cmp_services};

use crate::resolve::Resolver;
use core::fmt::Write;
use core::net::IpAddr;
use rvs_core::model::Protocol;

/// ipvsadm's `print_largenum`: exact with `--exact`, otherwise scaled by 1000s
/// with a K/M/G/T suffix from 10^8 on, always 9 characters wide.
pub fn largenum(out: &mut String, n: u64, exact: bool) {
    if exact {
        let len = n.to_string().len();
        let width = if len <= 8 { 9 } else { len + 1 };
        let _ = write!(out, "{n:>width$}");
        return;
    }
    let _ = match n {
        0..=99_999_999 => write!(out, "{n:>9}"),
        100_000_000..=999_999_999 => write!(out, "{:>8}K", n / 1_000),
        1_000_000_000..=99_999_999_999 => write!(out, "{:>8}M", n / 1_000_000),
        100_000_000_000..=99_999_999_999_999 => write!(out, "{:>8}G", n / 1_000_000_000),
        _ => write!(out, "{:>8}T", n / 1_000_000_000_000),
    };
}

/// ipvsadm's `addrport_to_anyname`: `addr:port`, IPv6 in brackets, with host and
/// service names unless `numeric`.
pub fn addr_port(
    addr: IpAddr,
    port: u16,
    proto: Option<Protocol>,
    numeric: bool,
    names: &dyn Resolver,
) -> String {
    let (open, close) = match addr {
        IpAddr::V4(_) => ("", ""),
        IpAddr::V6(_) => ("[", "]"),
    };
    if numeric {
        return format!("{open}{addr}{close}:{port}");
    }
    let host = names.addr_to_host(addr).unwrap_or_else(|| addr.to_string());
    let service = proto
        .and_then(|p| names.port_to_service(port, p))
        .unwrap_or_else(|| port.to_string());
    format!("{open}{host}{close}:{service}")
}

/// Cuts `s` to at most `max` bytes (ipvsadm writes a NUL into its buffer).
pub(crate) fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(n: u64, exact: bool) -> String {
        let mut s = String::new();
        largenum(&mut s, n, exact);
        s
    }

    #[test]
    fn scaled_numbers() {
        assert_eq!(num(0, false), "        0");
        assert_eq!(num(99_999_999, false), " 99999999");
        assert_eq!(num(100_000_000, false), "  100000K");
        assert_eq!(num(999_999_999, false), "  999999K");
        assert_eq!(num(1_000_000_000, false), "    1000M");
        assert_eq!(num(99_999_999_999, false), "   99999M");
        assert_eq!(num(100_000_000_000, false), "     100G");
        assert_eq!(num(100_000_000_000_000, false), "     100T");
        assert_eq!(num(u64::MAX, false), "18446744T");
    }

    #[test]
    fn exact_numbers_grow() {
        assert_eq!(num(5, true), "        5");
        assert_eq!(num(12_345_678, true), " 12345678");
        assert_eq!(num(123_456_789, true), " 123456789");
        assert_eq!(num(u64::MAX, true), " 18446744073709551615");
    }
}
