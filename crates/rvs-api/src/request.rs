//! Requests and replies of the control protocol. Each ipvsadm command maps to one
//! request; listings return data that the client formats.

use core::net::IpAddr;
use rvs_core::model::{
    DestConfig, FwmarkRule, ServiceConfig, ServiceKey, SyncDaemonConfig, SyncRole, Timeouts,
};
use rvs_core::status::{ConnEntry, Snapshot};
use serde::{Deserialize, Serialize};

/// Protocol version; a server refuses requests of another major version.
pub const PROTOCOL_VERSION: u32 = 1;

/// Default path of rvsd's control socket.
pub const DEFAULT_SOCKET: &str = "/run/rvs/rvsd.sock";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// `-A`
    AddService(ServiceConfig),
    /// `-E`
    EditService(ServiceConfig),
    /// `-D`
    DelService(ServiceKey),
    /// `-C`: every service, and every firewall-mark rule (they are saved by `-S`
    /// with the services, so `-C` then `-R` restores both).
    Flush,
    /// `-a`
    AddDest(ServiceKey, DestConfig),
    /// `-e`
    EditDest(ServiceKey, DestConfig),
    /// `-d`: the real server's address and port.
    DelDest(ServiceKey, IpAddr, u16),
    /// `-Z [service]`
    Zero(Option<ServiceKey>),
    /// `--set tcp tcpfin udp` (0 keeps the current value).
    SetTimeouts(Timeouts),
    /// `--start-daemon`
    StartDaemon(SyncDaemonConfig),
    /// `--stop-daemon`
    StopDaemon(SyncRole),
    /// rvs extension `--add-mark`: append a firewall-mark classification rule (the
    /// equivalent of an `iptables -t mangle -A PREROUTING ... -j MARK` rule).
    AddFwmarkRule(FwmarkRule),
    /// rvs extension `--del-mark`: remove the rule equal to this one.
    DelFwmarkRule(FwmarkRule),
    /// Several requests applied as one: all or nothing (`-R`).
    Batch(Vec<Request>),
    /// Everything `-L` shows but the connections.
    GetSnapshot,
    /// `-Lc`
    GetConnections,
    /// Re-read the configuration file (keepalived.conf) and apply the difference.
    Reload,
}

impl Request {
    /// Whether the request only reads (listings) and never changes the desired state.
    pub const fn is_query(&self) -> bool {
        matches!(self, Request::GetSnapshot | Request::GetConnections)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    Done,
    Snapshot(Snapshot),
    Connections(Vec<ConnEntry>),
}

/// The kind of a refusal, mirroring the errno the kernel would return, so that the
/// client can print ipvsadm's message for it (ipvsadm's messages depend on the command
/// and the errno).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorKind {
    /// EEXIST: service or destination already exists.
    Exists,
    /// ESRCH: no such service (also: no sync daemon of that role to stop).
    NoService,
    /// ENOENT: no such destination (or scheduler/persistence engine not found).
    NotFound,
    /// EINVAL: invalid argument.
    Invalid,
    /// EBUSY: the resource is in use.
    Busy,
    /// ENOMEM: limits reached.
    NoMemory,
    /// EPERM: the peer may not use the socket.
    Permission,
    /// EOPNOTSUPP: not supported.
    Unsupported,
    /// The protocol version or encoding is wrong.
    Protocol,
    /// ERANGE: a value out of range (the kernel's answer to a negative weight or a
    /// lower threshold above the upper one).
    Range,
}

impl ErrorKind {
    /// The errno name the kernel would have returned ("EEXIST", ...); `Protocol` has
    /// no errno and answers "EPROTO".
    pub const fn errno_name(self) -> &'static str {
        match self {
            ErrorKind::Exists => "EEXIST",
            ErrorKind::NoService => "ESRCH",
            ErrorKind::NotFound => "ENOENT",
            ErrorKind::Invalid => "EINVAL",
            ErrorKind::Busy => "EBUSY",
            ErrorKind::NoMemory => "ENOMEM",
            ErrorKind::Permission => "EPERM",
            ErrorKind::Unsupported => "EOPNOTSUPP",
            ErrorKind::Protocol => "EPROTO",
            ErrorKind::Range => "ERANGE",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub kind: ErrorKind,
    /// A human explanation (not ipvsadm's wording; rvsadm prints its own from `kind`).
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
        }
    }
}

/// One message on the wire: a request with the protocol version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub version: u32,
    pub request: Request,
}

pub type Response = Result<Reply, ApiError>;
