//! rvs-realserver: prepares a host to be a DR or TUN real server.

use std::io::Write as _;

use rvs_realserver::args::{self, Command};
use rvs_realserver::{decap, setup};

fn run() -> Result<i32, String> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match args::parse(&argv).map_err(|e| format!("{e}\n{}", args::USAGE))? {
        Command::Help => println!("{}", args::USAGE),
        Command::Setup(a) => {
            let state = setup::setup(&a)?;
            println!(
                "set up: {} VIP(s) added to lo, {} sysctl(s) changed{}",
                state.added_vips.len(),
                state.sysctls.len(),
                if state.tunl0_raised { ", tunl0 up" } else { "" }
            );
            if state.needs_userspace_decap {
                let iface = a.iface.as_deref().unwrap_or("IF");
                println!(
                    "the kernel has no ipip module: run `rvs-realserver decap --iface {iface}` to decapsulate in user space"
                );
            }
        }
        Command::Status { state } => {
            return Ok(match setup::status(&state)? {
                setup::Status::NotSetUp => {
                    println!("not set up (no state file {})", state.display());
                    3
                }
                setup::Status::SetUp { state, drift } => {
                    println!(
                        "set up for {} with VIP(s) added: {}",
                        match state.mode {
                            args::Mode::Dr => "DR",
                            args::Mode::Tun => "TUN",
                        },
                        state
                            .added_vips
                            .iter()
                            .map(|v| v.to_string())
                            .collect::<Vec<_>>()
                            .join(" ")
                    );
                    if state.needs_userspace_decap {
                        println!("the kernel has no ipip module: `rvs-realserver decap` must run");
                    }
                    for d in &drift {
                        println!("changed since: {d}");
                    }
                    if drift.is_empty() {
                        0
                    } else {
                        1
                    }
                }
            });
        }
        Command::Teardown { state } => {
            let s = setup::teardown(&state)?;
            println!(
                "torn down: {} VIP(s) removed, {} sysctl(s) restored",
                s.added_vips.len(),
                s.sysctls.len()
            );
        }
        Command::Decap(a) => {
            let stats = decap::run(&a, || {
                let mut out = std::io::stdout();
                let _ = writeln!(
                    out,
                    "decapsulating on {} into {} (stop with SIGTERM)",
                    a.iface, a.tun_name
                );
                let _ = out.flush();
            })?;
            // Whoever started us may have closed our stdout by now.
            let _ = writeln!(
                std::io::stdout(),
                "stopped: {} decapsulated, {} ignored, {} not injected",
                stats.decapsulated,
                stats.ignored,
                stats.inject_errors
            );
        }
    }
    Ok(0)
}

fn main() {
    match run() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("rvs-realserver: {e}");
            std::process::exit(1);
        }
    }
}
