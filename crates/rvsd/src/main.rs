//! rvsd: the director daemon.

use clap::Parser;

fn main() -> std::process::ExitCode {
    rvsd::run(rvsd::args::Args::parse())
}
