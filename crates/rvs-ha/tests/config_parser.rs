//! The keepalived.conf reader: includes, conditional lines, parameters, spellings,
//! block layouts and located errors.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rvs_core::model::{ForwardMethod, SchedulerKind, ServiceKey, TunnelType};
use rvs_ha::config::{self, CheckerKind, Diagnostic, KeepalivedConfig, LoadOptions, Severity};

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("rvs-ha-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn load_id(path: &Path, id: &str) -> Result<(KeepalivedConfig, Vec<Diagnostic>), Vec<Diagnostic>> {
    config::load_with(
        path,
        &LoadOptions {
            config_id: Some(id.to_string()),
        },
    )
}

const VS_TAIL: &str = "    protocol TCP\n    real_server 10.1.0.1 80 {\n        weight 2\n        TCP_CHECK {\n            connect_timeout 2\n        }\n    }\n}\n";

#[test]
fn include_with_glob_is_relative_to_the_including_file() {
    let s = Scratch::new("include");
    s.write(
        "conf.d/a.conf",
        &format!("virtual_server 10.0.0.1 80 {{\n{VS_TAIL}"),
    );
    s.write(
        "conf.d/b.conf",
        &format!("virtual_server 10.0.0.2 80 {{\n{VS_TAIL}"),
    );
    s.write("conf.d/ignored.txt", "this is not keepalived syntax {");
    s.write("sub/nested.conf", "include ../conf.d/*.conf\n");
    let main = s.write(
        "main.conf",
        "global_defs {\n router_id X\n}\ninclude sub/nested.conf\n",
    );
    let (cfg, diags) = config::load(&main).unwrap();
    assert!(diags.is_empty(), "{diags:?}");
    let addrs: Vec<String> = cfg
        .virtual_services()
        .iter()
        .map(|v| match v.config.key {
            ServiceKey::Addr { addr, .. } => addr.to_string(),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(addrs, ["10.0.0.1", "10.0.0.2"]);
    // Diagnostics inside an included file name that file.
    s.write(
        "conf.d/b.conf",
        "virtual_server 10.0.0.2 80 {\n  lb_algo nope\n}\n",
    );
    let errs = config::load(&main).unwrap_err();
    let e = errs.iter().find(|d| d.severity == Severity::Error).unwrap();
    assert!(e.loc.file.ends_with("conf.d/b.conf"));
    assert_eq!(e.loc.line, 2);
    // A pattern matching nothing is a warning for plain include.
    let m2 = s.write("m2.conf", "include nothing/*.conf\n");
    let (_, w) = config::load(&m2).unwrap();
    assert_eq!(w[0].loc.line, 1);
    assert!(w[0].message.contains("matches no file"));
}

#[test]
fn conditional_lines_follow_the_config_id() {
    let s = Scratch::new("cond");
    let p = s.write(
        "k.conf",
        "global_defs {\n  @main router_id main_router\n  @backup router_id backup_router\n}\n\
         vrrp_instance VI {\n  interface eth0\n  virtual_router_id 9\n  @main priority 200\n  @^main priority 50\n}\n",
    );
    let (cfg, _) = load_id(&p, "main").unwrap();
    assert_eq!(cfg.global.router_id.as_deref(), Some("main_router"));
    assert_eq!(cfg.vrrp_instances[0].priority, 200);
    let (cfg, _) = load_id(&p, "backup").unwrap();
    assert_eq!(cfg.global.router_id.as_deref(), Some("backup_router"));
    assert_eq!(cfg.vrrp_instances[0].priority, 50);
    let (cfg, _) = load_id(&p, "other").unwrap();
    assert_eq!(cfg.global.router_id, None);
}

#[test]
fn parameters_substitute_recursively_and_multiline() {
    let s = Scratch::new("params");
    let p = s.write(
        "k.conf",
        "$ADDRESS_BASE=10.2.${ADDRESS_BASE_SUB}\n\
         $ADDRESS_BASE_SUB=0\n\
         @main $PRIO=240\n\
         @backup $PRIO=200\n\
         $RS= \\\n\
         real_server 192.168.0.${N} 80 { \\\n\
           weight $W \\\n\
         }\n\
         vrrp_instance VI {\n  interface eth0\n  virtual_router_id 3\n  priority $PRIO\n  virtual_ipaddress {\n    ${ADDRESS_BASE}.100/32\n  }\n}\n\
         virtual_server 10.9.9.9 80 {\n  protocol TCP\n  $N=1\n  $W=5\n  $RS\n  $N=2\n  $W=7\n  $RS\n}\n\
         global_defs {\n  router_id ${UNDEFINED}\n}\n",
    );
    let (cfg, diags) = load_id(&p, "backup").unwrap();
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(cfg.vrrp_instances[0].priority, 200);
    assert_eq!(
        cfg.vrrp_instances[0].virtual_ipaddresses[0]
            .addr
            .to_string(),
        "10.2.0.100"
    );
    let rs: Vec<(String, u32)> = cfg.virtual_servers[0]
        .real_servers
        .iter()
        .map(|r| (r.addr.to_string(), r.weight))
        .collect();
    assert_eq!(
        rs,
        [
            ("192.168.0.1".to_string(), 5),
            ("192.168.0.2".to_string(), 7)
        ]
    );
    // Undefined parameters are left as they are.
    assert_eq!(cfg.global.router_id.as_deref(), Some("${UNDEFINED}"));
}

#[test]
fn old_and_new_spellings_read_the_same() {
    let s = Scratch::new("spell");
    let old = s.write(
        "old.conf",
        "virtual_server 10.0.0.1 80 {\n protocol TCP\n lb_algo sh\n lb_kind DR\n persistence_timeout\n\
         real_server 10.0.0.2 80 {\n  HTTP_GET {\n   url {\n    path /\n   }\n   nb_get_retry 4\n  }\n }\n}\n",
    );
    let new = s.write(
        "new.conf",
        "virtual_server 10.0.0.1 80 {\n protocol TCP\n lvs_sched sh\n lvs_method DR\n persistence_timeout 360\n\
         real_server 10.0.0.2 80 {\n  HTTP_GET {\n   url {\n    path /\n   }\n   retry 4\n  }\n }\n}\n",
    );
    let (a, wa) = config::load(&old).unwrap();
    let (b, wb) = config::load(&new).unwrap();
    assert_eq!(a.virtual_services(), b.virtual_services());
    assert_eq!(
        a.virtual_servers[0].real_servers[0].checkers[0]
            .timing
            .retry,
        Some(4)
    );
    assert_eq!(a.virtual_servers[0].scheduler, SchedulerKind::Sh);
    assert_eq!(
        a.virtual_services()[0].config.persistence.unwrap().timeout,
        360
    );
    assert_eq!(wa.len(), 1, "nb_get_retry is named as deprecated: {wa:?}");
    assert_eq!(wa[0].loc.line, 11);
    assert!(wb.is_empty());
}

#[test]
fn defaults_are_keepalived_ones() {
    let s = Scratch::new("defaults");
    let p = s.write(
        "k.conf",
        "virtual_server 10.0.0.1 80\n{\n  protocol TCP\n  real_server 10.0.0.2 8080 { }\n  real_server 10.0.0.3 8080\n}\n\
         virtual_server 10.0.0.1 443 {\n  protocol TCP\n  lvs_method TUN type gue port 6080 csum\n  persistence_granularity 255.255.255.0\n  real_server 10.0.0.4 8443 { }\n}\n",
    );
    let (cfg, w) = config::load(&p).unwrap();
    // The TUN real server's own port is named, then replaced by the virtual port.
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].loc.line == 11 && w[0].message.contains("8443"),
        "{w:?}"
    );
    let svc = cfg.virtual_services();
    // NAT and wlc by default; NAT keeps the real port.
    assert_eq!(svc[0].config.scheduler, SchedulerKind::Wlc);
    assert!(svc[0].config.persistence.is_none());
    assert_eq!(svc[0].dests.len(), 2);
    assert!(svc[0]
        .dests
        .iter()
        .all(|d| d.method == ForwardMethod::Masq && d.port == 8080 && d.weight == 1));
    // TUN uses the virtual port; a granularity alone implies the 360 s timeout.
    let d = svc[1].dests[0];
    assert_eq!(d.port, 443);
    match d.method {
        ForwardMethod::Tunnel(t) => assert_eq!((t.kind, t.port), (TunnelType::Gue, 6080)),
        m => panic!("{m:?}"),
    }
    let p = svc[1].config.persistence.unwrap();
    assert_eq!((p.timeout, p.prefix_len), (360, 24));
}

#[test]
fn keepalived_end_of_block_fixups_are_warned() {
    use rvs_core::model::Protocol;
    let s = Scratch::new("fixups");
    let p = s.write(
        "k.conf",
        "virtual_server 10.0.0.1 {\n  weight 4\n  quorum 20\n  hysteresis 30\n\
         real_server 10.0.0.2 80\n  real_server 10.0.0.3 80 {\n weight 2\n }\n  real_server 10.0.0.2 80\n}\n",
    );
    let (cfg, w) = config::load(&p).unwrap();
    let vs = &cfg.virtual_servers[0];
    // No protocol: UDP. No port: persistent. The virtual server's weight is the default.
    assert_eq!(vs.protocol, Protocol::Udp);
    assert_eq!(vs.persistence_timeout, Some(360));
    let weights: Vec<u32> = vs.real_servers.iter().map(|r| r.weight).collect();
    assert_eq!(weights, [4, 2], "the duplicate real server is dropped");
    // The quorum cannot exceed the total weight; hysteresis stays below the quorum.
    assert_eq!((vs.quorum, vs.hysteresis), (6, 5));
    let lines: Vec<u32> = w.iter().map(|d| d.loc.line).collect();
    assert_eq!(lines, [1, 9, 1, 1, 1], "{w:?}");
}

#[test]
fn checker_options_are_typed() {
    let s = Scratch::new("checkers");
    let p = s.write(
        "k.conf",
        "virtual_server 10.0.0.1 53 {\n  protocol UDP\n  delay_loop 2\n  real_server 10.0.0.2 53 {\n\
         DNS_CHECK {\n type A\n name example.org\n }\n\
         MISC_CHECK {\n misc_path \"/bin/check arg\"\n misc_timeout 4\n misc_dynamic\n }\n\
         UDP_CHECK {\n payload 0102\n require_reply 01x2\n }\n\
         SSL_GET {\n url {\n path /h\n status_code 200-204 301\n digest 00112233445566778899aabbccddeeff\n }\n sni_name www.x\n }\n\
         PING_CHECK { }\n  }\n}\n",
    );
    let (cfg, diags) = config::load(&p).unwrap();
    assert!(diags.is_empty(), "{diags:?}");
    let c = &cfg.virtual_servers[0].real_servers[0].checkers;
    assert_eq!(c.len(), 5);
    assert!(matches!(&c[0].kind, CheckerKind::Dns { name, .. } if name == "example.org"));
    match &c[1].kind {
        CheckerKind::Misc(m) => {
            assert_eq!(m.path, "/bin/check arg");
            assert_eq!(m.timeout, Some(Duration::from_secs(4)));
            assert!(m.dynamic);
        }
        k => panic!("{k:?}"),
    }
    match &c[3].kind {
        CheckerKind::Http(h) => {
            assert!(h.tls && h.enable_sni);
            assert!(h.urls[0].status_ok(204) && h.urls[0].status_ok(301));
            assert!(!h.urls[0].status_ok(200 + 5));
            assert_eq!(h.urls[0].digest.unwrap()[15], 0xff);
        }
        k => panic!("{k:?}"),
    }
}

#[test]
fn errors_carry_the_right_line() {
    let s = Scratch::new("errors");
    let cases: &[(&str, u32, &str)] = &[
        (
            "virtual_server 10.0.0.1 80 {\n  lb_algo nope\n}\n",
            2,
            "unknown scheduler",
        ),
        ("global_defs {\n  router_id x\n", 1, "not closed"),
        ("global_defs {\n}\n}\n", 3, "without a matching"),
        (
            "vrrp_instance V {\n interface e\n virtual_router_id 300\n}\n",
            3,
            "1..255",
        ),
        (
            "virtual_server 10.0.0.1 80 {\n  real_server 10.0.0.2 80 {\n    weight \"x\n  }\n}\n",
            3,
            "unterminated",
        ),
        (
            "virtual_server group G {\n real_server 10.0.0.2 80\n}\n",
            1,
            "names no virtual_server_group",
        ),
        (
            "virtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 2001:db8::2 80\n}\n",
            3,
            "address families differ",
        ),
        (
            "virtual_server 10.0.0.1 80 {\n lvs_method TUN type gue\n}\n",
            2,
            "gue",
        ),
    ];
    for (i, (text, line, needle)) in cases.iter().enumerate() {
        let p = s.write(&format!("e{i}.conf"), text);
        let errs = config::load(&p).expect_err(text);
        let e = errs
            .iter()
            .find(|d| d.severity == Severity::Error)
            .expect("an error");
        assert_eq!(e.loc.line, *line, "{text}: {e}");
        assert!(e.message.contains(needle), "{text}: {e}");
        let (code, lines) = config::config_test(&p);
        assert_eq!(code, 1);
        assert!(lines
            .iter()
            .any(|l| l.starts_with(&format!("{}:{line}: error:", p.display()))));
    }
    let (code, _) = config::config_test(&s.0.join("missing.conf"));
    assert_eq!(code, 1);
}

#[test]
fn unknown_and_unimplemented_keywords_are_warnings() {
    let s = Scratch::new("warn");
    let p = s.write(
        "k.conf",
        "global_defs {\n  enable_snmp_vrrp\n  frobnicate 3\n}\nbfd_instance B {\n}\n",
    );
    let (_, w) = config::load(&p).unwrap();
    let lines: Vec<(u32, bool)> = w
        .iter()
        .map(|d| (d.loc.line, d.message.contains("not implemented")))
        .collect();
    assert_eq!(lines, [(2, true), (3, false), (5, true)]);
    assert!(w[1].message.contains("unknown keyword 'frobnicate'"));
}

#[test]
fn global_and_vrrp_blocks_are_typed() {
    use rvs_core::model::{SyncRole, Timeouts};
    use rvs_ha::config::{AuthType, VrrpState};
    let s = Scratch::new("vrrp");
    let p = s.write(
        "k.conf",
        "global_defs {\n router_id R1\n lvs_sync_daemon eth1 VI_1 id 7 maxlen 1400 port 9000 ttl 2 group 239.1.1.1\n\
          lvs_timeouts tcp 7200 udp 60\n vrrp_garp_master_delay 2\n vrrp_version 3\n vrrp_strict\n}\n\
         vrrp_script chk {\n script \"/bin/true\"\n interval 2\n weight -20\n fall 3\n rise 2\n}\n\
         vrrp_sync_group G {\n group {\n VI_1\n }\n notify_master /bin/m\n}\n\
         vrrp_instance VI_1 {\n state MASTER\n interface eth0\n virtual_router_id 51\n priority 150\n advert_int 0.5\n\
          authentication {\n auth_type PASS\n auth_pass secret12345\n }\n\
          virtual_ipaddress {\n 10.0.0.13/24 dev eth0 label eth0:1\n fe80::13/64\n }\n\
          unicast_src_ip 10.0.0.1\n unicast_peer {\n 10.0.0.2\n 10.0.0.3\n }\n\
          track_script {\n chk weight 5\n }\n track_interface {\n eth1 weight -2\n }\n\
          nopreempt\n preempt_delay 30\n notify_backup \"/bin/b x\"\n}\n",
    );
    let (cfg, w) = config::load(&p).unwrap();
    // nopreempt with state MASTER and the long auth_pass are named.
    assert_eq!(w.len(), 2, "{w:?}");
    assert_eq!(cfg.global.router_id.as_deref(), Some("R1"));
    let sd = cfg.sync_daemon(SyncRole::Backup).unwrap();
    assert_eq!(
        (
            sd.mcast_ifn.as_str(),
            sd.syncid,
            sd.sync_maxlen,
            sd.mcast_port,
            sd.mcast_ttl
        ),
        ("eth1", 7, 1400, 9000, 2)
    );
    assert_eq!(sd.mcast_group.unwrap().to_string(), "239.1.1.1");
    assert_eq!(cfg.sync_daemon_instance(), Some("VI_1"));
    let t = cfg.timeouts(Timeouts::default());
    assert_eq!((t.tcp, t.tcp_fin, t.udp), (7200, 120, 60));
    assert_eq!(
        cfg.global.vrrp.garp_master_delay,
        Some(Duration::from_secs(2))
    );
    assert!(cfg.global.vrrp.strict);
    let sc = &cfg.vrrp_scripts[0];
    assert_eq!(
        (sc.weight, sc.fall, sc.rise, sc.interval),
        (-20, 3, 2, Duration::from_secs(2))
    );
    assert_eq!(cfg.vrrp_sync_groups[0].members, ["VI_1"]);
    assert_eq!(
        cfg.vrrp_sync_groups[0]
            .notify
            .master
            .as_ref()
            .unwrap()
            .command,
        "/bin/m"
    );
    let vi = &cfg.vrrp_instances[0];
    assert_eq!(vi.state, Some(VrrpState::Backup));
    assert_eq!((vi.virtual_router_id, vi.priority), (Some(51), 150));
    assert_eq!(vi.advert_int, Duration::from_millis(500));
    let auth = vi.authentication.as_ref().unwrap();
    assert_eq!(
        (auth.kind, auth.pass.as_str()),
        (AuthType::Pass, "secret12")
    );
    assert_eq!(vi.virtual_ipaddresses.len(), 2);
    assert_eq!(vi.virtual_ipaddresses[0].label.as_deref(), Some("eth0:1"));
    assert_eq!(vi.virtual_ipaddresses[1].prefix_len, 64);
    assert_eq!(vi.unicast_peers.len(), 2);
    assert_eq!(vi.track_scripts[0].weight, Some(5));
    assert_eq!(vi.track_interfaces[0].weight, Some(-2));
    assert!(vi.nopreempt);
    assert_eq!(vi.preempt_delay, Duration::from_secs(30));
    assert_eq!(vi.notify.backup.as_ref().unwrap().command, "/bin/b x");
    assert_eq!(vi.effective_version(&cfg.global.vrrp), 3);
}

#[test]
fn arbitrary_token_soup_never_panics() {
    // Deterministic pseudo-random configurations built from keywords, values and braces.
    const WORDS: &[&str] = &[
        "{",
        "}",
        "{",
        "}",
        "\n",
        "\n",
        "\n",
        "virtual_server",
        "real_server",
        "vrrp_instance",
        "virtual_ipaddress",
        "virtual_server_group",
        "global_defs",
        "TCP_CHECK",
        "HTTP_GET",
        "url",
        "path",
        "digest",
        "MISC_CHECK",
        "misc_path",
        "weight",
        "lvs_method",
        "TUN",
        "type",
        "gue",
        "port",
        "fwmark",
        "group",
        "10.0.0.1",
        "10.0.0.1-300",
        "ae00::1-ffff",
        "1.2.3.0/24",
        "80",
        "-1",
        "99999999999",
        "\"",
        "'",
        "#",
        "!",
        "$X=1",
        "$X",
        "${X}",
        "@a",
        "@^a",
        "include",
        "*",
        "unicast_peer",
        "track_script",
        "authentication",
        "auth_type",
        "PASS",
        "sorry_server",
        "quorum",
        "0",
        "persistence_granularity",
        "255.0.255.0",
        "status_code",
        "200-100",
        "lvs_sync_daemon",
        "id",
        "\\",
    ];
    let s = Scratch::new("soup");
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for case in 0..300 {
        let mut text = String::new();
        for _ in 0..(20 + case % 60) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let w = WORDS[(x % WORDS.len() as u64) as usize];
            text.push_str(w);
            text.push(if x % 5 == 0 { '\n' } else { ' ' });
        }
        let p = s.write("soup.conf", &text);
        // Either outcome is fine; a panic is not.
        let _ = config::load(&p).map(|(cfg, _)| cfg.virtual_services());
        let _ = config::config_test(&p);
    }
}

#[test]
fn fwmark_services_take_real_ports_only_under_nat() {
    let s = Scratch::new("fwmark");
    let p = s.write(
        "k.conf",
        "virtual_server fwmark 5 {\n lvs_method DR\n persistence_timeout 60\n real_server 10.0.0.2 80\n\
          real_server 10.0.0.3 80 {\n  lvs_method NAT\n }\n}\n",
    );
    let (cfg, _) = config::load(&p).unwrap();
    let svc = cfg.virtual_services();
    assert!(matches!(
        svc[0].config.key,
        ServiceKey::Fwmark { mark: 5, .. }
    ));
    let ports: Vec<(String, u16)> = svc[0]
        .dests
        .iter()
        .map(|d| (d.addr.to_string(), d.port))
        .collect();
    assert_eq!(
        ports,
        [("10.0.0.3".to_string(), 80), ("10.0.0.2".to_string(), 0)]
    );
}
