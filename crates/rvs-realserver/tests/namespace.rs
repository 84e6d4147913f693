//! rvs-realserver in network namespaces (root only): setup/teardown restores
//! everything, and the userspace decapsulator delivers IPIP traffic to the VIP.

mod common;

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

#[test]
fn setup_then_teardown_restores_everything() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let ns = Netns::new("rsa");
    let state = TempFile(format!("/tmp/dp-rs-state-{}.json", std::process::id()));
    // A VIP that is already there must survive teardown.
    ns.ok(&["ip", "addr", "add", "10.88.0.101/32", "dev", "lo"]);
    let keys = [
        ("all", "arp_ignore"),
        ("all", "arp_announce"),
        ("lo", "arp_ignore"),
        ("lo", "arp_announce"),
    ];
    let before: Vec<String> = keys.iter().map(|(i, n)| ns.sysctl(i, n)).collect();
    let lo_before = ns.lo_addrs();

    let out = ns.ok(&[
        BIN,
        "setup",
        "--vip",
        "10.88.0.100",
        "--vip",
        "10.88.0.101",
        "--mode",
        "dr",
        "--state",
        &state.0,
    ]);
    assert!(out.contains("1 VIP(s) added"), "{out}");
    let lo = ns.lo_addrs();
    assert!(
        lo.contains("10.88.0.100/32") && lo.contains("10.88.0.101/32"),
        "{lo}"
    );
    for (i, n) in &keys {
        let want = if *n == "arp_ignore" { "1" } else { "2" };
        assert_eq!(ns.sysctl(i, n), want, "{i}.{n}");
    }
    // status: intact, then drift noticed.
    let st = ns.run(&[BIN, "status", "--state", &state.0]);
    assert_eq!(
        st.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&st.stdout)
    );
    ns.ok(&["sysctl", "-qw", "net.ipv4.conf.lo.arp_ignore=0"]);
    let st = ns.run(&[BIN, "status", "--state", &state.0]);
    assert_eq!(st.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&st.stdout).contains("arp_ignore is 0"));
    ns.ok(&["sysctl", "-qw", "net.ipv4.conf.lo.arp_ignore=1"]);
    // A second setup is refused and changes nothing.
    let again = ns.run(&[
        BIN,
        "setup",
        "--vip",
        "10.88.0.102",
        "--mode",
        "dr",
        "--state",
        &state.0,
    ]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already set up"));
    assert!(!ns.lo_addrs().contains("10.88.0.102"));

    ns.ok(&[BIN, "teardown", "--state", &state.0]);
    let after: Vec<String> = keys.iter().map(|(i, n)| ns.sysctl(i, n)).collect();
    assert_eq!(after, before);
    assert_eq!(ns.lo_addrs(), lo_before);
    assert!(!std::path::Path::new(&state.0).exists());
    assert_eq!(
        ns.run(&[BIN, "status", "--state", &state.0]).status.code(),
        Some(3)
    );
    // Nothing left to undo.
    assert!(!ns
        .run(&[BIN, "teardown", "--state", &state.0])
        .status
        .success());
}

/// An IPv4 header (checksummed) + UDP (no checksum) from `src:sport` to `dst:dport`.
fn udp_packet(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, data: &[u8]) -> Vec<u8> {
    let total = (28 + data.len()) as u16;
    let mut p = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0];
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let mut sum: u32 = 0;
    for c in p.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    p[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(data);
    p
}

/// Send `inner` wrapped in IPIP to `dst` (the kernel adds the outer header).
fn send_ipip(dst: Ipv4Addr, inner: &[u8]) {
    // SAFETY: plain syscalls on a descriptor owned here, with live buffers.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_RAW, 4);
        assert!(
            fd >= 0,
            "raw IPIP socket: {}",
            std::io::Error::last_os_error()
        );
        let mut sa: libc::sockaddr_in = core::mem::zeroed();
        sa.sin_family = libc::AF_INET as u16;
        sa.sin_addr.s_addr = u32::from_ne_bytes(dst.octets());
        let n = libc::sendto(
            fd,
            inner.as_ptr().cast(),
            inner.len(),
            0,
            (&sa as *const libc::sockaddr_in).cast(),
            core::mem::size_of::<libc::sockaddr_in>() as u32,
        );
        libc::close(fd);
        assert_eq!(
            n,
            inner.len() as isize,
            "{}",
            std::io::Error::last_os_error()
        );
    }
}

struct Decap(Child, BufReader<std::process::ChildStdout>);

impl Drop for Decap {
    fn drop(&mut self) {
        // SAFETY: signalling the child this test started, by its PID.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

#[test]
fn userspace_decap_delivers_ipip_to_the_vip() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    if nft_missing() || !std::path::Path::new("/dev/net/tun").exists() {
        eprintln!("skipped: nft or /dev/net/tun missing");
        return;
    }
    let client = Netns::new("rsc");
    let server = Netns::new("rss");
    let (cif, sif) = (
        format!("dprsa{}", std::process::id() % 100_000),
        format!("dprsb{}", std::process::id() % 100_000),
    );
    ok(&[
        "ip", "link", "add", &cif, "netns", &client.0, "type", "veth", "peer", "name", &sif,
        "netns", &server.0,
    ]);
    client.ok(&["ip", "addr", "add", "10.88.1.1/24", "dev", &cif]);
    client.ok(&["ip", "link", "set", &cif, "up"]);
    server.ok(&["ip", "addr", "add", "10.88.1.2/24", "dev", &sif]);
    server.ok(&["ip", "link", "set", &sif, "up"]);
    let state = TempFile(format!("/tmp/dp-rs-tun-{}.json", std::process::id()));
    server.ok(&["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1"]);
    server.ok(&[
        BIN,
        "setup",
        "--vip",
        "10.88.9.9",
        "--mode",
        "tun",
        "--iface",
        &sif,
        "--state",
        &state.0,
    ]);

    let table = format!("rvs_dp_decap{}", std::process::id() % 100_000);
    let tun = format!("dprst{}", std::process::id() % 100_000);
    let mut child = Command::new("ip")
        .args([
            "netns", "exec", &server.0, BIN, "decap", "--iface", &sif, "--tun", &tun, "--table",
            &table,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start decap");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut decap = Decap(child, stdout);
    let mut line = String::new();
    decap.1.read_line(&mut line).expect("ready line");
    assert!(line.contains("decapsulating"), "{line:?}");

    let vip = Ipv4Addr::new(10, 88, 9, 9);
    let listener = server.within(move || UdpSocket::bind((vip, 7777)).expect("bind VIP"));
    listener
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let reply_sock = client.within(|| UdpSocket::bind("10.88.1.1:5555").expect("client socket"));
    reply_sock
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();

    let inner = udp_packet(
        Ipv4Addr::new(10, 88, 1, 1),
        5555,
        vip,
        7777,
        b"through the tunnel",
    );
    client.within(move || send_ipip(Ipv4Addr::new(10, 88, 1, 2), &inner));

    let mut buf = [0u8; 64];
    let (n, from) = listener
        .recv_from(&mut buf)
        .expect("inner datagram delivered");
    assert_eq!(&buf[..n], b"through the tunnel");
    assert_eq!(from.to_string(), "10.88.1.1:5555");
    // The answer goes straight back from the VIP.
    listener.send_to(b"direct reply", from).unwrap();
    let (n, from) = reply_sock.recv_from(&mut buf).expect("reply from the VIP");
    assert_eq!(&buf[..n], b"direct reply");
    assert_eq!(from.to_string(), "10.88.9.9:7777");

    drop(decap);
    let tables = server.ok(&["nft", "list", "tables"]);
    assert!(
        !tables.contains(&table),
        "decap table left behind: {tables}"
    );
    assert_eq!(server.sysctl("all", "rp_filter"), "0");
    server.ok(&[BIN, "teardown", "--state", &state.0]);
    assert_eq!(server.sysctl("all", "rp_filter"), "1");
    assert!(!server.lo_addrs().contains("10.88.9.9"));
}
