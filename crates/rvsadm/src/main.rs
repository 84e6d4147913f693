//! rvsadm: ipvsadm's command line over rvsd's control socket.

fn main() {
    eprintln!("rvsadm: not built yet");
    std::process::exit(1);
}
