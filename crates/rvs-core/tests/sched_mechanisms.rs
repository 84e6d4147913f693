//! Replays what real Linux IPVS did when schedulers meet persistence with a
//! netmask, connection thresholds, weight edits and list changes (recorded
//! by the project's `lab/scenarios/sched-mechanisms.sh`).
//!
//! The engine's own persistence and threshold code is not used here: this
//! test carries a small model of those kernel mechanisms (ip_vs_sched_persist
//! templates keyed by client & netmask; ip_vs_bind_dest/unbind_dest OVERLOAD
//! rules; UDP entry expiry; real servers revived from the trash with their
//! counters) around rvs's schedulers, so that every recorded choice checks the
//! schedulers' state across these events.

use core::net::{IpAddr, Ipv4Addr};
use rvs_core::model::{SchedFlags, SchedulerKind};
use rvs_core::sched::{new_scheduler, DestLoad, SchedInput, Scheduler};
use rvs_core::time::Instant;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, Default)]
struct Server {
    weight: i32,
    last_weight: i32,
    upper: u32,
    lower: u32,
    active: u32,
    inactive: u32,
    overloaded: bool,
}

impl Server {
    fn total(&self) -> u32 {
        self.active + self.inactive
    }

    /// ip_vs_bind_dest: count the new connection, then check the upper threshold.
    fn bind(&mut self, active: bool) {
        if active {
            self.active += 1;
        } else {
            self.inactive += 1;
        }
        if self.upper != 0 && self.total() >= self.upper {
            self.overloaded = true;
        }
    }

    /// ip_vs_unbind_dest: uncount, then clear OVERLOAD below the lower threshold
    /// (or below 3/4 of the upper one when there is no lower threshold).
    fn unbind(&mut self, active: bool) {
        if active {
            self.active -= 1;
        } else {
            self.inactive -= 1;
        }
        let clear = if self.lower != 0 {
            self.total() < self.lower
        } else if self.upper != 0 {
            self.total() * 4 < self.upper * 3
        } else {
            true
        };
        if clear {
            self.overloaded = false;
        }
    }

    /// __ip_vs_update_dest: new weight and thresholds from an add or an edit.
    fn configure(&mut self, weight: i32, upper: u32, lower: u32, add: bool) {
        if add || weight != 0 {
            self.last_weight = weight;
        }
        self.weight = weight;
        if upper == 0 || upper > self.upper {
            self.overloaded = false;
        }
        self.upper = upper;
        self.lower = lower;
    }
}

struct Entry {
    rs: u8,
    active: bool,
    expires: Option<Instant>,
}

struct Service {
    sched: Box<dyn Scheduler>,
    pattern: String,
    prefix_len: Option<u32>,
    /// Kernel list order (head first).
    list: Vec<u8>,
    servers: HashMap<u8, Server>,
    entries: Vec<Entry>,
    templates: HashMap<u32, u8>,
    udp_timeout_s: u64,
    now: Instant,
}

fn rs_addr(rs: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 2, 10 + rs))
}

impl Service {
    fn loads(&self) -> Vec<DestLoad> {
        self.list
            .iter()
            .map(|&rs| {
                let s = &self.servers[&rs];
                DestLoad {
                    id: u32::from(rs),
                    addr: rs_addr(rs),
                    port: 8000,
                    weight: s.weight,
                    last_weight: s.last_weight,
                    active: s.active,
                    inactive: s.inactive,
                    overloaded: s.overloaded,
                }
            })
            .collect()
    }

    fn changed(&mut self) {
        let loads = self.loads();
        self.sched.update(&loads, self.now);
    }

    fn expire(&mut self) {
        let now = self.now;
        let servers = &mut self.servers;
        self.entries.retain(|e| match e.expires {
            Some(t) if t <= now => {
                servers
                    .get_mut(&e.rs)
                    .expect("bound server")
                    .unbind(e.active);
                false
            }
            _ => true,
        });
    }

    fn connect(&mut self, client: Ipv4Addr) -> Option<u8> {
        self.expire();
        let key = self
            .prefix_len
            .map(|p| u32::from(client) & (u32::MAX << (32 - p)));
        let templated = key
            .and_then(|k| self.templates.get(&k).copied())
            .filter(|rs| self.list.contains(rs));
        let rs = match templated {
            Some(rs) => rs,
            None => {
                let loads = self.loads();
                let input = SchedInput {
                    src: IpAddr::V4(client),
                    src_port: 40000,
                    dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100)),
                    dst_port: 2000,
                };
                let i = self.sched.schedule(&loads, &input, self.now)?;
                let rs = self.list[i];
                if let Some(k) = key {
                    self.templates.insert(k, rs);
                }
                rs
            }
        };
        let (active, expires) = match self.pattern.as_str() {
            "tcp-hold" => (true, None),
            // TIME_WAIT lasts 120 s, longer than any recorded case.
            "tcp-close" => (false, None),
            "udp" => (
                false,
                Some(self.now + core::time::Duration::from_secs(self.udp_timeout_s)),
            ),
            p => panic!("pattern {p}"),
        };
        self.servers.get_mut(&rs).expect("listed").bind(active);
        self.entries.push(Entry {
            rs,
            active,
            expires,
        });
        Some(rs)
    }
}

fn num<T: core::str::FromStr>(s: &str) -> T
where
    T::Err: core::fmt::Debug,
{
    s.parse().unwrap()
}

fn replay(fixture: &str) -> usize {
    let mut svc: Option<Service> = None;
    let mut name = String::new();
    let mut failures = Vec::new();
    let mut checked = 0;
    let (mut want, mut got) = (String::new(), String::new());
    for line in fixture
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f[0] {
            "case" => {
                name = f[1].to_string();
                let kind = SchedulerKind::from_name(f[2]).unwrap();
                let flags = match f[3] {
                    "-" => 0,
                    _ => panic!("flags not used by the recorded cases"),
                };
                svc = Some(Service {
                    sched: new_scheduler(kind, SchedFlags(flags), 0),
                    pattern: f[5].to_string(),
                    prefix_len: (f[6] != "-").then(|| num(f[6])),
                    list: Vec::new(),
                    servers: HashMap::new(),
                    entries: Vec::new(),
                    templates: HashMap::new(),
                    udp_timeout_s: 300,
                    now: Instant::ZERO,
                });
                want.clear();
                got.clear();
            }
            "dest" | "add" => {
                let s = svc.as_mut().unwrap();
                let rs: u8 = num(f[1]);
                let (upper, lower) = if f[0] == "dest" {
                    (num(f[3]), num(f[4]))
                } else {
                    (0, 0)
                };
                s.servers
                    .entry(rs)
                    .or_default()
                    .configure(num(f[2]), upper, lower, true);
                s.list.insert(0, rs);
                s.changed();
                if f[0] == "add" {
                    want.push_str(&format!(" +{rs} "));
                    got.push_str(&format!(" +{rs} "));
                }
            }
            "edit" => {
                let s = svc.as_mut().unwrap();
                let rs: u8 = num(f[1]);
                s.servers
                    .get_mut(&rs)
                    .unwrap()
                    .configure(num(f[2]), 0, 0, false);
                s.changed();
                want.push_str(&format!(" e{rs} "));
                got.push_str(&format!(" e{rs} "));
            }
            "del" => {
                let s = svc.as_mut().unwrap();
                let rs: u8 = num(f[1]);
                s.list.retain(|&x| x != rs);
                s.changed();
                want.push_str(&format!(" -{rs} "));
                got.push_str(&format!(" -{rs} "));
            }
            "set-udp" => svc.as_mut().unwrap().udp_timeout_s = num(f[1]),
            "sleep" => {
                let s = svc.as_mut().unwrap();
                s.now = s.now + core::time::Duration::from_secs(num(f[1]));
                want.push_str(" z ");
                got.push_str(" z ");
            }
            "conn" => {
                let s = svc.as_mut().unwrap();
                let pick = s.connect(num(f[1]));
                want.push_str(f[2]);
                got.push(pick.map_or('-', |rs| char::from(b'0' + rs)));
                checked += 1;
            }
            "end" => {
                if want != got {
                    failures.push(format!("{name}\n  kernel {want}\n  rvs    {got}"));
                }
                svc = None;
            }
            other => panic!("unknown fixture line {other}"),
        }
    }
    assert!(
        failures.is_empty(),
        "cases differ:\n{}",
        failures.join("\n")
    );
    checked
}

#[test]
fn persistence_thresholds_and_edits_as_linux_6_1() {
    let n = replay(include_str!("fixtures/sched/mechanisms-6.1.txt"));
    assert!(n > 150, "only {n} connections replayed");
}

#[test]
fn persistence_thresholds_and_edits_as_linux_6_12() {
    let n = replay(include_str!("fixtures/sched/mechanisms-6.12.txt"));
    assert!(n > 150, "only {n} connections replayed");
}
