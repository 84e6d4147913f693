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
use std::net::{Ipv4Addr, Ipv6Addr};

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

// The same topology in IPv6 (see [`Topology::add_ipv6`]): fd00:201:1::/64 on the
// client side, fd00:201:2::/64 on the LAN, host parts as in IPv4.
pub const CLIENT6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x201, 1, 0, 0, 0, 0, 2);
pub const GW6_CLIENT_SIDE: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x201, 1, 0, 0, 0, 0, 1);
pub const GW6_LAN_SIDE: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x201, 2, 0, 0, 0, 0, 1);
pub const DIRECTOR6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x201, 2, 0, 0, 0, 0, 2);
pub const FULLNAT_LOCAL6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x201, 2, 0, 0, 0, 0, 3);
pub const VIP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x201, 2, 0, 0, 0, 0, 0x100);
/// The second director's IPv6 address (HA labs).
pub const DIRECTOR2_6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x201, 2, 0, 0, 0, 0, 4);

/// IPv6 address of real server `i` (1-based): fd00:201:2::11, ::12...
pub fn rip6(i: usize) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0x201, 2, 0, 0, 0, 0, 0x10 + i as u16)
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

    /// Give every namespace its IPv6 address and routes as well (the VIP
    /// [`VIP6`] on the director, and [`FULLNAT_LOCAL6`] in FULLNAT), without
    /// duplicate address detection so the addresses are usable at once.
    pub fn add_ipv6(&self, lab: &Lab) -> Result<()> {
        let add = |ns: &str, addr: Ipv6Addr, len: u8, dev: &str| -> Result<()> {
            lab.exec(
                ns,
                &[
                    "ip",
                    "-6",
                    "addr",
                    "add",
                    &format!("{addr}/{len}"),
                    "dev",
                    dev,
                    "nodad",
                ],
            )
            .map(|_| ())
        };
        let default_via = |ns: &str, gw: Ipv6Addr| -> Result<()> {
            lab.exec(
                ns,
                &[
                    "ip",
                    "-6",
                    "route",
                    "add",
                    "default",
                    "via",
                    &gw.to_string(),
                ],
            )
            .map(|_| ())
        };
        for ns in [&self.client, &self.router, &self.director]
            .into_iter()
            .chain(self.real_servers.iter())
        {
            // Lab namespaces start with IPv6 on; say so in case a host default differs.
            let _ = lab.exec(ns, &["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0"]);
            let _ = lab.exec(
                ns,
                &["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=0"],
            );
        }
        add(&self.client, CLIENT6, 64, "eth0")?;
        default_via(&self.client, GW6_CLIENT_SIDE)?;
        add(&self.router, GW6_CLIENT_SIDE, 64, "c0")?;
        add(&self.router, GW6_LAN_SIDE, 64, "l0")?;
        lab.sysctl(&self.router, "net.ipv6.conf.all.forwarding=1")?;
        add(&self.director, DIRECTOR6, 64, "eth0")?;
        add(&self.director, VIP6, 128, "eth0")?;
        if self.mode == Mode::FullNat {
            add(&self.director, FULLNAT_LOCAL6, 128, "eth0")?;
        }
        default_via(&self.director, GW6_LAN_SIDE)?;
        let rs_gateway = if self.mode == Mode::Nat {
            DIRECTOR6
        } else {
            GW6_LAN_SIDE
        };
        for (i, rs) in self.real_servers.iter().enumerate() {
            add(rs, rip6(i + 1), 64, "eth0")?;
            default_via(rs, rs_gateway)?;
        }
        self.wait_ipv6_settled(lab)
    }

    /// Wait (at most 5 s) until no link-local address is still tentative: until
    /// DAD ends, neighbour discovery from that address is not answered, and the
    /// first connection of a test would be lost.
    fn wait_ipv6_settled(&self, lab: &Lab) -> Result<()> {
        let namespaces: Vec<&String> = [&self.client, &self.router, &self.director, &self.switch]
            .into_iter()
            .chain(self.real_servers.iter())
            .collect();
        let start = std::time::Instant::now();
        loop {
            let mut tentative = None;
            for ns in &namespaces {
                let out = lab.exec(ns, &["ip", "-6", "-o", "addr", "show", "tentative"])?;
                if !out.stdout.is_empty() {
                    tentative = Some(String::from_utf8_lossy(&out.stdout).into_owned());
                    break;
                }
            }
            match tentative {
                None => return Ok(()),
                Some(t) if start.elapsed() > std::time::Duration::from_secs(5) => {
                    return Err(crate::netns::LabError(format!(
                        "IPv6 addresses still tentative after 5 s: {t}"
                    )))
                }
                Some(_) => std::thread::sleep(std::time::Duration::from_millis(100)),
            }
        }
    }
}
