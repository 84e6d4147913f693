//! The seeds' LVS topology, in network namespaces:
//!
//! ```text
//!  client ns "cl"        router ns "gw"             LAN (bridge in ns "sw")
//!  eth0 10.201.1.2 ---- c0 10.201.1.1                 |
//!                        l0 10.201.2.1 --------------+-- director "dir": eth0 10.201.2.2
//!                                                    |     VIP 10.201.2.100/32, FULLNAT local 10.201.2.3
//!                                                    +-- rs1 eth0 10.201.2.11
//!                                                    +-- rs2 eth0 10.201.2.12 ...
//! ```
//! The client reaches the VIP through the router, which finds the director by ARP on
//! the LAN (the real servers hold the VIP on lo with arp_ignore=1 in DR and TUN).
//! NAT real servers route through the director, so replies come back through it;
//! DR/TUN/FULLNAT real servers route through the router, so replies bypass the
//! director in DR/TUN, and go to the director's local address in FULLNAT.

use crate::netns::{Lab, Result};
use std::net::Ipv4Addr;

pub const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 201, 1, 2);
pub const GW_CLIENT_SIDE: Ipv4Addr = Ipv4Addr::new(10, 201, 1, 1);
pub const GW_LAN_SIDE: Ipv4Addr = Ipv4Addr::new(10, 201, 2, 1);
pub const DIRECTOR: Ipv4Addr = Ipv4Addr::new(10, 201, 2, 2);
pub const FULLNAT_LOCAL: Ipv4Addr = Ipv4Addr::new(10, 201, 2, 3);
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 201, 2, 100);
/// A second director on the LAN (HA labs).
pub const DIRECTOR2: Ipv4Addr = Ipv4Addr::new(10, 201, 2, 4);

/// Address of real server `i` (1-based).
pub fn rip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 201, 2, 10 + i as u8)
}

/// The LVS forwarding method a lab is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Nat,
    Dr,
    Tun,
    FullNat,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "nat" | "masq" => Some(Mode::Nat),
            "dr" | "route" => Some(Mode::Dr),
            "tun" | "ipip" => Some(Mode::Tun),
            "fullnat" => Some(Mode::FullNat),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Nat => "nat",
            Mode::Dr => "dr",
            Mode::Tun => "tun",
            Mode::FullNat => "fullnat",
        }
    }

    /// The rvsadm/ipvsadm flag for real servers of this method.
    pub fn rvsadm_flag(self) -> &'static str {
        match self {
            Mode::Nat => "-m",
            Mode::Dr => "-g",
            Mode::Tun => "-i",
            Mode::FullNat => "--fullnat",
        }
    }
}

/// The namespaces of one lab topology.
#[derive(Debug)]
pub struct Topology {
    pub mode: Mode,
    pub client: String,
    pub router: String,
    pub switch: String,
    pub director: String,
    pub real_servers: Vec<String>,
}

impl Topology {
    /// Build the topology for `mode` with `servers` real servers.
    pub fn build(lab: &Lab, mode: Mode, servers: usize) -> Result<Topology> {
        let client = lab.add_netns("cl")?;
        let router = lab.add_netns("gw")?;
        let switch = lab.add_netns("sw")?;
        let director = lab.add_netns("dir")?;
        let real_servers = (1..=servers)
            .map(|i| lab.add_netns(&format!("rs{i}")))
            .collect::<Result<Vec<_>>>()?;

        lab.exec(&switch, &["ip", "link", "add", "br0", "type", "bridge"])?;
        lab.exec(&switch, &["ip", "link", "set", "br0", "up"])?;
        let attach = |port: &str| -> Result<()> {
            lab.exec(&switch, &["ip", "link", "set", port, "master", "br0"])
                .map(|_| ())
        };

        lab.veth(&client, "eth0", &router, "c0")?;
        lab.veth(&router, "l0", &switch, "pgw")?;
        attach("pgw")?;
        lab.veth(&director, "eth0", &switch, "pdir")?;
        attach("pdir")?;
        for (i, rs) in real_servers.iter().enumerate() {
            let port = format!("prs{}", i + 1);
            lab.veth(rs, "eth0", &switch, &port)?;
            attach(&port)?;
        }

        let cidr = |a: Ipv4Addr, len: u8| format!("{a}/{len}");
        lab.exec(
            &client,
            &["ip", "addr", "add", &cidr(CLIENT, 24), "dev", "eth0"],
        )?;
        lab.exec(
            &client,
            &[
                "ip",
                "route",
                "add",
                "default",
                "via",
                &GW_CLIENT_SIDE.to_string(),
            ],
        )?;
        lab.exec(
            &router,
            &["ip", "addr", "add", &cidr(GW_CLIENT_SIDE, 24), "dev", "c0"],
        )?;
        lab.exec(
            &router,
            &["ip", "addr", "add", &cidr(GW_LAN_SIDE, 24), "dev", "l0"],
        )?;
        lab.sysctl(&router, "net.ipv4.ip_forward=1")?;
        lab.exec(
            &director,
            &["ip", "addr", "add", &cidr(DIRECTOR, 24), "dev", "eth0"],
        )?;
        lab.exec(
            &director,
            &["ip", "addr", "add", &cidr(VIP, 32), "dev", "eth0"],
        )?;
        if mode == Mode::FullNat {
            lab.exec(
                &director,
                &["ip", "addr", "add", &cidr(FULLNAT_LOCAL, 32), "dev", "eth0"],
            )?;
        }
        lab.exec(
            &director,
            &[
                "ip",
                "route",
                "add",
                "default",
                "via",
                &GW_LAN_SIDE.to_string(),
            ],
        )?;

        let rs_gateway = if mode == Mode::Nat {
            DIRECTOR
        } else {
            GW_LAN_SIDE
        };
        for (i, rs) in real_servers.iter().enumerate() {
            lab.exec(
                rs,
                &["ip", "addr", "add", &cidr(rip(i + 1), 24), "dev", "eth0"],
            )?;
            lab.exec(
                rs,
                &[
                    "ip",
                    "route",
                    "add",
                    "default",
                    "via",
                    &rs_gateway.to_string(),
                ],
            )?;
        }
        for ns in [&client, &router, &director]
            .into_iter()
            .chain(real_servers.iter())
        {
            // DR/TUN replies leave by another path than the requests came in.
            let _ = lab.exec(ns, &["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0"]);
        }
        Ok(Topology {
            mode,
            client,
            router,
            switch,
            director,
            real_servers,
        })
    }
}
