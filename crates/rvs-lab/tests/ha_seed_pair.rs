//! The seeds' keepalived pair (corpus seed-lb03.conf, MASTER 150, and
//! seed-lb04.conf, BACKUP 100: one VRRP instance and a DR virtual server) on two
//! rvsd directors, as root: HTTP through the VIP works, and keeps working after
//! the MASTER director dies.

mod ha_lab;

use ha_lab::{holders, wait_until, HaTopology, TempDir};
use rvs_lab::director::Director;
use rvs_lab::topology::{rip, Mode, VIP};
use std::path::Path;
use std::time::Duration;

/// The seed's file with its addresses moved into the lab: VIP 10.0.0.13 becomes
/// the lab's VIP, real servers 10.0.0.17/18 become rs1/rs2. The structure (and
/// the interface, eth0) is kept.
fn seed_in_lab(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/keepalived")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|_| fallback(name));
    text.replace("10.0.0.13", &VIP.to_string())
        .replace("10.0.0.17", &rip(1).to_string())
        .replace("10.0.0.18", &rip(2).to_string())
}

/// The seed files, for checkouts without the corpus next to them.
fn fallback(name: &str) -> String {
    let (router, state, priority) = if name.contains("lb03") {
        ("LVS_01", "MASTER", 150)
    } else {
        ("LVS_02", "BACKUP", 100)
    };
    let real = |addr: &str| {
        format!(
            "    real_server {addr} 80 {{\n        weight 1\n        TCP_CHECK {{\n        \
             connect_timeout 8\n        nb_get_retry 3\n        delay_before_retry 3\n        \
             connect_port 80\n        }}\n    }}\n"
        )
    };
    format!(
        "global_defs {{\n   router_id {router}\n}}\n\nvrrp_instance VI_1 {{\n    state {state}\n    \
         interface eth0\n    virtual_router_id 51\n    priority {priority}\n    advert_int 1\n    \
         authentication {{\n        auth_type PASS\n        auth_pass 1111\n    }}\n    \
         virtual_ipaddress {{\n     10.0.0.13/24\n    }}\n}}\n\nvirtual_server 10.0.0.13 80 {{\n    \
         delay_loop 6\n    lb_algo wrr\n    lb_kind DR\n    nat_mask 255.255.255.0\n    \
         persistence_timeout 50\n    protocol TCP\n\n{}\n{}}}\n",
        real("10.0.0.17"),
        real("10.0.0.18")
    )
}

fn answered_by_a_real_server(answers: &[String]) -> bool {
    !answers.is_empty() && answers.iter().all(|a| a == "rs1" || a == "rs2")
}

#[test]
fn ha_seed_lb03_lb04_pair_survives_the_master_dying() {
    let Some(lab) = ha_lab::lab("seed", &[]) else {
        return;
    };
    let dir = TempDir::new(&lab);
    let ha = HaTopology::build(&lab, Mode::Dr, 2).expect("topology");
    ha.serve(&lab, Mode::Dr).expect("real servers");
    let lb03 = dir.write("seed-lb03.conf", &seed_in_lab("seed-lb03.conf"));
    let lb04 = dir.write("seed-lb04.conf", &seed_in_lab("seed-lb04.conf"));
    let (d1, d2) = (ha.topo.director.as_str(), ha.director2.as_str());
    let both = [d1, d2];
    let vip = VIP.to_string();

    let _lb03 = Director::start(&lab, d1, &["eth0"], &["-f", &lb03.display().to_string()])
        .expect("rvsd lb03");
    let lb04 = Director::start(&lab, d2, &["eth0"], &["-f", &lb04.display().to_string()])
        .expect("rvsd lb04");
    let elected = wait_until(Duration::from_secs(8), || {
        holders(&lab, &both, &vip) == [d1]
    });
    assert!(
        elected.is_some(),
        "lb03 (150) is not the only master: {:?}",
        holders(&lab, &both, &vip)
    );
    let listing = lb04.rvsadm(&["-Ln"]).unwrap();
    assert!(
        listing.contains("wrr persistent 50") && listing.contains("Route"),
        "{listing}"
    );

    let before = ha.fetch(3);
    assert!(answered_by_a_real_server(&before), "{before:?}");
    // Persistence 50 s: one client, one real server.
    assert!(before.iter().all(|a| *a == before[0]), "{before:?}");

    // lb03 dies: rvsd killed (no goodbye, its steering rules stay) and its link gone.
    ha_lab::kill_all_in(&lab, d1);
    lab.exec(d1, &["ip", "link", "del", "eth0"])
        .expect("unplug lb03");
    let took = wait_until(Duration::from_millis(5500), || {
        ha_lab::holds(&lab, d2, &vip)
    });
    assert!(took.is_some(), "lb04 did not take the VIP over");
    // The router learns the new MAC from lb04's gratuitous ARP.
    let after = wait_until(Duration::from_secs(3), || {
        answered_by_a_real_server(&ha.fetch(1))
    });
    assert!(after.is_some(), "no answer through lb04: {:?}", ha.fetch(1));
    let more = ha.fetch(3);
    assert!(answered_by_a_real_server(&more), "{more:?}");
    eprintln!("lb04 took over {:?} after lb03 died", took.unwrap());
}
