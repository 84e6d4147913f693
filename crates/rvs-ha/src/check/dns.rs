//! DNS_CHECK: one query over UDP; up when an answer with the query's id, the QR bit
//! and RCODE 0 (NOERROR) arrives within connect_timeout.

use core::time::Duration;

use super::{random_u64, Endpoint, HealthCheck, Outcome, ProbeFuture};
use crate::config::model::DnsType;

pub struct DnsCheck {
    pub endpoint: Endpoint,
    pub connect_timeout: Duration,
    pub qtype: DnsType,
    pub name: String,
}

impl HealthCheck for DnsCheck {
    fn probe(&self) -> ProbeFuture<'_> {
        Box::pin(async move {
            let id = random_u64() as u16;
            let Some(query) = encode_query(id, &self.name, self.qtype.code()) else {
                return Outcome::Down(format!("DNS_CHECK: cannot encode name '{}'", self.name));
            };
            let exchange = async {
                let sock = self.endpoint.connect_udp().await?;
                sock.send(&query).await.map_err(|e| format!("send: {e}"))?;
                let mut buf = [0u8; 1500];
                loop {
                    let n = sock
                        .recv(&mut buf)
                        .await
                        .map_err(|e| format!("recv: {e}"))?;
                    match check_reply(&buf[..n], id) {
                        Reply::OtherId => continue,
                        Reply::Ok => return Ok(()),
                        Reply::Bad(e) => return Err(e),
                    }
                }
            };
            match tokio::time::timeout(self.connect_timeout, exchange).await {
                Ok(Ok(())) => Outcome::Up,
                Ok(Err(e)) => Outcome::Down(format!("DNS {}: {e}", self.endpoint.target)),
                Err(_) => Outcome::Down(format!("DNS {}: no answer", self.endpoint.target)),
            }
        })
    }

    fn describe(&self) -> String {
        format!("DNS_CHECK {}", self.endpoint.target)
    }
}

/// A standard query (RD set) for `name` of type `qtype`, class IN.
pub fn encode_query(id: u16, name: &str, qtype: u16) -> Option<Vec<u8>> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QD=1, AN=NS=AR=0
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        if label.len() > 63 {
            return None;
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes()); // IN
    (q.len() <= 512).then_some(q)
}

#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    Ok,
    /// Not ours: keep waiting.
    OtherId,
    Bad(String),
}

pub fn check_reply(msg: &[u8], id: u16) -> Reply {
    if msg.len() < 12 {
        return Reply::Bad("short answer".to_string());
    }
    if u16::from_be_bytes([msg[0], msg[1]]) != id {
        return Reply::OtherId;
    }
    let flags = u16::from_be_bytes([msg[2], msg[3]]);
    if flags & 0x8000 == 0 {
        return Reply::Bad("answer without the QR bit".to_string());
    }
    match flags & 0x000f {
        0 => Reply::Ok,
        rcode => Reply::Bad(format!("rcode {rcode}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_wire_format() {
        let q = encode_query(0x1234, "example.org", 6).unwrap();
        assert_eq!(&q[..4], &[0x12, 0x34, 0x01, 0x00]);
        assert_eq!(&q[12..25], b"\x07example\x03org\x00");
        assert_eq!(&q[25..], &[0, 6, 0, 1]);
        // The root name is a single zero byte.
        assert_eq!(encode_query(1, ".", 6).unwrap()[12..], [0, 0, 6, 0, 1]);
    }

    #[test]
    fn replies() {
        let mut r = encode_query(7, ".", 6).unwrap();
        assert_eq!(
            check_reply(&r, 7),
            Reply::Bad("answer without the QR bit".into())
        );
        r[2] |= 0x80;
        assert_eq!(check_reply(&r, 7), Reply::Ok);
        assert_eq!(check_reply(&r, 8), Reply::OtherId);
        r[3] |= 3; // NXDOMAIN
        assert_eq!(check_reply(&r, 7), Reply::Bad("rcode 3".into()));
    }
}
