//! rvs-realserver: prepares a host to be a DR or TUN real server.

fn main() {
    eprintln!("rvs-realserver: not built yet");
    std::process::exit(1);
}
