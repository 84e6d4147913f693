//! End to end, as root: seed 000 section 8's firewall-mark persistence, with the
//! marks given to rvsd as rules (`rvsadm --add-mark`) instead of iptables:
//!
//! ```text
//! iptables -t mangle -A PREROUTING -d VIP -p tcp --dport 80  -j MARK --set-mark 99
//! iptables -t mangle -A PREROUTING -d VIP -p tcp --dport 443 -j MARK --set-mark 99
//! ipvsadm -A -f 99 -s rr -p
//! ipvsadm -a -f 99 -r RS1 -g
//! ipvsadm -a -f 99 -r RS2 -g
//! ```
//! A client's requests to :80 and :443 all go to the real server its first request
//! went to; a second client goes to the other one (rr), and is as sticky.

mod common;

use common::setup;
use rvs_lab::netns::Lab;
use rvs_lab::topology::{rip, Mode, GW_CLIENT_SIDE, VIP};
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// The second client's address, on the client namespace's LAN.
const CLIENT2: &str = "10.201.1.3";

/// A lab named "fwm...", or `None` (with a note) where labs cannot be built.
fn lab(test: &str) -> Option<Lab> {
    if let Err(e) = rvs_lab::demo::preflight() {
        if std::env::var_os("CI").is_some() {
            panic!("CI must be able to build labs: {e}");
        }
        eprintln!("skipping {test}: {e}");
        return None;
    }
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Some(Lab::new(&format!("fwm{}-{n}-{test}-", std::process::id())))
}

/// Every answer is `who`.
fn all_from(answers: &[String], who: &str) -> bool {
    !answers.is_empty() && answers.iter().all(|a| a == who)
}

#[test]
fn seed000_fwmark_99_binds_http_and_https_in_dr() {
    let Some(lab) = lab("s000") else { return };
    let s = setup(lab, Mode::Dr, 2);
    let (rs1, rs2) = (rip(1), rip(2));
    s.director
        .restore(&format!(
            "--add-mark -f 99 -t {VIP}:80\n\
             --add-mark -f 99 -t {VIP}:443\n\
             -A -f 99 -s rr -p\n\
             -a -f 99 -r {rs1} -g\n\
             -a -f 99 -r {rs2} -g\n"
        ))
        .expect("rvsadm -R");
    assert_eq!(
        s.director.rvsadm(&["-Ln", "--marks"]).unwrap(),
        format!(
            "Mark       Prot Destination                                 Ports       Source\n\
             99         TCP  {VIP}/32                             80          any\n\
             99         TCP  {VIP}/32                             443         any\n"
        )
    );

    // The first client: rr picks the head of the list (rs2, added last), and the
    // persistence template of (client, FWM 99) keeps both ports there.
    let mut first = s.fetch(80, 3);
    first.extend(s.fetch(443, 3));
    first.extend(s.fetch(80, 1));
    assert!(all_from(&first, "rs2"), "client 1: {first:?}");

    // The second client (another source address): a new template, the next real
    // server, and the same stickiness across both ports.
    s.lab
        .exec(
            &s.topo.client,
            &["ip", "addr", "add", &format!("{CLIENT2}/24"), "dev", "eth0"],
        )
        .expect("second client address");
    let via_client2 = |add: bool| {
        let verb = if add { "add" } else { "del" };
        s.lab
            .exec(
                &s.topo.client,
                &[
                    "ip",
                    "route",
                    verb,
                    &format!("{VIP}/32"),
                    "via",
                    &GW_CLIENT_SIDE.to_string(),
                    "src",
                    CLIENT2,
                ],
            )
            .expect("route from the second client address");
    };
    via_client2(true);
    let mut second = s.fetch(443, 3);
    second.extend(s.fetch(80, 3));
    via_client2(false);
    assert!(all_from(&second, "rs1"), "client 2: {second:?}");

    // The first client is still where it was.
    assert!(all_from(&s.fetch(443, 2), "rs2"));

    // Without its rule, :443 is no longer the service's: the director's own stack
    // answers it (nothing listens there), while :80 still goes through.
    s.director
        .rvsadm(&["--del-mark", "-f", "99", "-t", &format!("{VIP}:443")])
        .unwrap();
    let unmarked = s.fetch(443, 1);
    assert!(
        unmarked.len() == 1 && unmarked[0].starts_with("error"),
        "{unmarked:?}"
    );
    assert!(all_from(&s.fetch(80, 2), "rs2"));

    let listing = s.director.rvsadm(&["-Ln"]).unwrap();
    assert!(listing.contains("FWM  99 rr persistent 360"), "{listing}");
    let saved = s.director.rvsadm(&["-S", "-n"]).unwrap();
    assert!(
        saved.ends_with(&format!("--add-mark -f 99 -t {VIP}:80\n")),
        "{saved}"
    );
}
