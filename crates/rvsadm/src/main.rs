//! rvsadm: ipvsadm's command line over rvsd's control socket. Installed or linked
//! as `ipvsadm`, it behaves the same.

use rvsadm::exec::{run, SocketBackend};
use rvsadm::resolve::SystemResolver;
use std::io::Write;
use std::path::PathBuf;

/// Takes rvs's own `--socket PATH` / `--socket=PATH` out of the arguments.
fn take_socket(args: &mut Vec<String>) -> Option<PathBuf> {
    let mut i = 1;
    let mut found = None;
    while i < args.len() {
        if args[i] == "--" {
            break;
        }
        if let Some(v) = args[i].strip_prefix("--socket=") {
            found = Some(PathBuf::from(v));
            args.remove(i);
            continue;
        }
        if args[i] == "--socket" && i + 1 < args.len() {
            found = Some(PathBuf::from(args[i + 1].clone()));
            args.drain(i..i + 2);
            continue;
        }
        i += 1;
    }
    found
}

fn main() {
    let mut args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let socket = take_socket(&mut args);
    let path = rvs_api::socket::resolve_socket_path(socket.as_deref());
    let mut backend = SocketBackend::new(path);
    let out = run(
        &args,
        &mut std::io::stdin().lock(),
        &mut backend,
        &SystemResolver,
    );
    let _ = std::io::stdout().write_all(out.stdout.as_bytes());
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().write_all(out.stderr.as_bytes());
    std::process::exit(out.code);
}
