//! The sync daemons: a master multicasts the connections its director handles, a
//! backup listens and hands what it hears to its own engine, so that after a
//! failover the backup forwards established connections to the same real servers.
//! Same group, port, TTL and size rules as the kernel's (224.0.0.81:8848, TTL 1).

use super::codec::{decode, Encoder, SyncMessage, SyncedConn, DEFAULT_MAXLEN};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The kernel's default sync group and port.
pub const DEFAULT_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 81);
pub const DEFAULT_PORT: u16 = 8848;
/// A master never holds connections back longer than this (IPVS_SYNC_FLUSH_TIME).
pub const FLUSH_TIME: Duration = Duration::from_secs(2);

/// Where and how a daemon talks (ipvsadm's --mcast-* options / lvs_sync_daemon).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub interface: String,
    pub syncid: u8,
    /// Largest message; 0 = the kernel's default for the interface MTU.
    pub maxlen: usize,
    pub group: IpAddr,
    pub port: u16,
    pub ttl: u8,
}

impl Settings {
    pub fn new(interface: &str, syncid: u8) -> Settings {
        Settings {
            interface: interface.to_string(),
            syncid,
            maxlen: 0,
            group: IpAddr::V4(DEFAULT_GROUP),
            port: DEFAULT_PORT,
            ttl: 1,
        }
    }

    fn maxlen(&self) -> usize {
        if self.maxlen == 0 {
            DEFAULT_MAXLEN
        } else {
            self.maxlen
        }
    }

    fn ifindex(&self) -> io::Result<u32> {
        crate::vrrp::io::Interface::lookup(&self.interface).map(|i| i.index)
    }
}

/// The master side: encodes and multicasts connection updates.
#[derive(Debug)]
pub struct Sender {
    socket: Socket,
    dest: SockAddr,
    encoder: Encoder,
    first_pending: Option<Instant>,
    pub sent_messages: u64,
}

impl Sender {
    pub fn open(s: &Settings) -> io::Result<Sender> {
        let domain = if s.group.is_ipv4() {
            Domain::IPV4
        } else {
            Domain::IPV6
        };
        let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
        socket.bind_device(Some(s.interface.as_bytes()))?;
        let index = s.ifindex()?;
        if s.group.is_ipv4() {
            socket.set_multicast_loop_v4(false)?;
            socket.set_multicast_ttl_v4(s.ttl.max(1) as u32)?;
            crate::vrrp::io::set_multicast_if_index_v4(&socket, index)?;
        } else {
            socket.set_multicast_loop_v6(false)?;
            socket.set_multicast_hops_v6(s.ttl.max(1) as u32)?;
            socket.set_multicast_if_v6(index)?;
        }
        socket.set_nonblocking(true)?;
        Ok(Sender {
            socket,
            dest: SockAddr::from(SocketAddr::new(s.group, s.port)),
            encoder: Encoder::new(s.syncid, s.maxlen()),
            first_pending: None,
            sent_messages: 0,
        })
    }

    /// Queue one connection; full messages go out at once.
    pub fn push(&mut self, c: &SyncedConn, now: Instant) -> io::Result<()> {
        if let Some(m) = self.encoder.push(c) {
            self.send(&m)?;
            self.first_pending = None;
        }
        self.first_pending.get_or_insert(now);
        Ok(())
    }

    /// Send what has waited for [`FLUSH_TIME`] (or everything, with `force`).
    pub fn flush(&mut self, now: Instant, force: bool) -> io::Result<()> {
        let due = self
            .first_pending
            .is_some_and(|t| force || now.duration_since(t) >= FLUSH_TIME);
        if due {
            if let Some(m) = self.encoder.flush() {
                self.send(&m)?;
            }
            self.first_pending = None;
        }
        Ok(())
    }

    fn send(&mut self, m: &[u8]) -> io::Result<()> {
        match self.socket.send_to(m, &self.dest) {
            Ok(_) => {
                self.sent_messages += 1;
                Ok(())
            }
            // A full socket buffer loses this update, as the kernel does.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The backup side: joins the group and decodes what it hears.
#[derive(Debug)]
pub struct Receiver {
    socket: Socket,
    syncid: u8,
    buf: Vec<u8>,
    pub dropped: u64,
}

impl Receiver {
    pub fn open(s: &Settings) -> io::Result<Receiver> {
        let domain = if s.group.is_ipv4() {
            Domain::IPV4
        } else {
            Domain::IPV6
        };
        let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_reuse_address(true)?;
        socket.bind_device(Some(s.interface.as_bytes()))?;
        socket.bind(&SockAddr::from(SocketAddr::new(s.group, s.port)))?;
        let index = s.ifindex()?;
        match s.group {
            IpAddr::V4(g) => {
                socket.join_multicast_v4_n(&g, &socket2::InterfaceIndexOrAddress::Index(index))?
            }
            IpAddr::V6(g) => socket.join_multicast_v6(&g, index)?,
        }
        socket.set_read_timeout(Some(Duration::from_millis(200)))?;
        Ok(Receiver {
            socket,
            syncid: s.syncid,
            buf: vec![0u8; 65536],
            dropped: 0,
        })
    }

    /// Wait (up to 200 ms) for one message for our sync id.
    pub fn recv(&mut self) -> io::Result<Option<SyncMessage>> {
        // socket2's recv takes uninitialised buffers; its Read impl takes ours.
        let n = match std::io::Read::read(&mut &self.socket, &mut self.buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        match decode(&self.buf[..n]) {
            // A backup with sync id 0 takes every message, as the kernel's does.
            Ok(m) if self.syncid == 0 || m.syncid == self.syncid => Ok(Some(m)),
            Ok(_) => Ok(None),
            Err(_) => {
                self.dropped += 1;
                Ok(None)
            }
        }
    }
}

/// Run a master until `stop`: `collect` fills the vector with connections to sync.
pub fn run_master(
    s: &Settings,
    stop: Arc<AtomicBool>,
    mut collect: impl FnMut(&mut Vec<SyncedConn>),
) -> io::Result<()> {
    let mut sender = Sender::open(s)?;
    let mut batch = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        batch.clear();
        collect(&mut batch);
        let now = Instant::now();
        for c in &batch {
            sender.push(c, now)?;
        }
        sender.flush(now, false)?;
        std::thread::sleep(Duration::from_millis(20));
    }
    sender.flush(Instant::now(), true)
}

/// Run a backup until `stop`: every message heard is handed to `apply`.
pub fn run_backup(
    s: &Settings,
    stop: Arc<AtomicBool>,
    mut apply: impl FnMut(SyncMessage),
) -> io::Result<()> {
    let mut receiver = Receiver::open(s)?;
    while !stop.load(Ordering::Relaxed) {
        if let Some(m) = receiver.recv()? {
            apply(m);
        }
    }
    Ok(())
}
