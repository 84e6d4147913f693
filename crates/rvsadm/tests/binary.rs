//! The rvsadm binary over a unix socket: `--socket`, `RVS_SOCKET`, `-R` from
//! standard input, the name it is invoked by, and a daemon that is not there. The
//! daemon here is a small stand-in that answers from an in-process desired state.

use rvs_api::request::Reply;
use rvs_api::wire;
use rvsadm::exec::{Backend, CallError, LocalBackend};
use std::io::Write;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn scratch_dir() -> PathBuf {
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("rvsadm-bin-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Serves the control protocol on `path` from a thread, for as long as the test runs.
fn stand_in_daemon(path: &Path) {
    let listener = UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        let mut director = LocalBackend::default();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            while let Ok(body) = wire::read_frame(&mut stream) {
                let answer: Result<Reply, rvs_api::request::ApiError> =
                    match wire::decode_envelope(&body) {
                        Ok(request) => director.call(request).map_err(|e| match e {
                            CallError::Refused(api) => api,
                            CallError::Unreachable(why) => rvs_api::request::ApiError::new(
                                rvs_api::request::ErrorKind::Protocol,
                                why,
                            ),
                        }),
                        Err(e) => Err(e),
                    };
                if wire::write_frame(&mut stream, &answer).is_err() {
                    break;
                }
            }
        }
    });
}

fn rvsadm(program: &Path, args: &[&str], env_socket: Option<&Path>, stdin: &str) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args).env_remove("RVS_SOCKET");
    if let Some(s) = env_socket {
        cmd.env("RVS_SOCKET", s);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const BIN: &str = env!("CARGO_BIN_EXE_rvsadm");

#[test]
fn socket_option_environment_and_restore() {
    let dir = scratch_dir();
    let sock = dir.join("rvsd.sock");
    stand_in_daemon(&sock);
    let bin = Path::new(BIN);
    let s = sock.to_str().unwrap();

    let out = rvsadm(
        bin,
        &["--socket", s, "-A", "-t", "10.0.0.1:80", "-s", "rr"],
        None,
        "",
    );
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (Some(0), String::new())
    );
    let out = rvsadm(
        bin,
        &[
            &format!("--socket={s}"),
            "-a",
            "-t",
            "10.0.0.1:80",
            "-r",
            "10.0.2.1",
            "-m",
        ],
        None,
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = rvsadm(
        bin,
        &["-R"],
        Some(&sock),
        "-A -u 10.0.0.1:53 -s wrr\n-a -u 10.0.0.1:53 -r 10.0.2.2 -m -w 2\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = rvsadm(bin, &["-S", "-n"], Some(&sock), "");
    assert_eq!(
        text(&out.stdout),
        "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.2.1:80 -m -w 1\n\
         -A -u 10.0.0.1:53 -s wrr\n-a -u 10.0.0.1:53 -r 10.0.2.2:53 -m -w 2\n"
    );
    // A refusal: ipvsadm's message and status.
    let out = rvsadm(bin, &["-A", "-t", "10.0.0.1:80"], Some(&sock), "");
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (Some(255), "Service already exists\n".to_string())
    );
    let out = rvsadm(bin, &["-Ln", "-t", "10.0.0.1:80", "--socket", s], None, "");
    assert_eq!(
        text(&out.stdout),
        "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
         TCP  10.0.0.1:80 rr\n  -> 10.0.2.1:80                  Masq    1      0          0         \n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn invoked_as_ipvsadm_it_behaves_the_same() {
    let dir = scratch_dir();
    let link = dir.join("ipvsadm");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    let out = rvsadm(&link, &["-t", "10.0.0.1:80"], None, "");
    assert_eq!(out.status.code(), Some(255));
    let p = link.display();
    assert_eq!(
        text(&out.stderr),
        format!("Try `{p} -h' or '{p} --help' for more information.\n")
    );
    let out = rvsadm(&link, &["-v"], None, "");
    assert_eq!(
        text(&out.stdout),
        "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_a_daemon() {
    let dir = scratch_dir();
    let missing = dir.join("none.sock");
    let out = rvsadm(
        Path::new(BIN),
        &["-Ln", "--socket", missing.to_str().unwrap()],
        None,
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("Can't initialize ipvs: "),
        "{}",
        text(&out.stderr)
    );
    // Help and usage errors need no daemon.
    let out = rvsadm(Path::new(BIN), &["-h"], Some(&missing), "");
    assert_eq!(out.status.code(), Some(0));
    let out = rvsadm(
        Path::new(BIN),
        &["-A", "-t", "10.0.0.1:0"],
        Some(&missing),
        "",
    );
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (
            Some(2),
            "Zero port specified for non-persistent service\n".to_string()
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}
