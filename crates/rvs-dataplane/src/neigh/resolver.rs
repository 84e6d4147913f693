//! The resolver thread: answers workers' requests through rtnetlink and follows the
//! kernel's route, link and neighbour changes.

use core::net::IpAddr;
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;

use super::netlink::{parse_neigh, RtNetlink};
use super::{Key, NeighCache, NextHop, Resolution, Shared};
use crate::counters::IoDrop;

/// How long a neighbour may stay unresolved before its frames are dropped.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a failure is remembered before the next attempt.
const FAILED_RETRY: Duration = Duration::from_secs(3);
/// How often entries in use are checked against the kernel (and stale neighbours
/// revalidated: rvs's traffic bypasses the kernel, which therefore never confirms
/// them by itself).
const REFRESH: Duration = Duration::from_secs(5);

/// A self-pipe that wakes the resolver from poll().
#[derive(Debug)]
pub struct Waker {
    read: OwnedFd,
    write: OwnedFd,
}

impl Waker {
    pub(crate) fn new() -> io::Result<Waker> {
        let mut fds = [0i32; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors are fresh and owned by nobody else.
        Ok(unsafe {
            Waker {
                read: OwnedFd::from_raw_fd(fds[0]),
                write: OwnedFd::from_raw_fd(fds[1]),
            }
        })
    }

    pub fn wake(&self) {
        // SAFETY: writing one byte from a live local; a full pipe (EAGAIN) already
        // means a wake-up is pending.
        unsafe {
            libc::write(self.write.as_raw_fd(), [1u8].as_ptr().cast(), 1);
        }
    }

    fn drain(&self) {
        let mut buf = [0u8; 64];
        // SAFETY: reading into a live local buffer of the size given.
        while unsafe { libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } > 0 {
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    res: Resolution,
    /// The interface and neighbour address behind it, once the route is known.
    neigh: Option<(u32, IpAddr)>,
    since: Instant,
}

/// The resolver's state, run on its own thread.
pub struct Resolver {
    nl: RtNetlink,
    events: netlink_sys::Socket,
    shared: Arc<Shared>,
    requests: Receiver<Key>,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    entries: HashMap<Key, Entry>,
    macs: HashMap<u32, Option<[u8; 6]>>,
    buf: Vec<u8>,
}

/// Running resolver: hands out worker caches and stops the thread.
pub struct ResolverHandle {
    shared: Arc<Shared>,
    sender: std::sync::mpsc::SyncSender<Key>,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ResolverHandle {
    pub fn cache(&self) -> NeighCache {
        NeighCache {
            shared: self.shared.clone(),
            requests: self.sender.clone(),
            wake: self.waker.clone(),
            local: HashMap::new(),
            generation: self.shared.generation(),
            asked: HashMap::new(),
        }
    }

    pub fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ResolverHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Resolver {
    /// Open the netlink sockets (in the calling thread's network namespace) and
    /// start the resolver thread.
    pub fn start() -> io::Result<ResolverHandle> {
        let nl = RtNetlink::open()?;
        let events = RtNetlink::events()?;
        let shared = Arc::new(Shared::default());
        let (sender, requests) = sync_channel(1024);
        let waker = Arc::new(Waker::new()?);
        let stop = Arc::new(AtomicBool::new(false));
        let mut r = Resolver {
            nl,
            events,
            shared: shared.clone(),
            requests,
            waker: waker.clone(),
            stop: stop.clone(),
            entries: HashMap::new(),
            macs: HashMap::new(),
            buf: vec![0; 256 * 1024],
        };
        let thread = std::thread::Builder::new()
            .name("rvs-resolver".into())
            .spawn(move || r.run())?;
        Ok(ResolverHandle {
            shared,
            sender,
            waker,
            stop,
            thread: Some(thread),
        })
    }

    fn run(&mut self) {
        let mut last_tick = Instant::now();
        while !self.stop.load(Ordering::Acquire) {
            let mut fds = [
                libc::pollfd {
                    fd: self.events.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.waker.read.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: `fds` is a live local array of the length given.
            unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 200) };
            self.waker.drain();
            let mut changed = self.read_events();
            while let Ok(key) = self.requests.try_recv() {
                if !self.entries.contains_key(&key) {
                    self.resolve(key, Instant::now());
                    changed = true;
                }
            }
            let now = Instant::now();
            if now.duration_since(last_tick) >= Duration::from_millis(500) {
                changed |= self.tick(now, now.duration_since(last_tick) >= REFRESH);
                last_tick = now;
            }
            if changed {
                self.publish();
            }
        }
    }

    fn publish(&self) {
        {
            let mut t = self.shared.table.write().unwrap_or_else(|p| p.into_inner());
            t.clear();
            t.extend(self.entries.iter().map(|(k, e)| (*k, e.res)));
        }
        self.shared.bump();
    }

    fn link_mac(&mut self, ifindex: u32) -> Option<[u8; 6]> {
        if let Some(m) = self.macs.get(&ifindex) {
            return *m;
        }
        let m = self.nl.link_mac(ifindex).ok().flatten();
        self.macs.insert(ifindex, m);
        m
    }

    /// Work out `key` afresh from the kernel's tables.
    fn resolve(&mut self, key: Key, now: Instant) {
        let (addr, on_link) = key;
        let prev = self.entries.get(&key).copied();
        let fail = |reason| Entry {
            res: Resolution::Failed(reason),
            neigh: None,
            since: now,
        };
        let route = match self.nl.route_get(addr) {
            Ok(Some(r)) if r.unicast && r.oif != 0 && !(on_link && r.gateway.is_some()) => r,
            _ => {
                self.entries.insert(key, fail(IoDrop::NoRoute));
                return;
            }
        };
        let Some(src_mac) = self.link_mac(route.oif) else {
            self.entries.insert(key, fail(IoDrop::NoRoute));
            return;
        };
        let hop = route.gateway.unwrap_or(addr);
        let neigh = self.nl.neigh_get(route.oif, hop).ok().flatten();
        let entry = match neigh.and_then(|n| n.usable().map(|mac| (n, mac))) {
            Some((n, dst_mac)) => {
                if n.state != netlink_packet_route::neighbour::NeighbourState::Reachable {
                    // Let the kernel confirm it again; meanwhile the address stands.
                    let _ = self.nl.neigh_use(route.oif, hop);
                }
                Entry {
                    res: Resolution::Ready(NextHop {
                        ifindex: route.oif,
                        src_mac,
                        dst_mac,
                    }),
                    neigh: Some((route.oif, hop)),
                    since: now,
                }
            }
            None => {
                let _ = self.nl.neigh_use(route.oif, hop);
                // Keep the time of the first attempt so the timeout is not reset.
                let since = match prev {
                    Some(Entry {
                        res: Resolution::Pending,
                        since,
                        ..
                    }) => since,
                    _ => now,
                };
                Entry {
                    res: Resolution::Pending,
                    neigh: Some((route.oif, hop)),
                    since,
                }
            }
        };
        self.entries.insert(key, entry);
    }

    /// Time-driven work; returns whether anything changed.
    fn tick(&mut self, now: Instant, refresh: bool) -> bool {
        let before: Vec<(Key, Resolution)> =
            self.entries.iter().map(|(k, e)| (*k, e.res)).collect();
        let keys: Vec<Key> = self.entries.keys().copied().collect();
        for key in keys {
            let Some(e) = self.entries.get(&key).copied() else {
                continue;
            };
            match e.res {
                Resolution::Pending if now.duration_since(e.since) >= RESOLVE_TIMEOUT => {
                    self.entries.insert(
                        key,
                        Entry {
                            res: Resolution::Failed(IoDrop::Unresolved),
                            neigh: None,
                            since: now,
                        },
                    );
                }
                Resolution::Pending => self.resolve(key, now),
                Resolution::Failed(_) if now.duration_since(e.since) >= FAILED_RETRY => {
                    self.entries.remove(&key);
                }
                Resolution::Ready(_) if refresh => self.resolve(key, now),
                _ => {}
            }
        }
        before.len() != self.entries.len()
            || before
                .iter()
                .any(|(k, r)| self.entries.get(k).map(|e| e.res) != Some(*r))
    }

    /// Apply the kernel's change notifications; returns whether anything changed.
    fn read_events(&mut self) -> bool {
        let mut touched: Vec<(u32, IpAddr)> = Vec::new();
        let mut everything = false;
        loop {
            let n = match self.events.recv(&mut &mut self.buf[..], 0) {
                Ok(n) if n > 0 => n,
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // ENOBUFS: notifications were lost; start over from the kernel.
                Err(_) => {
                    everything = true;
                    break;
                }
            };
            let mut off = 0;
            while off < n {
                let Ok(msg) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.buf[off..n])
                else {
                    everything = true;
                    break;
                };
                off += (msg.header.length as usize).max(16).next_multiple_of(4);
                match msg.payload {
                    NetlinkPayload::InnerMessage(
                        RouteNetlinkMessage::NewNeighbour(m) | RouteNetlinkMessage::DelNeighbour(m),
                    ) => {
                        if let Some((ifindex, addr, _)) = parse_neigh(&m) {
                            touched.push((ifindex, addr));
                        }
                    }
                    NetlinkPayload::InnerMessage(
                        RouteNetlinkMessage::NewLink(_) | RouteNetlinkMessage::DelLink(_),
                    ) => {
                        self.macs.clear();
                        everything = true;
                    }
                    NetlinkPayload::InnerMessage(_) => everything = true,
                    _ => {}
                }
            }
        }
        if !everything && touched.is_empty() {
            return false;
        }
        let now = Instant::now();
        let before: Vec<(Key, Resolution)> =
            self.entries.iter().map(|(k, e)| (*k, e.res)).collect();
        let keys: Vec<Key> = self
            .entries
            .iter()
            .filter(|(_, e)| {
                everything
                    || matches!(e.res, Resolution::Pending)
                    || e.neigh.is_some_and(|n| touched.contains(&n))
            })
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            self.resolve(key, now);
        }
        before
            .iter()
            .any(|(k, r)| self.entries.get(k).map(|e| e.res) != Some(*r))
    }
}
