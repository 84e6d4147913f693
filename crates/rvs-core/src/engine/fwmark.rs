//! Userspace firewall-mark classification: the `-j MARK` rules of an iptables mangle
//! table, evaluated in order, first match wins.

use crate::model::{Family, FwmarkRule, Protocol};
use core::net::IpAddr;

/// The fields of a packet that rules match on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MarkInput {
    pub proto: Protocol,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub dst_port: u16,
}

/// Whether `rule` matches the packet.
pub(crate) fn rule_matches(rule: &FwmarkRule, p: &MarkInput) -> bool {
    if rule.family != Family::of(&p.dst) {
        return false;
    }
    if rule.proto.is_some_and(|proto| proto != p.proto) {
        return false;
    }
    if !rule.dst.contains(&p.dst) {
        return false;
    }
    if let Some((lo, hi)) = rule.dst_ports {
        if p.dst_port < lo || p.dst_port > hi {
            return false;
        }
    }
    rule.src.is_none_or(|src| src.contains(&p.src))
}

/// The mark of the first matching rule, if any.
pub(crate) fn classify(rules: &[FwmarkRule], p: &MarkInput) -> Option<(u32, Family)> {
    rules
        .iter()
        .find(|r| rule_matches(r, p))
        .map(|r| (r.mark, r.family))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Prefix;

    fn rule(mark: u32, dst: &str, len: u8) -> FwmarkRule {
        let addr: IpAddr = dst.parse().unwrap();
        FwmarkRule {
            mark,
            family: Family::of(&addr),
            proto: Some(Protocol::Tcp),
            dst: Prefix::new(addr, len),
            dst_ports: Some((80, 443)),
            src: None,
        }
    }

    fn input(dst: &str, port: u16) -> MarkInput {
        MarkInput {
            proto: Protocol::Tcp,
            src: "192.0.2.9".parse().unwrap(),
            dst: dst.parse().unwrap(),
            dst_port: port,
        }
    }

    #[test]
    fn first_matching_rule_wins() {
        let rules = [rule(1, "10.0.0.0", 24), rule(2, "10.0.0.0", 8)];
        assert_eq!(classify(&rules, &input("10.0.0.7", 80)).unwrap().0, 1);
        assert_eq!(classify(&rules, &input("10.9.0.7", 443)).unwrap().0, 2);
        assert!(classify(&rules, &input("10.9.0.7", 444)).is_none());
        assert!(classify(&rules, &input("11.0.0.1", 80)).is_none());
    }

    #[test]
    fn protocol_family_and_source_are_matched() {
        let mut r = rule(3, "10.0.0.0", 8);
        r.src = Some(Prefix::new("192.0.2.0".parse().unwrap(), 24));
        let mut p = input("10.1.1.1", 80);
        assert!(rule_matches(&r, &p));
        p.src = "198.51.100.1".parse().unwrap();
        assert!(!rule_matches(&r, &p));
        p.src = "192.0.2.1".parse().unwrap();
        p.proto = Protocol::Udp;
        assert!(!rule_matches(&r, &p));
        assert!(!rule_matches(&r, &input("::1", 80)));
        let v6 = rule(4, "2001:db8::", 32);
        assert!(rule_matches(&v6, &input("2001:db8:1::5", 80)));
        assert!(!rule_matches(&v6, &input("2001:db9::5", 80)));
    }
}
