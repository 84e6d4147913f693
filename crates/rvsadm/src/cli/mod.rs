//! From an ipvsadm command line to what to do: option parsing in popt's manner,
//! then ipvsadm's checks in ipvsadm's order, each with ipvsadm's message and exit
//! status. Nothing here talks to the daemon.

mod entry;
pub mod mark;
mod table;
pub mod values;

use crate::options::{Cmd, Opt, OptSet, TunKind};
use crate::popt::Popt;
use crate::resolve::Resolver;
use entry::{apply_option, Entry, Fwd};
use rvs_api::request::Request;
use rvs_core::model::{
    DestConfig, Family, ForwardMethod, Persistence, Protocol, SchedFlags, SchedulerKind,
    ServiceConfig, ServiceKey, SyncDaemonConfig, SyncRole, Timeouts, Tunnel, TunnelType,
};
use table::{Tag, TABLE};
use values::{mask_to_prefix, parse_sched_flags, parse_timeout};

pub use values::{DEFAULT_PERSISTENT_TIMEOUT, MAX_TIMEOUT};

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
    /// rvs extension `-L --marks`: the firewall-mark rules.
    Marks,
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
        (Tag::AddMark, _) => return mark::parse(Cmd::AddMark, &mut popt),
        (Tag::DelMark, _) => return mark::parse(Cmd::DelMark, &mut popt),
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
    if e.marks && cmd != Cmd::List {
        return Err(Exit::usage(
            "--marks goes with the list command only (-L --marks)",
        ));
    }

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
            let numeric_only = o == OptSet::default() || o == OptSet::only(Opt::Numeric);
            if e.marks && !numeric_only {
                return Err(Exit::usage(
                    "-L --marks lists the firewall-mark rules: only -n may go with it",
                ));
            }
            let listing = if e.marks {
                Listing::Marks
            } else if o.has(Opt::Connection) {
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
        // Read by `mark::parse` as soon as the command word is seen.
        Cmd::AddMark | Cmd::DelMark => return Err(Exit::try_help(program)),
    };
    Ok(Parsed { cmd, action })
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
