//! rvsd: the director daemon.

fn main() {
    eprintln!("rvsd: not built yet");
    std::process::exit(1);
}
