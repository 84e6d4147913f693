//! Readers of keyword values (numbers, timers, booleans, addresses, scripts) that
//! report a located diagnostic on bad input and return `None`, so that a bad line
//! changes nothing.

use core::net::IpAddr;
use core::time::Duration;

use super::diag::Diags;
use super::model::Script;
use super::tree::Node;

pub struct Ctx<'d> {
    pub diags: &'d mut Diags,
}

impl Ctx<'_> {
    pub fn arg<'n>(&mut self, n: &'n Node, i: usize) -> Option<&'n str> {
        let a = n.arg(i);
        if a.is_none() {
            self.diags.error(
                &n.loc,
                format!("'{}' needs a value (argument {})", n.keyword(), i + 1),
            );
        }
        a
    }

    pub fn uint(&mut self, n: &Node, i: usize, min: u64, max: u64) -> Option<u64> {
        let s = self.arg(n, i)?;
        match s.parse::<u64>() {
            Ok(v) if (min..=max).contains(&v) => Some(v),
            _ => {
                self.diags.error(
                    &n.loc,
                    format!(
                        "'{}': invalid value '{s}' (expected an integer {min}..{max})",
                        n.keyword()
                    ),
                );
                None
            }
        }
    }

    pub fn int(&mut self, n: &Node, i: usize, min: i64, max: i64) -> Option<i64> {
        let s = self.arg(n, i)?;
        match s.parse::<i64>() {
            Ok(v) if (min..=max).contains(&v) => Some(v),
            _ => {
                self.diags.error(
                    &n.loc,
                    format!(
                        "'{}': invalid value '{s}' (expected an integer {min}..{max})",
                        n.keyword()
                    ),
                );
                None
            }
        }
    }

    /// A `<TIMER>`: seconds, possibly fractional, resolution of a microsecond.
    pub fn timer(&mut self, n: &Node, i: usize) -> Option<Duration> {
        let s = self.arg(n, i)?;
        match parse_timer(s) {
            Some(d) => Some(d),
            None => {
                self.diags.error(
                    &n.loc,
                    format!(
                        "'{}': invalid time '{s}' (expected seconds, e.g. 3 or 0.5)",
                        n.keyword()
                    ),
                );
                None
            }
        }
    }

    /// An optional `<BOOL>` argument: absent means true.
    pub fn boolean(&mut self, n: &Node, i: usize) -> Option<bool> {
        match n.arg(i) {
            None => Some(true),
            Some(s) => match parse_bool(s) {
                Some(b) => Some(b),
                None => {
                    self.diags.error(
                        &n.loc,
                        format!(
                            "'{}': invalid boolean '{s}' (on|off|true|false|yes|no)",
                            n.keyword()
                        ),
                    );
                    None
                }
            },
        }
    }

    pub fn ip(&mut self, n: &Node, i: usize) -> Option<IpAddr> {
        let s = self.arg(n, i)?;
        match s.parse::<IpAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.diags.error(
                    &n.loc,
                    format!("'{}': invalid IP address '{s}'", n.keyword()),
                );
                None
            }
        }
    }

    pub fn port(&mut self, n: &Node, i: usize) -> Option<u16> {
        self.uint(n, i, 0, 65535).map(|p| p as u16)
    }

    /// `KEYWORD COMMAND [username [:][groupname]]`; the command is one (quoted) word.
    pub fn script(&mut self, n: &Node) -> Option<Script> {
        let command = self.arg(n, 0)?.to_string();
        let user = (n.args().len() > 1).then(|| n.args()[1..].join(" "));
        if let Some(u) = &user {
            self.diags.warn(
                &n.loc,
                format!(
                    "'{}': running scripts as user '{u}' is not implemented by rvs; it runs as rvsd's user",
                    n.keyword()
                ),
            );
        }
        Some(Script {
            command,
            user,
            loc: n.loc.clone(),
        })
    }

    /// The block of a keyword that needs one.
    pub fn block<'n>(&mut self, n: &'n Node) -> Option<&'n [Node]> {
        if n.block.is_none() {
            self.diags
                .error(&n.loc, format!("'{}' needs a {{ }} block", n.keyword()));
        }
        n.block.as_deref()
    }

    pub fn unknown(&mut self, n: &Node, section: &str) {
        self.diags.warn(
            &n.loc,
            format!("unknown keyword '{}' in {section}; ignored", n.keyword()),
        );
    }

    /// A keyword keepalived knows that rvs does not act on.
    pub fn unsupported(&mut self, n: &Node, section: &str) {
        self.diags.warn(
            &n.loc,
            format!(
                "keyword '{}' in {section} is not implemented by rvs; ignored",
                n.keyword()
            ),
        );
    }

    /// An old spelling accepted as the new one.
    pub fn deprecated(&mut self, n: &Node, new: &str) {
        self.diags.warn(
            &n.loc,
            format!("keyword '{}' is deprecated; read as '{new}'", n.keyword()),
        );
    }
}

pub fn parse_timer(s: &str) -> Option<Duration> {
    let v: f64 = s.parse().ok()?;
    (v.is_finite() && (0.0..=4_294_967.0).contains(&v))
        .then(|| Duration::from_micros((v * 1e6).round() as u64))
}

pub fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" => Some(true),
        "off" | "false" | "no" => Some(false),
        _ => None,
    }
}

/// An IPv4 netmask in dotted form to a prefix length; `None` if not contiguous.
pub fn mask_to_prefix(mask: core::net::Ipv4Addr) -> Option<u8> {
    let m = u32::from(mask);
    let len = m.leading_ones();
    (m.checked_shl(len).unwrap_or(0) == 0).then_some(len as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_and_masks() {
        assert_eq!(parse_timer("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_timer("0.25"), Some(Duration::from_millis(250)));
        assert_eq!(parse_timer("-1"), None);
        assert_eq!(parse_timer("abc"), None);
        assert_eq!(mask_to_prefix("255.255.255.0".parse().unwrap()), Some(24));
        assert_eq!(mask_to_prefix("255.255.255.255".parse().unwrap()), Some(32));
        assert_eq!(mask_to_prefix("0.0.0.0".parse().unwrap()), Some(0));
        assert_eq!(mask_to_prefix("255.0.255.0".parse().unwrap()), None);
    }
}
