//! rvs's firewall-mark rules on the command line: `--add-mark`, `--del-mark`,
//! `-L --marks`, and `-S | -R` with rules (seed 000 sections 7-8).

use rvs_api::request::Request;
use rvs_core::model::{Family, FwmarkRule, Prefix, Protocol};
use rvsadm::cli::{parse, Action};
use rvsadm::exec::{run, LocalBackend, Output};
use rvsadm::resolve::NoResolver;

fn args(line: &str) -> Vec<String> {
    line.split_whitespace().map(String::from).collect()
}

fn run_line(d: &mut LocalBackend, line: &str, stdin: &str) -> Output {
    run(&args(line), &mut stdin.as_bytes(), d, &NoResolver)
}

fn ok(d: &mut LocalBackend, line: &str) {
    let out = run_line(d, line, "");
    assert_eq!((out.code, out.stderr.as_str()), (0, ""), "{line}");
}

fn rule(line: &str) -> FwmarkRule {
    match parse(&args(line), &NoResolver, false) {
        Ok(p) => match p.action {
            Action::Apply(Request::AddFwmarkRule(r) | Request::DelFwmarkRule(r)) => r,
            other => panic!("{line}: {other:?}"),
        },
        Err(e) => panic!("{line}: {}", e.stderr),
    }
}

fn prefix(s: &str, len: u8) -> Prefix {
    Prefix::new(s.parse().unwrap(), len)
}

/// Seed 000 section 8: http and https bound together by mark 99, DR, persistent.
const SEED_000: &[&str] = &[
    "rvsadm --add-mark -f 99 -t 172.16.100.9:80",
    "rvsadm --add-mark -f 99 -t 172.16.100.9:443",
    "rvsadm -A -f 99 -s rr -p",
    "rvsadm -a -f 99 -r 172.16.100.68 -g",
    "rvsadm -a -f 99 -r 172.16.100.69 -g",
];

const SEED_000_SAVED: &str = "\
-A -f 99 -s rr -p 360
-a -f 99 -r 172.16.100.68:0 -g -w 1
-a -f 99 -r 172.16.100.69:0 -g -w 1
--add-mark -f 99 -t 172.16.100.9:80
--add-mark -f 99 -t 172.16.100.9:443
";

#[test]
fn command_lines_to_rules() {
    assert_eq!(
        rule("rvsadm --add-mark -f 99 -t 172.16.100.9:80"),
        FwmarkRule {
            mark: 99,
            family: Family::V4,
            proto: Some(Protocol::Tcp),
            dst: prefix("172.16.100.9", 32),
            dst_ports: Some((80, 80)),
            src: None,
        }
    );
    assert_eq!(
        rule("rvsadm --del-mark --source 10.201.0.0/16 -u 172.16.0.0/16:5000-5010 -f 7"),
        FwmarkRule {
            mark: 7,
            family: Family::V4,
            proto: Some(Protocol::Udp),
            dst: prefix("172.16.0.0", 16),
            dst_ports: Some((5000, 5010)),
            src: Some(prefix("10.201.0.0", 16)),
        }
    );
    let r = rule("rvsadm --add-mark -f 5 -6 --sctp-service [2001:db8::/64]:0");
    assert_eq!(
        (r.family, r.proto, r.dst, r.dst_ports),
        (
            Family::V6,
            Some(Protocol::Sctp),
            prefix("2001:db8::", 64),
            None
        )
    );
    let r = rule("rvsadm --add-mark -f 5 --destination 172.16.50.50");
    assert_eq!((r.proto, r.dst_ports), (None, None));
    let r = rule("rvsadm --add-mark -f 5 -t 172.16.50.50");
    assert_eq!((r.proto, r.dst_ports), (Some(Protocol::Tcp), None));
}

#[test]
fn refusals_are_usage_errors() {
    let cases: &[(&str, &str)] = &[
        (
            "rvsadm --add-mark -t 10.0.0.1:80",
            "You need to supply the 'fwmark-service' option for the 'add-mark' command",
        ),
        (
            "rvsadm --del-mark -f 9",
            "You need to supply a destination (-t, -u, --sctp-service or --destination) for the 'del-mark' command",
        ),
        ("rvsadm --add-mark -f 0 -t 10.0.0.1", "invalid fwmark value `0' specified"),
        (
            "rvsadm --add-mark -f 9 -t 10.0.0.1/33:80",
            "illegal destination address[/len][:port[-port]] `10.0.0.1/33:80' specified",
        ),
        (
            "rvsadm --add-mark -f 9 -t 10.0.0.1:90-80",
            "illegal port or port range `90-80' specified (N, N-M with N <= M, or 0 for any)",
        ),
        (
            "rvsadm --add-mark -f 9 -t web.example:80",
            "illegal destination address[/len][:port[-port]] `web.example:80' specified",
        ),
        (
            "rvsadm --add-mark -f 9 --destination 10.0.0.1:80",
            "--destination matches every protocol and takes no port: use -t, -u or --sctp-service for ports",
        ),
        (
            "rvsadm --add-mark -f 9 -t 10.0.0.1 -u 10.0.0.1",
            "the 'add-mark' command takes one destination (-t, -u, --sctp-service or --destination)",
        ),
        (
            "rvsadm --add-mark -f 9 -t [2001:db8::1]:80",
            "an IPv6 destination needs -6 (the mark's service is -f MARK -6)",
        ),
        ("rvsadm --add-mark -f 9 -6 -t 10.0.0.1:80", "-6 needs an IPv6 destination"),
        (
            "rvsadm --add-mark -f 9 -t 10.0.0.1 --source 2001:db8::/32",
            "the source and the destination are of different address families",
        ),
        (
            "rvsadm --add-mark -f 9 -t 10.0.0.1 --source 10.0.0.0/",
            "illegal source address[/len] `10.0.0.0/' specified",
        ),
        (
            "rvsadm --add-mark -f 9 -t 10.0.0.1 -s rr",
            "Illegal 'scheduler' option with the 'add-mark' command",
        ),
        ("rvsadm --add-mark -f 9 -t 10.0.0.1 extra", "unexpected argument extra"),
        (
            "rvsadm -A -t 10.0.0.1:80 --source 10.0.0.0/8",
            "the 'source' option goes with --add-mark or --del-mark only (rvs's firewall-mark rules)",
        ),
        (
            "rvsadm -S --marks",
            "--marks goes with the list command only (-L --marks)",
        ),
        (
            "rvsadm -L --marks -c",
            "-L --marks lists the firewall-mark rules: only -n may go with it",
        ),
    ];
    for (line, message) in cases {
        let e = parse(&args(line), &NoResolver, false).expect_err(line);
        assert_eq!(
            (e.code, e.stderr.as_str()),
            (2, &*format!("{message}\n")),
            "{line}"
        );
    }
}

#[test]
fn seed_000_saves_and_restores_with_its_rules() {
    let mut d = LocalBackend::default();
    for line in SEED_000 {
        ok(&mut d, line);
    }
    let saved = run_line(&mut d, "rvsadm -S -n", "");
    assert_eq!((saved.code, saved.stdout.as_str()), (0, SEED_000_SAVED));

    // The usual restore: clear everything, read the saved lines back.
    ok(&mut d, "rvsadm -C");
    assert_eq!(run_line(&mut d, "rvsadm -S -n", "").stdout, "");
    let out = run_line(&mut d, "rvsadm -R", SEED_000_SAVED);
    assert_eq!((out.code, out.stderr.as_str()), (0, ""));
    assert_eq!(run_line(&mut d, "rvsadm -S -n", "").stdout, SEED_000_SAVED);
    assert_eq!(d.state.fwmark_rules().len(), 2);
}

#[test]
fn every_form_survives_save_and_restore() {
    let lines = [
        "--add-mark -f 1 -t 10.0.0.0/24:80-90 --source 192.0.2.0/24",
        "--add-mark -f 2 -u 10.0.0.1",
        "--add-mark -f 3 --sctp-service 10.0.0.1:3868",
        "--add-mark -f 4 --destination 10.0.0.0/8",
        "--add-mark -f 5 -6 -t [2001:db8::/64]:443",
        "--add-mark -f 6 -6 -u 2001:db8::1 --source 2001:db8:ffff::/48",
        "--add-mark -f 7 -6 --destination ::/0",
    ];
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let mut d = LocalBackend::default();
    let out = run_line(&mut d, "rvsadm -R", &input);
    assert_eq!((out.code, out.stderr.as_str()), (0, ""));
    assert_eq!(run_line(&mut d, "rvsadm -S", "").stdout, input);
}

#[test]
fn listing_and_plain_configurations() {
    let mut d = LocalBackend::default();
    ok(&mut d, "rvsadm -A -t 10.0.0.1:80");
    // Without rules, -S is ipvsadm's, and --marks shows the header only.
    assert_eq!(
        run_line(&mut d, "rvsadm -S -n", "").stdout,
        "-A -t 10.0.0.1:80 -s wlc\n"
    );
    let header = "Mark       Prot Destination                                 Ports       Source\n";
    assert_eq!(run_line(&mut d, "rvsadm -L --marks", "").stdout, header);
    ok(&mut d, "rvsadm --add-mark -f 99 -t 172.16.100.9:443");
    ok(
        &mut d,
        "rvsadm --add-mark -f 5 -t 172.16.50.0/24 --source 10.201.0.0/16",
    );
    let list = run_line(&mut d, "rvsadm -Ln --marks", "");
    assert_eq!(
        list.stdout,
        format!(
            "{header}\
             99         TCP  172.16.100.9/32                             443         any\n\
             5          TCP  172.16.50.0/24                              any         10.201.0.0/16\n"
        )
    );
    // The ordinary listing does not show them.
    assert!(!run_line(&mut d, "rvsadm -Ln", "")
        .stdout
        .contains("172.16.100.9"));
}

#[test]
fn daemon_refusals_have_their_own_words() {
    let mut d = LocalBackend::default();
    ok(&mut d, "rvsadm --add-mark -f 99 -t 172.16.100.9:80");
    let out = run_line(&mut d, "rvsadm --add-mark -f 99 -t 172.16.100.9:80", "");
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (255, "Firewall-mark rule already exists\n")
    );
    let out = run_line(&mut d, "rvsadm --del-mark -f 99 -t 172.16.100.9:443", "");
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (255, "No such firewall-mark rule\n")
    );
    // A -R batch with a duplicate changes nothing, and names the refused line.
    let before = d.state.clone();
    let out = run_line(
        &mut d,
        "rvsadm -R",
        "-A -f 99 -s rr\n--add-mark -f 99 -t 172.16.100.9:80\n",
    );
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (255, "Firewall-mark rule already exists\n")
    );
    assert_eq!(d.state, before);
    ok(&mut d, "rvsadm --del-mark -f 99 -t 172.16.100.9:80");
    assert!(d.state.fwmark_rules().is_empty());
}
