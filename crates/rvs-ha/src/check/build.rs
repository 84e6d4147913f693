//! From a checker's configuration to a running [`HealthCheck`] with its timing.

use std::net::{IpAddr, SocketAddr};

use super::timing::CheckTiming;
use super::{dns, http, misc, ping, smtp, tcp, udp, Endpoint, HealthCheck};
use crate::config::model::{CheckerConfig, CheckerKind, RealServer, VirtualServer};

pub struct BuiltChecker {
    pub check: Box<dyn HealthCheck>,
    pub timing: CheckTiming,
    /// Starts down (alpha mode).
    pub alpha: bool,
}

pub fn build(
    vs: &VirtualServer,
    rs: &RealServer,
    c: &CheckerConfig,
) -> Result<BuiltChecker, String> {
    let timing = CheckTiming::resolve(vs, rs, c);
    let alpha = c.alpha.or(rs.alpha).unwrap_or(vs.alpha);
    let addr: IpAddr = c.conn.connect_ip.unwrap_or(rs.addr);
    let port = c.conn.connect_port.unwrap_or(rs.port);
    let bind = c
        .conn
        .bindto
        .map(|a| SocketAddr::new(a, c.conn.bind_port.unwrap_or(0)));
    let endpoint = Endpoint {
        target: SocketAddr::new(addr, port),
        bind,
        bind_if: c.conn.bind_if.clone(),
        fwmark: c.conn.fwmark,
    };
    let needs_port = !matches!(c.kind, CheckerKind::Misc(_) | CheckerKind::Ping);
    if needs_port && port == 0 {
        return Err(format!(
            "{} of real server {} has no port to connect to (set connect_port)",
            c.kind.name(),
            rs.addr
        ));
    }
    let t = timing.connect_timeout;
    let check: Box<dyn HealthCheck> = match &c.kind {
        CheckerKind::Tcp => Box::new(tcp::TcpCheck {
            endpoint,
            connect_timeout: t,
        }),
        CheckerKind::Http(h) => {
            let default_host = rs
                .virtualhost
                .clone()
                .or_else(|| vs.virtualhost.clone())
                .or_else(|| h.virtualhost.clone());
            let host_of = |u: &crate::config::model::UrlCheck| {
                u.virtualhost
                    .clone()
                    .or_else(|| h.virtualhost.clone())
                    .or_else(|| default_host.clone())
                    .unwrap_or_else(|| match endpoint.target {
                        SocketAddr::V4(a) => a.to_string(),
                        SocketAddr::V6(a) => a.to_string(),
                    })
            };
            let urls = h
                .urls
                .iter()
                .map(|u| {
                    Ok(http::UrlProbe {
                        check: u.clone(),
                        regex: u.regex.as_ref().map(|r| r.compile()).transpose()?,
                        host: host_of(u),
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            let tls = if h.tls {
                let sni = h
                    .sni_name
                    .clone()
                    .or_else(|| h.virtualhost.clone())
                    .or(default_host);
                let server_name = match (h.enable_sni, sni) {
                    (true, Some(name)) => rustls::pki_types::ServerName::try_from(name)
                        .map_err(|e| format!("invalid SNI name: {e}"))?,
                    _ => rustls::pki_types::ServerName::IpAddress(addr.into()),
                };
                Some(http::Tls {
                    connector: http::insecure_connector(h.enable_sni)?,
                    server_name,
                })
            } else {
                None
            };
            Box::new(http::HttpGet {
                endpoint,
                connect_timeout: t,
                urls,
                version: h.protocol,
                tls,
            })
        }
        CheckerKind::Smtp { helo_name } => Box::new(smtp::SmtpCheck {
            endpoint,
            connect_timeout: t,
            helo_name: helo_name
                .clone()
                .unwrap_or_else(|| smtp::DEFAULT_HELO.to_string()),
        }),
        CheckerKind::Dns { qtype, name } => Box::new(dns::DnsCheck {
            endpoint,
            connect_timeout: t,
            qtype: *qtype,
            name: name.clone(),
        }),
        CheckerKind::Misc(m) => Box::new(misc::MiscCheck {
            command: m.path.clone(),
            timeout: m.timeout.unwrap_or(timing.delay_loop),
            dynamic: m.dynamic,
        }),
        CheckerKind::Udp(u) => Box::new(udp::UdpCheck {
            endpoint,
            connect_timeout: t,
            config: u.clone(),
        }),
        CheckerKind::Ping => Box::new(ping::PingCheck {
            endpoint: endpoint.clone(),
            connect_timeout: t,
        }),
    };
    Ok(BuiltChecker {
        check,
        timing,
        alpha,
    })
}
