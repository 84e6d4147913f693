//! Connection sync across a failover, as root: two rvsd directors (DR) with
//! keepalived's `lvs_sync_daemon eth0 VI_1`, so the VRRP master runs the sync
//! master and the backup the sync backup. A client's TCP connection, established
//! through the master, keeps working through the backup once the VIP moves: the
//! backup's engine imported it from sync, so the next segment (not a SYN) finds its
//! entry and goes to the same real server.

mod ha_lab;

use ha_lab::{holders, wait_until, HaTopology, TempDir};
use rvs_lab::director::Director;
use rvs_lab::topology::{rip, Mode, CLIENT, VIP};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

fn config(priority: u8) -> String {
    format!(
        "global_defs {{\n    router_id rvs_{priority}\n    lvs_sync_daemon eth0 VI_1 id 7\n}}\n\n\
         vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 61\n    \
         priority {priority}\n    advert_int 1\n    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n\n\
         virtual_server {VIP} 80 {{\n    lb_algo rr\n    lb_kind DR\n    protocol TCP\n    \
         real_server {} 80 {{\n        weight 1\n    }}\n    real_server {} 80 {{\n        weight 1\n    }}\n}}\n",
        rip(1),
        rip(2)
    )
}

/// One keep-alive HTTP connection from the client namespace, held by a small bash
/// script (bash's /dev/tcp): each line written to it sends one request on the same
/// connection and prints `answer BODY`, or `error`.
struct KeepAlive {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

const KEEPALIVE_SCRIPT: &str = r#"
exec 3<>"/dev/tcp/$1/80" || exit 1
while read -r _; do
  printf 'GET / HTTP/1.1\r\nHost: vip\r\nUser-Agent: rvs-lab\r\n\r\n' >&3
  len=0; ok=
  while IFS= read -r -t 5 line <&3; do
    line=${line%$'\r'}
    [ -z "$line" ] && { ok=1; break; }
    case "${line,,}" in content-length:*) len=${line#*:}; len=${len// /};; esac
  done
  if [ -n "$ok" ] && IFS= read -r -N "$len" -t 5 body <&3; then
    echo "answer ${body%$'\n'}"
  else
    echo error
  fi
done
"#;

impl KeepAlive {
    fn open(client_ns: &str) -> KeepAlive {
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                client_ns,
                "bash",
                "-c",
                KEEPALIVE_SCRIPT,
                "keepalive",
            ])
            .arg(VIP.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("bash keep-alive client");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        KeepAlive {
            child,
            stdin,
            lines,
        }
    }

    /// One request on the connection; the body (the real server's name).
    fn request(&mut self) -> Result<String, String> {
        writeln!(self.stdin, "go").map_err(|e| format!("client gone: {e}"))?;
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(8))
            .map_err(|_| "no answer in 8 s".to_string())?;
        line.strip_prefix("answer ")
            .map(String::from)
            .ok_or_else(|| format!("client said: {line}"))
    }
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn ha_sync_connection_survives_failover() {
    let Some(lab) = ha_lab::lab("sync", &["bash"]) else {
        return;
    };
    let dir = TempDir::new(&lab);
    let ha = HaTopology::build(&lab, Mode::Dr, 2).expect("topology");
    ha.serve(&lab, Mode::Dr).expect("real servers");
    let (d1, d2) = (ha.topo.director.as_str(), ha.director2.as_str());
    let both = [d1, d2];
    let vip = VIP.to_string();
    let c1 = dir.write("d1.conf", &config(150));
    let c2 = dir.write("d2.conf", &config(100));
    let master =
        Director::start(&lab, d1, &["eth0"], &["-f", &c1.display().to_string()]).expect("rvsd 1");
    let backup =
        Director::start(&lab, d2, &["eth0"], &["-f", &c2.display().to_string()]).expect("rvsd 2");
    let elected = wait_until(Duration::from_secs(8), || {
        holders(&lab, &both, &vip) == [d1]
    });
    assert!(elected.is_some(), "{:?}", holders(&lab, &both, &vip));

    // lvs_sync_daemon follows VRRP: master where VI_1 is MASTER, backup elsewhere.
    let roles = wait_until(Duration::from_secs(3), || {
        let m = master.rvsadm(&["-L", "--daemon"]).unwrap_or_default();
        let b = backup.rvsadm(&["-L", "--daemon"]).unwrap_or_default();
        m.contains("master sync daemon")
            && !m.contains("backup sync daemon")
            && b.contains("backup sync daemon")
            && !b.contains("master sync daemon")
    });
    assert!(
        roles.is_some(),
        "sync roles: master {:?}, backup {:?}",
        master.rvsadm(&["-L", "--daemon"]),
        backup.rvsadm(&["-L", "--daemon"])
    );

    let mut conn = KeepAlive::open(&ha.topo.client);
    let first = conn.request().expect("first request");
    assert!(first == "rs1" || first == "rs2", "{first}");
    assert_eq!(conn.request().expect("second request"), first);

    // The backup learns the connection from the sync master.
    let client = format!("{CLIENT}:");
    let vip_port = format!("{VIP}:80");
    let synced = wait_until(Duration::from_secs(5), || {
        backup.rvsadm(&["-Lcn"]).is_ok_and(|l| {
            l.lines()
                .any(|x| x.contains(&client) && x.contains(&vip_port) && x.contains("ESTABLISHED"))
        })
    });
    assert!(
        synced.is_some(),
        "backup's connections: {:?}",
        backup.rvsadm(&["-Lcn"])
    );

    // Failover: the master stops (priority-0 goodbye), the backup takes the VIP.
    assert!(master.stop());
    let took = wait_until(Duration::from_secs(4), || {
        holders(&lab, &both, &vip) == [d2]
    });
    assert!(took.is_some(), "{:?}", holders(&lab, &both, &vip));

    // The same connection, through the other director, to the same real server.
    let after = conn.request();
    assert_eq!(after.as_deref(), Ok(first.as_str()), "after failover");
    assert_eq!(conn.request().as_deref(), Ok(first.as_str()));

    // The new master's sync daemon follows its new state.
    let switched = wait_until(Duration::from_secs(3), || {
        backup
            .rvsadm(&["-L", "--daemon"])
            .is_ok_and(|d| d.contains("master sync daemon"))
    });
    assert!(
        switched.is_some(),
        "{:?}",
        backup.rvsadm(&["-L", "--daemon"])
    );
}

/// `lvs_sync_daemon IF` without a VRRP instance: keepalived's checker runs the
/// master and the backup together, and so does rvsd; a reload that drops the line
/// stops both.
#[test]
fn ha_sync_without_an_instance_runs_both_roles() {
    let Some(lab) = ha_lab::lab("syncb", &[]) else {
        return;
    };
    let dir = TempDir::new(&lab);
    let lan = ha_lab::Lan::build(&lab, &["d"]).expect("LAN");
    let ns = lan.routers[0].as_str();
    let conf = dir.write(
        "rvsd.conf",
        "global_defs {\n    lvs_sync_daemon eth0 id 9\n}\n",
    );
    let d = Director::start(&lab, ns, &[], &["-f", &conf.display().to_string()]).expect("rvsd");
    let both = wait_until(Duration::from_secs(3), || {
        d.rvsadm(&["-L", "--daemon"]).is_ok_and(|l| {
            l.contains("master sync daemon (mcast=eth0, syncid=9")
                && l.contains("backup sync daemon (mcast=eth0, syncid=9")
        })
    });
    assert!(both.is_some(), "{:?}", d.rvsadm(&["-L", "--daemon"]));

    dir.write("rvsd.conf", "global_defs {\n    router_id x\n}\n");
    let pids = Command::new("ip")
        .args(["netns", "pids", ns])
        .output()
        .expect("ip netns pids");
    for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
        let _ = Command::new("kill").args(["-HUP", pid]).status();
    }
    let stopped = wait_until(Duration::from_secs(3), || {
        d.rvsadm(&["-L", "--daemon"])
            .is_ok_and(|l| !l.contains("sync daemon"))
    });
    assert!(stopped.is_some(), "{:?}", d.rvsadm(&["-L", "--daemon"]));
}
