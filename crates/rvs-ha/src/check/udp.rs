//! UDP_CHECK: send a datagram. With require_reply, up only when a reply of an accepted
//! length (and pattern) comes within connect_timeout; without it, up unless an ICMP
//! error (port unreachable) comes back.

use core::time::Duration;

use super::{random_u64, Endpoint, HealthCheck, Outcome, ProbeFuture};
use crate::config::model::UdpCheck as UdpConfig;

pub struct UdpCheck {
    pub endpoint: Endpoint,
    pub connect_timeout: Duration,
    pub config: UdpConfig,
}

impl HealthCheck for UdpCheck {
    fn probe(&self) -> ProbeFuture<'_> {
        Box::pin(async move {
            match self.exchange().await {
                Ok(()) => Outcome::Up,
                Err(e) => Outcome::Down(format!("UDP {}: {e}", self.endpoint.target)),
            }
        })
    }

    fn describe(&self) -> String {
        format!("UDP_CHECK {}", self.endpoint.target)
    }
}

impl UdpCheck {
    async fn exchange(&self) -> Result<(), String> {
        let sock = self.endpoint.connect_udp().await?;
        let payload = match &self.config.payload {
            Some(p) => p.clone(),
            // keepalived sends random data when no payload is configured.
            None => random_u64().to_be_bytes().to_vec(),
        };
        sock.send(&payload)
            .await
            .map_err(|e| format!("send: {e}"))?;
        let mut buf = vec![0u8; 65536];
        let got = tokio::time::timeout(self.connect_timeout, sock.recv(&mut buf)).await;
        match (got, &self.config.require_reply) {
            // An ICMP error (port/host unreachable) reported on the connected socket.
            (Ok(Err(e)), _) => Err(format!("{e}")),
            (Err(_), None) => Ok(()),
            (Err(_), Some(_)) => Err("no reply".to_string()),
            (Ok(Ok(_)), None) => Ok(()),
            (Ok(Ok(n)), Some(pattern)) => {
                let data = &buf[..n];
                if n < self.config.min_reply_length || n > self.config.max_reply_length {
                    return Err(format!("reply of {n} bytes"));
                }
                match pattern {
                    Some(p) if !p.matches(data) => Err("reply does not match".to_string()),
                    _ => Ok(()),
                }
            }
        }
    }
}
