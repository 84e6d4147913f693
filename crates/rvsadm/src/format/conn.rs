//! `-Lc`: the connection table (ipvsadm's list_conn / print_conn).

use super::addr_port;
use crate::cli::Format;
use crate::resolve::Resolver;
use core::fmt::Write;
use rvs_core::model::Protocol;
use rvs_core::status::ConnEntry;

/// The protocol name the kernel prints in /proc/net/ip_vs_conn.
fn proto_name(p: u8) -> &'static str {
    match p {
        0 => "IP",
        1 => "ICMP",
        6 => "TCP",
        17 => "UDP",
        58 => "ICMPv6",
        132 => "SCTP",
        _ => "ERR!",
    }
}

/// `-Lc [--persistent-conn]`, rows in the order given (the kernel's).
pub fn format_connections(conns: &[ConnEntry], fmt: &Format, names: &dyn Resolver) -> String {
    let mut out = String::from("IPVS connection entries\n");
    if fmt.persistent_conn {
        let _ = writeln!(
            out,
            "pro expire {:<11} {:<18} {:<18} {:<18} {:<16} pe_data",
            "state", "source", "virtual", "destination", "pe name"
        );
    } else {
        let _ = writeln!(
            out,
            "pro expire {:<11} {:<18} {:<18} destination",
            "state", "source", "virtual"
        );
    }
    for c in conns {
        let proto = Protocol::from_ip_proto(c.ip_proto);
        let cname = addr_port(c.client, c.client_port, proto, fmt.numeric, names);
        let vname = addr_port(c.virt, c.virt_port, proto, fmt.numeric, names);
        let dname = addr_port(c.dest, c.dest_port, proto, fmt.numeric, names);
        let secs = c.expires_ms / 1000;
        let expire = format!("{:02}:{:02}", secs / 60, secs % 60);
        let pname = proto_name(c.ip_proto);
        match (&c.pe_name, &c.pe_data) {
            (Some(pe), Some(data)) if fmt.persistent_conn => {
                let _ = writeln!(
                    out,
                    "{pname:<3} {expire:<6} {:<11} {cname:<18} {vname:<18} {dname:<16} {pe:<18} {data}",
                    c.state
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "{pname:<3} {expire:<6} {:<11} {cname:<18} {vname:<18} {dname}",
                    c.state
                );
            }
        }
    }
    out
}
