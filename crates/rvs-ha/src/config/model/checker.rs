//! Checker configurations.

use core::net::IpAddr;
use core::time::Duration;

use super::{Loc, Timing};

/// Connection options common to the network checkers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnOpts {
    pub connect_ip: Option<IpAddr>,
    pub connect_port: Option<u16>,
    pub bindto: Option<IpAddr>,
    pub bind_port: Option<u16>,
    pub bind_if: Option<String>,
    pub fwmark: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckerConfig {
    pub kind: CheckerKind,
    pub conn: ConnOpts,
    pub timing: Timing,
    pub alpha: Option<bool>,
    pub log_all_failures: bool,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckerKind {
    Tcp,
    Http(HttpCheck),
    Smtp { helo_name: Option<String> },
    Dns { qtype: DnsType, name: String },
    Misc(MiscCheck),
    Udp(UdpCheck),
    Ping,
}

impl CheckerKind {
    pub fn name(&self) -> &'static str {
        match self {
            CheckerKind::Tcp => "TCP_CHECK",
            CheckerKind::Http(h) if h.tls => "SSL_GET",
            CheckerKind::Http(_) => "HTTP_GET",
            CheckerKind::Smtp { .. } => "SMTP_CHECK",
            CheckerKind::Dns { .. } => "DNS_CHECK",
            CheckerKind::Misc(_) => "MISC_CHECK",
            CheckerKind::Udp(_) => "UDP_CHECK",
            CheckerKind::Ping => "PING_CHECK",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpVersion {
    V1_0,
    /// 1.0 with `Connection: close`.
    V1_0C,
    V1_1,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheck {
    /// SSL_GET.
    pub tls: bool,
    pub urls: Vec<UrlCheck>,
    pub protocol: HttpVersion,
    pub fast_recovery: bool,
    pub virtualhost: Option<String>,
    pub enable_sni: bool,
    pub sni_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlCheck {
    pub path: String,
    /// MD5 of the body.
    pub digest: Option<[u8; 16]>,
    /// Inclusive ranges; empty = 200-299.
    pub status_codes: Vec<(u16, u16)>,
    pub virtualhost: Option<String>,
    pub regex: Option<UrlRegex>,
}

/// `regex` of a url: the body must match (or, with `regex_no_match`, must not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlRegex {
    pub pattern: String,
    pub no_match: bool,
    /// keepalived's (PCRE2) option names that rvs maps onto Rust regex flags.
    pub options: Vec<String>,
    /// The match must start at or after this offset in the body...
    pub min_offset: usize,
    /// ...and at or before this one.
    pub max_offset: Option<usize>,
}

/// The PCRE2 options of `regex_options` that have a Rust regex equivalent.
pub const REGEX_OPTIONS: &[&str] = &[
    "caseless",
    "multiline",
    "dotall",
    "extended",
    "ungreedy",
    "utf",
    "never_utf",
    "ucp",
    "dollar_endonly",
    "no_auto_capture",
];

impl UrlRegex {
    pub fn compile(&self) -> Result<regex::bytes::Regex, String> {
        let mut b = regex::bytes::RegexBuilder::new(&self.pattern);
        b.unicode(false);
        for o in &self.options {
            match o.as_str() {
                "caseless" => b.case_insensitive(true),
                "multiline" => b.multi_line(true),
                "dotall" => b.dot_matches_new_line(true),
                "extended" => b.ignore_whitespace(true),
                "ungreedy" => b.swap_greed(true),
                "utf" | "ucp" => b.unicode(true),
                _ => &mut b,
            };
        }
        b.build().map_err(|e| e.to_string())
    }

    /// Whether `body` passes: a match within the offsets, or none with `no_match`.
    pub fn passes(&self, re: &regex::bytes::Regex, body: &[u8]) -> bool {
        let start = self.min_offset.min(body.len());
        let found = re
            .find_iter(&body[start..])
            .any(|m| self.max_offset.is_none_or(|max| start + m.start() <= max));
        found != self.no_match
    }
}

impl UrlCheck {
    pub fn status_ok(&self, code: u16) -> bool {
        if self.status_codes.is_empty() {
            return (200..=299).contains(&code);
        }
        self.status_codes
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&code))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsType {
    A,
    Ns,
    Cname,
    Soa,
    Mx,
    Txt,
    Aaaa,
}

impl DnsType {
    pub fn from_name(s: &str) -> Option<DnsType> {
        Some(match s.to_ascii_uppercase().as_str() {
            "A" => DnsType::A,
            "NS" => DnsType::Ns,
            "CNAME" => DnsType::Cname,
            "SOA" => DnsType::Soa,
            "MX" => DnsType::Mx,
            "TXT" => DnsType::Txt,
            "AAAA" => DnsType::Aaaa,
            _ => return None,
        })
    }

    /// The QTYPE number (RFC 1035, RFC 3596).
    pub fn code(self) -> u16 {
        match self {
            DnsType::A => 1,
            DnsType::Ns => 2,
            DnsType::Cname => 5,
            DnsType::Soa => 6,
            DnsType::Mx => 15,
            DnsType::Txt => 16,
            DnsType::Aaaa => 28,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiscCheck {
    pub path: String,
    /// `None`: the delay_loop.
    pub timeout: Option<Duration>,
    pub dynamic: bool,
    pub user: Option<String>,
}

/// A byte pattern where `None` nibbles (`x` in the config) match anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HexPattern(pub Vec<(Option<u8>, Option<u8>)>);

impl HexPattern {
    /// Compares up to the shorter of the pattern and the data.
    pub fn matches(&self, data: &[u8]) -> bool {
        self.0.iter().zip(data).all(|(&(hi, lo), &b)| {
            hi.is_none_or(|h| h == b >> 4) && lo.is_none_or(|l| l == b & 0x0f)
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpCheck {
    pub payload: Option<Vec<u8>>,
    /// `Some(None)`: any reply; `Some(Some(p))`: a reply matching p.
    pub require_reply: Option<Option<HexPattern>>,
    pub min_reply_length: usize,
    pub max_reply_length: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(pattern: &str, options: &[&str]) -> UrlRegex {
        UrlRegex {
            pattern: pattern.to_string(),
            no_match: false,
            options: options.iter().map(|s| s.to_string()).collect(),
            min_offset: 0,
            max_offset: None,
        }
    }

    #[test]
    fn regex_match_offsets_and_reverse() {
        let mut r = re("ok", &[]);
        let c = r.compile().unwrap();
        assert!(r.passes(&c, b"all ok"));
        assert!(!r.passes(&c, b"all OK"));
        r.no_match = true;
        assert!(!r.passes(&c, b"all ok"));
        assert!(r.passes(&c, b"failed"));
        let mut r = re("ok", &["caseless"]);
        let c = r.compile().unwrap();
        assert!(r.passes(&c, b"all OK"));
        // The match must start within [min_offset, max_offset].
        r.min_offset = 5;
        assert!(!r.passes(&c, b"all ok"));
        r.min_offset = 0;
        r.max_offset = Some(2);
        assert!(!r.passes(&c, b"all ok"));
        assert!(r.passes(&c, b"okay"));
        assert!(re("(", &[]).compile().is_err());
    }
}
