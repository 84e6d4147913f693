//! From an ipvsadm command line to what to do: option parsing in popt's manner,
//! then ipvsadm's checks in ipvsadm's order, each with ipvsadm's message and exit
//! status. Nothing here talks to the daemon.

use crate::options::{Cmd, Opt, OptSet, TunKind};
use crate::popt::{ArgKind, OptSpec, Popt};
use crate::resolve::{inet_aton, inet_pton6, Resolver};
use core::net::{IpAddr, Ipv4Addr};
use rvs_api::request::Request;
use rvs_core::model::{
    DestConfig, Family, ForwardMethod, Persistence, Protocol, SchedFlags, SchedulerKind,
    ServiceConfig, ServiceKey, SyncDaemonConfig, SyncRole, Timeouts, Tunnel, TunnelCsum,
    TunnelType,
};

/// Longest accepted timeout, in seconds (31 days).
pub const MAX_TIMEOUT: u32 = 86400 * 31;
/// Timeout of a bare `-p`.
pub const DEFAULT_PERSISTENT_TIMEOUT: u32 = 360;

/// How a listing is printed (ipvsadm's FMT_* flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Format {
    pub numeric: bool,
    pub rule: bool,
    pub stats: bool,
    pub rate: bool,
    pub thresholds: bool,
    pub persistent_conn: bool,
    pub nosort: bool,
    pub exact: bool,
    pub tun_info: bool,
}

/// What a listing shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    All,
    Service(ServiceKey),
    Connections,
    Timeout,
    Daemon,
}

/// What a command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `-h`: the usage, on stdout.
    Help,
    /// `-v`: the version line.
    Version,
    List(Listing, Format),
    /// `-S`: the rules, in the form `-R` reads.
    Save(Format),
    /// `-R`: commands from standard input.
    Restore,
    /// A change for the daemon.
    Apply(Request),
    /// A change the kernel would refuse for a reason known without asking it
    /// (an unknown scheduler or persistence engine): the command and the errno.
    Refuse(Cmd, rvs_api::request::ErrorKind),
}

/// An early end: what to print on stderr (and stdout) and the exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Exit {
    /// ipvsadm's `fail(2, ...)`.
    pub fn usage(message: impl Into<String>) -> Exit {
        Exit {
            code: 2,
            stdout: String::new(),
            stderr: format!("{}\n", message.into()),
        }
    }

    /// ipvsadm's `tryhelp_exit(program, -1)`.
    pub fn try_help(program: &str) -> Exit {
        Exit {
            code: 255,
            stdout: String::new(),
            stderr: format!("Try `{program} -h' or '{program} --help' for more information.\n"),
        }
    }
}

/// Parsing result: the action, and the command it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub cmd: Cmd,
    pub action: Action,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Cmd(Cmd),
    StartDaemon,
    StopDaemon,
    Help,
    Version,
    Tcp,
    Udp,
    Sctp,
    Fwmark,
    Sched,
    Persistent,
    Netmask,
    Server,
    Masq,
    Ipip,
    Gate,
    FullNat,
    Weight,
    UThreshold,
    LThreshold,
    Numeric,
    Connection,
    McastIf,
    SyncId,
    Timeout,
    Daemon,
    Stats,
    Rate,
    Thresholds,
    PersistentConn,
    NoSort,
    Sort,
    Exact,
    Ipv6,
    Ops,
    Pe,
    SchedFlags,
    McastGroup,
    McastPort,
    McastTtl,
    SyncMaxlen,
    TunInfo,
    TunType,
    TunPort,
    TunNoCsum,
    TunCsum,
    TunRemCsum,
}

const fn o(long: &'static str, short: Option<char>, arg: ArgKind, tag: Tag) -> OptSpec<Tag> {
    OptSpec {
        long,
        short,
        arg,
        tag,
    }
}

use ArgKind::{None as N, Optional as O, Required as R};

/// ipvsadm's option table, plus rvs's `--fullnat`/`-j`.
const TABLE: &[OptSpec<Tag>] = &[
    o("add-service", Some('A'), N, Tag::Cmd(Cmd::Add)),
    o("edit-service", Some('E'), N, Tag::Cmd(Cmd::Edit)),
    o("delete-service", Some('D'), N, Tag::Cmd(Cmd::Del)),
    o("clear", Some('C'), N, Tag::Cmd(Cmd::Flush)),
    o("list", Some('L'), N, Tag::Cmd(Cmd::List)),
    o("list", Some('l'), N, Tag::Cmd(Cmd::List)),
    o("zero", Some('Z'), N, Tag::Cmd(Cmd::Zero)),
    o("add-server", Some('a'), N, Tag::Cmd(Cmd::AddDest)),
    o("edit-server", Some('e'), N, Tag::Cmd(Cmd::EditDest)),
    o("delete-server", Some('d'), N, Tag::Cmd(Cmd::DelDest)),
    o("set", None, N, Tag::Cmd(Cmd::Timeout)),
    o("help", Some('h'), N, Tag::Help),
    o("version", Some('v'), N, Tag::Version),
    o("restore", Some('R'), N, Tag::Cmd(Cmd::Restore)),
    o("save", Some('S'), N, Tag::Cmd(Cmd::Save)),
    o("start-daemon", None, R, Tag::StartDaemon),
    o("stop-daemon", None, R, Tag::StopDaemon),
    o("tcp-service", Some('t'), R, Tag::Tcp),
    o("udp-service", Some('u'), R, Tag::Udp),
    o("sctp-service", None, R, Tag::Sctp),
    o("fwmark-service", Some('f'), R, Tag::Fwmark),
    o("scheduler", Some('s'), R, Tag::Sched),
    o("persistent", Some('p'), O, Tag::Persistent),
    o("netmask", Some('M'), R, Tag::Netmask),
    o("real-server", Some('r'), R, Tag::Server),
    o("masquerading", Some('m'), N, Tag::Masq),
    o("ipip", Some('i'), N, Tag::Ipip),
    o("gatewaying", Some('g'), N, Tag::Gate),
    o("fullnat", Some('j'), N, Tag::FullNat),
    o("weight", Some('w'), R, Tag::Weight),
    o("u-threshold", Some('x'), R, Tag::UThreshold),
    o("l-threshold", Some('y'), R, Tag::LThreshold),
    o("numeric", Some('n'), N, Tag::Numeric),
    o("connection", Some('c'), N, Tag::Connection),
    o("mcast-interface", None, R, Tag::McastIf),
    o("syncid", None, R, Tag::SyncId),
    o("timeout", None, N, Tag::Timeout),
    o("daemon", None, N, Tag::Daemon),
    o("stats", None, N, Tag::Stats),
    o("rate", None, N, Tag::Rate),
    o("thresholds", None, N, Tag::Thresholds),
    o("persistent-conn", None, N, Tag::PersistentConn),
    o("nosort", None, N, Tag::NoSort),
    o("sort", None, N, Tag::Sort),
    o("exact", Some('X'), N, Tag::Exact),
    o("ipv6", Some('6'), N, Tag::Ipv6),
    o("ops", Some('o'), N, Tag::Ops),
    o("pe", None, R, Tag::Pe),
    o("sched-flags", Some('b'), R, Tag::SchedFlags),
    o("mcast-group", None, R, Tag::McastGroup),
    o("mcast-port", None, R, Tag::McastPort),
    o("mcast-ttl", None, R, Tag::McastTtl),
    o("sync-maxlen", None, R, Tag::SyncMaxlen),
    o("tun-info", None, N, Tag::TunInfo),
    o("tun-type", None, R, Tag::TunType),
    o("tun-port", None, R, Tag::TunPort),
    o("tun-nocsum", None, N, Tag::TunNoCsum),
    o("tun-csum", None, N, Tag::TunCsum),
    o("tun-remcsum", None, N, Tag::TunRemCsum),
];

/// Forwarding method as ipvsadm holds it before it becomes a [`ForwardMethod`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fwd {
    Masq,
    Tunnel,
    Route,
    FullNat,
}

/// The address part of a service or real server as ipvsadm's `parse_service`
/// leaves it.
#[derive(Debug, Clone, Copy)]
struct Addr {
    family: Option<Family>,
    addr: IpAddr,
    port: u16,
}

/// Everything one command line sets (ipvsadm's `ipvs_command_entry`).
struct Entry {
    cmd: Option<Cmd>,
    options: OptSet,
    format: Format,
    proto: Option<Protocol>,
    svc: Addr,
    fwmark: u32,
    sched: String,
    persistent: Option<u32>,
    /// IPv4: the mask; IPv6: the prefix length.
    netmask: u32,
    one_packet: bool,
    pe: String,
    sched_flags_arg: Option<String>,
    dest: Addr,
    fwd: Fwd,
    weight: u32,
    u_threshold: u32,
    l_threshold: u32,
    tun_kind: TunKind,
    tun_port: u16,
    tun_csum: TunnelCsum,
    role: SyncRole,
    mcast_ifn: String,
    syncid: u8,
    sync_maxlen: u16,
    mcast_group: Option<IpAddr>,
    mcast_port: u16,
    mcast_ttl: u8,
    timeouts: Timeouts,
}

impl Entry {
    fn new() -> Entry {
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
        }
    }
}

/// `strtol(s, &end, 10)` over the whole string, within `min..=max`, or `None`
/// (ipvsadm's `string_to_number`): leading blanks and a sign are accepted.
pub fn string_to_number(s: &str, min: i64, max: i64) -> Option<i64> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Out of `long` range is ERANGE: refused like any out-of-range value.
    let magnitude: i64 = digits.parse().ok()?;
    let n = if neg { -magnitude } else { magnitude };
    (min..=max).contains(&n).then_some(n)
}

/// `atoi`: leading blanks, a sign, then as many digits as there are; 0 if none.
fn atoi(s: &str) -> i64 {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .take(18)
        .collect();
    let n: i64 = digits.parse().unwrap_or(0);
    if neg {
        -n
    } else {
        n
    }
}

fn parse_timeout(value: Option<&str>, min: u32, max: u32) -> Result<u32, Exit> {
    let Some(v) = value else {
        return Ok(DEFAULT_PERSISTENT_TIMEOUT);
    };
    string_to_number(v, i64::from(min), i64::from(max))
        .map(|n| n as u32)
        .ok_or_else(|| Exit::usage(format!("invalid timeout value `{v}' specified")))
}

fn parse_fwmark(v: &str) -> Result<u32, Exit> {
    match string_to_number(v, 1, i64::from(u32::MAX)) {
        Some(n) => Ok(n as u32),
        None => Err(Exit::usage(format!("invalid fwmark value `{v}' specified"))),
    }
}

/// ipvsadm's `parse_service`: `host[:port]` or `[ipv6]:port`; `None` when no
/// address could be read. `base` is the entry it starts from (a real server
/// starts from the service, so its port defaults to the service's).
fn parse_addr(
    text: &str,
    proto: Option<Protocol>,
    base: Addr,
    names: &dyn Resolver,
) -> Option<(Addr, bool)> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut out = base;
    let mut host = text;
    let mut port_text: Option<&str> = None;
    if let Some(inner) = text.strip_prefix('[') {
        let close = inner.find(']')?;
        let after = &inner[close + 1..];
        let rest = after.strip_prefix(':')?;
        host = &inner[..close];
        port_text = Some(rest);
    }
    if let Some(v6) = inet_pton6(host) {
        out.addr = IpAddr::V6(v6);
        out.family = Some(Family::V6);
    } else {
        // A colon that is not an IPv6 address separates the port; this replaces
        // any bracketed port, exactly as ipvsadm does.
        port_text = None;
        if let Some(i) = host.rfind(':') {
            port_text = Some(&host[i + 1..]);
            host = &host[..i];
        }
        let v4 = inet_aton(host).or_else(|| names.host_to_v4(host))?;
        out.addr = IpAddr::V4(v4);
        out.family = Some(Family::V4);
    }
    let Some(p) = port_text else {
        return Some((out, false));
    };
    out.port = match string_to_number(p, 0, 65535) {
        Some(n) => n as u16,
        None => names.service_to_port(p, proto?)?,
    };
    Some((out, true))
}

fn mask_to_prefix(mask: u32) -> Option<u8> {
    let ones = mask.leading_ones();
    (mask.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

fn parse_sched_flags(sched: &str, arg: &str) -> Result<u32, Exit> {
    let sched = if sched.is_empty() { "wlc" } else { sched };
    let mut flags = 0;
    let mut any = false;
    for flag in arg.split(',').filter(|f| !f.is_empty()) {
        any = true;
        let (bit, only) = match flag {
            "flag-1" => (SchedFlags::FLAG1, None),
            "flag-2" => (SchedFlags::FLAG2, None),
            "flag-3" => (SchedFlags::FLAG3, None),
            "sh-fallback" => (SchedFlags::FLAG1, Some("sh")),
            "sh-port" => (SchedFlags::FLAG2, Some("sh")),
            "mh-fallback" => (SchedFlags::FLAG1, Some("mh")),
            "mh-port" => (SchedFlags::FLAG2, Some("mh")),
            _ => return Err(Exit::usage(format!("invalid scheduler flag `{flag}'"))),
        };
        flags |= bit;
        if only.is_some_and(|s| s != sched) {
            return Err(Exit::usage(format!("incompatible scheduler flag `{flag}'")));
        }
    }
    if !any {
        return Err(Exit::usage(format!("invalid scheduler flag `{arg}'")));
    }
    Ok(flags)
}

/// Keeps the first `max` bytes of `s` (ipvsadm copies names into fixed buffers).
fn truncated(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// Parses one command line (`args[0]` is the program name). `reading_stdin` is set
/// for the lines of `-R`, which may not restore again.
pub fn parse(args: &[String], names: &dyn Resolver, reading_stdin: bool) -> Result<Parsed, Exit> {
    let program = args.first().map(String::as_str).unwrap_or("ipvsadm");
    let mut popt = Popt::new(TABLE, args);
    let mut e = Entry::new();

    let first = match popt.next_opt() {
        Some(Ok(first)) => first,
        _ => return Err(Exit::try_help(program)),
    };
    match first {
        (Tag::Cmd(c), _) => e.cmd = Some(c),
        (Tag::StartDaemon | Tag::StopDaemon, value) => {
            let start = first.0 == Tag::StartDaemon;
            e.cmd = Some(if start {
                Cmd::StartDaemon
            } else {
                Cmd::StopDaemon
            });
            e.role = match value.as_deref() {
                Some("master") => SyncRole::Master,
                Some("backup") => SyncRole::Backup,
                _ if start => return Err(Exit::usage("illegal start-daemon parameter specified")),
                _ => return Err(Exit::usage("illegal start_daemon specified")),
            };
        }
        (Tag::Help, _) => {
            return Ok(Parsed {
                cmd: Cmd::List,
                action: Action::Help,
            })
        }
        (Tag::Version, _) => {
            return Ok(Parsed {
                cmd: Cmd::List,
                action: Action::Version,
            })
        }
        _ => return Err(Exit::try_help(program)),
    }

    while let Some(next) = popt.next_opt() {
        let (tag, value) = match next {
            Ok(v) => v,
            Err(err) => {
                return Err(Exit {
                    code: 255,
                    stdout: String::new(),
                    stderr: format!("{}: {}\n", err.word, err.kind.message()),
                })
            }
        };
        let v = value.as_deref().unwrap_or("");
        apply_option(&mut e, tag, value.as_deref(), v, names, &popt)?;
    }

    let cmd = e.cmd.unwrap_or(Cmd::List);
    let mut leftovers = popt.leftovers().iter();
    if cmd == Cmd::Timeout {
        let (Some(a), Some(b), Some(c)) = (leftovers.next(), leftovers.next(), leftovers.next())
        else {
            return Err(Exit::usage("--set option requires 3 timeout values"));
        };
        e.timeouts = Timeouts {
            tcp: parse_timeout(Some(a), 0, MAX_TIMEOUT)?,
            tcp_fin: parse_timeout(Some(b), 0, MAX_TIMEOUT)?,
            udp: parse_timeout(Some(c), 0, MAX_TIMEOUT)?,
        };
    }
    if let Some(extra) = leftovers.next() {
        return Err(Exit::usage(format!("unexpected argument {extra}")));
    }
    let mut sched_flags = 0;
    if let Some(arg) = &e.sched_flags_arg {
        sched_flags = parse_sched_flags(&e.sched, arg)?;
    }

    cmd.check(e.options).map_err(Exit::usage)?;

    if matches!(cmd, Cmd::Add | Cmd::Edit) {
        if e.fwmark == 0 && e.svc.port == 0 && e.persistent.is_none() {
            return Err(Exit::usage(
                "Zero port specified for non-persistent service",
            ));
        }
        if e.one_packet && e.fwmark == 0 && e.proto != Some(Protocol::Udp) {
            return Err(Exit::usage(
                "One-Packet Scheduling is only for UDP virtual services",
            ));
        }
        if e.sched.is_empty() {
            e.sched = "wlc".to_string();
        }
    }
    if cmd == Cmd::StartDaemon && e.mcast_ifn.is_empty() {
        e.mcast_ifn = "eth0".to_string();
    }
    if matches!(cmd, Cmd::AddDest | Cmd::EditDest) {
        if e.fwmark == 0 && matches!(e.fwd, Fwd::Tunnel | Fwd::Route) {
            e.dest.port = e.svc.port;
        }
        if e.dest.family != e.svc.family && e.fwd != Fwd::Tunnel {
            return Err(Exit::usage(
                "Different address family is allowed only for tunneling servers",
            ));
        }
        let tunnel_opts = [
            Opt::TunType,
            Opt::TunPort,
            Opt::TunNoCsum,
            Opt::TunCsum,
            Opt::TunRemCsum,
        ];
        if e.options.any(&tunnel_opts) && e.fwd != Fwd::Tunnel {
            return Err(Exit::usage("Tunnel options conflict with forward method"));
        }
        e.tun_kind.check(e.options).map_err(Exit::usage)?;
    }

    let action = match cmd {
        Cmd::List => {
            let o = e.options;
            if (o.any(&[Opt::Connection, Opt::Timeout, Opt::Daemon])
                && o.any(&[Opt::Stats, Opt::Rate, Opt::Thresholds]))
                || (o.any(&[Opt::Timeout, Opt::Daemon]) && o.has(Opt::PersistentConn))
            {
                return Err(Exit::usage("options conflicts in the list command"));
            }
            let listing = if o.has(Opt::Connection) {
                Listing::Connections
            } else if o.has(Opt::Service) {
                Listing::Service(service_key(&e))
            } else if o.has(Opt::Timeout) {
                Listing::Timeout
            } else if o.has(Opt::Daemon) {
                Listing::Daemon
            } else {
                Listing::All
            };
            Action::List(listing, e.format)
        }
        Cmd::Restore if reading_stdin => return Err(Exit::try_help(program)),
        Cmd::Restore => Action::Restore,
        Cmd::Save => Action::Save(Format {
            rule: true,
            ..e.format
        }),
        Cmd::Flush => Action::Apply(Request::Flush),
        Cmd::Add | Cmd::Edit => match service_config(&e, sched_flags)? {
            Ok(svc) if cmd == Cmd::Add => Action::Apply(Request::AddService(svc)),
            Ok(svc) => Action::Apply(Request::EditService(svc)),
            Err(kind) => Action::Refuse(cmd, kind),
        },
        Cmd::Del => Action::Apply(Request::DelService(service_key(&e))),
        Cmd::Zero => Action::Apply(Request::Zero(
            e.options.has(Opt::Service).then(|| service_key(&e)),
        )),
        Cmd::AddDest => Action::Apply(Request::AddDest(service_key(&e), dest_config(&e))),
        Cmd::EditDest => Action::Apply(Request::EditDest(service_key(&e), dest_config(&e))),
        Cmd::DelDest => Action::Apply(Request::DelDest(service_key(&e), e.dest.addr, e.dest.port)),
        Cmd::Timeout => Action::Apply(Request::SetTimeouts(e.timeouts)),
        Cmd::StartDaemon => Action::Apply(Request::StartDaemon(SyncDaemonConfig {
            role: e.role,
            mcast_ifn: e.mcast_ifn.clone(),
            syncid: e.syncid,
            sync_maxlen: e.sync_maxlen,
            mcast_group: e.mcast_group,
            mcast_port: e.mcast_port,
            mcast_ttl: e.mcast_ttl,
        })),
        Cmd::StopDaemon => Action::Apply(Request::StopDaemon(e.role)),
    };
    Ok(Parsed { cmd, action })
}

fn apply_option(
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
        Tag::Cmd(_) | Tag::StartDaemon | Tag::StopDaemon | Tag::Help | Tag::Version => {
            return Err(Exit::usage(format!(
                "invalid option `{}'",
                popt.last_word()
            )));
        }
    }
    Ok(())
}

fn service_key(e: &Entry) -> ServiceKey {
    if e.fwmark != 0 {
        ServiceKey::Fwmark {
            mark: e.fwmark,
            family: e.svc.family.unwrap_or(Family::V4),
        }
    } else {
        ServiceKey::Addr {
            proto: e.proto.unwrap_or(Protocol::Tcp),
            addr: e.svc.addr,
            port: e.svc.port,
        }
    }
}

/// The service of `-A`/`-E`, or the errno the kernel would answer.
fn service_config(
    e: &Entry,
    sched_flags: u32,
) -> Result<Result<ServiceConfig, rvs_api::request::ErrorKind>, Exit> {
    use rvs_api::request::ErrorKind;
    let Some(scheduler) = SchedulerKind::from_name(&e.sched) else {
        return Ok(Err(ErrorKind::NotFound));
    };
    let pe_name = match e.pe.as_str() {
        "" => None,
        "sip" => Some("sip".to_string()),
        _ => return Ok(Err(ErrorKind::NotFound)),
    };
    let v6 = e.svc.family == Some(Family::V6);
    let persistence = match e.persistent {
        None => None,
        Some(timeout) => {
            let prefix_len = if v6 {
                e.netmask as u8
            } else {
                // rvs keeps the granularity as a prefix length: a mask with holes
                // cannot be represented (ipvsadm would pass it to the kernel).
                mask_to_prefix(e.netmask).ok_or_else(|| {
                    Exit::usage("illegal virtual server persistent mask specified")
                })?
            };
            Some(Persistence {
                timeout,
                prefix_len,
            })
        }
    };
    Ok(Ok(ServiceConfig {
        key: service_key(e),
        scheduler,
        sched_flags: SchedFlags(sched_flags),
        persistence,
        one_packet: e.one_packet,
        pe_name,
    }))
}

fn dest_config(e: &Entry) -> DestConfig {
    let method = match e.fwd {
        Fwd::Masq => ForwardMethod::Masq,
        Fwd::Route => ForwardMethod::Route,
        Fwd::FullNat => ForwardMethod::FullNat,
        Fwd::Tunnel => ForwardMethod::Tunnel(Tunnel {
            kind: match e.tun_kind {
                TunKind::Ipip => TunnelType::Ipip,
                TunKind::Gue => TunnelType::Gue,
                TunKind::Gre => TunnelType::Gre,
            },
            port: e.tun_port,
            csum: e.tun_csum,
        }),
    };
    DestConfig {
        addr: e.dest.addr,
        port: e.dest.port,
        method,
        weight: e.weight,
        u_threshold: e.u_threshold,
        l_threshold: e.l_threshold,
    }
}
