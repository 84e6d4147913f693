//! `rvs-lab demo`: the seeds' walkthrough in one command.

use crate::bins;
use crate::director::Director;
use crate::netns::{Lab, LabError, Result};
use crate::realserver;
use crate::topology::{rip, Mode, Topology, FULLNAT_LOCAL, VIP};
use std::process::Command;

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub mode: Mode,
    pub scheduler: String,
    pub servers: usize,
    pub requests: usize,
    /// Weights of the real servers (rs1 first); missing entries are 1.
    pub weights: Vec<u32>,
}

/// Build the lab, balance `requests` HTTP requests through the VIP, print who
/// answered and the director's table, and tear everything down.
pub fn run(opts: &DemoOptions, lab: &Lab) -> Result<()> {
    let rvs_lab = bins::find("rvs-lab").map_err(LabError)?;
    println!(
        "rvs-lab demo: {} mode, scheduler {}, {} real servers",
        opts.mode.name().to_uppercase(),
        opts.scheduler,
        opts.servers
    );
    let topo = Topology::build(lab, opts.mode, opts.servers)?;
    for (i, rs) in topo.real_servers.iter().enumerate() {
        let name = format!("rs{}", i + 1);
        lab.spawn(
            &name,
            rs,
            &rvs_lab.display().to_string(),
            &[
                "serve",
                "--name",
                &name,
                "--tcp",
                "0.0.0.0:80",
                "--udp",
                "0.0.0.0:53",
            ],
        )?;
        realserver::prepare(lab, rs, opts.mode)?;
    }
    let mut extra = vec!["--log-level", "warn"];
    let pool = FULLNAT_LOCAL.to_string();
    if opts.mode == Mode::FullNat {
        extra.extend(["--fullnat-pool", pool.as_str()]);
    }
    let director = Director::start(lab, &topo.director, &["eth0"], &extra)?;
    let vip = format!("{VIP}:80");
    let mut script = format!("-A -t {vip} -s {}\n", opts.scheduler);
    for i in 1..=opts.servers {
        let w = opts.weights.get(i - 1).copied().unwrap_or(1);
        script.push_str(&format!(
            "-a -t {vip} -r {}:80 {} -w {w}\n",
            rip(i),
            opts.mode.rvsadm_flag()
        ));
    }
    print!("{}", indent("rvsadm -R <<EOF", &script));
    director.restore(&script)?;

    println!("\nclient {} -> http://{vip}/", crate::topology::CLIENT);
    let out = lab.exec(
        &topo.client,
        &[
            &rvs_lab.display().to_string(),
            "fetch",
            "--target",
            &vip,
            "--count",
            &opts.requests.to_string(),
        ],
    )?;
    print!("{}", String::from_utf8_lossy(&out.stdout));

    println!("\n$ rvsadm -Ln");
    print!("{}", director.rvsadm(&["-Ln"])?);
    println!("\n$ rvsadm -Ln --stats");
    print!("{}", director.rvsadm(&["-Ln", "--stats"])?);
    director.stop();
    Ok(())
}

fn indent(title: &str, body: &str) -> String {
    let mut s = format!("$ {title}\n");
    for line in body.lines() {
        s.push_str("  ");
        s.push_str(line);
        s.push('\n');
    }
    s.push_str("  EOF\n");
    s
}

/// Whether the host has what a lab needs, with a message saying what is missing.
pub fn preflight() -> std::result::Result<(), String> {
    if !crate::netns::can_build_labs() {
        return Err("rvs-lab needs root and iproute2 (ip) to build network namespaces".into());
    }
    if Command::new("nft").arg("--version").output().is_err() {
        return Err("rvs-lab needs nftables (apt-get install nftables)".into());
    }
    Ok(())
}
