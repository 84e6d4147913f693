//! Health checkers with keepalived's semantics, and the engine that turns their
//! results into desired-state edits.
//!
//! A checker is a [`HealthCheck`]: it does one probe and says up or down, nothing more.
//! [`timing::RetryState`] holds keepalived's retry rules (I/O-free); [`engine`] runs
//! one task per checker, folds results per real server and per virtual server
//! (quorum, hysteresis, sorry server, inhibit_on_failure, notify scripts) and emits
//! [`engine::DestEvent`]s plus the whole desired state on a watch channel.
//!
//! ```no_run
//! # async fn run() -> Result<(), Vec<rvs_ha::config::Diagnostic>> {
//! use std::sync::Arc;
//! let (cfg, _warnings) = rvs_ha::config::load("/etc/keepalived/keepalived.conf".as_ref())?;
//! let initial = cfg.virtual_services(); // apply this first
//! let mut monitor = rvs_ha::check::HealthMonitor::start(Arc::new(cfg));
//! while let Some(edit) = monitor.events.recv().await {
//!     let _request = edit.to_request(); // AddDest / DelDest / EditDest
//! }
//! # drop(initial);
//! # Ok(())
//! # }
//! ```

pub mod build;
pub mod dns;
pub mod engine;
pub mod http;
pub mod misc;
pub mod ping;
pub mod script;
pub mod smtp;
pub mod tcp;
pub mod timing;
pub mod udp;

use core::future::Future;
use core::pin::Pin;
use std::net::SocketAddr;

pub use engine::{DestEvent, HealthMonitor, HealthSnapshot};

/// The result of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Up,
    /// Up, and the real server's weight should become this (MISC_CHECK misc_dynamic).
    UpWithWeight(u32),
    Down(String),
}

impl Outcome {
    pub fn is_up(&self) -> bool {
        !matches!(self, Outcome::Down(_))
    }
}

pub type ProbeFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// One kind of health probe. A probe bounds its own duration (connect_timeout,
/// misc_timeout); the engine decides what results mean over time.
pub trait HealthCheck: Send + Sync {
    fn probe(&self) -> ProbeFuture<'_>;

    /// For logs: "TCP_CHECK 10.0.0.2:80".
    fn describe(&self) -> String;
}

/// Where a network checker connects from and to, and how its packets are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub target: SocketAddr,
    /// `bindto`/`bind_port`.
    pub bind: Option<SocketAddr>,
    /// `bind_if`: SO_BINDTODEVICE.
    pub bind_if: Option<String>,
    /// `fwmark`: SO_MARK on every packet of the check.
    pub fwmark: Option<u32>,
}

impl Endpoint {
    pub fn new(target: SocketAddr) -> Endpoint {
        Endpoint {
            target,
            bind: None,
            bind_if: None,
            fwmark: None,
        }
    }

    /// A non-blocking socket with the endpoint's options applied and bound.
    fn socket(
        &self,
        ty: socket2::Type,
        proto: socket2::Protocol,
    ) -> Result<socket2::Socket, String> {
        let domain = socket2::Domain::for_address(self.target);
        let s =
            socket2::Socket::new(domain, ty, Some(proto)).map_err(|e| format!("socket: {e}"))?;
        s.set_nonblocking(true).map_err(|e| e.to_string())?;
        if let Some(ifn) = &self.bind_if {
            s.bind_device(Some(ifn.as_bytes()))
                .map_err(|e| format!("bind_if {ifn}: {e}"))?;
        }
        if let Some(mark) = self.fwmark {
            s.set_mark(mark)
                .map_err(|e| format!("fwmark {mark}: {e}"))?;
        }
        if let Some(b) = self.bind {
            if ty == socket2::Type::STREAM {
                s.set_reuse_address(true).map_err(|e| e.to_string())?;
            }
            s.bind(&b.into()).map_err(|e| format!("bind {b}: {e}"))?;
        }
        Ok(s)
    }

    /// A TCP connection to the target within `timeout`.
    pub async fn connect_tcp(
        &self,
        timeout: core::time::Duration,
    ) -> Result<tokio::net::TcpStream, String> {
        let s = self.socket(socket2::Type::STREAM, socket2::Protocol::TCP)?;
        let sock = tokio::net::TcpSocket::from_std_stream(std::net::TcpStream::from(s));
        match tokio::time::timeout(timeout, sock.connect(self.target)).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(format!("connect to {}: {e}", self.target)),
            Err(_) => Err(format!("connect to {}: timeout", self.target)),
        }
    }

    /// A UDP socket connected to the target (so ICMP errors come back as errors).
    pub async fn connect_udp(&self) -> Result<tokio::net::UdpSocket, String> {
        let s = self.socket(socket2::Type::DGRAM, socket2::Protocol::UDP)?;
        let s = tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(s))
            .map_err(|e| e.to_string())?;
        s.connect(self.target)
            .await
            .map_err(|e| format!("connect {}: {e}", self.target))?;
        Ok(s)
    }

    /// An ICMP socket connected to the target: an unprivileged datagram socket when
    /// net.ipv4.ping_group_range allows it, else a raw one (root). The bool says raw.
    pub fn connect_icmp(&self) -> Result<(tokio::net::UdpSocket, bool), String> {
        let proto = match self.target {
            SocketAddr::V4(_) => socket2::Protocol::ICMPV4,
            SocketAddr::V6(_) => socket2::Protocol::ICMPV6,
        };
        let (s, raw) = match self.socket(socket2::Type::DGRAM, proto) {
            Ok(s) => (s, false),
            Err(_) => (self.socket(socket2::Type::RAW, proto)?, true),
        };
        s.connect(&SocketAddr::new(self.target.ip(), 0).into())
            .map_err(|e| format!("connect: {e}"))?;
        let s = tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(s))
            .map_err(|e| e.to_string())?;
        Ok((s, raw))
    }
}

/// A small non-cryptographic random number (warmup spreading, DNS ids, payloads).
pub fn random_u64() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) ^ seed;
    // splitmix64 finaliser.
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
