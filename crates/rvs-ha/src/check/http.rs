//! HTTP_GET and SSL_GET: fetch each url; the server is up if every answer has an
//! accepted status code and, when a digest is configured, a body whose MD5 matches.

use core::time::Duration;
use std::sync::Arc;

use md5::{Digest, Md5};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Endpoint, HealthCheck, Outcome, ProbeFuture};
use crate::config::model::{HttpVersion, UrlCheck};

/// The most of an answer that is read (the digest covers what was read).
const MAX_RESPONSE: usize = 4 << 20;

pub struct UrlProbe {
    pub check: UrlCheck,
    /// The compiled `regex` of the url.
    pub regex: Option<regex::bytes::Regex>,
    /// The Host header.
    pub host: String,
}

pub struct Tls {
    pub connector: tokio_rustls::TlsConnector,
    /// The name sent as SNI; an IP address name sends none.
    pub server_name: rustls::pki_types::ServerName<'static>,
}

pub struct HttpGet {
    pub endpoint: Endpoint,
    pub connect_timeout: Duration,
    pub urls: Vec<UrlProbe>,
    pub version: HttpVersion,
    pub tls: Option<Tls>,
}

impl HealthCheck for HttpGet {
    fn probe(&self) -> ProbeFuture<'_> {
        Box::pin(async move {
            for u in &self.urls {
                if let Err(e) = self.check_url(u).await {
                    return Outcome::Down(format!("{} {}: {e}", self.describe(), u.check.path));
                }
            }
            Outcome::Up
        })
    }

    fn describe(&self) -> String {
        let kind = if self.tls.is_some() {
            "SSL_GET"
        } else {
            "HTTP_GET"
        };
        format!("{kind} {}", self.endpoint.target)
    }
}

impl HttpGet {
    async fn check_url(&self, u: &UrlProbe) -> Result<(), String> {
        let tcp = self.endpoint.connect_tcp(self.connect_timeout).await?;
        let request = build_request(&u.check.path, &u.host, self.version);
        let raw = match &self.tls {
            None => self.exchange(tcp, &request).await?,
            Some(tls) => {
                let stream = tokio::time::timeout(
                    self.connect_timeout,
                    tls.connector.connect(tls.server_name.clone(), tcp),
                )
                .await
                .map_err(|_| "TLS handshake timeout".to_string())?
                .map_err(|e| format!("TLS handshake: {e}"))?;
                self.exchange(stream, &request).await?
            }
        };
        let resp = parse_response(&raw)?;
        if !u.check.status_ok(resp.status) {
            return Err(format!("status code {}", resp.status));
        }
        if let Some(want) = u.check.digest {
            let got: [u8; 16] = Md5::digest(&resp.body).into();
            if got != want {
                return Err(format!("digest {} does not match", hex(&got)));
            }
        }
        if let (Some(spec), Some(re)) = (&u.check.regex, &u.regex) {
            if !spec.passes(re, &resp.body) {
                return Err(format!(
                    "body {} regex '{}'",
                    if spec.no_match {
                        "matches"
                    } else {
                        "does not match"
                    },
                    spec.pattern
                ));
            }
        }
        Ok(())
    }

    async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        mut s: S,
        request: &str,
    ) -> Result<Vec<u8>, String> {
        let io = async {
            s.write_all(request.as_bytes()).await?;
            s.flush().await?;
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            loop {
                let n = match s.read(&mut chunk).await {
                    Ok(n) => n,
                    // Servers often close TLS without close_notify; keep what came.
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
                    Err(e) => return Err(e),
                };
                if n == 0 || buf.len() + n > MAX_RESPONSE {
                    buf.extend_from_slice(&chunk[..n.min(MAX_RESPONSE - buf.len())]);
                    return Ok(buf);
                }
                buf.extend_from_slice(&chunk[..n]);
            }
        };
        match tokio::time::timeout(self.connect_timeout, io).await {
            Ok(Ok(b)) => Ok(b),
            Ok(Err(e)) => Err(format!("I/O error: {e}")),
            Err(_) => Err("timeout reading the answer".to_string()),
        }
    }
}

pub fn build_request(path: &str, host: &str, version: HttpVersion) -> String {
    let (v, close) = match version {
        HttpVersion::V1_0 => ("1.0", false),
        HttpVersion::V1_0C => ("1.0", true),
        HttpVersion::V1_1 => ("1.1", true),
    };
    let mut r = format!("GET {path} HTTP/{v}\r\nUser-Agent: KeepAliveClient\r\nHost: {host}\r\n");
    if close {
        r.push_str("Connection: close\r\n");
    }
    r.push_str("\r\n");
    r
}

#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Status line, headers, body; a chunked body is decoded.
pub fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no complete HTTP header in the answer")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.split_whitespace();
    let proto = parts.next().unwrap_or("");
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|_| proto.starts_with("HTTP/"))
        .ok_or_else(|| format!("bad status line '{status_line}'"))?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = &raw[end + 4..];
    let body = if chunked {
        dechunk(body).ok_or("bad chunked body")?
    } else {
        body.to_vec()
    };
    Ok(Response { status, body })
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size_txt = std::str::from_utf8(&b[..eol]).ok()?;
        let size = usize::from_str_radix(size_txt.split(';').next()?.trim(), 16).ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A TLS client like keepalived's SSL_GET: it does NOT verify the server certificate
/// (keepalived checks health, not identity, unless given a CA). Never use this for
/// anything but health checks.
pub fn insecure_connector(enable_sni: bool) -> Result<tokio_rustls::TlsConnector, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
        .with_no_client_auth();
    cfg.enable_sni = enable_sni;
    Ok(tokio_rustls::TlsConnector::from(Arc::new(cfg)))
}

/// Accepts every certificate and signature: health checks only (see above).
#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &rustls::pki_types::CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &rustls::pki_types::CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_parse() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hi"[..]));
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhe\r\n3;x=y\r\nllo\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.body, b"hello");
        assert!(parse_response(b"garbage\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.0 200").is_err());
    }

    #[test]
    fn requests_follow_the_protocol_version() {
        let r = build_request("/x", "h:8080", HttpVersion::V1_0);
        assert_eq!(
            r,
            "GET /x HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: h:8080\r\n\r\n"
        );
        assert!(build_request("/", "h", HttpVersion::V1_1).contains("HTTP/1.1\r\n"));
        assert!(build_request("/", "h", HttpVersion::V1_0C).contains("Connection: close"));
    }
}
