//! Replays the lab captures of `lab/scenarios/sched-mechanisms.sh` (real Linux IPVS:
//! persistence with `-M 255.255.255.0`, `-x/-y` thresholds, weight edits, real
//! servers deleted and added back mid-stream, UDP timeouts through `--set` and
//! sleeps) through the real engine: `Engine::apply` configures each case as the
//! scenario's ipvsadm commands did, and every recorded connection is played as
//! the lab's client and responders played it, frame by frame through
//! `Worker::process`, on an injected clock.
//!
//! Fixture lines (the guest script's JSON rows, condensed):
//! - `case NAME SCHED FLAGS PROTO PATTERN PREFIX`: a fresh NAT service on
//!   10.0.0.100:<2001 + case index>; PATTERN is how the client used each
//!   connection (`tcp-close`: answer read, then shutdown and both FINs, so the
//!   entry sits in TIME_WAIT; `tcp-hold`: kept open, ESTABLISHED; `udp`: one
//!   datagram and its answer); PREFIX is the persistence netmask as a prefix
//!   length (`-p 300 -M 255.255.255.0` is 24) or `-` without persistence.
//! - `dest RS WEIGHT UPPER LOWER`: `ipvsadm -a ... -r 10.0.2.1RS:8000 -m -w -x -y`.
//! - `edit RS WEIGHT` / `add RS WEIGHT`: `ipvsadm -e` / `-a` without thresholds.
//! - `del RS`: `ipvsadm -d`.
//! - `set-udp S`: `ipvsadm --set 0 0 S`; `sleep S`: the client waited S seconds.
//! - `conn CLIENT RS`: a connection from CLIENT:<40000 + port % 1000>, answered
//!   by real server RS, or `-` when IPVS found none (the client was refused).
//!
//! The kernel adds a real server at the head of its list, so the list handed to
//! `Engine::apply` is kept head first, as `ipvsadm -Ln` would print it.

mod engine_support;
use engine_support::*;
use std::collections::HashMap;

const RST: u16 = 0x004;
const PSH: u16 = 0x008;
const RS_PORT: u16 = 8000;
/// Persistence timeout of the scenario's persistent services (`-p 300`).
const PERSIST_TIMEOUT: u32 = 300;
/// The daemon (rvsd) calls `Engine::tick` once a second.
const TICK_MS: u64 = 1000;

fn rs_addr(rs: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 2, 10 + rs))
}

/// Which real server a forwarded frame went to (NAT: the rewritten destination).
fn rs_of(addr: IpAddr) -> Option<u8> {
    (1..=3).find(|&rs| rs_addr(rs) == addr)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pattern {
    TcpClose,
    TcpHold,
    Udp,
}

/// One real server as the scenario configured it.
#[derive(Debug, Clone, Copy)]
struct Rs {
    id: u8,
    weight: u32,
    upper: u32,
    lower: u32,
}

/// One case being replayed: the engine, the configuration it was given, the clock.
struct Case {
    engine: Engine,
    worker: Worker,
    proto: Protocol,
    port: u16,
    client_port: u16,
    sched: SchedulerKind,
    pattern: Pattern,
    prefix_len: Option<u8>,
    /// Head first, as the kernel keeps its list.
    list: Vec<Rs>,
    now: Instant,
    next_tick: Instant,
    /// TCP connections whose entries stay (ESTABLISHED or TIME_WAIT): client → server.
    live: HashMap<IpAddr, u8>,
    /// Persistence templates: client network → server.
    templates: HashMap<IpAddr, u8>,
}

impl Case {
    fn new(index: u16, f: &[&str]) -> Case {
        let sched = SchedulerKind::from_name(f[2]).expect("known scheduler");
        assert_eq!(f[3], "-", "no recorded case uses scheduler flags");
        let proto = match f[4] {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            p => panic!("protocol {p}"),
        };
        let pattern = match f[5] {
            "tcp-close" => Pattern::TcpClose,
            "tcp-hold" => Pattern::TcpHold,
            "udp" => Pattern::Udp,
            p => panic!("pattern {p}"),
        };
        let engine = Engine::new(EngineConfig {
            workers: 1,
            max_conns: 4096,
            ..EngineConfig::default()
        })
        .expect("engine");
        let worker = engine.worker(0);
        // The guest script's ports: the first case on 2001.
        let port = 2001 + index;
        let now = Instant::from_millis(1000);
        Case {
            engine,
            worker,
            proto,
            port,
            client_port: 40000 + port % 1000,
            sched,
            pattern,
            prefix_len: (f[6] != "-").then(|| f[6].parse().expect("prefix length")),
            list: Vec::new(),
            now,
            next_tick: now + core::time::Duration::from_millis(TICK_MS),
            live: HashMap::new(),
            templates: HashMap::new(),
        }
    }

    fn vip(&self) -> (IpAddr, u16) {
        (v4(VIP), self.port)
    }

    fn service(&self) -> VirtualService {
        VirtualService {
            config: ServiceConfig {
                key: ServiceKey::Addr {
                    proto: self.proto,
                    addr: v4(VIP),
                    port: self.port,
                },
                scheduler: self.sched,
                sched_flags: SchedFlags::default(),
                persistence: self.prefix_len.map(|prefix_len| Persistence {
                    timeout: PERSIST_TIMEOUT,
                    prefix_len,
                }),
                one_packet: false,
                pe_name: None,
            },
            dests: self
                .list
                .iter()
                .map(|rs| DestConfig {
                    addr: rs_addr(rs.id),
                    port: RS_PORT,
                    method: ForwardMethod::Masq,
                    weight: rs.weight,
                    u_threshold: rs.upper,
                    l_threshold: rs.lower,
                })
                .collect(),
        }
    }

    /// Publish the configuration; `udp` is `--set 0 0 udp` (0 keeps every timeout).
    fn apply(&mut self, udp: u32) {
        let timeouts = Timeouts {
            tcp: 0,
            tcp_fin: 0,
            udp,
        };
        self.engine
            .apply(&[self.service()], &[], timeouts, self.now);
    }

    /// Let `ms` milliseconds pass, with the daemon's housekeeping ticks on the way.
    fn advance(&mut self, ms: u64) {
        let end = self.now + core::time::Duration::from_millis(ms);
        while self.next_tick <= end {
            self.now = self.next_tick;
            self.engine.tick(self.now);
            self.next_tick = self.now + core::time::Duration::from_millis(TICK_MS);
        }
        self.now = end;
    }

    /// One frame through the worker, a millisecond after the previous one.
    fn send(&mut self, frame: &[u8]) -> (Verdict, Vec<u8>) {
        self.advance(1);
        run(&mut self.worker, frame, self.now)
    }

    /// A client → virtual packet of an open connection: it must reach `rs`.
    fn client_tcp(&mut self, client: (IpAddr, u16), rs: u8, flags: u16, what: &str) {
        let (v, out) = self.send(&tcp_frame(client, self.vip(), flags, b""));
        let hop = fwd_or(v, what);
        assert_eq!(hop, rs_addr(rs), "{what} went elsewhere");
        assert_eq!(parsed(&out).ip.dst, rs_addr(rs), "{what} not rewritten");
    }

    /// A real server → client packet of an open connection: it must leave as the VIP.
    fn server_tcp(&mut self, client: (IpAddr, u16), rs: u8, flags: u16, data: &[u8], what: &str) {
        let (v, out) = self.send(&tcp_frame((rs_addr(rs), RS_PORT), client, flags, data));
        assert_eq!(fwd_or(v, what), client.0, "{what} not sent to the client");
        let p = parsed(&out);
        assert_eq!((p.ip.src, ports(&p).0), self.vip(), "{what} not rewritten");
    }

    /// One recorded connection, played as the lab's client and responders did.
    /// Returns the real server that answered, `None` when the director had none.
    fn connect(&mut self, client: IpAddr) -> Option<u8> {
        // The lab's connections follow each other a few milliseconds apart.
        self.advance(5);
        let c = (client, self.client_port);
        // A SYN from a port whose entry is in TIME_WAIT replaces that entry.
        self.live.remove(&client);
        let first = match self.pattern {
            Pattern::Udp => udp_frame(c, self.vip(), b"hello\n"),
            Pattern::TcpClose | Pattern::TcpHold => tcp_frame(c, self.vip(), SYN, b""),
        };
        let (v, out) = self.send(&first);
        let hop = match v {
            Verdict::Forward(e) => e.next_hop,
            // The kernel answers port unreachable: the client is refused, nothing stays.
            Verdict::Drop(DropReason::NoDestination) => return None,
            other => panic!("{client}: first packet: {other:?}"),
        };
        let rs = rs_of(hop).unwrap_or_else(|| panic!("{client}: forwarded to {hop}"));
        let p = parsed(&out);
        assert_eq!(
            (p.ip.dst, ports(&p).1),
            (hop, RS_PORT),
            "{client}: NAT rewrite"
        );
        let answer = format!("rs{rs}\n");
        match self.pattern {
            Pattern::Udp => {
                let reply = udp_frame((hop, RS_PORT), c, answer.as_bytes());
                let (v, _) = self.send(&reply);
                assert_eq!(fwd_or(v, "udp answer"), client);
            }
            Pattern::TcpClose | Pattern::TcpHold => {
                // Handshake, then the responder writes its name and the client reads it.
                self.server_tcp(c, rs, SYN | ACK, b"", "SYN+ACK");
                self.client_tcp(c, rs, ACK, "handshake ACK");
                self.server_tcp(c, rs, PSH | ACK, answer.as_bytes(), "answer");
                self.client_tcp(c, rs, ACK, "answer ACK");
                if self.pattern == Pattern::TcpClose {
                    // close_graceful: the client shuts down its side, the responder
                    // reads the end and closes too; the client acknowledges.
                    self.client_tcp(c, rs, FIN | ACK, "client FIN");
                    self.server_tcp(c, rs, ACK, b"", "FIN ACK");
                    self.server_tcp(c, rs, FIN | ACK, b"", "server FIN");
                    self.client_tcp(c, rs, ACK, "last ACK");
                }
            }
        }
        if self.pattern != Pattern::Udp {
            self.live.insert(client, rs);
        }
        if let Some(prefix) = self.prefix_len {
            self.templates
                .entry(rvs_core::persist::mask_addr(client, prefix))
                .or_insert(rs);
        }
        Some(rs)
    }

    /// The listed servers' figures (`ipvsadm -Ln`) against the connections played:
    /// held ones active, closed ones inactive (TIME_WAIT outlasts every case), one
    /// template per client network. This checks the replay did what it means to.
    /// UDP entries come and go with their timers and are not counted here.
    fn figures_mismatch(&self) -> Option<String> {
        if self.pattern == Pattern::Udp {
            return None;
        }
        let status = self.engine.status(self.now);
        let mut wrong = Vec::new();
        for d in &status[0].dests {
            let rs = rs_of(d.config.addr).expect("a scenario server");
            let conns = self.live.values().filter(|&&r| r == rs).count() as u32;
            let (active, inactive) = match self.pattern {
                Pattern::TcpHold => (conns, 0),
                _ => (0, conns),
            };
            let persistent = self.templates.values().filter(|&&r| r == rs).count() as u32;
            let got = (d.active_conns, d.inactive_conns, d.persistent_conns);
            if got != (active, inactive, persistent) {
                wrong.push(format!(
                    "rs{rs} active/inactive/persistent {got:?}, expected {:?}",
                    (active, inactive, persistent)
                ));
            }
        }
        (!wrong.is_empty()).then(|| wrong.join(", "))
    }

    /// The end of a case: held connections are reset (the scenario's close_abort).
    fn finish(&mut self, held: &[(IpAddr, u8)]) {
        for &(client, rs) in held {
            self.client_tcp((client, self.client_port), rs, RST | ACK, "RST");
        }
    }
}

fn fwd_or(v: Verdict, what: &str) -> IpAddr {
    match v {
        Verdict::Forward(e) => e.next_hop,
        other => panic!("{what}: expected Forward, got {other:?}"),
    }
}

fn num<T: core::str::FromStr>(s: &str) -> T
where
    T::Err: core::fmt::Debug,
{
    s.parse().unwrap()
}

/// Replay every case of `fixture`; returns the number of connections checked.
/// Cases named in `skip` are replayed but their differences are tolerated (each is
/// a known divergence described where the list is made); a skipped case that
/// matches fails the test, so the list cannot go stale.
fn replay(fixture: &str, skip: &[&str]) -> usize {
    let mut case: Option<Case> = None;
    let mut index = 0u16;
    let mut name = String::new();
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut held = Vec::new();
    let (mut want, mut got) = (String::new(), String::new());
    for line in fixture
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f[0] == "case" {
            name = f[1].to_string();
            case = Some(Case::new(index, &f));
            index += 1;
            want.clear();
            got.clear();
            held.clear();
            continue;
        }
        let c = case.as_mut().expect("a case line first");
        let mark = match f[0] {
            "dest" => {
                let rs = Rs {
                    id: num(f[1]),
                    weight: num(f[2]),
                    upper: num(f[3]),
                    lower: num(f[4]),
                };
                c.list.insert(0, rs);
                c.apply(0);
                None
            }
            "add" => {
                let rs = Rs {
                    id: num(f[1]),
                    weight: num(f[2]),
                    upper: 0,
                    lower: 0,
                };
                c.list.insert(0, rs);
                c.apply(0);
                Some(format!(" +{} ", rs.id))
            }
            "edit" => {
                let id: u8 = num(f[1]);
                let rs = c.list.iter_mut().find(|r| r.id == id).expect("listed");
                // `ipvsadm -e` without -x/-y sets both thresholds to 0.
                *rs = Rs {
                    id,
                    weight: num(f[2]),
                    upper: 0,
                    lower: 0,
                };
                c.apply(0);
                Some(format!(" e{id} "))
            }
            "del" => {
                let id: u8 = num(f[1]);
                c.list.retain(|r| r.id != id);
                c.apply(0);
                Some(format!(" -{id} "))
            }
            "set-udp" => {
                c.apply(num(f[1]));
                None
            }
            "sleep" => {
                c.advance(num::<u64>(f[1]) * 1000);
                Some(" z ".to_string())
            }
            "conn" => {
                let client: IpAddr = num(f[1]);
                let pick = c.connect(client);
                if let (Some(rs), Pattern::TcpHold) = (pick, c.pattern) {
                    held.push((client, rs));
                }
                want.push_str(f[2]);
                got.push(pick.map_or('-', |rs| char::from(b'0' + rs)));
                checked += 1;
                None
            }
            "end" => {
                if let Some(m) = c.figures_mismatch() {
                    failures.push(format!("{name}: figures: {m}"));
                }
                c.finish(&held);
                let skipped = skip.contains(&name.as_str());
                if (want != got) != skipped {
                    failures.push(if skipped {
                        format!("{name}: listed as divergent but now matches: {got}")
                    } else {
                        format!("{name}\n  kernel {want}\n  rvs    {got}")
                    });
                } else if skipped {
                    eprintln!("known divergence {name}\n  kernel {want}\n  rvs    {got}");
                }
                case = None;
                None
            }
            other => panic!("unknown fixture line {other}"),
        };
        if let Some(m) = mark {
            want.push_str(&m);
            got.push_str(&m);
        }
    }
    assert!(case.is_none(), "the fixture ends inside case {name}");
    assert!(
        failures.is_empty(),
        "cases differ:\n{}",
        failures.join("\n")
    );
    checked
}

/// Connections recorded in each capture (13 cases).
const CONNS_PER_CAPTURE: usize = 315;

/// Cases where the engine is known to differ from the kernel, each with its reason.
/// None today: every case of both captures is reproduced.
const KNOWN_DIVERGENCES: &[&str] = &[];

#[test]
fn the_engine_schedules_as_linux_6_1() {
    let n = replay(
        include_str!("fixtures/sched/mechanisms-6.1.txt"),
        KNOWN_DIVERGENCES,
    );
    assert_eq!(n, CONNS_PER_CAPTURE, "connections replayed");
}

#[test]
fn the_engine_schedules_as_linux_6_12() {
    let n = replay(
        include_str!("fixtures/sched/mechanisms-6.12.txt"),
        KNOWN_DIVERGENCES,
    );
    assert_eq!(n, CONNS_PER_CAPTURE, "connections replayed");
}
