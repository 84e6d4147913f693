//! Reading and writing sysctls through /proc/sys (in the caller's network
//! namespace for the net.* ones).

use std::path::PathBuf;

/// The file of `net.ipv4.conf.<iface>.<name>`. Built from parts because interface
/// names may contain dots.
pub fn ipv4_conf(iface: &str, name: &str) -> PathBuf {
    PathBuf::from(format!("/proc/sys/net/ipv4/conf/{iface}/{name}"))
}

pub fn read(path: &PathBuf) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("reading {}: {e}", path.display()))
}

pub fn write(path: &PathBuf, value: &str) -> Result<(), String> {
    std::fs::write(path, format!("{value}\n"))
        .map_err(|e| format!("writing {value} to {}: {e}", path.display()))
}
