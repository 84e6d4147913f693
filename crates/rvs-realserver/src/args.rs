//! Command-line parsing.

use core::net::IpAddr;
use std::path::PathBuf;

pub const DEFAULT_STATE: &str = "/run/rvs/realserver.json";
pub const DEFAULT_TUN: &str = "rvsdecap0";
pub const DEFAULT_TABLE: &str = "rvs_decap";

pub const USAGE: &str = "\
usage:
  rvs-realserver setup --vip VIP [--vip VIP ...] --mode dr|tun [--iface IF] [--state FILE]
  rvs-realserver teardown [--state FILE]
  rvs-realserver status [--state FILE]
  rvs-realserver decap --iface IF [--gue-port PORT] [--tun NAME] [--table NAME]

setup     put the VIPs on lo and set the ARP sysctls (and tunl0 for TUN); every change
          is recorded in the state file (default /run/rvs/realserver.json)
teardown  undo exactly what setup recorded
status    say whether the host is set up and whether what setup did is still in place
          (exit 0: set up and intact, 1: set up but changed since, 3: not set up)
decap     decapsulate IPIP, IPv6-in-IP, GRE (and GUE on PORT) packets arriving on IF
          in user space and hand the inner packets to the local stack through a TUN
          device; runs until SIGINT or SIGTERM";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Mode {
    Dr,
    Tun,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupArgs {
    pub vips: Vec<IpAddr>,
    pub mode: Mode,
    pub iface: Option<String>,
    pub state: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecapArgs {
    pub iface: String,
    pub gue_port: Option<u16>,
    pub tun_name: String,
    pub table: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Setup(SetupArgs),
    Teardown { state: PathBuf },
    Status { state: PathBuf },
    Decap(DecapArgs),
    Help,
}

fn check_ifname(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() < 16
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "bad interface name {name:?}: 1 to 15 letters, digits, '.', '-' or '_'"
        ))
    }
}

fn value<'a>(it: &mut impl Iterator<Item = &'a String>, flag: &str) -> Result<&'a String, String> {
    it.next().ok_or_else(|| format!("{flag} needs a value"))
}

/// Parse the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, String> {
    let Some((cmd, rest)) = args.split_first() else {
        return Err("missing command".into());
    };
    let mut vips = Vec::new();
    let mut mode = None;
    let mut iface = None;
    let mut state = PathBuf::from(DEFAULT_STATE);
    let mut gue_port = None;
    let mut tun_name = DEFAULT_TUN.to_string();
    let mut table = DEFAULT_TABLE.to_string();
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--vip" if cmd == "setup" => {
                let v = value(&mut it, flag)?;
                let ip: IpAddr = v
                    .parse()
                    .map_err(|_| format!("--vip {v:?} is not an IP address"))?;
                if ip.is_unspecified() || ip.is_multicast() {
                    return Err(format!("--vip {ip} cannot be a virtual IP"));
                }
                if !vips.contains(&ip) {
                    vips.push(ip);
                }
            }
            "--mode" if cmd == "setup" => {
                mode = Some(match value(&mut it, flag)?.as_str() {
                    "dr" => Mode::Dr,
                    "tun" => Mode::Tun,
                    other => return Err(format!("--mode {other:?}: use dr or tun")),
                });
            }
            "--iface" if cmd == "setup" || cmd == "decap" => {
                let v = value(&mut it, flag)?;
                check_ifname(v)?;
                iface = Some(v.clone());
            }
            "--state" if cmd == "setup" || cmd == "teardown" || cmd == "status" => {
                state = PathBuf::from(value(&mut it, flag)?);
            }
            "--gue-port" if cmd == "decap" => {
                let v = value(&mut it, flag)?;
                let p: u16 = v
                    .parse()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| format!("--gue-port {v:?}: use a port 1..65535"))?;
                gue_port = Some(p);
            }
            "--tun" if cmd == "decap" => {
                let v = value(&mut it, flag)?;
                check_ifname(v)?;
                tun_name = v.clone();
            }
            "--table" if cmd == "decap" => {
                let v = value(&mut it, flag)?;
                let ok = v.starts_with(|c: char| c.is_ascii_alphabetic())
                    && v.len() <= 64
                    && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !ok {
                    return Err(format!("--table {v:?}: letters, digits and '_' only"));
                }
                table = v.clone();
            }
            "-h" | "--help" => return Ok(Command::Help),
            other => return Err(format!("unknown option {other:?} for {cmd}")),
        }
    }
    match cmd.as_str() {
        "setup" => {
            if vips.is_empty() {
                return Err("setup needs at least one --vip".into());
            }
            let mode = mode.ok_or("setup needs --mode dr or --mode tun")?;
            Ok(Command::Setup(SetupArgs {
                vips,
                mode,
                iface,
                state,
            }))
        }
        "teardown" => Ok(Command::Teardown { state }),
        "status" => Ok(Command::Status { state }),
        "decap" => Ok(Command::Decap(DecapArgs {
            iface: iface.ok_or("decap needs --iface")?,
            gue_port,
            tun_name,
            table,
        })),
        "help" | "-h" | "--help" => Ok(Command::Help),
        other => Err(format!("unknown command {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Command, String> {
        let v: Vec<String> = s.split_whitespace().map(String::from).collect();
        parse(&v)
    }

    #[test]
    fn setup_with_everything() {
        assert_eq!(
            p("setup --vip 10.0.0.1 --vip 2001:db8::1 --vip 10.0.0.1 --mode tun --iface eth0 --state /tmp/s.json"),
            Ok(Command::Setup(SetupArgs {
                vips: vec!["10.0.0.1".parse().unwrap(), "2001:db8::1".parse().unwrap()],
                mode: Mode::Tun,
                iface: Some("eth0".into()),
                state: "/tmp/s.json".into(),
            }))
        );
    }

    #[test]
    fn defaults() {
        assert_eq!(
            p("teardown"),
            Ok(Command::Teardown {
                state: DEFAULT_STATE.into()
            })
        );
        assert_eq!(
            p("status --state /x"),
            Ok(Command::Status { state: "/x".into() })
        );
        assert_eq!(
            p("decap --iface eth1"),
            Ok(Command::Decap(DecapArgs {
                iface: "eth1".into(),
                gue_port: None,
                tun_name: DEFAULT_TUN.into(),
                table: DEFAULT_TABLE.into(),
            }))
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        for (line, needle) in [
            ("", "missing command"),
            ("setup --mode dr", "at least one --vip"),
            ("setup --vip 10.0.0.1", "--mode"),
            ("setup --vip nope --mode dr", "not an IP"),
            ("setup --vip 0.0.0.0 --mode dr", "cannot be"),
            ("setup --vip 10.0.0.1 --mode nat", "use dr or tun"),
            (
                "setup --vip 10.0.0.1 --mode dr --iface a/b",
                "bad interface",
            ),
            ("setup --vip", "needs a value"),
            ("teardown --vip 10.0.0.1", "unknown option"),
            ("decap", "needs --iface"),
            ("decap --iface e --gue-port 0", "1..65535"),
            ("decap --iface e --table x;y", "letters"),
            ("frobnicate", "unknown command"),
        ] {
            let err = p(line).expect_err(line);
            assert!(err.contains(needle), "{line:?}: {err}");
        }
    }
}
