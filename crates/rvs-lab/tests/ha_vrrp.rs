//! VRRP between rvsd and Debian's keepalived, as root, on one LAN of namespaces:
//! one master whatever the order of start and of priority, failover within the
//! master-down interval with a gratuitous ARP on the LAN, and `nopreempt`.

mod ha_lab;

use ha_lab::{holders, mac, vrrp_instance, wait_until, ArpCapture, Keepalived, Lan, TempDir};
use rvs_lab::director::Director;
use std::time::Duration;

const VIP_A: &str = "10.201.2.100";
const VIP_B: &str = "10.201.2.101";

/// advert_int 1: master-down interval = 3 × 1 s + skew (< 1 s), plus margin for
/// the machine being busy with the other tests.
const MASTER_DOWN_LIMIT: Duration = Duration::from_millis(5500);
/// An election among backups (both start in BACKUP), with margin.
const ELECTION_LIMIT: Duration = Duration::from_secs(8);

fn rvsd(lab: &rvs_lab::netns::Lab, ns: &str, dir: &TempDir, conf: &str) -> Director {
    let path = dir.write(
        &format!("rvsd-{}.conf", ns.rsplit('-').next().unwrap()),
        conf,
    );
    Director::start(lab, ns, &[], &["-f", &path.display().to_string()]).expect("rvsd")
}

/// keepalived first (priority 100), then rvsd (150) preempts it; rvsd crashes and
/// keepalived takes the VIP back within the master-down interval, announcing it
/// with a gratuitous ARP.
#[test]
fn ha_vrrp_rvsd_preempts_then_crashes_keepalived_takes_over() {
    let Some(lab) = ha_lab::lab("vrpa", &["keepalived", "tcpdump"]) else {
        return;
    };
    let dir = TempDir::new(&lab);
    let lan = Lan::build(&lab, &["ka", "rv"]).expect("LAN");
    let (ka_ns, rv_ns) = (lan.routers[0].as_str(), lan.routers[1].as_str());
    let both = [ka_ns, rv_ns];
    let ka = Keepalived::start(
        &lab,
        ka_ns,
        &dir,
        &vrrp_instance("VI_1", 51, 100, VIP_A, false),
    )
    .expect("keepalived");
    let became = wait_until(ELECTION_LIMIT, || holders(&lab, &both, VIP_A) == [ka_ns]);
    assert!(
        became.is_some(),
        "keepalived alone never became master:\n{}",
        ka.log_text()
    );

    let _rvsd = rvsd(
        &lab,
        rv_ns,
        &dir,
        &vrrp_instance("VI_1", 51, 150, VIP_A, false),
    );
    let preempted = wait_until(ELECTION_LIMIT, || holders(&lab, &both, VIP_A) == [rv_ns]);
    assert!(
        preempted.is_some(),
        "rvsd (150) did not take over from keepalived (100): holders {:?}\n{}",
        holders(&lab, &both, VIP_A),
        ka.log_text()
    );
    // Stable: exactly one master a few adverts later.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(holders(&lab, &both, VIP_A), [rv_ns]);

    let capture = ArpCapture::start(&lab, &lan.switch, "br0", &dir).expect("tcpdump");
    ha_lab::kill_all_in(&lab, rv_ns);
    let took = wait_until(MASTER_DOWN_LIMIT, || ha_lab::holds(&lab, ka_ns, VIP_A));
    assert!(
        took.is_some(),
        "keepalived did not take over after rvsd crashed:\n{}",
        ka.log_text()
    );
    let ka_mac = mac(&lab, ka_ns);
    let garp = wait_until(Duration::from_secs(2), || capture.saw_garp(&ka_mac, VIP_A));
    assert!(
        garp.is_some(),
        "no gratuitous ARP for {VIP_A} from {ka_mac}: {:?}",
        capture.lines()
    );
    eprintln!(
        "keepalived took over {:?} after rvsd crashed",
        took.unwrap()
    );
}

/// rvsd first (priority 100), then keepalived (150) preempts it; keepalived's VRRP
/// process crashes and rvsd takes the VIP within the master-down interval, with a
/// gratuitous ARP.
#[test]
fn ha_vrrp_keepalived_preempts_then_crashes_rvsd_takes_over() {
    let Some(lab) = ha_lab::lab("vrpb", &["keepalived", "tcpdump"]) else {
        return;
    };
    let dir = TempDir::new(&lab);
    let lan = Lan::build(&lab, &["ka", "rv"]).expect("LAN");
    let (ka_ns, rv_ns) = (lan.routers[0].as_str(), lan.routers[1].as_str());
    let both = [ka_ns, rv_ns];
    let _rvsd = rvsd(
        &lab,
        rv_ns,
        &dir,
        &vrrp_instance("VI_1", 51, 100, VIP_A, false),
    );
    let became = wait_until(ELECTION_LIMIT, || holders(&lab, &both, VIP_A) == [rv_ns]);
    assert!(became.is_some(), "rvsd alone never became master");

    let ka = Keepalived::start(
        &lab,
        ka_ns,
        &dir,
        &vrrp_instance("VI_1", 51, 150, VIP_A, false),
    )
    .expect("keepalived");
    let preempted = wait_until(ELECTION_LIMIT, || holders(&lab, &both, VIP_A) == [ka_ns]);
    assert!(
        preempted.is_some(),
        "keepalived (150) did not take over from rvsd (100): holders {:?}\n{}",
        holders(&lab, &both, VIP_A),
        ka.log_text()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(holders(&lab, &both, VIP_A), [ka_ns]);

    let capture = ArpCapture::start(&lab, &lan.switch, "br0", &dir).expect("tcpdump");
    ka.crash().expect("crash keepalived");
    let took = wait_until(MASTER_DOWN_LIMIT, || ha_lab::holds(&lab, rv_ns, VIP_A));
    assert!(
        took.is_some(),
        "rvsd did not take over after keepalived crashed"
    );
    let rv_mac = mac(&lab, rv_ns);
    let garp = wait_until(Duration::from_secs(2), || capture.saw_garp(&rv_mac, VIP_A));
    assert!(
        garp.is_some(),
        "no gratuitous ARP for {VIP_A} from {rv_mac}: {:?}",
        capture.lines()
    );
    eprintln!(
        "rvsd took over {:?} after keepalived crashed",
        took.unwrap()
    );
}

/// Two instances: A (rvsd 100, keepalived 150 nopreempt) and B (rvsd 150
/// nopreempt, keepalived 100). rvsd starts first and holds both: keepalived's
/// nopreempt leaves A alone while B stays with the higher rvsd. rvsd stops
/// (goodbye), keepalived holds both; rvsd comes back: its nopreempt leaves B alone
/// and A stays with the higher keepalived.
#[test]
fn ha_vrrp_nopreempt_leaves_a_running_master_alone() {
    let Some(lab) = ha_lab::lab("vrpn", &["keepalived"]) else {
        return;
    };
    let dir = TempDir::new(&lab);
    let lan = Lan::build(&lab, &["ka", "rv"]).expect("LAN");
    let (ka_ns, rv_ns) = (lan.routers[0].as_str(), lan.routers[1].as_str());
    let both = [ka_ns, rv_ns];
    let rv_conf =
        vrrp_instance("VI_A", 51, 100, VIP_A, false) + &vrrp_instance("VI_B", 52, 150, VIP_B, true);
    let ka_conf =
        vrrp_instance("VI_A", 51, 150, VIP_A, true) + &vrrp_instance("VI_B", 52, 100, VIP_B, false);

    let rv = rvsd(&lab, rv_ns, &dir, &rv_conf);
    let became = wait_until(ELECTION_LIMIT, || {
        holders(&lab, &both, VIP_A) == [rv_ns] && holders(&lab, &both, VIP_B) == [rv_ns]
    });
    assert!(became.is_some(), "rvsd alone never became master of both");
    let ka = Keepalived::start(&lab, ka_ns, &dir, &ka_conf).expect("keepalived");
    // Longer than keepalived's master-down interval: it would have preempted by now.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        holders(&lab, &both, VIP_A),
        [rv_ns],
        "keepalived preempted despite nopreempt:\n{}",
        ka.log_text()
    );
    assert_eq!(holders(&lab, &both, VIP_B), [rv_ns]);

    assert!(rv.stop());
    let took = wait_until(Duration::from_secs(3), || {
        holders(&lab, &both, VIP_A) == [ka_ns] && holders(&lab, &both, VIP_B) == [ka_ns]
    });
    assert!(
        took.is_some(),
        "keepalived did not take both after rvsd's goodbye:\n{}",
        ka.log_text()
    );
    let _rv = rvsd(&lab, rv_ns, &dir, &rv_conf);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        holders(&lab, &both, VIP_B),
        [ka_ns],
        "rvsd preempted despite nopreempt"
    );
    assert_eq!(holders(&lab, &both, VIP_A), [ka_ns]);
}

fn sighup(ns: &str) {
    let pids = std::process::Command::new("ip")
        .args(["netns", "pids", ns])
        .output()
        .expect("ip netns pids");
    for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
        let _ = std::process::Command::new("kill")
            .args(["-HUP", pid])
            .status();
    }
}

/// SIGHUP re-reads the file: the VRRP runtime is left running when its part did
/// not change (the master keeps its VIP throughout: a restart would drop it for a
/// whole master-down interval), replaced when it did, and a file whose instance
/// cannot run changes nothing. A file whose instance cannot run also stops rvsd
/// from starting, naming the line.
#[test]
fn ha_vrrp_sighup_replaces_vrrp_only_when_it_changed() {
    let Some(lab) = ha_lab::lab("vrph", &[]) else {
        return;
    };
    let dir = TempDir::new(&lab);
    let lan = Lan::build(&lab, &["rv"]).expect("LAN");
    let rv_ns = lan.routers[0].as_str();
    let service = |rs: &str| {
        format!("virtual_server {VIP_A} 80 {{\n    protocol TCP\n    real_server {rs} 80 {{\n    }}\n}}\n")
    };
    let conf = dir.write(
        "rvsd.conf",
        &(vrrp_instance("VI_1", 51, 150, VIP_A, false) + &service("10.201.2.11")),
    );
    let rv = Director::start(&lab, rv_ns, &[], &["-f", &conf.display().to_string()]).expect("rvsd");
    let became = wait_until(ELECTION_LIMIT, || ha_lab::holds(&lab, rv_ns, VIP_A));
    assert!(became.is_some(), "rvsd never became master");

    // Only the virtual server changes: VRRP keeps running.
    dir.write(
        "rvsd.conf",
        &(vrrp_instance("VI_1", 51, 150, VIP_A, false) + &service("10.201.2.12")),
    );
    sighup(rv_ns);
    let reloaded = wait_until(Duration::from_secs(3), || {
        rv.rvsadm(&["-Ln"])
            .is_ok_and(|l| l.contains("10.201.2.12:80"))
    });
    assert!(reloaded.is_some(), "SIGHUP did not reload the services");
    let lost = wait_until(Duration::from_millis(1500), || {
        !ha_lab::holds(&lab, rv_ns, VIP_A)
    });
    assert!(
        lost.is_none(),
        "the VIP was dropped by a reload that did not change VRRP"
    );

    // An instance that cannot run: refused, the running one stays.
    dir.write(
        "rvsd.conf",
        &vrrp_instance("VI_1", 51, 150, VIP_A, false).replace("eth0", "nosuch9"),
    );
    sighup(rv_ns);
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        ha_lab::holds(&lab, rv_ns, VIP_A),
        "a refused reload changed VRRP"
    );
    let listing = rv.rvsadm(&["-Ln"]).unwrap();
    assert!(
        listing.contains("10.201.2.12:80"),
        "a refused reload changed the services: {listing}"
    );

    // The VRRP part changes: the instance restarts with the new address.
    dir.write("rvsd.conf", &vrrp_instance("VI_1", 51, 150, VIP_B, false));
    sighup(rv_ns);
    let moved = wait_until(ELECTION_LIMIT, || {
        ha_lab::holds(&lab, rv_ns, VIP_B) && !ha_lab::holds(&lab, rv_ns, VIP_A)
    });
    assert!(
        moved.is_some(),
        "the changed instance did not take its new VIP"
    );

    // Start-up with an instance that cannot run: refused, naming file and line.
    let bad = dir.write(
        "bad.conf",
        &format!(
            "\n{}",
            vrrp_instance("VI_9", 59, 100, VIP_B, false).replace("eth0", "nosuch9")
        ),
    );
    let rvsd_bin = rvs_lab::bins::find("rvsd").expect("rvsd binary");
    let socket = dir.path("bad.sock");
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", rv_ns])
        .arg(&rvsd_bin)
        .args(["--socket", &socket.display().to_string(), "-f"])
        .arg(&bad)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run rvsd");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:2: vrrp_instance VI_9", bad.display()))
            && stderr.contains("nosuch9"),
        "{stderr}"
    );
}

/// A `Reload` request over the control socket re-reads VRRP with the services, as
/// SIGHUP does; a VRRP part that cannot run is refused and changes nothing.
#[test]
fn ha_vrrp_reload_request_reloads_vrrp_too() {
    use rvs_api::client::{Client, ClientError};
    use rvs_api::request::{Reply, Request};
    let Some(lab) = ha_lab::lab("vrpr", &[]) else {
        return;
    };
    let dir = TempDir::new(&lab);
    let lan = Lan::build(&lab, &["rv"]).expect("LAN");
    let rv_ns = lan.routers[0].as_str();
    let conf = dir.write("rvsd.conf", &vrrp_instance("VI_1", 51, 150, VIP_A, false));
    let rv = Director::start(&lab, rv_ns, &[], &["-f", &conf.display().to_string()]).expect("rvsd");
    assert!(
        wait_until(ELECTION_LIMIT, || ha_lab::holds(&lab, rv_ns, VIP_A)).is_some(),
        "rvsd never became master"
    );
    let mut client = Client::connect(rv.socket()).expect("control socket");

    dir.write(
        "rvsd.conf",
        &vrrp_instance("VI_1", 51, 150, VIP_A, false).replace("eth0", "nosuch9"),
    );
    match client.call(Request::Reload) {
        Err(ClientError::Api(_)) => {}
        other => panic!("a VRRP part that cannot run was accepted: {other:?}"),
    }
    assert!(
        ha_lab::holds(&lab, rv_ns, VIP_A),
        "a refused reload changed VRRP"
    );

    dir.write("rvsd.conf", &vrrp_instance("VI_1", 51, 150, VIP_B, false));
    assert_eq!(client.call(Request::Reload).unwrap(), Reply::Done);
    let moved = wait_until(ELECTION_LIMIT, || {
        ha_lab::holds(&lab, rv_ns, VIP_B) && !ha_lab::holds(&lab, rv_ns, VIP_A)
    });
    assert!(moved.is_some(), "the Reload request did not restart VRRP");
}
