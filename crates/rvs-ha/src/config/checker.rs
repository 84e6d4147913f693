//! Checker blocks inside `real_server`: TCP_CHECK, HTTP_GET, SSL_GET, SMTP_CHECK,
//! DNS_CHECK, MISC_CHECK, UDP_CHECK, PING_CHECK.

use super::lvs::timing;
use super::model::{
    CheckerConfig, CheckerKind, ConnOpts, DnsType, HexPattern, HttpCheck, HttpVersion, MiscCheck,
    Timing, UdpCheck, UrlCheck, UrlRegex, REGEX_OPTIONS,
};
use super::tree::Node;
use super::values::Ctx;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kw {
    Tcp,
    Http,
    Ssl,
    Smtp,
    Dns,
    Misc,
    Udp,
    Ping,
}

pub fn checker_keyword(k: &str) -> Option<Kw> {
    Some(match k {
        "TCP_CHECK" => Kw::Tcp,
        "HTTP_GET" => Kw::Http,
        "SSL_GET" => Kw::Ssl,
        "SMTP_CHECK" => Kw::Smtp,
        "DNS_CHECK" => Kw::Dns,
        "MISC_CHECK" => Kw::Misc,
        "UDP_CHECK" => Kw::Udp,
        "PING_CHECK" => Kw::Ping,
        _ => return None,
    })
}

/// One checker block; SMTP_CHECK with `host { }` blocks yields one checker per host.
pub fn parse(node: &Node, kw: Kw, cx: &mut Ctx<'_>) -> Vec<CheckerConfig> {
    let Some(block) = cx.block(node) else {
        return Vec::new();
    };
    let mut kind = match kw {
        Kw::Tcp => CheckerKind::Tcp,
        Kw::Http | Kw::Ssl => CheckerKind::Http(HttpCheck {
            tls: kw == Kw::Ssl,
            urls: Vec::new(),
            protocol: HttpVersion::V1_0,
            fast_recovery: false,
            virtualhost: None,
            enable_sni: false,
            sni_name: None,
        }),
        Kw::Smtp => CheckerKind::Smtp { helo_name: None },
        Kw::Dns => CheckerKind::Dns {
            qtype: DnsType::Soa,
            name: ".".to_string(),
        },
        Kw::Misc => CheckerKind::Misc(MiscCheck {
            path: String::new(),
            timeout: None,
            dynamic: false,
            user: None,
        }),
        Kw::Udp => CheckerKind::Udp(UdpCheck {
            payload: None,
            require_reply: None,
            min_reply_length: 0,
            max_reply_length: 255,
        }),
        Kw::Ping => CheckerKind::Ping,
    };
    let section = node.keyword().to_string();
    let mut c = CheckerConfig {
        kind: CheckerKind::Tcp,
        conn: ConnOpts::default(),
        timing: Timing::default(),
        alpha: None,
        log_all_failures: false,
        loc: node.loc.clone(),
    };
    let mut hosts: Vec<ConnOpts> = Vec::new();
    for n in block {
        if timing(n, &mut c.timing, cx) {
            continue;
        }
        match n.keyword() {
            "alpha" => c.alpha = cx.boolean(n, 0),
            "log_all_failures" => c.log_all_failures = cx.boolean(n, 0).unwrap_or(false),
            _ if kw != Kw::Misc && conn_opt(n, &mut c.conn, cx) => {}
            "host" if kw == Kw::Smtp => {
                let mut h = ConnOpts::default();
                for hn in n.children() {
                    if !conn_opt(hn, &mut h, cx) {
                        cx.unknown(hn, "SMTP_CHECK host");
                    }
                }
                hosts.push(h);
            }
            _ => specific(n, &mut kind, &section, cx),
        }
    }
    match &kind {
        CheckerKind::Http(h) if h.urls.is_empty() => {
            cx.diags
                .error(&node.loc, format!("{section} has no url {{ }} to check"));
            return Vec::new();
        }
        CheckerKind::Misc(m) if m.path.is_empty() => {
            cx.diags.error(&node.loc, "MISC_CHECK has no misc_path");
            return Vec::new();
        }
        _ => {}
    }
    c.kind = kind;
    if hosts.is_empty() {
        return vec![c];
    }
    // Each host block is a checker of its own, with the block's options on top.
    hosts
        .into_iter()
        .map(|h| {
            let mut one = c.clone();
            one.conn = ConnOpts {
                connect_ip: h.connect_ip.or(c.conn.connect_ip),
                connect_port: h.connect_port.or(c.conn.connect_port),
                bindto: h.bindto.or(c.conn.bindto),
                bind_port: h.bind_port.or(c.conn.bind_port),
                bind_if: h.bind_if.or(c.conn.bind_if.clone()),
                fwmark: h.fwmark.or(c.conn.fwmark),
            };
            one
        })
        .collect()
}

fn conn_opt(n: &Node, co: &mut ConnOpts, cx: &mut Ctx<'_>) -> bool {
    match n.keyword() {
        "connect_ip" => co.connect_ip = cx.ip(n, 0).or(co.connect_ip),
        "connect_port" => co.connect_port = cx.port(n, 0).or(co.connect_port),
        "bindto" | "bind_to" => co.bindto = cx.ip(n, 0).or(co.bindto),
        "bind_port" => co.bind_port = cx.port(n, 0).or(co.bind_port),
        "bind_if" => co.bind_if = cx.arg(n, 0).map(str::to_string),
        "fwmark" => co.fwmark = cx.uint(n, 0, 0, u32::MAX as u64).map(|v| v as u32),
        _ => return false,
    }
    true
}

fn specific(n: &Node, kind: &mut CheckerKind, section: &str, cx: &mut Ctx<'_>) {
    match (kind, n.keyword()) {
        (CheckerKind::Http(h), "url") => {
            if let Some(u) = url(n, cx) {
                h.urls.push(u);
            }
        }
        (CheckerKind::Http(h), "http_protocol") => match cx.arg(n, 0) {
            Some("1.0") => h.protocol = HttpVersion::V1_0,
            Some("1.0C") | Some("1.0c") => h.protocol = HttpVersion::V1_0C,
            Some("1.1") => h.protocol = HttpVersion::V1_1,
            Some(o) => cx.diags.error(
                &n.loc,
                format!("http_protocol must be 1.0, 1.0C or 1.1, not '{o}'"),
            ),
            None => {}
        },
        (CheckerKind::Http(h), "fast_recovery") => {
            h.fast_recovery = cx.boolean(n, 0).unwrap_or(false)
        }
        (CheckerKind::Http(h), "virtualhost") => h.virtualhost = cx.arg(n, 0).map(str::to_string),
        (CheckerKind::Http(h), "enable_sni") if h.tls => {
            h.enable_sni = cx.boolean(n, 0).unwrap_or(false)
        }
        (CheckerKind::Http(h), "sni_name") if h.tls => {
            h.sni_name = cx.arg(n, 0).map(str::to_string);
            h.enable_sni = true;
        }
        (CheckerKind::Http(_), "tls_compliant") => cx.unsupported(n, section),
        (CheckerKind::Smtp { helo_name }, "helo_name") => {
            *helo_name = cx.arg(n, 0).map(str::to_string)
        }
        (CheckerKind::Dns { qtype, .. }, "type") => {
            if let Some(s) = cx.arg(n, 0) {
                match DnsType::from_name(s) {
                    Some(t) => *qtype = t,
                    None => cx.diags.error(
                        &n.loc,
                        format!(
                            "DNS_CHECK type must be A, NS, CNAME, SOA, MX, TXT or AAAA, not '{s}'"
                        ),
                    ),
                }
            }
        }
        (CheckerKind::Dns { name, .. }, "name") => {
            if let Some(s) = cx.arg(n, 0) {
                if dns_name_ok(s) {
                    *name = s.to_string();
                } else {
                    cx.diags.error(&n.loc, format!("invalid DNS name '{s}'"));
                }
            }
        }
        (CheckerKind::Misc(m), "misc_path") => {
            if n.args().is_empty() {
                cx.diags.error(&n.loc, "misc_path needs a command");
            } else {
                m.path = n.args().join(" ");
            }
        }
        (CheckerKind::Misc(m), "misc_timeout") => {
            m.timeout = cx
                .uint(n, 0, 1, u32::MAX as u64)
                .map(core::time::Duration::from_secs)
        }
        (CheckerKind::Misc(m), "misc_dynamic") => m.dynamic = true,
        (CheckerKind::Misc(m), "user") => {
            m.user = Some(n.args().join(" "));
            cx.diags.warn(
                &n.loc,
                "MISC_CHECK 'user' is not implemented by rvs; the script runs as rvsd's user",
            );
        }
        (CheckerKind::Udp(u), "payload") => match hex_bytes(n.args()) {
            Some(b) if !b.is_empty() => u.payload = Some(b),
            _ => cx.diags.error(&n.loc, "payload needs a hex string"),
        },
        (CheckerKind::Udp(u), "require_reply") => {
            if n.args().is_empty() {
                u.require_reply = Some(None);
            } else {
                match hex_pattern(n.args()) {
                    Some(p) => u.require_reply = Some(Some(p)),
                    None => cx.diags.error(&n.loc, "require_reply: invalid hex string"),
                }
            }
        }
        (CheckerKind::Udp(u), "min_reply_length") => {
            u.min_reply_length = cx.uint(n, 0, 0, 65535).unwrap_or(0) as usize
        }
        (CheckerKind::Udp(u), "max_reply_length") => {
            u.max_reply_length = cx.uint(n, 0, 0, 65535).unwrap_or(255) as usize
        }
        _ => cx.unknown(n, section),
    }
}

fn dns_name_ok(s: &str) -> bool {
    s == "."
        || (s.len() <= 253
            && s.trim_end_matches('.')
                .split('.')
                .all(|l| !l.is_empty() && l.len() <= 63))
}

fn url(node: &Node, cx: &mut Ctx<'_>) -> Option<UrlCheck> {
    let block = cx.block(node)?;
    let mut regex = UrlRegex {
        pattern: String::new(),
        no_match: false,
        options: Vec::new(),
        min_offset: 0,
        max_offset: None,
    };
    let mut regex_loc = None;
    let mut u = UrlCheck {
        path: String::new(),
        digest: None,
        status_codes: Vec::new(),
        regex: None,
        virtualhost: None,
    };
    for n in block {
        match n.keyword() {
            "path" => u.path = cx.arg(n, 0).unwrap_or("").to_string(),
            "digest" => {
                let s = cx.arg(n, 0).unwrap_or("");
                match parse_digest(s) {
                    Some(d) => u.digest = Some(d),
                    None => cx.diags.error(
                        &n.loc,
                        format!("digest must be 32 hex digits (an MD5), not '{s}'"),
                    ),
                }
            }
            "status_code" => {
                for a in n.args() {
                    match parse_status_range(a) {
                        Some(r) => u.status_codes.push(r),
                        None => cx.diags.error(&n.loc, format!("invalid status_code '{a}'")),
                    }
                }
            }
            "virtualhost" => u.virtualhost = cx.arg(n, 0).map(str::to_string),
            "regex" => {
                if let Some(p) = cx.arg(n, 0) {
                    regex.pattern = p.to_string();
                    regex_loc = Some(n.loc.clone());
                }
            }
            "regex_no_match" => regex.no_match = true,
            "regex_options" => {
                for o in n.args() {
                    if REGEX_OPTIONS.contains(&o.as_str()) {
                        regex.options.push(o.clone());
                    } else {
                        cx.diags.warn(
                            &n.loc,
                            format!("regex option '{o}' is not implemented by rvs; ignored"),
                        );
                    }
                }
            }
            "regex_min_offset" => {
                regex.min_offset = cx.uint(n, 0, 0, u32::MAX as u64).unwrap_or(0) as usize
            }
            "regex_max_offset" => {
                regex.max_offset = cx.uint(n, 0, 0, u32::MAX as u64).map(|v| v as usize)
            }
            "regex_stack" | "tls_compliant" => cx.unsupported(n, "url"),
            _ => cx.unknown(n, "url"),
        }
    }
    if u.path.is_empty() {
        cx.diags.error(&node.loc, "url needs a path");
        return None;
    }
    if let Some(loc) = regex_loc {
        // Patterns are Rust regex syntax, close to PCRE2 without look-around or
        // back-references; one that does not compile is a configuration error.
        match regex.compile() {
            Ok(_) => u.regex = Some(regex),
            Err(e) => cx.diags.error(&loc, format!("invalid regex: {e}")),
        }
    }
    Some(u)
}

pub fn parse_digest(s: &str) -> Option<[u8; 16]> {
    if s.len() != 32 {
        return None;
    }
    let mut d = [0u8; 16];
    for (i, b) in d.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(d)
}

fn parse_status_range(s: &str) -> Option<(u16, u16)> {
    let ok = |v: u16| (100..=999).contains(&v);
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (a.parse().ok()?, b.parse().ok()?);
            (ok(a) && ok(b) && a <= b).then_some((a, b))
        }
        None => {
            let v = s.parse().ok()?;
            ok(v).then_some((v, v))
        }
    }
}

/// keepalived's free hex format: each word is read two digits at a time and a lone
/// last digit is one byte ("Ab12f 3" = AB 12 0F 03). `x` is a wildcard nibble.
fn hex_nibbles(words: &[String]) -> Option<Vec<(Option<u8>, Option<u8>)>> {
    let mut out = Vec::new();
    for w in words {
        let digits: Vec<Option<u8>> = w
            .chars()
            .map(|c| match c {
                'x' | 'X' => Some(None),
                c => c.to_digit(16).map(|d| Some(d as u8)),
            })
            .collect::<Option<_>>()?;
        for pair in digits.chunks(2) {
            out.push(match pair {
                [hi, lo] => (*hi, *lo),
                [lo] => (Some(0), *lo),
                _ => unreachable!("chunks(2) yields 1 or 2 items"),
            });
        }
    }
    Some(out)
}

fn hex_bytes(words: &[String]) -> Option<Vec<u8>> {
    hex_nibbles(words)?
        .into_iter()
        .map(|(h, l)| Some(h? << 4 | l?))
        .collect()
}

fn hex_pattern(words: &[String]) -> Option<HexPattern> {
    hex_nibbles(words).map(HexPattern)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_free_format() {
        let w: Vec<String> = "Ab12f 3 456 546443123"
            .split(' ')
            .map(String::from)
            .collect();
        assert_eq!(
            hex_bytes(&w).unwrap(),
            vec![0xAB, 0x12, 0x0F, 0x03, 0x45, 0x06, 0x54, 0x64, 0x43, 0x12, 0x03]
        );
        let p = hex_pattern(&["1x".to_string()]).unwrap();
        assert!(p.matches(&[0x15, 0xff]));
        assert!(!p.matches(&[0x25]));
    }

    #[test]
    fn digests_and_codes() {
        assert_eq!(
            parse_digest("640205b7b0fc66c1ea91c463fac6334d").unwrap()[0],
            0x64
        );
        assert!(parse_digest("640205").is_none());
        assert_eq!(parse_status_range("200-299"), Some((200, 299)));
        assert_eq!(parse_status_range("503"), Some((503, 503)));
        assert_eq!(parse_status_range("299-200"), None);
    }
}
