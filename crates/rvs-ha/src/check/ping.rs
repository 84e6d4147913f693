//! PING_CHECK: an ICMP (or ICMPv6) echo answered within connect_timeout. Uses an
//! unprivileged ICMP datagram socket when net.ipv4.ping_group_range allows it, else a
//! raw socket (root).

use super::{random_u64, Endpoint, HealthCheck, Outcome, ProbeFuture};
use core::time::Duration;

pub struct PingCheck {
    /// The port of the target is not used.
    pub endpoint: Endpoint,
    pub connect_timeout: Duration,
}

impl HealthCheck for PingCheck {
    fn probe(&self) -> ProbeFuture<'_> {
        Box::pin(async move {
            match tokio::time::timeout(self.connect_timeout, self.echo()).await {
                Ok(Ok(())) => Outcome::Up,
                Ok(Err(e)) => Outcome::Down(format!("PING {}: {e}", self.endpoint.target.ip())),
                Err(_) => {
                    Outcome::Down(format!("PING {}: no echo reply", self.endpoint.target.ip()))
                }
            }
        })
    }

    fn describe(&self) -> String {
        format!("PING_CHECK {}", self.endpoint.target.ip())
    }
}

impl PingCheck {
    async fn echo(&self) -> Result<(), String> {
        let v4 = self.endpoint.target.is_ipv4();
        let (request, reply) = if v4 { (8u8, 0u8) } else { (128, 129) };
        let (sock, raw) = self.endpoint.connect_icmp()?;
        let r = random_u64();
        let (id, seq) = (r as u16, (r >> 16) as u16);
        let mut pkt = vec![request, 0, 0, 0];
        pkt.extend_from_slice(&id.to_be_bytes());
        pkt.extend_from_slice(&seq.to_be_bytes());
        pkt.extend_from_slice(b"rvs-ha-ping-chk!");
        if v4 {
            let c = checksum(&pkt);
            pkt[2..4].copy_from_slice(&c.to_be_bytes());
        }
        sock.send(&pkt).await.map_err(|e| format!("send: {e}"))?;
        let mut buf = [0u8; 2048];
        loop {
            let n = sock
                .recv(&mut buf)
                .await
                .map_err(|e| format!("recv: {e}"))?;
            let mut msg = &buf[..n];
            // Raw IPv4 sockets deliver the IP header too.
            if raw && v4 {
                let ihl = usize::from(msg.first().map_or(0, |b| b & 0x0f)) * 4;
                msg = msg.get(ihl..).unwrap_or(&[]);
            }
            if msg.len() < 8 || msg[0] != reply {
                continue;
            }
            let rid = u16::from_be_bytes([msg[4], msg[5]]);
            let rseq = u16::from_be_bytes([msg[6], msg[7]]);
            // Datagram sockets choose the id themselves; raw ones keep ours.
            if rseq == seq && (!raw || rid == id) {
                return Ok(());
            }
        }
    }
}

/// The Internet checksum (RFC 1071).
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    #[test]
    fn checksum_of_rfc1071_example() {
        // Sum 0xddf2 → checksum 0x220d (RFC 1071 §3 numbers).
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(super::checksum(&d), 0x220d);
    }
}
