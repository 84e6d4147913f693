//! Every keepalived.conf of the shared corpus passes the config test, and the seeds'
//! two configurations give the services the tutorial expects.

use std::path::{Path, PathBuf};

use rvs_core::model::{ForwardMethod, Protocol, SchedulerKind, ServiceKey};
use rvs_ha::config::{self, Severity};

fn corpus_dir() -> Option<PathBuf> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        here.join("../../../shared/corpus/keepalived"),
        PathBuf::from("/work/shared/corpus/keepalived"),
    ]
    .into_iter()
    .find(|p| p.is_dir())
}

#[test]
fn every_corpus_file_passes_config_test() {
    let Some(dir) = corpus_dir() else {
        eprintln!("note: shared/corpus/keepalived not found beside the repository; skipped");
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 20, "corpus looks incomplete: {files:?}");
    for f in &files {
        let (code, lines) = config::config_test(f);
        assert_eq!(code, 0, "{}:\n{}", f.display(), lines.join("\n"));
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        for l in &lines {
            // Every diagnostic names its file and a line number.
            assert!(l.starts_with(&f.display().to_string()), "{l}");
            let rest = &l[f.display().to_string().len()..];
            let line_no: String = rest[1..].chars().take_while(char::is_ascii_digit).collect();
            assert!(
                line_no.parse::<u32>().unwrap() > 0,
                "{name}: bad location in {l}"
            );
        }
    }
}

#[test]
fn unimplemented_keywords_are_warned_with_file_line_and_keyword() {
    let Some(dir) = corpus_dir() else { return };
    let f = dir.join("keepalived_etc_keepalived_keepalived.conf");
    let (_, warnings) = config::load(&f).expect("loads");
    let w = warnings
        .iter()
        .find(|d| d.message.contains("'notification_email_from'"))
        .expect("notification_email_from is warned about");
    assert_eq!(w.severity, Severity::Warning);
    assert_eq!(w.loc.line, 9);
    assert!(w
        .to_string()
        .starts_with(&format!("{}:9: warning:", f.display())));
    // nb_get_retry and nat_mask of the seeds are named too.
    let seed = dir.join("seed-lb03.conf");
    let (_, warnings) = config::load(&seed).expect("loads");
    let text: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|l| l.contains(":24: warning:") && l.contains("nat_mask")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|l| l.contains(":32: warning:") && l.contains("nb_get_retry")),
        "{text:?}"
    );
}

#[test]
fn seed_configurations_give_the_tutorial_services() {
    let Some(dir) = corpus_dir() else { return };
    for (file, router_id, prio) in [
        ("seed-lb03.conf", "LVS_01", 150),
        ("seed-lb04.conf", "LVS_02", 100),
    ] {
        let (cfg, _) = config::load(&dir.join(file)).expect("loads");
        assert_eq!(cfg.global.router_id.as_deref(), Some(router_id));
        let vi = &cfg.vrrp_instances[0];
        assert_eq!(vi.virtual_router_id, Some(51));
        assert_eq!(vi.priority, prio);
        assert_eq!(vi.virtual_ipaddresses[0].addr.to_string(), "10.0.0.13");
        assert_eq!(vi.virtual_ipaddresses[0].prefix_len, 24);
        let auth = vi.authentication.as_ref().unwrap();
        assert_eq!(auth.pass, "1111");

        let services = cfg.virtual_services();
        assert_eq!(services.len(), 1);
        let s = &services[0];
        assert_eq!(
            s.config.key,
            ServiceKey::Addr {
                proto: Protocol::Tcp,
                addr: "10.0.0.13".parse().unwrap(),
                port: 80
            }
        );
        assert_eq!(s.config.scheduler, SchedulerKind::Wrr);
        let p = s.config.persistence.unwrap();
        assert_eq!((p.timeout, p.prefix_len), (50, 32));
        let dests: Vec<(String, u16, ForwardMethod, u32)> = s
            .dests
            .iter()
            .map(|d| (d.addr.to_string(), d.port, d.method, d.weight))
            .collect();
        // Kernel list order: the last configured real server first.
        assert_eq!(
            dests,
            vec![
                ("10.0.0.18".to_string(), 80, ForwardMethod::Route, 1),
                ("10.0.0.17".to_string(), 80, ForwardMethod::Route, 1),
            ]
        );
        let rs = &cfg.virtual_servers[0].real_servers[0];
        let t = rs.checkers[0].timing;
        assert_eq!(t.connect_timeout, Some(std::time::Duration::from_secs(8)));
        assert_eq!(t.retry, Some(3));
        assert_eq!(
            t.delay_before_retry,
            Some(std::time::Duration::from_secs(3))
        );
        assert_eq!(rs.checkers[0].conn.connect_port, Some(80));
        assert_eq!(
            cfg.virtual_servers[0].timing.delay_loop,
            Some(std::time::Duration::from_secs(6))
        );
    }
}

#[test]
fn corpus_group_fwmark_quorum_and_sorry_server() {
    let Some(dir) = corpus_dir() else { return };
    let (cfg, _) =
        config::load(&dir.join("doc_samples_keepalived.conf.virtual_server_group")).unwrap();
    let keys: Vec<ServiceKey> = cfg
        .virtual_services()
        .iter()
        .map(|s| s.config.key)
        .collect();
    // 10.0.0.1:8080, 10.0.0.2:80, 192.168.200.1:1358, 192.168.200.3-10:80 (8), fwmark 1, 2.
    assert_eq!(keys.len(), 13);
    assert!(keys.contains(&ServiceKey::Addr {
        proto: Protocol::Tcp,
        addr: "192.168.200.10".parse().unwrap(),
        port: 80
    }));
    assert!(keys
        .iter()
        .any(|k| matches!(k, ServiceKey::Fwmark { mark: 2, .. })));
    let svc = cfg.virtual_services();
    assert!(svc.iter().all(|s| s.config.scheduler == SchedulerKind::Rr
        && s.dests.len() == 2
        && s.dests.iter().all(|d| d.method == ForwardMethod::Masq)));

    let (cfg, _) = config::load(&dir.join("doc_samples_keepalived.conf.quorum")).unwrap();
    // alpha: all ten servers start down, so the service starts empty (no sorry server).
    let svc = cfg.virtual_services();
    assert_eq!(svc.len(), 1);
    assert!(svc[0].dests.is_empty());

    let (cfg, _) = config::load(&dir.join("doc_samples_keepalived.conf.fwmark")).unwrap();
    let svc = cfg.virtual_services();
    assert!(matches!(
        svc[0].config.key,
        ServiceKey::Fwmark { mark: 1, .. }
    ));
    assert_eq!(svc[0].config.persistence.unwrap().timeout, 900);
    assert_eq!(svc[0].dests.len(), 2);

    let (cfg, _) = config::load(&dir.join("doc_samples_keepalived.conf.sample")).unwrap();
    let vs = &cfg.virtual_servers[0];
    let sorry = vs.sorry_server.as_ref().unwrap();
    assert_eq!(
        (sorry.addr.to_string(), sorry.port),
        ("192.168.200.200".to_string(), 1358)
    );
    // The real server is alive at start, so the sorry server is not in use.
    let svc = cfg.virtual_services();
    assert_eq!(svc[0].dests.len(), 1);
    assert_eq!(svc[0].dests[0].addr.to_string(), "192.168.200.2");
}
