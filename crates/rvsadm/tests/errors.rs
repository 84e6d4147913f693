//! The error table: every command of the lab's error captures (real ipvsadm 1.31 on
//! Linux 6.1, in the order they ran, each against the state the previous ones left)
//! is replayed through rvsadm against an in-process director, and must print the
//! same message and exit with the same status. A refused command must leave the
//! state unchanged. The few deliberate differences are listed with their reason.

mod common;

use common::*;
use rvsadm::exec::{Backend, LocalBackend};
use rvsadm::resolve::Resolver;

struct Block {
    command: String,
    output: String,
    rc: i32,
}

fn blocks(dir: &str, file: &str) -> Vec<Block> {
    let text = std::fs::read_to_string(golden_dir().join(dir).join(file)).unwrap();
    let mut out = Vec::new();
    let mut current: Option<Block> = None;
    for line in text.split_inclusive('\n') {
        if let Some(cmd) = line.strip_prefix("### ") {
            current = Some(Block {
                command: cmd.trim_end().to_string(),
                output: String::new(),
                rc: 0,
            });
        } else if let (Some(rc), Some(b)) = (line.trim_end().strip_prefix("rc="), current.as_mut())
        {
            b.rc = rc.parse().unwrap();
            out.push(current.take().unwrap());
        } else if let Some(b) = current.as_mut() {
            b.output.push_str(line);
        }
    }
    out
}

/// How a captured command is replayed.
enum Policy {
    /// Same output, same exit status.
    Exact,
    /// Not replayed: rvs differs on purpose (the reason says why).
    Skip(&'static str),
    /// The help text is rvs's own: only the exit status and the version line match.
    Help,
    /// Replayed with standard input (the capture ran it through `sh -c`).
    Stdin(&'static str, &'static str),
    /// rvsadm answers this differently on purpose; the state is then set up with the
    /// given command instead so that later captures still apply.
    Differs(&'static str, &'static str, i32, &'static str),
}

fn policy(command: &str, kernel: &str) -> Policy {
    match command {
        // Linux 6.12 has ip_vs_twos, like rvs.
        "ipvsadm -A -t 10.0.0.100:93 -s twos" if kernel == "6.12" => Policy::Exact,
        "ipvsadm --start-daemon master --mcast-interface nosuchif0" => {
            Policy::Skip("the director's interfaces are not known to an in-process state")
        }
        "ipvsadm -A -t 10.0.0.100:93 -s twos" => {
            Policy::Skip("rvs has the twos scheduler; Linux 6.1 has no ip_vs_twos module")
        }
        "ipvsadm -A -t 10.0.0.100:88 -s rr -p 10 -M 255.0.255.0" => Policy::Differs(
            "rvs keeps persistence granularity as a prefix: a mask with holes is refused",
            "illegal virtual server persistent mask specified\n",
            2,
            "ipvsadm -A -t 10.0.0.100:88 -s rr -p 10",
        ),
        "ipvsadm -A -t 10.0.0.1:81 -s rr -b ," => Policy::Differs(
            "ipvsadm 1.31 crashes (SIGSEGV) on an empty flag list",
            "invalid scheduler flag `,'\n",
            2,
            "",
        ),
        "ipvsadm -a -t 10.0.0.100:80 -r 10.0.2.15 -w 65536" => Policy::Differs(
            WEIGHT_CAP,
            "Numerical result out of range\n",
            255,
            "ipvsadm -a -t 10.0.0.100:80 -r 10.0.2.15 -w 65535",
        ),
        "ipvsadm -a -t 10.0.0.1:80 -r 10.0.2.1 -w 2147483647" => Policy::Differs(
            WEIGHT_CAP,
            "Numerical result out of range\n",
            255,
            "ipvsadm -a -t 10.0.0.1:80 -r 10.0.2.1 -w 65535",
        ),
        "ipvsadm -a -t 10.0.0.1:80 -r 10.0.2.4 -w 65536" => Policy::Differs(
            WEIGHT_CAP,
            "Numerical result out of range\n",
            255,
            "ipvsadm -a -t 10.0.0.1:80 -r 10.0.2.4 -w 65535",
        ),
        "ipvsadm --help extra" | "ipvsadm -h -L" => Policy::Help,
        "sh -c ipvsadm -R < /tmp/nonl" => Policy::Stdin(
            "ipvsadm -R",
            "-A -t 10.8.8.8:80 -s rr\n-a -t 10.8.8.8:80 -r 10.8.8.9 -m",
        ),
        _ => Policy::Exact,
    }
}

/// rvs's model keeps weights in 0..=65535 (rvs_core::model::DestConfig) and rvsd
/// answers ERANGE above; Debian's ipvsadm and the kernel go up to INT_MAX. rvsadm
/// itself accepts what ipvsadm accepts and prints the daemon's refusal.
const WEIGHT_CAP: &str = "weights above 65535";

/// The captured listings with those weights as rvs holds them instead.
fn capped(expected: &str) -> String {
    expected
        .replace("Route   65536  ", "Route   65535  ")
        .replace("n/a           65536  ", "n/a           65535  ")
        .replace("Route   2147483647 ", "Route   65535  ")
        .replace("-w 2147483647\n", "-w 65535\n")
        .replace("-w 65536\n", "-w 65535\n")
}

/// Which `-L --daemon` listings of a capture (1-based) show what the kernel derived
/// from the interface MTU (an explicit maxlen is raised to 1024 for a backup, the
/// default follows the MTU): rvsd reports its own effective values, an in-process
/// state repeats what it was given. The first edge scenario has none.
const NO_MTU_DEPENDENT_LISTING: &[usize] = &[];

fn replay(
    dir: &str,
    file: &str,
    backend: &mut dyn Backend,
    names: &dyn Resolver,
    mtu_dependent: &[usize],
) -> usize {
    let kernel = dir.trim_start_matches("edge-");
    let mut compared = 0;
    let mut daemon_listing = 0;
    for b in blocks(dir, file) {
        // The capture printed `-s ""` as `-s ` (its last word is empty).
        if b.command == "ipvsadm -A -t 10.0.0.100:98 -s" {
            let mut args = argv(&b.command);
            args.push(String::new());
            let out = rvsadm::exec::run(&args, &mut std::io::empty(), backend, names);
            assert_eq!((out.stderr.as_str(), out.code), ("", b.rc), "-s \"\"");
            compared += 1;
            continue;
        }
        let is_daemon_listing = b.command == "ipvsadm -L --daemon";
        if is_daemon_listing {
            daemon_listing += 1;
            if mtu_dependent.contains(&daemon_listing) {
                continue;
            }
        }
        match policy(&b.command, kernel) {
            Policy::Skip(reason) => eprintln!("not replayed: `{}`: {reason}", b.command),
            Policy::Help => {
                let out = sh(backend, names, &b.command);
                assert_eq!(out.code, b.rc, "{}", b.command);
                assert!(
                    out.stdout.starts_with(b.output.lines().next().unwrap()),
                    "{}",
                    b.command
                );
            }
            Policy::Stdin(line, input) => {
                let out = sh_in(backend, names, line, input);
                assert_eq!(
                    format!("{}{}", out.stdout, out.stderr),
                    capped(&b.output),
                    "{}",
                    b.command
                );
                assert_eq!(out.code, b.rc, "{}", b.command);
                compared += 1;
            }
            Policy::Differs(reason, message, rc, instead) => {
                let before = sh(backend, names, "ipvsadm -S -n").stdout;
                let out = sh(backend, names, &b.command);
                assert_eq!(
                    (out.stderr.as_str(), out.code),
                    (message, rc),
                    "{} ({reason})",
                    b.command
                );
                assert_eq!(
                    sh(backend, names, "ipvsadm -S -n").stdout,
                    before,
                    "{} changed the state",
                    b.command
                );
                if !instead.is_empty() {
                    setup(backend, names, &[instead]);
                }
            }
            Policy::Exact => {
                let before = sh(backend, names, "ipvsadm -S -n").stdout;
                let out = sh(backend, names, &b.command);
                assert_eq!(
                    format!("{}{}", out.stdout, out.stderr),
                    capped(&b.output),
                    "`{}`",
                    b.command
                );
                assert_eq!(out.code, b.rc, "`{}`: exit status", b.command);
                if out.code != 0 {
                    let after = sh(backend, names, "ipvsadm -S -n").stdout;
                    assert_eq!(
                        after, before,
                        "`{}` was refused but changed the state",
                        b.command
                    );
                }
                compared += 1;
            }
        }
    }
    compared
}

fn edge_error_table(dir: &str) {
    let names = lab_names();
    let mut director = LocalBackend::default();
    // The state the capture's error section started from (S-after-R3.txt).
    let start = capture(&golden_dir().join(dir).join("S-after-R3.txt"));
    let out = sh_in(&mut director, &names, "ipvsadm -R", &start.body);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let compared = replay(
        dir,
        "errors.txt",
        &mut director,
        &names,
        NO_MTU_DEPENDENT_LISTING,
    );
    assert!(compared > 150, "only {compared} commands compared");
    assert_eq!(sh(&mut director, &names, "ipvsadm -S -n").stdout, "");
}

#[test]
fn error_table_of_the_edge_scenario_on_6_1() {
    edge_error_table("edge-6.1");
}

#[test]
fn error_table_of_the_edge_scenario_on_6_12() {
    edge_error_table("edge-6.12");
}

#[test]
fn error_table_of_the_second_edge_scenario() {
    let names = lab_names();
    let mut director = LocalBackend::default();
    let compared = replay("edge-6.1", "errors2.txt", &mut director, &names, &[2, 3]);
    assert!(compared > 25, "only {compared} commands compared");
}
