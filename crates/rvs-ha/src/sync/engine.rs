//! The engine's sync record ([`SyncConn`]) in the codec's terms ([`SyncedConn`]) and
//! back: what a master daemon sends of the engine's queue, and what a backup daemon
//! hands the engine.

use super::codec::SyncedConn;
use rvs_core::engine::{SyncConn, SyncPe, PE_NAME_MAX};
use rvs_core::model::Family;
use rvs_core::persist::PE_DATA_MAX;

/// The engine's view of a connection in the sync protocol's terms. A template's
/// persistence-engine data and name become the PE_DATA and PE_NAME options.
pub fn to_wire(c: &SyncConn) -> SyncedConn {
    SyncedConn {
        protocol: c.ip_proto,
        flags: c.flags,
        state: c.state,
        cport: c.cport,
        vport: c.vport,
        dport: c.dport,
        fwmark: c.fwmark,
        timeout: c.timeout,
        caddr: c.caddr,
        vaddr: c.vaddr,
        daddr: c.daddr,
        seq: None,
        pe_data: c.pe.data().to_vec(),
        pe_name: String::from_utf8_lossy(c.pe.name()).into_owned(),
    }
}

/// A received connection in the engine's terms. The codec bounds both options; a
/// longer name (only from a hand-made record) is cut, which keeps it unknown.
pub fn from_wire(c: &SyncedConn) -> SyncConn {
    let name = c.pe_name.as_bytes();
    let name = &name[..name.len().min(PE_NAME_MAX)];
    let data = &c.pe_data[..c.pe_data.len().min(PE_DATA_MAX)];
    SyncConn {
        family: if c.caddr.is_ipv6() {
            Family::V6
        } else {
            Family::V4
        },
        ip_proto: c.protocol,
        caddr: c.caddr,
        cport: c.cport,
        vaddr: c.vaddr,
        vport: c.vport,
        daddr: c.daddr,
        dport: c.dport,
        fwmark: c.fwmark,
        flags: c.flags,
        state: c.state,
        timeout: c.timeout,
        pe: SyncPe::new(name, data).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> SyncConn {
        SyncConn {
            family: Family::V4,
            ip_proto: 17,
            caddr: "10.0.0.2".parse().unwrap(),
            cport: 0,
            vaddr: "10.0.0.100".parse().unwrap(),
            vport: 5060,
            daddr: "10.0.2.13".parse().unwrap(),
            dport: 5060,
            fwmark: 0,
            flags: rvs_core::engine::ConnFlags::TEMPLATE,
            state: 0,
            timeout: 60,
            pe: SyncPe::new(b"sip", b"callA").unwrap(),
        }
    }

    #[test]
    fn a_sip_template_maps_both_ways_with_its_call_id() {
        let c = template();
        let w = to_wire(&c);
        assert_eq!(
            (w.pe_name.as_str(), w.pe_data.as_slice()),
            ("sip", &b"callA"[..])
        );
        assert_eq!(from_wire(&w), c);
        let mut plain = c;
        plain.pe = SyncPe::NONE;
        let w = to_wire(&plain);
        assert!(w.pe_data.is_empty() && w.pe_name.is_empty());
        assert_eq!(from_wire(&w), plain);
    }

    #[test]
    fn an_overlong_name_stays_unknown() {
        let mut w = to_wire(&template());
        w.pe_name = "sip".repeat(10);
        let c = from_wire(&w);
        assert_eq!(c.pe.name(), &b"sipsipsipsipsips"[..]);
        assert_eq!(c.pe.data(), b"callA");
    }
}
