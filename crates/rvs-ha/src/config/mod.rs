//! keepalived.conf compatibility: read a configuration (with includes, conditional
//! lines and parameters), check it, and turn it into rvs desired state.
//!
//! Reading is three stages, each with one job: [`lexer`] (files → located token lines),
//! [`tree`] (lines → statements and blocks), and the section readers ([`global`],
//! [`vrrp`], [`lvs`], [`checker`]) that fill the typed [`model`]. [`desired`] converts
//! the model into `rvs_core::model::VirtualService`s.

pub mod checker;
pub mod desired;
pub mod diag;
pub mod global;
pub mod lexer;
pub mod lvs;
pub mod model;
pub mod tree;
pub mod values;
pub mod vrrp;

use std::collections::HashSet;
use std::path::Path;

pub use diag::{Diagnostic, Loc, Severity};
pub use model::*;

use diag::Diags;
use tree::Node;
use values::Ctx;

/// Options of [`load_with`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// keepalived's `--config-id`: selects `@ID` lines. `None` = the host name up to
    /// the first dot, as keepalived does.
    pub config_id: Option<String>,
}

/// Reads `path` with the default options. `Ok` carries the warnings; `Err` carries
/// every diagnostic when at least one is an error.
pub fn load(path: &Path) -> Result<(KeepalivedConfig, Vec<Diagnostic>), Vec<Diagnostic>> {
    load_with(path, &LoadOptions::default())
}

pub fn load_with(
    path: &Path,
    opts: &LoadOptions,
) -> Result<(KeepalivedConfig, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut diags = Diags::default();
    let config_id = opts.config_id.clone().or_else(host_config_id);
    let mut lexer = lexer::Lexer::new(config_id, &mut diags);
    lexer.read_file(path, None);
    let lines = lexer.finish();
    let nodes = tree::build(lines, &mut diags);
    let mut cfg = KeepalivedConfig::default();
    {
        let mut cx = Ctx { diags: &mut diags };
        for n in &nodes {
            top_level(n, &mut cfg, &mut cx);
        }
        settle_groups(&mut cfg, &mut cx);
        validate(&cfg, &mut cx);
    }
    if diags.has_errors() {
        Err(diags.list)
    } else {
        Ok((cfg, diags.list))
    }
}

/// `rvsd -f FILE --config-test`: the exit code (0: usable, warnings at most; 1: errors)
/// and the diagnostics as `file:line: severity: message` lines.
pub fn config_test(path: &Path) -> (i32, Vec<String>) {
    match load(path) {
        Ok((_, warnings)) => (0, warnings.iter().map(ToString::to_string).collect()),
        Err(all) => (1, all.iter().map(ToString::to_string).collect()),
    }
}

fn host_config_id() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let first = name.trim().split('.').next()?.to_string();
    (!first.is_empty()).then_some(first)
}

/// Top-level keywords keepalived knows that rvs does not implement.
const TOP_NOT_IMPLEMENTED: &[&str] = &[
    "static_rules",
    "linkbeat_interfaces",
    "track_group",
    "track_file",
    "vrrp_track_file",
    "vrrp_track_process",
    "bfd_instance",
    "vrrp_garp_group",
    "garp_group",
    "SSL",
    "net_namespace",
    "net_namespace_ipvs",
    "namespace_with_ipsets",
    "instance",
    "use_pid_dir",
    "linkbeat_use_polling",
    "child_wait_time",
];

fn top_level(n: &Node, cfg: &mut KeepalivedConfig, cx: &mut Ctx<'_>) {
    match n.keyword() {
        "global_defs" => global::parse(n, &mut cfg.global, cx),
        "static_ipaddress" => cfg.static_ipaddresses.extend(vrrp::ip_addresses(n, cx)),
        "static_routes" => cfg.static_routes.extend(vrrp::routes(n, cx)),
        "vrrp_script" => cfg.vrrp_scripts.extend(vrrp::script(n, cx)),
        "vrrp_sync_group" => cfg.vrrp_sync_groups.extend(vrrp::sync_group(n, cx)),
        "vrrp_instance" => cfg.vrrp_instances.extend(vrrp::instance(n, cx)),
        "virtual_server_group" => cfg.virtual_server_groups.extend(lvs::group(n, cx)),
        "virtual_server" => cfg.virtual_servers.extend(lvs::virtual_server(n, cx)),
        k if TOP_NOT_IMPLEMENTED.contains(&k) => cx.unsupported(n, "the configuration"),
        _ => cx.unknown(n, "the configuration"),
    }
}

/// Group-dependent defaults: a group address without a port needs persistence, which
/// keepalived then turns on (360 s).
fn settle_groups(cfg: &mut KeepalivedConfig, cx: &mut Ctx<'_>) {
    let groups = &cfg.virtual_server_groups;
    for vs in &mut cfg.virtual_servers {
        let VsTarget::Group(name) = &vs.target else {
            continue;
        };
        let Some(g) = groups.iter().find(|g| &g.name == name) else {
            continue;
        };
        let portless = g
            .entries
            .iter()
            .any(|e| matches!(e, VsgEntry::Range { port: 0, .. }));
        if portless && vs.persistence_timeout.is_none() {
            cx.diags.warn(
                &vs.loc,
                format!("virtual_server_group {name} has an address without a port, so the service must be persistent; persistence_timeout 360 is used, as keepalived does"),
            );
            vs.persistence_timeout = Some(360);
        }
    }
}

/// Most services a configuration may expand to (virtual_server_group ranges).
pub const MAX_SERVICES: usize = 65_536;

/// Checks that need the whole configuration: references between blocks.
fn validate(cfg: &KeepalivedConfig, cx: &mut Ctx<'_>) {
    let mut seen = HashSet::new();
    for vi in &cfg.vrrp_instances {
        if !seen.insert(vi.name.as_str()) {
            cx.diags.error(
                &vi.loc,
                format!("vrrp_instance {} is defined twice", vi.name),
            );
        }
        for t in &vi.track_scripts {
            if !cfg.vrrp_scripts.iter().any(|s| s.name == t.name) {
                cx.diags.warn(
                    &t.loc,
                    format!("track_script '{}' names no vrrp_script; ignored", t.name),
                );
            }
        }
    }
    for g in &cfg.vrrp_sync_groups {
        for m in &g.members {
            if !seen.contains(m.as_str()) {
                cx.diags.warn(
                    &g.loc,
                    format!(
                        "vrrp_sync_group {}: member '{m}' names no vrrp_instance; ignored",
                        g.name
                    ),
                );
            }
        }
    }
    if let Some(d) = &cfg.global.lvs_sync_daemon {
        if let Some(inst) = &d.instance {
            if !seen.contains(inst.as_str()) {
                cx.diags.error(
                    &d.loc,
                    format!("lvs_sync_daemon: '{inst}' names no vrrp_instance"),
                );
            }
        }
    }
    let mut total = 0usize;
    for vs in &cfg.virtual_servers {
        if let VsTarget::Group(name) = &vs.target {
            if !cfg.virtual_server_groups.iter().any(|g| &g.name == name) {
                cx.diags.error(
                    &vs.loc,
                    format!("virtual_server group '{name}' names no virtual_server_group"),
                );
                continue;
            }
        }
        let keys = cfg.service_keys(vs);
        total = total.saturating_add(keys.len());
        for rs in &vs.real_servers {
            let method = rs.method.unwrap_or(vs.method);
            let mixed = keys
                .iter()
                .any(|k| k.family() != rvs_core::model::Family::of(&rs.addr));
            if mixed && !matches!(method, rvs_core::model::ForwardMethod::Tunnel(_)) {
                cx.diags.error(
                    &rs.loc,
                    "real server and virtual server address families differ (only TUN may mix them)",
                );
            }
            if method.keeps_port() {
                if let VsTarget::Addr { port, .. } = vs.target {
                    if rs.port != 0 && rs.port != port {
                        cx.diags.warn(
                            &rs.loc,
                            format!(
                                "DR/TUN real server port {} differs from the virtual port {port}; the virtual port is used",
                                rs.port
                            ),
                        );
                    }
                }
            }
        }
    }
    if total > MAX_SERVICES {
        if let Some(vs) = cfg.virtual_servers.first() {
            cx.diags.error(
                &vs.loc,
                format!("the virtual servers expand to {total} services (at most {MAX_SERVICES})"),
            );
        }
    }
}
