//! Replays every scheduling decision recorded from real Linux IPVS (the lab's
//! `scheduler-oracle.sh`, kernels 6.1 and 6.12) through rvs's schedulers.
//!
//! Each case: a fresh service, real servers rs1, rs2, rs3 (10.0.2.11..13:8000)
//! added in that order (so the kernel's list is rs3, rs2, rs1), then 60
//! connections from 10.1.0.(j+1):(20000+j) to 10.0.0.100, one after the other.
//! Load model between decisions, as the lab README describes: `tcp-hold`
//! keeps every earlier connection ESTABLISHED (active); `tcp-close` leaves
//! them in TIME_WAIT (inactive); `udp` entries are always inactive. A refused
//! connection leaves no entry.

use core::net::{IpAddr, Ipv4Addr};
use rvs_core::model::{SchedFlags, SchedulerKind};
use rvs_core::sched::{new_scheduler, DestLoad, SchedInput};
use rvs_core::time::Instant;

struct Case<'a> {
    sched: &'a str,
    flags: &'a str,
    weights: Vec<i32>,
    pattern: &'a str,
    choices: &'a str,
}

fn parse(fixture: &str) -> Vec<Case<'_>> {
    fixture
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 5, "bad fixture line {l:?}");
            Case {
                sched: f[0],
                flags: f[1],
                weights: f[2].split(',').map(|w| w.parse().unwrap()).collect(),
                pattern: f[3],
                choices: f[4],
            }
        })
        .collect()
}

fn flags(s: &str) -> SchedFlags {
    let mut bits = 0;
    for f in s.split(',') {
        bits |= match f {
            "-" => 0,
            "sh-fallback" | "mh-fallback" => SchedFlags::FLAG1,
            "sh-port" | "mh-port" => SchedFlags::FLAG2,
            other => panic!("unknown flag {other}"),
        };
    }
    SchedFlags(bits)
}

fn rs(n: u8, weight: i32) -> DestLoad {
    DestLoad {
        id: u32::from(n),
        addr: IpAddr::V4(Ipv4Addr::new(10, 0, 2, 10 + n)),
        port: 8000,
        weight,
        last_weight: weight,
        active: 0,
        inactive: 0,
        overloaded: false,
    }
}

/// Runs one case through rvs and returns its choices in the fixture's notation.
fn simulate(case: &Case<'_>, seed: u64) -> String {
    let kind = SchedulerKind::from_name(case.sched).expect("scheduler name");
    let mut s = new_scheduler(kind, flags(case.flags), seed);
    let now = Instant::ZERO;
    let mut list: Vec<DestLoad> = Vec::new();
    for (i, &w) in case.weights.iter().enumerate() {
        list.insert(0, rs(i as u8 + 1, w)); // the kernel adds at the list head
        s.update(&list, now);
    }
    let mut out = String::new();
    for j in 0..case.choices.len() {
        let input = SchedInput {
            src: IpAddr::V4(Ipv4Addr::new(10, 1, 0, j as u8 + 1)),
            src_port: 20000 + j as u16,
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100)),
            dst_port: 1001,
        };
        match s.schedule(&list, &input, now) {
            None => out.push('-'),
            Some(i) => {
                out.push(char::from(b'0' + list[i].id as u8));
                match case.pattern {
                    "tcp-hold" => list[i].active += 1,
                    "tcp-close" | "udp" => list[i].inactive += 1,
                    p => panic!("unknown pattern {p}"),
                }
            }
        }
    }
    out
}

fn replay(fixture: &str) -> usize {
    let mut failures = Vec::new();
    let mut n = 0;
    for case in parse(fixture).iter().filter(|c| c.sched != "twos") {
        n += 1;
        let got = simulate(case, 0);
        if got != case.choices {
            failures.push(format!(
                "{} {} {:?} {}\n  kernel {}\n  rvs    {}",
                case.sched, case.flags, case.weights, case.pattern, case.choices, got
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    n
}

#[test]
fn every_recorded_choice_of_linux_6_1() {
    let n = replay(include_str!("fixtures/sched/oracle-6.1.txt"));
    assert_eq!(
        n, 114,
        "13 schedulers + flag variants x 2 weight sets x 3 patterns"
    );
}
