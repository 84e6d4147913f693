//! Preparing a lab real server for its forwarding method, with rvs-realserver.

use crate::bins;
use crate::netns::{Lab, LabError, Result};
use crate::topology::{Mode, VIP};

/// DR and TUN real servers hold the VIP on lo (rvs-realserver does what the seeds'
/// RS script does); TUN real servers also decapsulate IPIP in userspace, since this
/// kernel has no ipip module. NAT and FULLNAT real servers need nothing.
pub fn prepare(lab: &Lab, ns: &str, mode: Mode) -> Result<()> {
    if !matches!(mode, Mode::Dr | Mode::Tun) {
        return Ok(());
    }
    let tool = bins::find("rvs-realserver").map_err(LabError)?;
    let tool = tool.display().to_string();
    let vip = VIP.to_string();
    // One state file per real server: the lab's namespaces share one filesystem.
    let state = std::path::PathBuf::from(format!("/run/rvs/{ns}.realserver.json"));
    lab.track_file(state.clone());
    let state = state.display().to_string();
    lab.exec(
        ns,
        &[
            &tool,
            "setup",
            "--vip",
            &vip,
            "--mode",
            mode.name(),
            "--state",
            &state,
        ],
    )?;
    if mode == Mode::Tun {
        lab.spawn(
            &format!("decap@{ns}"),
            ns,
            &tool,
            &["decap", "--iface", "eth0"],
        )?;
    }
    Ok(())
}
