//! Running one ipvsadm command line against a [`Backend`]: the daemon over its
//! socket, or an in-process [`ConfigState`] in tests.

use crate::cli::{self, Action, Exit, Format, Listing};
use crate::errors;
use crate::format;
use crate::options::Cmd;
use crate::resolve::Resolver;
use crate::restore;
use crate::usage;
use rvs_api::client::{Client, ClientError};
use rvs_api::request::{ApiError, Reply, Request};
use rvs_api::state::ConfigState;
use rvs_core::status::ConnEntry;
use std::io::Read;
use std::path::PathBuf;

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The daemon judged the request and refused it.
    Refused(ApiError),
    /// The daemon could not be asked (not running, no permission, broken reply).
    Unreachable(String),
}

/// Where requests go.
pub trait Backend {
    fn call(&mut self, request: Request) -> Result<Reply, CallError>;
}

/// rvsd over its control socket, connected on the first request (so that `-h`
/// and usage errors need no daemon).
pub struct SocketBackend {
    path: PathBuf,
    client: Option<Client>,
}

impl SocketBackend {
    pub fn new(path: PathBuf) -> SocketBackend {
        SocketBackend { path, client: None }
    }
}

impl Backend for SocketBackend {
    fn call(&mut self, request: Request) -> Result<Reply, CallError> {
        let to_call_error = |e: ClientError| match e {
            ClientError::Api(api) => CallError::Refused(api),
            other => CallError::Unreachable(other.to_string()),
        };
        if self.client.is_none() {
            self.client = Some(Client::connect(&self.path).map_err(to_call_error)?);
        }
        match self.client.as_mut() {
            Some(client) => client.call(request).map_err(to_call_error),
            None => Err(CallError::Unreachable("no connection".to_string())),
        }
    }
}

/// The desired state in this process, with a fixed connection table: a director
/// for tests that answers listings from [`ConfigState::snapshot`] (every figure 0).
#[derive(Debug, Clone, Default)]
pub struct LocalBackend {
    pub state: ConfigState,
    pub connections: Vec<ConnEntry>,
}

impl Backend for LocalBackend {
    fn call(&mut self, request: Request) -> Result<Reply, CallError> {
        match request {
            Request::GetSnapshot => Ok(Reply::Snapshot(self.state.snapshot(4096))),
            Request::GetConnections => Ok(Reply::Connections(self.connections.clone())),
            other => self.state.dispatch(other).map_err(CallError::Refused),
        }
    }
}

/// What a run printed and its exit status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    fn exit(&mut self, e: Exit) -> i32 {
        self.stdout.push_str(&e.stdout);
        self.stderr.push_str(&e.stderr);
        self.code = e.code;
        e.code
    }

    fn fail(&mut self, code: i32, message: &str) -> i32 {
        self.stderr.push_str(message);
        self.stderr.push('\n');
        self.code = code;
        code
    }
}

/// What an action did: go on with the next one (a `-R` line), or stop here.
enum Step {
    Next(i32),
    Stop(i32),
}

/// Runs ipvsadm's command line `args` (`args[0]` is the program name); `stdin` is
/// read by `-R` only.
pub fn run(
    args: &[String],
    stdin: &mut dyn Read,
    backend: &mut dyn Backend,
    names: &dyn Resolver,
) -> Output {
    let mut out = Output::default();
    let program = args
        .first()
        .cloned()
        .unwrap_or_else(|| "ipvsadm".to_string());
    if args.len() <= 1 {
        let step = list(&mut out, backend, names, &Listing::All, &Format::default());
        out.code = match step {
            Step::Next(c) | Step::Stop(c) => c,
        };
        return out;
    }
    let parsed = match cli::parse(args, names, false) {
        Ok(p) => p,
        Err(e) => {
            out.exit(e);
            return out;
        }
    };
    let code = match parsed.action {
        Action::Restore => restore_from(&mut out, &program, stdin, backend, names),
        action => match perform(&mut out, &program, parsed.cmd, action, backend, names) {
            Step::Next(c) | Step::Stop(c) => c,
        },
    };
    out.code = code;
    out
}

fn unreachable(out: &mut Output, why: &str) -> Step {
    Step::Stop(out.fail(
        2,
        &format!("Can't initialize ipvs: {why}\nAre you sure that rvsd is running?"),
    ))
}

fn perform(
    out: &mut Output,
    program: &str,
    cmd: Cmd,
    action: Action,
    backend: &mut dyn Backend,
    names: &dyn Resolver,
) -> Step {
    match action {
        Action::Help => {
            out.stdout.push_str(&usage::help(program));
            Step::Stop(0)
        }
        Action::Version => {
            out.stdout.push_str(usage::VERSION_LINE);
            out.stdout.push('\n');
            Step::Stop(0)
        }
        Action::List(listing, fmt) => list(out, backend, names, &listing, &fmt),
        Action::Save(fmt) => list(out, backend, names, &Listing::All, &fmt),
        // -R inside -R is refused by the parser; at top level `run` handles it.
        Action::Restore => Step::Stop(out.exit(Exit::try_help(program))),
        Action::Refuse(cmd, kind) => Step::Next(out.fail(255, errors::message(cmd, kind))),
        Action::Apply(request) => match backend.call(request) {
            Ok(_) => Step::Next(0),
            Err(CallError::Refused(e)) => Step::Next(out.fail(255, errors::message(cmd, e.kind))),
            Err(CallError::Unreachable(why)) => unreachable(out, &why),
        },
    }
}

fn list(
    out: &mut Output,
    backend: &mut dyn Backend,
    names: &dyn Resolver,
    listing: &Listing,
    fmt: &Format,
) -> Step {
    if *listing == Listing::Connections {
        return match backend.call(Request::GetConnections) {
            Ok(Reply::Connections(conns)) => {
                out.stdout
                    .push_str(&format::format_connections(&conns, fmt, names));
                Step::Next(0)
            }
            Ok(_) => unreachable(out, "rvsd answered a listing with something else"),
            Err(CallError::Refused(e)) => {
                Step::Stop(out.fail(1, errors::message(Cmd::List, e.kind)))
            }
            Err(CallError::Unreachable(why)) => unreachable(out, &why),
        };
    }
    let snap = match backend.call(Request::GetSnapshot) {
        Ok(Reply::Snapshot(s)) => s,
        Ok(_) => return unreachable(out, "rvsd answered a listing with something else"),
        Err(CallError::Refused(e)) => {
            return Step::Stop(out.fail(1, errors::message(Cmd::List, e.kind)))
        }
        Err(CallError::Unreachable(why)) => return unreachable(out, &why),
    };
    let text = match listing {
        // `-S`: the rules `-R` reads, the mark rules (an rvs extension) last.
        Listing::All if fmt.rule => {
            format::format_list_all(&snap, fmt, names)
                + &format::format_mark_lines(&snap.fwmark_rules)
        }
        Listing::All => format::format_list_all(&snap, fmt, names),
        Listing::Marks => format::format_marks(&snap.fwmark_rules),
        Listing::Service(key) => match snap.services.iter().find(|s| s.config.key == *key) {
            Some(svc) => format::format_service_listing(svc, fmt, names),
            None => return Step::Stop(out.fail(1, "No such service")),
        },
        Listing::Timeout => format::format_timeout(&snap.timeouts),
        Listing::Daemon => format::format_daemons(&snap.daemons),
        Listing::Connections => String::new(),
    };
    out.stdout.push_str(&text);
    Step::Next(0)
}

/// `-R`: every line is parsed before anything is applied; the changes between two
/// listings (usually all of them) go to the daemon as one all-or-nothing batch.
fn restore_from(
    out: &mut Output,
    program: &str,
    stdin: &mut dyn Read,
    backend: &mut dyn Backend,
    names: &dyn Resolver,
) -> i32 {
    let mut raw = Vec::new();
    if let Err(e) = stdin.read_to_end(&mut raw) {
        return out.fail(2, &format!("cannot read standard input: {e}"));
    }
    let text = String::from_utf8_lossy(&raw);
    let mut parsed = Vec::new();
    for argv in restore::command_lines(&text, program) {
        match cli::parse(&argv, names, true) {
            Ok(p) => parsed.push(p),
            Err(e) => return out.exit(e),
        }
    }
    let mut batch: Vec<(Cmd, Request)> = Vec::new();
    let mut code = 0;
    for p in parsed {
        match p.action {
            Action::Apply(request) => batch.push((p.cmd, request)),
            Action::Refuse(cmd, kind) => return out.fail(255, errors::message(cmd, kind)),
            other => {
                if let Err(c) = flush(out, &mut batch, backend) {
                    return c;
                }
                match perform(out, program, p.cmd, other, backend, names) {
                    Step::Next(c) => code = c,
                    Step::Stop(c) => return c,
                }
            }
        }
    }
    let applies_last = !batch.is_empty();
    match flush(out, &mut batch, backend) {
        Ok(()) if applies_last => 0,
        Ok(()) => code,
        Err(c) => c,
    }
}

/// Sends the pending changes; on refusal prints ipvsadm's message for the line
/// that was refused.
fn flush(
    out: &mut Output,
    batch: &mut Vec<(Cmd, Request)>,
    backend: &mut dyn Backend,
) -> Result<(), i32> {
    if batch.is_empty() {
        return Ok(());
    }
    let pending = core::mem::take(batch);
    let request = if pending.len() == 1 {
        pending[0].1.clone()
    } else {
        Request::Batch(pending.iter().map(|(_, r)| r.clone()).collect())
    };
    match backend.call(request) {
        Ok(_) => Ok(()),
        Err(CallError::Refused(e)) => {
            let index = refused_index(&e.message)
                .or_else(|| replay_for_refusal(backend, &pending))
                .filter(|i| *i < pending.len())
                .unwrap_or(0);
            Err(out.fail(255, errors::message(pending[index].0, e.kind)))
        }
        Err(CallError::Unreachable(why)) => Err(match unreachable(out, &why) {
            Step::Next(c) | Step::Stop(c) => c,
        }),
    }
}

/// Which request of a refused batch failed, found by applying the batch to a copy
/// of the daemon's configuration (rebuilt from its listing) one request at a time.
fn replay_for_refusal(backend: &mut dyn Backend, pending: &[(Cmd, Request)]) -> Option<usize> {
    let Ok(Reply::Snapshot(snap)) = backend.call(Request::GetSnapshot) else {
        return None;
    };
    let mut copy = ConfigState::new();
    for svc in &snap.services {
        copy.dispatch(Request::AddService(svc.config.clone()))
            .ok()?;
        // The listing has the most recently added real server first.
        for d in svc.dests.iter().rev() {
            copy.dispatch(Request::AddDest(svc.config.key, d.config))
                .ok()?;
        }
    }
    copy.dispatch(Request::SetTimeouts(snap.timeouts)).ok()?;
    for d in &snap.daemons {
        copy.dispatch(Request::StartDaemon(d.clone())).ok()?;
    }
    for rule in &snap.fwmark_rules {
        copy.dispatch(Request::AddFwmarkRule(*rule)).ok()?;
    }
    pending
        .iter()
        .position(|(_, request)| copy.dispatch(request.clone()).is_err())
}

/// The 0-based index of the refused request, from rvs-api's batch message
/// ("request N of the batch: ...").
fn refused_index(message: &str) -> Option<usize> {
    let rest = message.strip_prefix("request ")?;
    let n: usize = rest.split(' ').next()?.parse().ok()?;
    rest.contains(" of the batch").then(|| n.checked_sub(1))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::NoResolver;

    /// A daemon whose refusals carry no position: the refused line is found by
    /// replaying the batch on a copy of its configuration.
    struct Terse(LocalBackend);

    impl Backend for Terse {
        fn call(&mut self, request: Request) -> Result<Reply, CallError> {
            self.0.call(request).map_err(|e| match e {
                CallError::Refused(api) => CallError::Refused(ApiError::new(api.kind, "refused")),
                other => other,
            })
        }
    }

    fn run_line(backend: &mut dyn Backend, line: &str, stdin: &str) -> Output {
        let args: Vec<String> = line.split_whitespace().map(String::from).collect();
        run(&args, &mut stdin.as_bytes(), backend, &NoResolver)
    }

    #[test]
    fn refused_line_of_a_batch_without_its_position() {
        let mut d = Terse(LocalBackend::default());
        assert_eq!(run_line(&mut d, "ipvsadm -A -t 10.0.0.1:80", "").code, 0);
        let input =
            "-A -t 10.0.0.2:80\n-a -t 10.0.0.2:80 -r 10.0.2.1\n-a -t 10.0.0.2:80 -r 10.0.2.1\n";
        let out = run_line(&mut d, "ipvsadm -R", input);
        assert_eq!(
            (out.code, out.stderr.as_str()),
            (255, "Destination already exists\n")
        );
        let input = "-A -t 10.0.0.3:80\n-A -t 10.0.0.1:80\n";
        let out = run_line(&mut d, "ipvsadm -R", input);
        assert_eq!(
            (out.code, out.stderr.as_str()),
            (255, "Service already exists\n")
        );
        let out = run_line(&mut d, "ipvsadm -S -n", "");
        assert_eq!(out.stdout, "-A -t 10.0.0.1:80 -s wlc\n");
    }

    #[test]
    fn batch_position_from_the_message() {
        assert_eq!(
            refused_index("request 3 of the batch: no such service"),
            Some(2)
        );
        assert_eq!(refused_index("request 0 of the batch: x"), None);
        assert_eq!(refused_index("no such service"), None);
    }
}
