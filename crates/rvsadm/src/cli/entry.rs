//! What one command line sets, option by option (ipvsadm's `ipvs_command_entry`
//! and the body of its option loop).

use super::table::{Tag, TABLE};
use super::values::{
    atoi, parse_addr, parse_fwmark, parse_timeout, string_to_number, truncated, MAX_TIMEOUT,
};
use super::{Exit, Format};
use crate::options::{Cmd, Opt, OptSet, TunKind};
use crate::popt::Popt;
use crate::resolve::{inet_aton, inet_pton6, Resolver};
use core::net::{IpAddr, Ipv4Addr};
use rvs_core::model::{Family, Protocol, SyncRole, Timeouts, TunnelCsum};

/// Forwarding method as ipvsadm holds it before it becomes a `ForwardMethod`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fwd {
    Masq,
    Tunnel,
    Route,
    FullNat,
}

/// The address part of a service or real server as ipvsadm's `parse_service`
/// leaves it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Addr {
    pub(crate) family: Option<Family>,
    pub(crate) addr: IpAddr,
    pub(crate) port: u16,
}

/// Everything one command line sets (ipvsadm's `ipvs_command_entry`).
pub(crate) struct Entry {
    pub(crate) cmd: Option<Cmd>,
    pub(crate) options: OptSet,
    pub(crate) format: Format,
    pub(crate) proto: Option<Protocol>,
    pub(crate) svc: Addr,
    pub(crate) fwmark: u32,
    pub(crate) sched: String,
    pub(crate) persistent: Option<u32>,
    /// IPv4: the mask; IPv6: the prefix length.
    pub(crate) netmask: u32,
    pub(crate) one_packet: bool,
    pub(crate) pe: String,
    pub(crate) sched_flags_arg: Option<String>,
    pub(crate) dest: Addr,
    pub(crate) fwd: Fwd,
    pub(crate) weight: u32,
    pub(crate) u_threshold: u32,
    pub(crate) l_threshold: u32,
    pub(crate) tun_kind: TunKind,
    pub(crate) tun_port: u16,
    pub(crate) tun_csum: TunnelCsum,
    pub(crate) role: SyncRole,
    pub(crate) mcast_ifn: String,
    pub(crate) syncid: u8,
    pub(crate) sync_maxlen: u16,
    pub(crate) mcast_group: Option<IpAddr>,
    pub(crate) mcast_port: u16,
    pub(crate) mcast_ttl: u8,
    pub(crate) timeouts: Timeouts,
    /// rvs extension `--marks` (of `-L`).
    pub(crate) marks: bool,
}

impl Entry {
    pub(crate) fn new() -> Entry {
        let none = Addr {
            family: None,
            addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 0,
        };
        Entry {
            cmd: None,
            options: OptSet::default(),
            format: Format::default(),
            proto: None,
            svc: none,
            fwmark: 0,
            sched: String::new(),
            persistent: None,
            netmask: 0xffff_ffff,
            one_packet: false,
            pe: String::new(),
            sched_flags_arg: None,
            dest: none,
            fwd: Fwd::Route,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
            tun_kind: TunKind::Ipip,
            tun_port: 0,
            tun_csum: TunnelCsum::NoCsum,
            role: SyncRole::Master,
            mcast_ifn: String::new(),
            syncid: 0,
            sync_maxlen: 0,
            mcast_group: None,
            mcast_port: 0,
            mcast_ttl: 0,
            timeouts: Timeouts {
                tcp: 0,
                tcp_fin: 0,
                udp: 0,
            },
            marks: false,
        }
    }
}

/// `strtol(s, &end, 10)` over the whole string, within `min..=max`, or `None`
/// (ipvsadm's `string_to_number`): leading blanks and a sign are accepted.
pub(crate) fn apply_option(
    e: &mut Entry,
    tag: Tag,
    value: Option<&str>,
    v: &str,
    names: &dyn Resolver,
    popt: &Popt<'_, Tag>,
) -> Result<(), Exit> {
    let set = |e: &mut Entry, opt: Opt| e.options.set(opt).map_err(Exit::usage);
    match tag {
        Tag::Tcp | Tag::Udp | Tag::Sctp => {
            set(e, Opt::Service)?;
            let proto = match tag {
                Tag::Tcp => Protocol::Tcp,
                Tag::Udp => Protocol::Udp,
                _ => Protocol::Sctp,
            };
            e.proto = Some(proto);
            let Some((addr, _)) = parse_addr(v, Some(proto), e.svc, names) else {
                return Err(Exit::usage(
                    "illegal virtual server address[:port] specified",
                ));
            };
            e.svc = addr;
            if addr.family == Some(Family::V6) {
                e.netmask = 128;
            }
        }
        Tag::Fwmark => {
            set(e, Opt::Service)?;
            e.svc.family = Some(Family::V4);
            e.proto = Some(Protocol::Tcp);
            e.fwmark = parse_fwmark(v)?;
        }
        Tag::Sched => {
            set(e, Opt::Scheduler)?;
            e.sched = truncated(v, 15);
        }
        Tag::Persistent => {
            set(e, Opt::Persistent)?;
            e.persistent = Some(parse_timeout(value, 1, MAX_TIMEOUT)?);
        }
        Tag::Netmask => {
            set(e, Opt::Netmask)?;
            if e.svc.family != Some(Family::V6) {
                let mask = inet_aton(v).or_else(|| names.host_to_v4(v));
                let Some(mask) = mask else {
                    return Err(Exit::usage(
                        "illegal virtual server persistent mask specified",
                    ));
                };
                e.netmask = u32::from(mask);
            } else {
                let n = atoi(v);
                if !(1..=128).contains(&n) {
                    return Err(Exit::usage("illegal ipv6 netmask specified"));
                }
                e.netmask = n as u32;
            }
        }
        Tag::Server => {
            set(e, Opt::Server)?;
            let Some((addr, _)) = parse_addr(v, e.proto, e.svc, names) else {
                return Err(Exit::usage("illegal real server address[:port] specified"));
            };
            e.dest = addr;
        }
        Tag::Ipip | Tag::Gate | Tag::Masq | Tag::FullNat => {
            set(e, Opt::Forward)?;
            e.fwd = match tag {
                Tag::Ipip => Fwd::Tunnel,
                Tag::Gate => Fwd::Route,
                Tag::Masq => Fwd::Masq,
                _ => Fwd::FullNat,
            };
        }
        Tag::Weight => {
            set(e, Opt::Weight)?;
            // Debian's ipvsadm 1.31 takes weights up to INT_MAX, as the kernel does
            // (lab: ipvsadm-edge2.sh); the upstream source stops at 65535.
            e.weight = string_to_number(v, 0, i64::from(i32::MAX))
                .ok_or_else(|| Exit::usage("illegal weight specified"))?
                as u32;
        }
        Tag::UThreshold => {
            set(e, Opt::UThreshold)?;
            e.u_threshold = string_to_number(v, 0, i64::from(i32::MAX))
                .ok_or_else(|| Exit::usage("illegal u_threshold specified"))?
                as u32;
        }
        Tag::LThreshold => {
            set(e, Opt::LThreshold)?;
            e.l_threshold = string_to_number(v, 0, i64::from(i32::MAX))
                .ok_or_else(|| Exit::usage("illegal l_threshold specified"))?
                as u32;
        }
        Tag::Connection => set(e, Opt::Connection)?,
        Tag::Numeric => {
            set(e, Opt::Numeric)?;
            e.format.numeric = true;
        }
        Tag::McastIf => {
            set(e, Opt::McastInterface)?;
            e.mcast_ifn = truncated(v, 15);
        }
        Tag::SyncId => {
            set(e, Opt::SyncId)?;
            e.syncid = string_to_number(v, 0, 255)
                .ok_or_else(|| Exit::usage("illegal syncid specified"))?
                as u8;
        }
        Tag::Timeout => set(e, Opt::Timeout)?,
        Tag::Daemon => set(e, Opt::Daemon)?,
        Tag::Stats => {
            set(e, Opt::Stats)?;
            e.format.stats = true;
        }
        Tag::Rate => {
            set(e, Opt::Rate)?;
            e.format.rate = true;
        }
        Tag::Thresholds => {
            set(e, Opt::Thresholds)?;
            e.format.thresholds = true;
        }
        Tag::PersistentConn => {
            set(e, Opt::PersistentConn)?;
            e.format.persistent_conn = true;
        }
        Tag::NoSort => {
            set(e, Opt::NoSort)?;
            e.format.nosort = true;
        }
        Tag::Sort => {}
        Tag::Exact => {
            set(e, Opt::Exact)?;
            e.format.exact = true;
        }
        Tag::Ipv6 => {
            if e.fwmark == 0 {
                return Err(Exit::usage("-6 used before -f\n"));
            }
            e.svc.family = Some(Family::V6);
            e.netmask = 128;
        }
        Tag::Ops => {
            set(e, Opt::OnePacket)?;
            e.one_packet = true;
        }
        Tag::Pe => {
            set(e, Opt::PersistenceEngine)?;
            e.pe = truncated(v, 16);
        }
        Tag::SchedFlags => {
            set(e, Opt::SchedFlags)?;
            e.sched_flags_arg = Some(truncated(v, 127));
        }
        Tag::McastGroup => {
            set(e, Opt::McastGroup)?;
            if v.contains(':') {
                match inet_pton6(v) {
                    Some(a) if a.is_multicast() => e.mcast_group = Some(IpAddr::V6(a)),
                    _ => return Err(Exit::usage(format!("invalid IPv6 mcast-group `{v}'"))),
                }
            } else {
                match v.parse::<Ipv4Addr>() {
                    Ok(a) if a.is_multicast() => e.mcast_group = Some(IpAddr::V4(a)),
                    _ => return Err(Exit::usage(format!("invalid IPv4 mcast-group `{v}'"))),
                }
            }
        }
        Tag::McastPort => {
            set(e, Opt::McastPort)?;
            e.mcast_port = string_to_number(v, 1, 65535)
                .ok_or_else(|| Exit::usage("illegal mcast-port specified"))?
                as u16;
        }
        Tag::McastTtl => {
            set(e, Opt::McastTtl)?;
            e.mcast_ttl = string_to_number(v, 1, 255)
                .ok_or_else(|| Exit::usage("illegal mcast-ttl specified"))?
                as u8;
        }
        Tag::SyncMaxlen => {
            set(e, Opt::SyncMaxlen)?;
            e.sync_maxlen = string_to_number(v, 1, 65535 - 20 - 8)
                .ok_or_else(|| Exit::usage("illegal sync-maxlen specified"))?
                as u16;
        }
        Tag::TunInfo => {
            set(e, Opt::TunInfo)?;
            e.format.tun_info = true;
        }
        Tag::TunType => {
            set(e, Opt::TunType)?;
            e.tun_kind = match v {
                "ipip" => TunKind::Ipip,
                "gue" => TunKind::Gue,
                "gre" => TunKind::Gre,
                _ => return Err(Exit::usage("illegal tunnel type specified")),
            };
        }
        Tag::TunPort => {
            set(e, Opt::TunPort)?;
            e.tun_port = string_to_number(v, 1, 65535)
                .ok_or_else(|| Exit::usage("illegal tunnel port specified"))?
                as u16;
        }
        Tag::TunNoCsum => {
            set(e, Opt::TunNoCsum)?;
        }
        Tag::TunCsum => {
            set(e, Opt::TunCsum)?;
            e.tun_csum = TunnelCsum::Csum;
        }
        Tag::TunRemCsum => {
            set(e, Opt::TunRemCsum)?;
            e.tun_csum = TunnelCsum::RemCsum;
        }
        Tag::Marks if e.marks => return Err(Exit::usage("multiple 'marks' options specified")),
        Tag::Marks => e.marks = true,
        Tag::AddMark | Tag::DelMark | Tag::Destination | Tag::Source => {
            let long = TABLE.iter().find(|s| s.tag == tag).map_or("?", |s| s.long);
            return Err(Exit::usage(format!(
                "the '{long}' option goes with --add-mark or --del-mark only (rvs's \
                 firewall-mark rules)"
            )));
        }
        Tag::Cmd(_) | Tag::StartDaemon | Tag::StopDaemon | Tag::Help | Tag::Version => {
            return Err(Exit::usage(format!(
                "invalid option `{}'",
                popt.last_word()
            )));
        }
    }
    Ok(())
}
