//! rvs-lab: see LVS load balancing work in network namespaces.

use clap::{Parser, Subcommand};
use rvs_lab::netns::Lab;
use rvs_lab::topology::Mode;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "rvs-lab", version, about = "Network-namespace labs for rvs")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build a director with real servers, balance HTTP requests, show the result.
    Demo {
        /// Forwarding method: nat, dr, tun or fullnat.
        #[arg(long, default_value = "nat")]
        mode: String,
        /// Scheduler (rr, wrr, lc, wlc, sed, nq, dh, sh, lblc, lblcr, mh, fo, ovf, twos).
        #[arg(long, default_value = "rr")]
        scheduler: String,
        /// Number of real servers (1..=9).
        #[arg(long, default_value_t = 3)]
        servers: usize,
        /// Number of requests.
        #[arg(long, short = 'n', default_value_t = 6)]
        requests: usize,
        /// Weights, comma-separated, rs1 first (e.g. 1,3).
        #[arg(long, value_delimiter = ',')]
        weights: Vec<u32>,
    },
    /// Measure rvs NAT, DR and FULLNAT next to plain routing, nftables DNAT, HAProxy
    /// and nginx stream on one topology, with wrk and iperf3.
    Bench {
        /// Repetitions of every measurement (medians are reported).
        #[arg(long, default_value_t = 3)]
        reps: usize,
        /// Seconds per wrk run.
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Concurrent wrk connections.
        #[arg(long, default_value_t = 50)]
        connections: u32,
        /// Seconds per iperf3 run.
        #[arg(long, default_value_t = 5)]
        iperf_seconds: u32,
        /// Only these scenarios (direct, nftnat, haproxy, nginxs, rvs-nat, rvs-dr,
        /// rvs-fullnat), comma-separated; direct, nftnat and haproxy are always kept as
        /// the references of the ratios.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// rvsd worker threads.
        #[arg(long, default_value_t = 1)]
        workers: u16,
    },
    /// Run a real server's responder (used inside lab namespaces).
    Serve {
        #[arg(long)]
        name: String,
        #[arg(long)]
        tcp: Vec<SocketAddr>,
        #[arg(long)]
        udp: Vec<SocketAddr>,
        /// Answer SCTP association set-ups on this address's port (raw sockets).
        #[arg(long)]
        sctp: Vec<SocketAddr>,
    },
    /// Make requests to a target and print who answered (used inside lab namespaces).
    Fetch {
        #[arg(long)]
        target: SocketAddr,
        #[arg(long, default_value_t = 1)]
        count: usize,
        /// Ask over UDP instead of HTTP.
        #[arg(long, conflicts_with = "sctp")]
        udp: bool,
        /// Set up an SCTP association instead of HTTP (raw sockets).
        #[arg(long, conflicts_with = "keepalive")]
        sctp: bool,
        /// Per-request timeout in milliseconds.
        #[arg(long, default_value_t = 3000)]
        timeout_ms: u64,
        /// Send every request on one keep-alive connection.
        #[arg(long)]
        keepalive: bool,
        /// Pause between requests, in milliseconds.
        #[arg(long, default_value_t = 0)]
        interval_ms: u64,
    },
    /// Send malformed and hostile frames to a director (used inside lab namespaces).
    Garbage {
        /// Interface to send on.
        #[arg(long)]
        iface: String,
        /// The director's MAC address.
        #[arg(long)]
        dst_mac: String,
        #[arg(long)]
        src: std::net::Ipv4Addr,
        #[arg(long)]
        vip: std::net::Ipv4Addr,
        #[arg(long)]
        rip: std::net::Ipv4Addr,
        #[arg(long)]
        client: std::net::Ipv4Addr,
        /// Frames to send (at most 1,000,000).
        #[arg(long, default_value_t = 1000)]
        count: u32,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Cmd::Demo {
            mode,
            scheduler,
            servers,
            requests,
            weights,
        } => {
            let Some(mode) = Mode::parse(&mode) else {
                eprintln!("rvs-lab: unknown mode '{mode}' (nat, dr, tun, fullnat)");
                return ExitCode::from(2);
            };
            if !(1..=9).contains(&servers) {
                eprintln!("rvs-lab: --servers must be 1..=9");
                return ExitCode::from(2);
            }
            if let Err(e) = rvs_lab::demo::preflight() {
                eprintln!("rvs-lab: {e}");
                return ExitCode::FAILURE;
            }
            let lab = Lab::new(&format!("rvsdemo{}-", std::process::id()));
            let on_signal = lab.clone();
            let _ = ctrlc::set_handler(move || {
                eprintln!("\nrvs-lab: interrupted, tearing down");
                on_signal.cleanup();
                std::process::exit(130);
            });
            let opts = rvs_lab::demo::DemoOptions {
                mode,
                scheduler,
                servers,
                requests,
                weights,
            };
            let result = rvs_lab::demo::run(&opts, &lab);
            lab.cleanup();
            match result {
                Ok(()) => {
                    println!("\nlab torn down.");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("rvs-lab: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Bench {
            reps,
            duration,
            connections,
            iperf_seconds,
            only,
            workers,
        } => {
            if let Err(e) = rvs_lab::demo::preflight() {
                eprintln!("rvs-lab: {e}");
                return ExitCode::FAILURE;
            }
            let lab = Lab::new(&format!("rvsb{}-", std::process::id()));
            let on_signal = lab.clone();
            let _ = ctrlc::set_handler(move || {
                eprintln!("\nrvs-lab: interrupted, tearing down");
                on_signal.cleanup();
                std::process::exit(130);
            });
            let opts = rvs_lab::bench::BenchOptions {
                reps: reps.max(1),
                duration: Duration::from_secs(duration.clamp(1, 600)),
                connections: connections.clamp(1, 10_000),
                iperf_seconds: iperf_seconds.clamp(1, 120),
                scenarios: rvs_lab::bench::Scenario::ALL
                    .into_iter()
                    .filter(|s| {
                        only.is_empty()
                            || only.iter().any(|o| o == s.name())
                            || matches!(
                                s,
                                rvs_lab::bench::Scenario::Direct
                                    | rvs_lab::bench::Scenario::NftNat
                                    | rvs_lab::bench::Scenario::Haproxy
                            )
                    })
                    .collect(),
                workers: workers.clamp(1, 64),
            };
            let result = rvs_lab::bench::run_bench(&opts, &lab);
            lab.cleanup();
            match result {
                Ok(report) => {
                    println!("\n{report}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("rvs-lab bench: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Serve {
            name,
            tcp,
            udp,
            sctp,
        } => match rvs_lab::responder::serve_all(&name, &tcp, &udp, &sctp) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("rvs-lab serve: {e}");
                ExitCode::FAILURE
            }
        },
        Cmd::Garbage {
            iface,
            dst_mac,
            src,
            vip,
            rip,
            client,
            count,
        } => {
            use rvs_lab::garbage;
            let Some(dst_mac) = garbage::parse_mac(&dst_mac) else {
                eprintln!("rvs-lab garbage: bad MAC address '{dst_mac}'");
                return ExitCode::from(2);
            };
            let sent = garbage::mac_of(&iface)
                .and_then(|src_mac| Ok((src_mac, garbage::RawSender::open(&iface)?)))
                .map(|(src_mac, sender)| {
                    let t = garbage::Targets {
                        src_mac,
                        dst_mac,
                        src,
                        vip,
                        rip,
                        client,
                    };
                    let mut frame = Vec::with_capacity(256);
                    let mut sent = 0u32;
                    for n in 0..count.min(1_000_000) {
                        let kind = garbage::ALL[n as usize % garbage::ALL.len()];
                        garbage::build(kind, &t, n, &mut frame);
                        if sender.send(&frame, dst_mac).is_ok() {
                            sent += 1;
                        }
                    }
                    sent
                });
            match sent {
                Ok(n) => {
                    println!("sent {n} malformed frames");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("rvs-lab garbage: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Fetch {
            target,
            count,
            udp,
            sctp,
            timeout_ms,
            keepalive,
            interval_ms,
        } => {
            let timeout = Duration::from_millis(timeout_ms);
            let interval = Duration::from_millis(interval_ms);
            let mut failed = false;
            if keepalive {
                rvs_lab::client::http_keepalive(target, count, interval, timeout, |i, answer| {
                    match answer {
                        Ok(who) => println!("request {i:>2} -> {who}"),
                        Err(e) => {
                            failed = true;
                            println!("request {i:>2} -> error: {e}");
                        }
                    }
                    use std::io::Write;
                    let _ = std::io::stdout().flush();
                });
                return if failed {
                    ExitCode::FAILURE
                } else {
                    ExitCode::SUCCESS
                };
            }
            for i in 1..=count {
                if i > 1 {
                    std::thread::sleep(interval);
                }
                let answer = if udp {
                    rvs_lab::client::udp_ask(target, timeout)
                } else if sctp {
                    rvs_lab::client::sctp_ask(target, timeout)
                } else {
                    rvs_lab::client::http_get(target, timeout)
                };
                match answer {
                    Ok(who) => println!("request {i:>2} -> {who}"),
                    Err(e) => {
                        failed = true;
                        println!("request {i:>2} -> error: {e}");
                    }
                }
            }
            if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}
