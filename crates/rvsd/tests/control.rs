//! The control server end to end: a real unix socket, the blocking client of
//! rvs-api, an in-process server (and the rvsd binary for signals).

use rvs_api::client::{Client, ClientError};
use rvs_api::request::{ErrorKind, Reply, Request};
use rvs_api::wire;
use rvs_core::engine::{Engine, EngineConfig};
use rvs_core::model::{
    DestConfig, ForwardMethod, Protocol, SchedFlags, SchedulerKind, ServiceConfig, ServiceKey,
};
use rvsd::config_file::ConfigSource;
use rvsd::daemon::Daemon;
use rvsd::server::BackgroundServer;
use rvsd::socket::{own_uid, Access};
use std::path::Path;

fn key() -> ServiceKey {
    ServiceKey::Addr {
        proto: Protocol::Tcp,
        addr: "10.0.0.1".parse().unwrap(),
        port: 80,
    }
}

fn service() -> ServiceConfig {
    ServiceConfig {
        key: key(),
        scheduler: SchedulerKind::Wrr,
        sched_flags: SchedFlags::default(),
        persistence: None,
        one_packet: false,
        pe_name: None,
    }
}

fn dest(addr: &str) -> DestConfig {
    DestConfig {
        addr: addr.parse().unwrap(),
        port: 8080,
        method: ForwardMethod::Masq,
        weight: 2,
        u_threshold: 0,
        l_threshold: 0,
    }
}

fn daemon(source: ConfigSource) -> Daemon {
    let cfg = EngineConfig {
        max_conns: 1024,
        ..EngineConfig::default()
    };
    Daemon::with_engine(Engine::new(cfg).unwrap(), source)
}

#[test]
fn requests_and_refusals_round_trip_over_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rvsd.sock");
    let server = BackgroundServer::start(&path, daemon(ConfigSource::None)).unwrap();

    let mut client = Client::connect(&path).unwrap();
    assert_eq!(
        client.call(Request::AddService(service())).unwrap(),
        Reply::Done
    );
    for rs in ["192.168.0.2", "192.168.0.3"] {
        assert_eq!(
            client.call(Request::AddDest(key(), dest(rs))).unwrap(),
            Reply::Done
        );
    }
    match client.call(Request::AddService(service())) {
        Err(ClientError::Api(e)) => assert_eq!(e.kind, ErrorKind::Exists),
        other => panic!("a duplicate service was not refused: {other:?}"),
    }
    // The connection stays usable after a refusal, and a second client sees the state.
    let Reply::Snapshot(s) = Client::connect(&path)
        .unwrap()
        .call(Request::GetSnapshot)
        .unwrap()
    else {
        panic!("no snapshot");
    };
    assert_eq!(s.table_size, 4096);
    let listed: Vec<_> = s.services[0]
        .dests
        .iter()
        .map(|d| d.config.addr.to_string())
        .collect();
    assert_eq!(listed, ["192.168.0.3", "192.168.0.2"]);
    assert_eq!(
        client.call(Request::GetConnections).unwrap(),
        Reply::Connections(Vec::new())
    );
    match client.call(Request::Reload) {
        Err(ClientError::Api(e)) => assert_eq!(e.kind, ErrorKind::Unsupported),
        other => panic!("reload without a file: {other:?}"),
    }
    assert_eq!(server.daemon().lock().unwrap().state().services().len(), 1);
    server.stop().unwrap();
}

#[test]
fn the_socket_is_removed_at_shutdown_and_then_rvsd_is_not_running() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rvsd.sock");
    let server = BackgroundServer::start(&path, daemon(ConfigSource::None)).unwrap();
    assert!(path.exists());
    server.stop().unwrap();
    assert!(!path.exists(), "the socket outlived the server");
    let e = Client::connect(&path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("rvsd is not running (no socket at {})", path.display())
    );
}

#[test]
fn a_peer_that_may_not_use_the_socket_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rvsd.sock");
    // A server that allows only a user we are not, and not root.
    let stranger = own_uid().wrapping_add(1);
    let access = Access {
        own_uid: stranger,
        root: false,
    };
    let server =
        BackgroundServer::start_with_access(&path, daemon(ConfigSource::None), access).unwrap();
    let mut client = Client::connect(&path).unwrap();
    let e = client.call(Request::Flush).unwrap_err();
    assert!(matches!(e, ClientError::PermissionDenied { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!(
            "permission denied on {} (rvsd's socket is root-only)",
            path.display()
        )
    );
    assert!(server
        .daemon()
        .lock()
        .unwrap()
        .state()
        .services()
        .is_empty());
    server.stop().unwrap();
}

#[test]
fn another_protocol_version_is_told_so() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rvsd.sock");
    let server = BackgroundServer::start(&path, daemon(ConfigSource::None)).unwrap();
    let mut stream = std::os::unix::net::UnixStream::connect(&path).unwrap();
    let body = br#"{"version":99,"request":"Flush"}"#;
    stream
        .write_all(&(body.len() as u32).to_be_bytes())
        .unwrap();
    stream.write_all(body).unwrap();
    let answer = wire::decode_response(&wire::read_frame(&mut stream).unwrap()).unwrap();
    let e = answer.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Protocol);
    assert!(
        e.message.contains("protocol version mismatch"),
        "{}",
        e.message
    );
    server.stop().unwrap();
}

const KEEPALIVED_ONE: &str = "
virtual_server 10.0.0.13 80 {
    delay_loop 6
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 192.168.0.21 80 {
        weight 1
    }
}
";

const KEEPALIVED_TWO: &str = "
virtual_server 10.0.0.13 80 {
    delay_loop 6
    lb_algo wlc
    lb_kind DR
    protocol TCP
    real_server 192.168.0.21 80 {
        weight 1
    }
    real_server 192.168.0.22 80 {
        weight 3
    }
}
";

fn services_of(server: &BackgroundServer) -> Vec<(String, usize)> {
    let d = server.daemon().lock().unwrap();
    d.state()
        .services()
        .iter()
        .map(|vs| (vs.config.scheduler.name().to_string(), vs.dests.len()))
        .collect()
}

#[test]
fn reload_applies_the_configuration_file_difference() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("keepalived.conf");
    std::fs::write(&conf, KEEPALIVED_ONE).unwrap();
    let path = dir.path().join("rvsd.sock");
    let server = BackgroundServer::start(&path, daemon(ConfigSource::File(conf.clone()))).unwrap();
    let mut client = Client::connect(&path).unwrap();
    assert_eq!(client.call(Request::Reload).unwrap(), Reply::Done);
    assert_eq!(services_of(&server), [("rr".to_string(), 1)]);
    // A service added with rvsadm is not the file's: reloads leave it alone.
    client.call(Request::AddService(service())).unwrap();
    std::fs::write(&conf, KEEPALIVED_TWO).unwrap();
    assert_eq!(client.call(Request::Reload).unwrap(), Reply::Done);
    assert_eq!(
        services_of(&server),
        [("wrr".to_string(), 0), ("wlc".to_string(), 2)]
    );
    // A file that does not load changes nothing.
    std::fs::write(&conf, "virtual_server 10.0.0.13 80 {\n lb_algo nosuch\n").unwrap();
    match client.call(Request::Reload) {
        Err(ClientError::Api(e)) => assert_eq!(e.kind, ErrorKind::Invalid),
        other => panic!("a broken file was reloaded: {other:?}"),
    }
    assert_eq!(
        services_of(&server),
        [("wrr".to_string(), 0), ("wlc".to_string(), 2)]
    );
    // A service the file no longer defines goes; the rvsadm one stays.
    std::fs::write(&conf, "").unwrap();
    assert_eq!(client.call(Request::Reload).unwrap(), Reply::Done);
    assert_eq!(services_of(&server), [("wrr".to_string(), 0)]);
    server.stop().unwrap();
}

/// Waits (bounded) until `path` exists.
fn wait_for(path: &Path, present: bool) -> bool {
    for _ in 0..200 {
        if path.exists() == present {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    false
}

/// Kills the rvsd we started if a test fails before it stops on its own.
struct Rvsd(std::process::Child);

impl Drop for Rvsd {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn snapshot(path: &Path) -> rvs_core::status::Snapshot {
    match Client::connect(path).unwrap().call(Request::GetSnapshot) {
        Ok(Reply::Snapshot(s)) => s,
        other => panic!("no snapshot: {other:?}"),
    }
}

#[test]
fn the_binary_serves_reloads_on_sighup_and_cleans_up_on_sigterm() {
    use rustix::process::{kill_process, Pid, Signal};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run/rvsd.sock");
    let conf = dir.path().join("keepalived.conf");
    std::fs::write(&conf, KEEPALIVED_ONE).unwrap();
    let mut rvsd = Rvsd(
        std::process::Command::new(env!("CARGO_BIN_EXE_rvsd"))
            .arg("--socket")
            .arg(&path)
            .arg("-f")
            .arg(&conf)
            .arg("--log-level")
            .arg("warn")
            .spawn()
            .unwrap(),
    );
    let pid = Pid::from_child(&rvsd.0);
    assert!(wait_for(&path, true), "rvsd did not create its socket");
    assert_eq!(snapshot(&path).services[0].dests.len(), 1);

    std::fs::write(&conf, KEEPALIVED_TWO).unwrap();
    kill_process(pid, Signal::HUP).unwrap();
    let mut reloaded = false;
    for _ in 0..200 {
        if snapshot(&path).services[0].dests.len() == 2 {
            reloaded = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(reloaded, "SIGHUP did not reload");

    kill_process(pid, Signal::TERM).unwrap();
    let status = rvsd.0.wait().unwrap();
    assert!(status.success(), "rvsd exited with {status}");
    assert!(!path.exists(), "rvsd left its socket behind");
}

#[test]
fn config_test_exits_by_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.conf");
    let bad = dir.path().join("bad.conf");
    std::fs::write(&good, KEEPALIVED_TWO).unwrap();
    std::fs::write(&bad, "virtual_server 10.0.0.13 80 {\n lb_algo nosuch\n").unwrap();
    let run = |conf: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_rvsd"))
            .arg("-f")
            .arg(conf)
            .arg("--config-test")
            .output()
            .unwrap()
    };
    assert!(run(&good).status.success());
    let out = run(&bad);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.conf"));
}

#[test]
fn concurrent_clients_each_get_their_own_answers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rvsd.sock");
    let server = BackgroundServer::start(&path, daemon(ConfigSource::None)).unwrap();
    Client::connect(&path)
        .unwrap()
        .call(Request::AddService(service()))
        .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut client = Client::connect(&path).unwrap();
                for n in 0..25 {
                    let rs = dest(&format!("192.168.{t}.{}", n + 1));
                    assert_eq!(
                        client.call(Request::AddDest(key(), rs)).unwrap(),
                        Reply::Done
                    );
                    // The same server again is refused, to this client only.
                    match client.call(Request::AddDest(key(), rs)) {
                        Err(ClientError::Api(e)) => assert_eq!(e.kind, ErrorKind::Exists),
                        other => panic!("a duplicate was not refused: {other:?}"),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let d = server.daemon().lock().unwrap();
    assert_eq!(d.state().services()[0].dests.len(), 100);
}

/// keepalived.conf has no packet classifier: firewall-mark rules added with rvsadm
/// survive a reload of the file.
#[test]
fn reload_keeps_the_firewall_mark_rules() {
    use rvs_core::model::{Family, FwmarkRule, Prefix};
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("keepalived.conf");
    std::fs::write(&conf, KEEPALIVED_ONE).unwrap();
    let path = dir.path().join("rvsd.sock");
    let server = BackgroundServer::start(&path, daemon(ConfigSource::File(conf.clone()))).unwrap();
    let mut client = Client::connect(&path).unwrap();
    let rule = FwmarkRule {
        mark: 99,
        family: Family::V4,
        proto: Some(Protocol::Tcp),
        dst: Prefix {
            addr: "172.16.100.9".parse().unwrap(),
            len: 32,
        },
        dst_ports: Some((443, 443)),
        src: None,
    };
    client.call(Request::AddFwmarkRule(rule)).unwrap();
    assert_eq!(client.call(Request::Reload).unwrap(), Reply::Done);
    let rules = server
        .daemon()
        .lock()
        .unwrap()
        .state()
        .fwmark_rules()
        .to_vec();
    assert_eq!(rules, [rule]);
    server.stop().unwrap();
}
