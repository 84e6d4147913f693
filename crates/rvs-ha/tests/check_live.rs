//! Health checkers against real servers on loopback: failures are detected within
//! keepalived's bounds, recoveries are seen, and results become desired-state edits.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use md5::{Digest, Md5};
use rvs_ha::check::{DestEvent, HealthMonitor};
use rvs_ha::config;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, UdpSocket};

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("rvs-hc-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start(s: &Scratch, conf: &str) -> HealthMonitor {
    let p = s.0.join("keepalived.conf");
    std::fs::write(&p, conf).unwrap();
    let (cfg, _) = config::load(&p).unwrap_or_else(|e| panic!("{e:?}"));
    let m = HealthMonitor::start(Arc::new(cfg));
    assert!(m.errors.is_empty(), "{:?}", m.errors);
    m
}

async fn next_event(m: &mut HealthMonitor, within: Duration) -> DestEvent {
    match tokio::time::timeout(within, m.events.recv()).await {
        Ok(Some(e)) => e,
        Ok(None) => panic!("engine stopped"),
        Err(_) => panic!("no event within {within:?}"),
    }
}

fn reusable_listener(addr: SocketAddr) -> TcpListener {
    let s = TcpSocket::new_v4().unwrap();
    s.set_reuseaddr(true).unwrap();
    s.bind(addr).unwrap();
    s.listen(64).unwrap()
}

/// Accepts connections and closes them (enough for TCP_CHECK).
fn tcp_server(addr: SocketAddr) -> tokio::task::JoinHandle<()> {
    let l = reusable_listener(addr);
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            drop(s);
        }
    })
}

fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

// delay_loop 1, connect_timeout 0.5, retry 1, delay_before_retry 0.2:
// a failure is declared at most 1 + 0.5·2 + 0.2 = 2.2 s after the last success.
const TIMING: &str =
    "delay_loop 1\n connect_timeout 0.5\n retry 1\n delay_before_retry 0.2\n warmup 0\n";
const DETECT: Duration = Duration::from_millis(2200 + 1500);

#[tokio::test]
async fn tcp_check_down_within_bound_and_back_up_and_inhibit() {
    let s = Scratch::new("tcp");
    let (a, b) = (free_port(), free_port());
    let mut srv_a = tcp_server(a);
    let srv_b = tcp_server(b);
    let conf = format!(
        "virtual_server 10.99.0.1 80 {{\n {TIMING}\n lvs_sched rr\n\
         real_server 127.0.0.1 {} {{\n  TCP_CHECK {{ }}\n }}\n\
         real_server 127.0.0.1 {} {{\n  inhibit_on_failure\n  weight 3\n  TCP_CHECK {{ }}\n }}\n}}\n",
        a.port(),
        b.port()
    );
    let mut m = start(&s, &conf);
    assert_eq!(m.state.borrow()[0].dests.len(), 2);
    // Let the first probes succeed, then kill server A.
    tokio::time::sleep(Duration::from_millis(300)).await;
    srv_a.abort();
    let _ = (&mut srv_a).await;
    let e = next_event(&mut m, DETECT).await;
    assert!(
        matches!(e, DestEvent::DestDown { port, .. } if port == a.port()),
        "{e:?}"
    );
    assert_eq!(m.state.borrow()[0].dests.len(), 1);
    // Restarted: back on the next probe (delay_loop).
    let srv_a = tcp_server(a);
    let e = next_event(&mut m, Duration::from_millis(1000 + 1500)).await;
    match e {
        DestEvent::DestUp { dest, .. } => assert_eq!((dest.port, dest.weight), (a.port(), 1)),
        e => panic!("{e:?}"),
    }
    // inhibit_on_failure: weight 0 instead of removal, then the weight comes back.
    srv_b.abort();
    let e = next_event(&mut m, DETECT).await;
    match e {
        DestEvent::DestWeight { dest, .. } => assert_eq!((dest.port, dest.weight), (b.port(), 0)),
        e => panic!("{e:?}"),
    }
    let _srv_b = tcp_server(b);
    match next_event(&mut m, Duration::from_millis(2500)).await {
        DestEvent::DestWeight { dest, .. } => assert_eq!((dest.port, dest.weight), (b.port(), 3)),
        e => panic!("{e:?}"),
    }
    drop(srv_a);
}

/// A tiny HTTP server answering every request with the current (status, body).
fn http_server(addr: SocketAddr, reply: Arc<Mutex<(u16, String)>>) -> tokio::task::JoinHandle<()> {
    let l = reusable_listener(addr);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let reply = reply.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let (status, body) = reply.lock().unwrap().clone();
                let resp = format!(
                    "HTTP/1.0 {status} X\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    })
}

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn http_status_and_digest_mismatches_are_failures() {
    let s = Scratch::new("http");
    let a = free_port();
    let reply = Arc::new(Mutex::new((200u16, "healthy".to_string())));
    let _srv = http_server(a, reply.clone());
    let conf = format!(
        "virtual_server 10.99.0.2 80 {{\n delay_loop 0.5\n real_server 127.0.0.1 {} {{\n\
         HTTP_GET {{\n url {{\n path /health\n digest {}\n }}\n connect_timeout 1\n retry 0\n warmup 0\n }}\n }}\n}}\n",
        a.port(),
        md5_hex("healthy")
    );
    let mut m = start(&s, &conf);
    tokio::time::sleep(Duration::from_millis(300)).await;
    reply.lock().unwrap().1 = "changed".to_string();
    assert!(matches!(
        next_event(&mut m, Duration::from_secs(3)).await,
        DestEvent::DestDown { .. }
    ));
    reply.lock().unwrap().1 = "healthy".to_string();
    assert!(matches!(
        next_event(&mut m, Duration::from_secs(3)).await,
        DestEvent::DestUp { .. }
    ));
    reply.lock().unwrap().0 = 503;
    assert!(matches!(
        next_event(&mut m, Duration::from_secs(3)).await,
        DestEvent::DestDown { .. }
    ));
    // 503 accepted by status_code, and no digest: up.
    let conf = format!(
        "virtual_server 10.99.0.3 80 {{\n delay_loop 0.5\n alpha\n real_server 127.0.0.1 {} {{\n\
         HTTP_GET {{\n url {{\n path /\n status_code 500-504\n regex \"^heal+thy$\"\n }}\n url {{\n path /x\n status_code 503\n regex sick\n regex_no_match\n }}\n connect_timeout 1\n warmup 0\n }}\n }}\n}}\n",
        a.port()
    );
    let s2 = Scratch::new("http2");
    let mut m2 = start(&s2, &conf);
    assert!(m2.state.borrow()[0].dests.is_empty(), "alpha starts down");
    assert!(matches!(
        next_event(&mut m2, Duration::from_secs(3)).await,
        DestEvent::DestUp { .. }
    ));
}

#[tokio::test]
async fn ssl_get_accepts_a_self_signed_certificate() {
    let ck = rcgen::generate_simple_self_signed(vec!["rs.example".to_string()]).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![ck.cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(ck.key_pair.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let a = free_port();
    let l = reusable_listener(a);
    let sni_seen = Arc::new(Mutex::new(None::<String>));
    let sni = sni_seen.clone();
    let srv = tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            let sni = sni.clone();
            tokio::spawn(async move {
                let Ok(mut s) = acceptor.accept(tcp).await else {
                    return;
                };
                *sni.lock().unwrap() = s.get_ref().1.server_name().map(str::to_string);
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await;
                let _ = s.shutdown().await;
            });
        }
    });
    let s = Scratch::new("ssl");
    let conf = format!(
        "virtual_server 10.99.0.4 443 {{\n delay_loop 0.5\n alpha\n real_server 127.0.0.1 {} {{\n\
         SSL_GET {{\n url {{\n path /\n digest {}\n }}\n sni_name rs.example\n connect_timeout 2\n warmup 0\n }}\n }}\n}}\n",
        a.port(),
        md5_hex("ok")
    );
    let mut m = start(&s, &conf);
    assert!(matches!(
        next_event(&mut m, Duration::from_secs(4)).await,
        DestEvent::DestUp { .. }
    ));
    assert_eq!(sni_seen.lock().unwrap().as_deref(), Some("rs.example"));
    srv.abort();
}

#[tokio::test]
async fn misc_check_exit_codes_and_dynamic_weights() {
    let s = Scratch::new("misc");
    let code = s.0.join("code");
    std::fs::write(&code, "0").unwrap();
    let conf = format!(
        "virtual_server 10.99.0.5 80 {{\n delay_loop 0.3\n real_server 10.99.1.1 80 {{\n weight 3\n\
         MISC_CHECK {{\n misc_path \"exit $(cat {})\"\n misc_timeout 2\n misc_dynamic\n warmup 0\n }}\n }}\n}}\n",
        code.display()
    );
    let mut m = start(&s, &conf);
    let within = Duration::from_secs(3);
    std::fs::write(&code, "12").unwrap();
    match next_event(&mut m, within).await {
        DestEvent::DestWeight { dest, .. } => assert_eq!(dest.weight, 10),
        e => panic!("{e:?}"),
    }
    std::fs::write(&code, "1").unwrap();
    assert!(matches!(
        next_event(&mut m, within).await,
        DestEvent::DestDown { .. }
    ));
    // While down the dynamic weight is kept; exit 0 brings it back at the configured weight.
    std::fs::write(&code, "0").unwrap();
    match next_event(&mut m, within).await {
        DestEvent::DestUp { dest, .. } => assert_eq!(dest.weight, 3),
        e => panic!("{e:?}"),
    }
}

#[tokio::test]
async fn misc_check_timeout_is_a_failure() {
    let s = Scratch::new("misct");
    let conf = "virtual_server 10.99.0.6 80 {\n delay_loop 0.3\n real_server 10.99.1.2 80 {\n\
         MISC_CHECK {\n misc_path \"sleep 5\"\n misc_timeout 1\n warmup 0\n }\n }\n}\n";
    let mut m = start(&s, conf);
    assert!(matches!(
        next_event(&mut m, Duration::from_secs(3)).await,
        DestEvent::DestDown { .. }
    ));
}

/// A fake SMTP server: 220 banner, then 250 (multi-line) to HELO, or 550 when `bad`.
fn smtp_server(
    addr: SocketAddr,
    bad: Arc<Mutex<bool>>,
    helo: Arc<Mutex<String>>,
) -> tokio::task::JoinHandle<()> {
    let l = reusable_listener(addr);
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let (bad, helo) = (bad.clone(), helo.clone());
            tokio::spawn(async move {
                let (r, mut w) = s.into_split();
                let mut r = BufReader::new(r);
                let _ = w.write_all(b"220 fake.example ESMTP\r\n").await;
                let mut line = String::new();
                if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                *helo.lock().unwrap() = line.trim_end().to_string();
                let answer: &[u8] = if *bad.lock().unwrap() {
                    b"550 go away\r\n"
                } else {
                    b"250-fake.example hello\r\n250 OK\r\n"
                };
                let _ = w.write_all(answer).await;
                line.clear();
                let _ = r.read_line(&mut line).await;
                let _ = w.write_all(b"221 bye\r\n").await;
            });
        }
    })
}

#[tokio::test]
async fn smtp_check_against_a_fake_server() {
    let a = free_port();
    let bad = Arc::new(Mutex::new(false));
    let helo = Arc::new(Mutex::new(String::new()));
    let _srv = smtp_server(a, bad.clone(), helo.clone());
    let s = Scratch::new("smtp");
    let conf = format!(
        "virtual_server 10.99.0.7 25 {{\n delay_loop 0.5\n alpha\n real_server 127.0.0.1 {} {{\n\
         SMTP_CHECK {{\n helo_name checker.example\n connect_timeout 1\n retry 0\n warmup 0\n }}\n }}\n}}\n",
        a.port()
    );
    let mut m = start(&s, &conf);
    assert!(matches!(
        next_event(&mut m, Duration::from_secs(3)).await,
        DestEvent::DestUp { .. }
    ));
    assert_eq!(*helo.lock().unwrap(), "HELO checker.example");
    *bad.lock().unwrap() = true;
    assert!(matches!(
        next_event(&mut m, Duration::from_secs(3)).await,
        DestEvent::DestDown { .. }
    ));
}

#[tokio::test]
async fn quorum_loss_swaps_in_the_sorry_server_and_runs_scripts() {
    let s = Scratch::new("quorum");
    let (a, b) = (free_port(), free_port());
    let srv_a = tcp_server(a);
    let _srv_b = tcp_server(b);
    let marker = s.0.join("quorum-down");
    let conf = format!(
        "virtual_server 10.99.0.8 80 {{\n {TIMING}\n quorum 2\n quorum_down \"touch {}\"\n\
         sorry_server 127.0.0.9 8080\n\
         real_server 127.0.0.1 {} {{\n  TCP_CHECK {{ }}\n }}\n\
         real_server 127.0.0.1 {} {{\n  TCP_CHECK {{ }}\n }}\n}}\n",
        marker.display(),
        a.port(),
        b.port()
    );
    let mut m = start(&s, &conf);
    tokio::time::sleep(Duration::from_millis(300)).await;
    srv_a.abort();
    let mut events = Vec::new();
    for _ in 0..3 {
        events.push(next_event(&mut m, DETECT).await);
    }
    let downs = events
        .iter()
        .filter(|e| matches!(e, DestEvent::DestDown { .. }))
        .count();
    assert_eq!(downs, 2, "{events:?}");
    assert!(matches!(
        events[2],
        DestEvent::DestUp { dest, .. } if dest.addr.to_string() == "127.0.0.9" && dest.port == 8080
    ));
    let state = m.state.borrow().clone();
    assert_eq!(state[0].dests.len(), 1);
    // The quorum_down script ran (bounded, in the background).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while !marker.exists() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(marker.exists());
}

#[tokio::test]
async fn udp_check_port_unreachable_and_required_reply() {
    let echo = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let echo_addr = echo.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = echo.recv_from(&mut buf).await {
            let _ = echo.send_to(&buf[..n], from).await;
        }
    });
    // A port with nothing behind it answers with ICMP port unreachable.
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let s = Scratch::new("udp");
    let conf = format!(
        "virtual_server 10.99.0.9 53 {{\n protocol UDP\n delay_loop 0.5\n alpha\n\
         real_server 127.0.0.1 {} {{\n UDP_CHECK {{\n payload 0102AB\n require_reply 01x2\n connect_timeout 1\n warmup 0\n }}\n }}\n\
         real_server 127.0.0.1 {} {{\n UDP_CHECK {{\n connect_timeout 1\n retry 0\n warmup 0\n }}\n }}\n}}\n",
        echo_addr.port(),
        closed_port
    );
    let mut m = start(&s, &conf);
    // Only the echo server comes up; the closed port stays down.
    match next_event(&mut m, Duration::from_secs(3)).await {
        DestEvent::DestUp { dest, .. } => assert_eq!(dest.port, echo_addr.port()),
        e => panic!("{e:?}"),
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), m.events.recv())
            .await
            .is_err(),
        "the closed port must not come up"
    );
}

#[tokio::test]
async fn dns_check_wants_same_id_and_noerror() {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let rcode = Arc::new(Mutex::new(0u8));
    let rc = rcode.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let mut reply = buf[..n].to_vec();
            // A reply with the wrong id first: it must be ignored.
            let mut wrong = reply.clone();
            wrong[0] ^= 0xff;
            wrong[2] |= 0x80;
            let _ = sock.send_to(&wrong, from).await;
            reply[2] |= 0x80;
            reply[3] = (reply[3] & 0xf0) | *rc.lock().unwrap();
            let _ = sock.send_to(&reply, from).await;
        }
    });
    let s = Scratch::new("dns");
    let conf = format!(
        "virtual_server 10.99.0.10 53 {{\n protocol UDP\n delay_loop 0.5\n alpha\n real_server 127.0.0.1 {} {{\n\
         DNS_CHECK {{\n type A\n name example.org\n connect_timeout 1\n retry 0\n warmup 0\n }}\n }}\n}}\n",
        addr.port()
    );
    let mut m = start(&s, &conf);
    assert!(matches!(
        next_event(&mut m, Duration::from_secs(3)).await,
        DestEvent::DestUp { .. }
    ));
    *rcode.lock().unwrap() = 2; // SERVFAIL
    assert!(matches!(
        next_event(&mut m, Duration::from_secs(3)).await,
        DestEvent::DestDown { .. }
    ));
}

#[tokio::test]
async fn ping_check_loopback() {
    // Needs an ICMP datagram socket (ping_group_range) or a raw socket (root).
    let can = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::ICMPV4),
    )
    .is_ok()
        || socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::RAW,
            Some(socket2::Protocol::ICMPV4),
        )
        .is_ok();
    if !can {
        eprintln!("note: no ICMP socket allowed (not root, ping_group_range closed); skipped");
        return;
    }
    let s = Scratch::new("ping");
    let conf =
        "virtual_server 10.99.0.11 80 {\n delay_loop 0.5\n alpha\n real_server 127.0.0.1 80 {\n\
         PING_CHECK {\n connect_timeout 1\n warmup 0\n }\n }\n}\n";
    let mut m = start(&s, conf);
    assert!(matches!(
        next_event(&mut m, Duration::from_secs(3)).await,
        DestEvent::DestUp { .. }
    ));
}

#[tokio::test]
async fn notify_scripts_run_on_transitions_and_omega_at_shutdown() {
    let s = Scratch::new("omega");
    let a = free_port();
    let srv = tcp_server(a);
    let (up, down, qdown) = (s.0.join("up"), s.0.join("down"), s.0.join("qdown"));
    let conf = format!(
        "virtual_server 10.99.0.12 80 {{\n {TIMING}\n protocol TCP\n omega\n quorum_down \"echo q >> {}\"\n\
         real_server 127.0.0.1 {} {{\n  notify_up \"touch {}\"\n  notify_down \"echo x >> {}\"\n  TCP_CHECK {{ }}\n }}\n}}\n",
        qdown.display(),
        a.port(),
        up.display(),
        down.display()
    );
    let mut m = start(&s, &conf);
    tokio::time::sleep(Duration::from_millis(300)).await;
    srv.abort();
    assert!(matches!(
        next_event(&mut m, DETECT).await,
        DestEvent::DestDown { .. }
    ));
    let _srv = tcp_server(a);
    assert!(matches!(
        next_event(&mut m, Duration::from_millis(2500)).await,
        DestEvent::DestUp { .. }
    ));
    assert!(wait_written(&up, false).await, "notify_up ran");
    assert!(wait_written(&down, true).await, "notify_down ran");
    // Losing the only server lost the quorum once.
    assert!(wait_written(&qdown, true).await, "quorum_down ran");
    let lines = |p: &PathBuf| std::fs::read_to_string(p).unwrap().lines().count();
    assert_eq!((lines(&down), lines(&qdown)), (1, 1));
    // Shutdown in omega mode: the live server's notify_down runs again, and quorum_down.
    m.shutdown().await;
    assert_eq!((lines(&down), lines(&qdown)), (2, 2));
}

/// Waits (bounded) until a script's file exists and, if `line`, holds a whole line.
async fn wait_written(p: &std::path::Path, line: bool) -> bool {
    for _ in 0..60 {
        match std::fs::read_to_string(p) {
            Ok(t) if !line || t.ends_with('\n') => return true,
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    false
}

#[tokio::test]
async fn connection_options_bindto_bind_if_and_fwmark_are_applied() {
    // SO_MARK and SO_BINDTODEVICE need CAP_NET_ADMIN / CAP_NET_RAW.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("note: not root; skipped");
        return;
    }
    let a = free_port();
    let l = reusable_listener(a);
    let peers = Arc::new(Mutex::new(Vec::new()));
    let seen = peers.clone();
    tokio::spawn(async move {
        while let Ok((_, peer)) = l.accept().await {
            seen.lock().unwrap().push(peer);
        }
    });
    let s = Scratch::new("connopts");
    let conf = format!(
        "virtual_server 10.99.0.13 80 {{\n protocol TCP\n delay_loop 0.5\n alpha\n real_server 10.99.1.3 80 {{\n\
         TCP_CHECK {{\n connect_ip 127.0.0.1\n connect_port {}\n bindto 127.0.0.2\n bind_if lo\n fwmark 7\n connect_timeout 1\n warmup 0\n }}\n }}\n}}\n",
        a.port()
    );
    let mut m = start(&s, &conf);
    assert!(matches!(
        next_event(&mut m, Duration::from_secs(3)).await,
        DestEvent::DestUp { .. }
    ));
    // The check went to connect_ip:connect_port, from the bindto address.
    let from = peers.lock().unwrap()[0];
    assert_eq!(from.ip().to_string(), "127.0.0.2");
    // A device that does not exist makes the check fail.
    let s2 = Scratch::new("connopts2");
    let conf = conf.replace("bind_if lo", "bind_if hcnosuch0");
    let mut m2 = start(&s2, &conf);
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), m2.events.recv())
            .await
            .is_err(),
        "a check bound to a missing device must not come up"
    );
}

#[tokio::test]
async fn a_reload_keeps_the_health_of_known_real_servers() {
    let s = Scratch::new("reload");
    let (dead, live) = (free_port(), free_port());
    let _srv = tcp_server(live);
    let conf = format!(
        "virtual_server 10.99.0.14 80 {{\n {TIMING}\n protocol TCP\n\
         real_server 127.0.0.1 {} {{\n  TCP_CHECK {{ }}\n }}\n\
         real_server 127.0.0.1 {} {{\n  TCP_CHECK {{ }}\n }}\n}}\n",
        dead.port(),
        live.port()
    );
    let mut m = start(&s, &conf);
    assert!(matches!(
        next_event(&mut m, DETECT).await,
        DestEvent::DestDown { port, .. } if port == dead.port()
    ));
    let snap = m.snapshot();
    drop(m);
    // The same configuration again: the dead server starts down, the live one up.
    let p = s.0.join("keepalived.conf");
    let (cfg, _) = config::load(&p).unwrap();
    let vs = &cfg.virtual_servers[0];
    assert_eq!(snap.alive(vs, &vs.real_servers[0]), Some(false));
    assert_eq!(snap.alive(vs, &vs.real_servers[1]), Some(true));
    let mut m2 = HealthMonitor::start_after(Arc::new(cfg), &snap);
    let ports: Vec<u16> = m2.state.borrow()[0].dests.iter().map(|d| d.port).collect();
    assert_eq!(ports, [live.port()]);
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), m2.events.recv())
            .await
            .is_err(),
        "nothing changes"
    );
}
