//! The one nft table of the decapsulator: hide tunnel packets from a kernel that
//! cannot decapsulate them (it would answer "protocol unreachable").

use std::io::Write as _;
use std::process::{Command, Stdio};

fn run(script: &str) -> Result<(), String> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run nft: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| format!("writing to nft: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("waiting for nft: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "nft rejected the rules: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The ruleset: drop IPIP, IPv6-in-IP, GRE and (optionally) GUE on `iface` at ingress,
/// where the packet socket has already seen them. All GRE, like all IPIP: a kernel
/// without the tunnel modules could do nothing with the rest but answer "protocol
/// unreachable". (Matching only GRE version 0 by its header would need a raw payload
/// expression that nft 1.0.6 accepts but then cannot list: `nft list ruleset` aborts.)
pub fn ruleset(table: &str, iface: &str, gue_port: Option<u16>) -> String {
    let mut s = format!(
        "table netdev {table}\ndelete table netdev {table}\ntable netdev {table} {{\n\
         \tchain ingress {{\n\
         \t\ttype filter hook ingress device \"{iface}\" priority -500; policy accept;\n\
         \t\tmeta l4proto {{ 4, 41, 47 }} drop\n"
    );
    if let Some(p) = gue_port {
        s.push_str(&format!("\t\tudp dport {p} drop\n"));
    }
    s.push_str("\t}\n}\n");
    s
}

/// The installed table; removed when dropped.
pub struct DecapTable {
    table: String,
}

impl DecapTable {
    pub fn install(table: &str, iface: &str, gue_port: Option<u16>) -> Result<DecapTable, String> {
        run(&ruleset(table, iface, gue_port))?;
        Ok(DecapTable {
            table: table.to_string(),
        })
    }
}

impl Drop for DecapTable {
    fn drop(&mut self) {
        if let Err(e) = run(&format!("delete table netdev {}\n", self.table)) {
            eprintln!("rvs-realserver: removing nft table {}: {e}", self.table);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruleset_text() {
        assert_eq!(
            ruleset("rvs_decap", "eth0", Some(6080)),
            "table netdev rvs_decap\ndelete table netdev rvs_decap\ntable netdev rvs_decap {\n\
             \tchain ingress {\n\
             \t\ttype filter hook ingress device \"eth0\" priority -500; policy accept;\n\
             \t\tmeta l4proto { 4, 41, 47 } drop\n\
             \t\tudp dport 6080 drop\n\
             \t}\n}\n"
        );
        assert!(!ruleset("t", "e", None).contains("udp"));
    }
}
