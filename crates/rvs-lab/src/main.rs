//! rvs-lab: the seeds' topologies in network namespaces.

fn main() {
    eprintln!("rvs-lab: not built yet");
    std::process::exit(1);
}
