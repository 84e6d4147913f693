//! rvs's listing of firewall-mark rules (`-L --marks`) and their `-S` lines. ipvsadm
//! has neither: the kernel takes marks from iptables.

use crate::cli::mark::{ports_text, prefix_text, save_line};
use rvs_core::model::FwmarkRule;

/// The header of `-L --marks`.
pub const MARKS_HEADER: &str =
    "Mark       Prot Destination                                 Ports       Source\n";

/// `-L --marks`: a header, then one row per rule in evaluation order (the first
/// matching rule marks a packet). Addresses are always numeric; "any" stands for
/// every protocol, port or source.
pub fn format_marks(rules: &[FwmarkRule]) -> String {
    let mut out = String::from(MARKS_HEADER);
    for r in rules {
        let proto = r.proto.map_or("any", |p| p.name());
        let ports = r.dst_ports.map_or("any".to_string(), ports_text);
        let src = r.src.as_ref().map_or("any".to_string(), prefix_text);
        let dst = format!("{}/{}", r.dst.addr, r.dst.len);
        out.push_str(&format!(
            "{:<10} {proto:<4} {dst:<43} {ports:<11} {src}\n",
            r.mark
        ));
    }
    out
}

/// `-S`'s lines for the rules, after the services; nothing when there are none, so
/// a configuration without rules saves exactly as ipvsadm saves it.
pub fn format_mark_lines(rules: &[FwmarkRule]) -> String {
    rules.iter().map(|r| save_line(r) + "\n").collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_core::model::{Family, Prefix, Protocol};

    #[test]
    fn listing_rows() {
        let rules = [
            FwmarkRule {
                mark: 99,
                family: Family::V4,
                proto: Some(Protocol::Tcp),
                dst: Prefix::new("172.16.100.9".parse().unwrap(), 32),
                dst_ports: Some((80, 80)),
                src: None,
            },
            FwmarkRule {
                mark: 4294967295,
                family: Family::V6,
                proto: None,
                dst: Prefix::new("2001:db8::".parse().unwrap(), 64),
                dst_ports: None,
                src: Some(Prefix::new("2001:db8:1::".parse().unwrap(), 48)),
            },
        ];
        let text = format_marks(&rules);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(MARKS_HEADER.trim_end()));
        assert_eq!(
            lines.next(),
            Some("99         TCP  172.16.100.9/32                             80          any")
        );
        assert_eq!(
            lines.next(),
            Some("4294967295 any  2001:db8::/64                               any         2001:db8:1::/48")
        );
        assert_eq!(lines.next(), None);
        assert_eq!(
            format_mark_lines(&rules),
            "--add-mark -f 99 -t 172.16.100.9:80\n\
             --add-mark -f 4294967295 -6 --destination 2001:db8::/64 --source 2001:db8:1::/48\n"
        );
        assert_eq!(format_mark_lines(&[]), "");
    }
}
