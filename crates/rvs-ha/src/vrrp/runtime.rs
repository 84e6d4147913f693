//! Drives every VRRP instance of a configuration from one thread: sockets shared per
//! interface and family, timers, tracked interfaces and scripts, sync groups and
//! notify scripts. The state machines themselves ([`super::machine`]) do no I/O.

use super::io::{poll_readable, GarpSender, Interface, NaSender, VirtualAddress, VrrpSocket};
use super::machine::{Action, Instance, InstanceConfig, State};
use super::packet::Advert;
use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Notify scripts of an instance or a sync group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyScripts {
    pub master: Option<String>,
    pub backup: Option<String>,
    pub fault: Option<String>,
    pub stop: Option<String>,
    /// `notify`: called with `INSTANCE|GROUP NAME STATE PRIORITY`.
    pub any: Option<String>,
}

/// A `vrrp_script`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackScript {
    pub name: String,
    pub script: String,
    pub interval: Duration,
    pub timeout: Duration,
    /// 0: failure puts tracking instances in FAULT; > 0: added while succeeding;
    /// < 0: added (subtracted) while failing.
    pub weight: i32,
    /// `weight ... reverse`: the sense of the weight is inverted.
    pub reverse: bool,
    pub rise: u32,
    pub fall: u32,
    pub init_fail: bool,
}

/// One `vrrp_instance` with what the runtime needs beyond the state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSpec {
    pub machine: InstanceConfig,
    pub interface: String,
    pub vips: Vec<VirtualAddress>,
    pub unicast_src: Option<IpAddr>,
    pub unicast_peers: Vec<IpAddr>,
    /// Tracked interfaces: (name, weight); weight 0 means FAULT when down.
    pub track_interfaces: Vec<(String, i32)>,
    /// Tracked scripts by name, with an optional weight overriding the script's.
    pub track_scripts: Vec<(String, Option<i32>)>,
    pub notify: NotifyScripts,
    /// Gratuitous ARPs per burst (`vrrp_garp_master_repeat`, default 5).
    pub garp_repeat: u32,
}

/// A `vrrp_sync_group`: its members change state together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroup {
    pub name: String,
    pub members: Vec<String>,
    pub notify: NotifyScripts,
}

/// Shared view of the instances' states, for status pages and for rvsd (the sync
/// daemon follows VRRP mastership, as keepalived's lvs_sync_daemon does).
pub type StateTable = Arc<Mutex<HashMap<String, State>>>;

struct Running {
    spec: InstanceSpec,
    machine: Instance,
    socket: usize,
    garp: Option<GarpSender>,
    na: Option<NaSender>,
    group: Option<usize>,
}

struct ScriptState {
    spec: TrackScript,
    ok: bool,
    streak: u32,
    next_run: Instant,
    child: Option<(Child, Instant)>,
}

/// Run until `stop` is set; then every master says goodbye and drops its addresses.
pub fn run(
    specs: Vec<InstanceSpec>,
    scripts: Vec<TrackScript>,
    groups: Vec<SyncGroup>,
    states: StateTable,
    stop: Arc<AtomicBool>,
) -> io::Result<()> {
    let mut sockets: Vec<VrrpSocket> = Vec::new();
    let mut socket_keys: Vec<(String, bool)> = Vec::new();
    let mut running = Vec::new();
    for spec in specs {
        let iface = Interface::lookup(&spec.interface)?;
        let v6 = spec.vips.first().is_some_and(|v| v.addr.is_ipv6());
        let key = (spec.interface.clone(), v6);
        let socket = match socket_keys.iter().position(|k| *k == key) {
            Some(i) => i,
            None => {
                sockets.push(VrrpSocket::open(&iface, v6).map_err(|e| {
                    io::Error::new(e.kind(), format!("VRRP socket on {}: {e}", iface.name))
                })?);
                socket_keys.push(key);
                sockets.len() - 1
            }
        };
        let vip_addrs: Vec<IpAddr> = spec.vips.iter().map(|v| v.addr).collect();
        let local = match spec.unicast_src {
            Some(a) => a,
            None => iface.primary_address(v6, &vip_addrs)?,
        };
        let group = groups
            .iter()
            .position(|g| g.members.contains(&spec.machine.name));
        let garp = if v6 {
            None
        } else {
            GarpSender::open(&iface).ok()
        };
        let na = if v6 {
            NaSender::open(&iface).ok()
        } else {
            None
        };
        let machine = Instance::new(spec.machine.clone(), local);
        running.push(Running {
            spec,
            machine,
            socket,
            garp,
            na,
            group,
        });
    }
    let now = Instant::now();
    let mut scripts: Vec<ScriptState> = scripts
        .into_iter()
        .map(|spec| ScriptState {
            ok: !spec.init_fail,
            streak: 0,
            next_run: now,
            child: None,
            spec,
        })
        .collect();

    for r in &mut running {
        r.machine.start(now);
    }
    let mut out = Vec::with_capacity(256);
    let fds: Vec<_> = sockets.iter().map(VrrpSocket::fd).collect();
    let mut ready = Vec::new();
    let mut next_track = now;
    loop {
        let now = Instant::now();
        if stop.load(Ordering::Relaxed) {
            for r in &mut running {
                r.machine.shutdown();
            }
            drain_all(&mut running, &sockets, &groups, &states, &mut out, now);
            return Ok(());
        }
        if now >= next_track {
            next_track = now + Duration::from_millis(500);
            run_scripts(&mut scripts, now);
            apply_tracking(&mut running, &scripts, now);
        }
        for r in &mut running {
            r.machine.handle_timeout(now);
        }
        drain_all(&mut running, &sockets, &groups, &states, &mut out, now);

        let wake = running
            .iter()
            .filter_map(|r| r.machine.poll_timeout())
            .min()
            .unwrap_or(now + Duration::from_millis(100))
            .min(next_track)
            .min(now + Duration::from_millis(100));
        let ms = wake.saturating_duration_since(Instant::now()).as_millis() as i32;
        poll_readable(&fds, ms.max(1), &mut ready)?;
        for (si, sock) in sockets.iter_mut().enumerate() {
            if !ready.get(si).copied().unwrap_or(false) {
                continue;
            }
            while let Some(rx) = sock.recv()? {
                let Ok(adv) = Advert::parse(rx.payload, rx.src, rx.dst) else {
                    continue;
                };
                let now = Instant::now();
                for r in running.iter_mut().filter(|r| r.socket == si) {
                    let _ = r.machine.handle_advert(rx.src, rx.ttl, &adv, now);
                }
            }
        }
    }
}

/// Execute queued actions; propagate state changes through sync groups.
fn drain_all(
    running: &mut [Running],
    sockets: &[VrrpSocket],
    groups: &[SyncGroup],
    states: &StateTable,
    out: &mut Vec<u8>,
    now: Instant,
) {
    let mut entered: Vec<(usize, State)> = Vec::new();
    for (i, r) in running.iter_mut().enumerate() {
        while let Some(action) = r.machine.poll_action() {
            match action {
                Action::SendAdvert(adv) => send_advert(r, &sockets[r.socket], &adv, out),
                Action::SetVips(add) => {
                    for v in &r.spec.vips {
                        if let Err(e) = v.apply(&r.spec.interface, add) {
                            eprintln!("rvsd: VRRP {}: {e}", r.spec.machine.name);
                        }
                    }
                }
                Action::Garp => send_garps(r),
                Action::Entered(s) => {
                    eprintln!(
                        "rvsd: VRRP ({}) Entering {} STATE",
                        r.spec.machine.name,
                        s.name()
                    );
                    if let Ok(mut t) = states.lock() {
                        t.insert(r.spec.machine.name.clone(), s);
                    }
                    notify(
                        &r.spec.notify,
                        "INSTANCE",
                        &r.spec.machine.name,
                        s,
                        r.machine.priority(),
                    );
                    entered.push((i, s));
                }
            }
        }
    }
    // Sync groups: a member that became master, backup or faulty takes the others along.
    for (i, s) in entered {
        let Some(g) = running[i].group else { continue };
        for (j, r) in running.iter_mut().enumerate() {
            if j == i || r.group != Some(g) || r.machine.state() == s {
                continue;
            }
            match s {
                State::Master => r.machine.force_master(now),
                State::Backup => r.machine.force_backup(now),
                State::Fault => r.machine.set_fault(true, now),
                _ => {}
            }
        }
        notify(&groups[g].notify, "GROUP", &groups[g].name, s, 0);
    }
}

fn send_advert(r: &Running, sock: &VrrpSocket, adv: &Advert, out: &mut Vec<u8>) {
    let src = r.machine_local();
    if r.spec.unicast_peers.is_empty() {
        let group: IpAddr = if src.is_ipv4() {
            IpAddr::from(super::packet::MCAST_V4)
        } else {
            IpAddr::from(super::packet::MCAST_V6)
        };
        adv.emit(src, group, out);
        if let Err(e) = sock.send(out, None) {
            eprintln!("rvsd: VRRP {}: send: {e}", r.spec.machine.name);
        }
    } else {
        for peer in &r.spec.unicast_peers {
            adv.emit(src, *peer, out);
            if let Err(e) = sock.send(out, Some(*peer)) {
                eprintln!("rvsd: VRRP {}: send to {peer}: {e}", r.spec.machine.name);
            }
        }
    }
}

fn send_garps(r: &Running) {
    for _ in 0..r.spec.garp_repeat.max(1) {
        for v in &r.spec.vips {
            let result = match v.addr {
                IpAddr::V4(a) => r.garp.as_ref().map(|g| g.send(a)),
                IpAddr::V6(a) => r.na.as_ref().map(|n| n.send(a)),
            };
            if let Some(Err(e)) = result {
                eprintln!(
                    "rvsd: VRRP {}: gratuitous ARP for {}: {e}",
                    r.spec.machine.name, v.addr
                );
            }
        }
    }
}

impl Running {
    fn machine_local(&self) -> IpAddr {
        self.machine.local()
    }
}

fn run_scripts(scripts: &mut [ScriptState], now: Instant) {
    for s in scripts.iter_mut() {
        if let Some((child, started)) = &mut s.child {
            let result = match child.try_wait() {
                Ok(Some(status)) => Some(status.success()),
                Ok(None) if now.duration_since(*started) > s.spec.timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    Some(false)
                }
                Ok(None) => None,
                Err(_) => Some(false),
            };
            if let Some(success) = result {
                s.child = None;
                record(s, success);
            }
        } else if now >= s.next_run {
            s.next_run = now + s.spec.interval;
            match Command::new("/bin/sh")
                .args(["-c", &s.spec.script])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            {
                Ok(child) => s.child = Some((child, now)),
                Err(_) => record(s, false),
            }
        }
    }
}

/// rise/fall: the script changes state after that many consecutive results.
fn record(s: &mut ScriptState, success: bool) {
    if success == s.ok {
        s.streak = 0;
        return;
    }
    s.streak += 1;
    let needed = if success { s.spec.rise } else { s.spec.fall };
    if s.streak >= needed.max(1) {
        s.ok = success;
        s.streak = 0;
    }
}

fn apply_tracking(running: &mut [Running], scripts: &[ScriptState], now: Instant) {
    for r in running.iter_mut() {
        let mut fault = !Interface::is_up(&r.spec.interface);
        let mut delta = 0i32;
        for (name, weight) in &r.spec.track_interfaces {
            if !Interface::is_up(name) {
                if *weight == 0 {
                    fault = true;
                } else {
                    delta += (*weight).min(0);
                }
            } else {
                delta += (*weight).max(0);
            }
        }
        for (name, weight) in &r.spec.track_scripts {
            let Some(s) = scripts.iter().find(|s| s.spec.name == *name) else {
                continue;
            };
            let weight = weight.unwrap_or(s.spec.weight);
            let ok = s.ok != s.spec.reverse;
            match (weight, ok) {
                (0, false) => fault = true,
                (w, true) if w > 0 => delta += w,
                (w, false) if w < 0 => delta += w,
                _ => {}
            }
        }
        r.machine.set_priority_delta(delta);
        r.machine.set_fault(fault, now);
    }
}

fn notify(n: &NotifyScripts, kind: &str, name: &str, s: State, priority: u8) {
    let specific = match s {
        State::Master => &n.master,
        State::Backup => &n.backup,
        State::Fault => &n.fault,
        State::Stopped => &n.stop,
        State::Init => &None,
    };
    if let Some(script) = specific {
        spawn_script(script.clone());
    }
    if let Some(script) = &n.any {
        spawn_script(format!(
            "{script} {kind} \"{name}\" {} {priority}",
            s.name()
        ));
    }
}

/// Notify scripts run detached and are reaped by a thread, bounded to 60 s.
fn spawn_script(cmd: String) {
    std::thread::spawn(move || {
        if let Ok(mut child) = Command::new("/bin/sh")
            .args(["-c", &cmd])
            .stdin(Stdio::null())
            .spawn()
        {
            let start = Instant::now();
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => return,
                    Ok(None) if start.elapsed() > Duration::from_secs(60) => {
                        let _ = child.kill();
                        let _ = child.wait();
                        return;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        }
    });
}
