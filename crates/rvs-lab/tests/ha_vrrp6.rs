//! VRRP version 3 over IPv6 between rvsd and Debian's keepalived, as root, on one
//! LAN of namespaces: one master, failover both ways within the master-down
//! interval, and an unsolicited neighbour advertisement for the VIP from the new
//! master.

mod ha_lab;

use ha_lab::{mac, wait_until, Keepalived, Lan, TempDir};
use rvs_lab::director::Director;
use rvs_lab::netns::{Lab, LabError, Result};
use rvs_lab::topology::{rip6, Mode, DIRECTOR2_6, GW6_LAN_SIDE};
use std::path::PathBuf;
use std::time::Duration;

const VIP6: &str = "fd00:201:2::100";

/// advert_int 1: master-down interval = 3 × 1 s + skew (< 1 s), plus margin for
/// the machine being busy with the other tests.
const MASTER_DOWN_LIMIT: Duration = Duration::from_millis(5500);
/// An election among backups (both start in BACKUP), with margin.
const ELECTION_LIMIT: Duration = Duration::from_secs(8);

/// A keepalived.conf VRRPv3 instance for an IPv6 VIP (keepalived uses version 3
/// for IPv6 by itself; it is spelled out for the reader).
fn vrrp6_instance(name: &str, vrid: u8, priority: u8) -> String {
    format!(
        "vrrp_instance {name} {{\n    state BACKUP\n    interface eth0\n    version 3\n    \
         virtual_router_id {vrid}\n    priority {priority}\n    advert_int 1\n    \
         virtual_ipaddress {{\n        {VIP6}/64\n    }}\n}}\n"
    )
}

/// The LAN, with each router's link-local address out of DAD (VRRP over IPv6
/// speaks from it) and a global address beside it.
fn lan6(lab: &Lab) -> Lan {
    let lan = Lan::build(lab, &["ka", "rv"]).expect("LAN");
    for (i, ns) in lan.routers.iter().enumerate() {
        let addr = format!("fd00:201:2::{}/64", 2 + 2 * i);
        lab.exec(
            ns,
            &["ip", "-6", "addr", "add", &addr, "dev", "eth0", "nodad"],
        )
        .expect("IPv6 address");
    }
    let settled = wait_until(Duration::from_secs(5), || {
        lan.routers.iter().all(|ns| {
            lab.exec(ns, &["ip", "-6", "-o", "addr", "show", "tentative"])
                .is_ok_and(|o| o.stdout.is_empty())
        })
    });
    assert!(settled.is_some(), "link-local addresses stayed tentative");
    lan
}

/// Whether `eth0` in `ns` holds the IPv6 VIP.
fn holds6(lab: &Lab, ns: &str) -> bool {
    lab.exec(ns, &["ip", "-o", "-6", "addr", "show", "dev", "eth0"])
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(&format!(" {VIP6}/")))
        .unwrap_or(false)
}

fn holders6<'a>(lab: &Lab, all: &[&'a str]) -> Vec<&'a str> {
    all.iter().copied().filter(|ns| holds6(lab, ns)).collect()
}

fn rvsd(lab: &Lab, ns: &str, dir: &TempDir, conf: &str) -> Director {
    let path = dir.write(
        &format!("rvsd-{}.conf", ns.rsplit('-').next().unwrap()),
        conf,
    );
    Director::start(lab, ns, &[], &["-f", &path.display().to_string()]).expect("rvsd")
}

/// tcpdump of ICMPv6 neighbour advertisements on the LAN bridge.
struct NaCapture {
    file: PathBuf,
}

impl NaCapture {
    fn start(lab: &Lab, ns: &str, dir: &TempDir) -> Result<NaCapture> {
        let file = dir.path("na.txt");
        let err_file = dir.path("na.err");
        let out = std::fs::File::create(&file)?;
        let err = std::fs::File::create(&err_file)?;
        lab.spawn_with(
            &format!("tcpdump-na@{ns}"),
            ns,
            "tcpdump",
            &[
                "-i",
                "br0",
                "-n",
                "-e",
                "-l",
                "-U",
                "icmp6 and ip6[40] == 136",
            ],
            out.into(),
            err.into(),
        )?;
        let ready = wait_until(Duration::from_secs(5), || {
            std::fs::read_to_string(&err_file).is_ok_and(|t| t.contains("listening on"))
        });
        if ready.is_none() {
            return Err(LabError("tcpdump did not start listening".into()));
        }
        Ok(NaCapture { file })
    }

    fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.file)
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    /// Whether an unsolicited NA for the VIP went to all-nodes from `mac`.
    fn saw_na(&self, mac: &str) -> bool {
        let from = format!("{mac} > 33:33:00:00:00:01");
        let tgt = format!("neighbor advertisement, tgt is {VIP6}");
        self.lines()
            .iter()
            .any(|l| l.contains(&from) && l.contains(&tgt))
    }
}

/// keepalived first (priority 100), then rvsd (150) preempts it and announces the
/// VIP with an unsolicited NA; rvsd crashes and keepalived takes the VIP back
/// within the master-down interval.
#[test]
fn ha_vrrp6_rvsd_preempts_then_crashes_keepalived_takes_over() {
    let Some(lab) = ha_lab::lab("v6a", &["keepalived", "tcpdump"]) else {
        return;
    };
    let dir = TempDir::new(&lab);
    let lan = lan6(&lab);
    let (ka_ns, rv_ns) = (lan.routers[0].as_str(), lan.routers[1].as_str());
    let both = [ka_ns, rv_ns];
    let ka =
        Keepalived::start(&lab, ka_ns, &dir, &vrrp6_instance("VI_6", 61, 100)).expect("keepalived");
    let became = wait_until(ELECTION_LIMIT, || holders6(&lab, &both) == [ka_ns]);
    assert!(
        became.is_some(),
        "keepalived alone never became master:\n{}",
        ka.log_text()
    );

    let capture = NaCapture::start(&lab, &lan.switch, &dir).expect("tcpdump");
    let _rvsd = rvsd(&lab, rv_ns, &dir, &vrrp6_instance("VI_6", 61, 150));
    let preempted = wait_until(ELECTION_LIMIT, || holders6(&lab, &both) == [rv_ns]);
    assert!(
        preempted.is_some(),
        "rvsd (150) did not take over from keepalived (100): holders {:?}\n{}",
        holders6(&lab, &both),
        ka.log_text()
    );
    let rv_mac = mac(&lab, rv_ns);
    let na = wait_until(Duration::from_secs(2), || capture.saw_na(&rv_mac));
    assert!(
        na.is_some(),
        "no unsolicited NA for {VIP6} from rvsd ({rv_mac}): {:?}",
        capture.lines()
    );
    // Stable: exactly one master a few adverts later, and keepalived saw rvsd's
    // adverts as valid (it went back to BACKUP rather than complaining).
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(holders6(&lab, &both), [rv_ns], "{}", ka.log_text());
    assert!(
        ka.log_text().contains("Entering BACKUP STATE"),
        "{}",
        ka.log_text()
    );

    ha_lab::kill_all_in(&lab, rv_ns);
    let took = wait_until(MASTER_DOWN_LIMIT, || holds6(&lab, ka_ns));
    assert!(
        took.is_some(),
        "keepalived did not take over after rvsd crashed:\n{}",
        ka.log_text()
    );
    let ka_mac = mac(&lab, ka_ns);
    let na = wait_until(Duration::from_secs(2), || capture.saw_na(&ka_mac));
    assert!(na.is_some(), "no NA from keepalived: {:?}", capture.lines());
    eprintln!(
        "keepalived took over {:?} after rvsd crashed",
        took.unwrap()
    );
}

/// rvsd first (priority 100), then keepalived (150) preempts it; keepalived's VRRP
/// process crashes and rvsd takes the VIP within the master-down interval, with an
/// unsolicited NA.
#[test]
fn ha_vrrp6_keepalived_preempts_then_crashes_rvsd_takes_over() {
    let Some(lab) = ha_lab::lab("v6b", &["keepalived", "tcpdump"]) else {
        return;
    };
    let dir = TempDir::new(&lab);
    let lan = lan6(&lab);
    let (ka_ns, rv_ns) = (lan.routers[0].as_str(), lan.routers[1].as_str());
    let both = [ka_ns, rv_ns];
    let _rvsd = rvsd(&lab, rv_ns, &dir, &vrrp6_instance("VI_6", 61, 100));
    let became = wait_until(ELECTION_LIMIT, || holders6(&lab, &both) == [rv_ns]);
    assert!(became.is_some(), "rvsd alone never became master");

    let ka =
        Keepalived::start(&lab, ka_ns, &dir, &vrrp6_instance("VI_6", 61, 150)).expect("keepalived");
    let preempted = wait_until(ELECTION_LIMIT, || holders6(&lab, &both) == [ka_ns]);
    assert!(
        preempted.is_some(),
        "keepalived (150) did not take over from rvsd (100): holders {:?}\n{}",
        holders6(&lab, &both),
        ka.log_text()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(holders6(&lab, &both), [ka_ns], "{}", ka.log_text());

    let capture = NaCapture::start(&lab, &lan.switch, &dir).expect("tcpdump");
    ka.crash().expect("crash keepalived");
    let took = wait_until(MASTER_DOWN_LIMIT, || holds6(&lab, rv_ns));
    assert!(
        took.is_some(),
        "rvsd did not take over after keepalived crashed"
    );
    let rv_mac = mac(&lab, rv_ns);
    let na = wait_until(Duration::from_secs(2), || capture.saw_na(&rv_mac));
    assert!(
        na.is_some(),
        "no unsolicited NA for {VIP6} from rvsd ({rv_mac}): {:?}",
        capture.lines()
    );
    // keepalived crashed with the VIP still on its eth0 (no goodbye): both hold it,
    // but only rvsd advertises it.
    eprintln!(
        "rvsd took over {:?} after keepalived crashed",
        took.unwrap()
    );
}

/// rvsd master (150) stops (SIGTERM): its priority-0 advertisement makes
/// keepalived (100) take over at once (skew time, well under the master-down
/// interval), and rvsd releases the VIP.
#[test]
fn ha_vrrp6_rvsd_goodbye_hands_over_at_once() {
    let Some(lab) = ha_lab::lab("v6c", &["keepalived"]) else {
        return;
    };
    let dir = TempDir::new(&lab);
    let lan = lan6(&lab);
    let (ka_ns, rv_ns) = (lan.routers[0].as_str(), lan.routers[1].as_str());
    let both = [ka_ns, rv_ns];
    let rvsd = rvsd(&lab, rv_ns, &dir, &vrrp6_instance("VI_6", 62, 150));
    let ka =
        Keepalived::start(&lab, ka_ns, &dir, &vrrp6_instance("VI_6", 62, 100)).expect("keepalived");
    let became = wait_until(ELECTION_LIMIT, || holders6(&lab, &both) == [rv_ns]);
    assert!(became.is_some(), "rvsd (150) never became the only master");
    // keepalived must hear rvsd as master before the goodbye means anything.
    let heard = wait_until(ELECTION_LIMIT, || {
        ka.log_text().matches("Entering BACKUP STATE").count() >= 1 && !holds6(&lab, ka_ns)
    });
    assert!(heard.is_some(), "{}", ka.log_text());
    std::thread::sleep(Duration::from_secs(1));
    assert!(rvsd.stop(), "rvsd did not stop");
    // Skew time for 100 is (256 - 100) / 256 s; allow for a busy machine.
    let took = wait_until(Duration::from_millis(2500), || {
        holders6(&lab, &both) == [ka_ns]
    });
    assert!(
        took.is_some(),
        "keepalived did not take over at once after rvsd's goodbye: holders {:?}\n{}",
        holders6(&lab, &both),
        ka.log_text()
    );
    eprintln!(
        "keepalived took over {:?} after rvsd's goodbye",
        took.unwrap()
    );
}

/// Equal priorities after a split brain: with VRRP blocked on the LAN, rvsd and
/// keepalived both become master; once adverts flow again, the one with the lower
/// primary address (over IPv6, the link-local one) steps down, whichever it is.
/// (A backup never preempts a master of equal priority, so only two masters meet
/// this tie-break.)
#[test]
fn ha_vrrp6_split_brain_heals_to_the_higher_link_local_address() {
    let Some(lab) = ha_lab::lab("v6d", &["keepalived", "nft"]) else {
        return;
    };
    let dir = TempDir::new(&lab);
    let lan = lan6(&lab);
    let (ka_ns, rv_ns) = (lan.routers[0].as_str(), lan.routers[1].as_str());
    let both = [ka_ns, rv_ns];
    let winner = if link_local(&lab, ka_ns) > link_local(&lab, rv_ns) {
        ka_ns
    } else {
        rv_ns
    };
    // The switch drops VRRP (IPv6 next header 112) between the two.
    lab.exec(
        &lan.switch,
        &[
            "nft",
            "add table bridge vrrpcut; \
             add chain bridge vrrpcut cut { type filter hook forward priority 0; }; \
             add rule bridge vrrpcut cut ip6 nexthdr 112 drop",
        ],
    )
    .expect("nft bridge filter");
    let ka =
        Keepalived::start(&lab, ka_ns, &dir, &vrrp6_instance("VI_6", 63, 100)).expect("keepalived");
    let _rvsd = rvsd(&lab, rv_ns, &dir, &vrrp6_instance("VI_6", 63, 100));
    let split = wait_until(ELECTION_LIMIT, || holders6(&lab, &both).len() == 2);
    assert!(
        split.is_some(),
        "both should be master while cut off: holders {:?}\n{}",
        holders6(&lab, &both),
        ka.log_text()
    );
    lab.exec(&lan.switch, &["nft", "delete table bridge vrrpcut"])
        .expect("nft delete");
    let healed = wait_until(Duration::from_secs(4), || holders6(&lab, &both) == [winner]);
    assert!(
        healed.is_some(),
        "expected {winner} alone to hold the VIP: holders {:?}\n{}",
        holders6(&lab, &both),
        ka.log_text()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(holders6(&lab, &both), [winner], "{}", ka.log_text());
}

/// The link-local address of `eth0` in `ns`.
fn link_local(lab: &Lab, ns: &str) -> std::net::Ipv6Addr {
    let out = lab
        .exec(
            ns,
            &[
                "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link",
            ],
        )
        .expect("ip addr");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .skip_while(|w| *w != "inet6")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no link-local address on eth0 in {ns}: {text}"))
}

/// Two rvsd directors sharing an IPv6 VIP by VRRPv3, with an IPv6 DR virtual
/// server (TCP_CHECK on the real servers): HTTP over IPv6 through the VIP works,
/// and keeps working after the master dies, once the router has learned the new
/// master from its unsolicited NA.
#[test]
fn ha_vrrp6_director_pair_serves_ipv6_through_a_failover() {
    let Some(lab) = ha_lab::lab("v6e", &[]) else {
        return;
    };
    let dir = TempDir::new(&lab);
    let ha = ha_lab::HaTopology::build(&lab, Mode::Dr, 2).expect("topology");
    ha.topo.add_ipv6(&lab).expect("IPv6");
    let (d1, d2) = (ha.topo.director.as_str(), ha.director2.as_str());
    // VRRP gives the VIP to one director; the second director gets its own address.
    lab.exec(
        d1,
        &[
            "ip",
            "-6",
            "addr",
            "del",
            &format!("{VIP6}/128"),
            "dev",
            "eth0",
        ],
    )
    .expect("drop the static VIP");
    lab.exec(
        d2,
        &[
            "ip",
            "-6",
            "addr",
            "add",
            &format!("{DIRECTOR2_6}/64"),
            "dev",
            "eth0",
            "nodad",
        ],
    )
    .expect("director2 IPv6");
    lab.exec(
        d2,
        &[
            "ip",
            "-6",
            "route",
            "add",
            "default",
            "via",
            &GW6_LAN_SIDE.to_string(),
        ],
    )
    .expect("director2 route");
    let settled = wait_until(Duration::from_secs(5), || {
        lab.exec(d2, &["ip", "-6", "-o", "addr", "show", "tentative"])
            .is_ok_and(|o| o.stdout.is_empty())
    });
    assert!(settled.is_some(), "director2's link-local stayed tentative");
    let me = env!("CARGO_BIN_EXE_rvs-lab");
    let tool = rvs_lab::bins::find("rvs-realserver").expect("rvs-realserver");
    for (i, rs) in ha.topo.real_servers.iter().enumerate() {
        let name = format!("rs{}", i + 1);
        lab.spawn(
            &name,
            rs,
            me,
            &["serve", "--name", &name, "--tcp", "[::]:80"],
        )
        .expect("responder");
        let state = PathBuf::from(format!("/run/rvs/{rs}.realserver.json"));
        lab.track_file(state.clone());
        lab.exec(
            rs,
            &[
                &tool.display().to_string(),
                "setup",
                "--vip",
                VIP6,
                "--mode",
                "dr",
                "--state",
                &state.display().to_string(),
            ],
        )
        .expect("rvs-realserver setup");
    }
    let conf = |state: &str, priority: u8| {
        let real = |i: usize| {
            format!(
                "    real_server {} 80 {{\n        weight 1\n        TCP_CHECK {{\n            \
                 connect_timeout 2\n        }}\n    }}\n",
                rip6(i)
            )
        };
        format!(
            "vrrp_instance VI_6 {{\n    state {state}\n    interface eth0\n    \
             virtual_router_id 64\n    priority {priority}\n    advert_int 1\n    \
             virtual_ipaddress {{\n        {VIP6}/64\n    }}\n}}\n\n\
             virtual_server {VIP6} 80 {{\n    delay_loop 2\n    lb_algo rr\n    lb_kind DR\n    \
             protocol TCP\n{}{}}}\n",
            real(1),
            real(2)
        )
    };
    let c1 = dir.write("lb1.conf", &conf("MASTER", 150));
    let c2 = dir.write("lb2.conf", &conf("BACKUP", 100));
    let _lb1 =
        Director::start(&lab, d1, &["eth0"], &["-f", &c1.display().to_string()]).expect("rvsd lb1");
    let lb2 =
        Director::start(&lab, d2, &["eth0"], &["-f", &c2.display().to_string()]).expect("rvsd lb2");
    let both = [d1, d2];
    let elected = wait_until(ELECTION_LIMIT, || holders6(&lab, &both) == [d1]);
    assert!(
        elected.is_some(),
        "lb1 (150) is not the only master: {:?}",
        holders6(&lab, &both)
    );
    let listing = lb2.rvsadm(&["-Ln"]).unwrap();
    assert!(
        listing.contains(&format!("-> [{}]:80", rip6(2))),
        "{listing}"
    );

    let fetch = |count: usize| -> Vec<String> {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &ha.topo.client, me, "fetch"])
            .args(["--target", &format!("[{VIP6}]:80"), "--count"])
            .arg(count.to_string())
            .args(["--timeout-ms", "2000"])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("client");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split_once("-> ").map(|x| x.1).unwrap_or(l).to_string())
            .collect()
    };
    let served = |a: &[String]| !a.is_empty() && a.iter().all(|a| a == "rs1" || a == "rs2");
    let before = fetch(4);
    assert!(served(&before), "{before:?}");
    assert!(
        before.contains(&"rs1".to_string()) && before.contains(&"rs2".to_string()),
        "rr: {before:?}"
    );

    // lb1 dies: rvsd killed (no goodbye) and its link gone.
    ha_lab::kill_all_in(&lab, d1);
    lab.exec(d1, &["ip", "link", "del", "eth0"])
        .expect("unplug lb1");
    let took = wait_until(MASTER_DOWN_LIMIT, || holds6(&lab, d2));
    assert!(took.is_some(), "lb2 did not take the VIP over");
    let after = wait_until(Duration::from_secs(3), || served(&fetch(1)));
    assert!(after.is_some(), "no answer through lb2: {:?}", fetch(1));
    let more = fetch(4);
    assert!(served(&more), "{more:?}");
    eprintln!("lb2 took over {:?} after lb1 died", took.unwrap());
}
