//! SMTP_CHECK: banner 220, `HELO name` answered with 250, then QUIT.

use core::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::{Endpoint, HealthCheck, Outcome, ProbeFuture};

/// keepalived's HELO name when none is configured.
pub const DEFAULT_HELO: &str = "_HealthCheck_";
/// Longest reply line accepted.
const MAX_LINE: usize = 4096;

pub struct SmtpCheck {
    pub endpoint: Endpoint,
    pub connect_timeout: Duration,
    pub helo_name: String,
}

impl HealthCheck for SmtpCheck {
    fn probe(&self) -> ProbeFuture<'_> {
        Box::pin(async move {
            let dialogue = async {
                let stream = self.endpoint.connect_tcp(self.connect_timeout).await?;
                let (r, mut w) = stream.into_split();
                let mut r = BufReader::new(r);
                expect(&mut r, 220, "banner").await?;
                w.write_all(format!("HELO {}\r\n", self.helo_name).as_bytes())
                    .await
                    .map_err(|e| format!("write: {e}"))?;
                expect(&mut r, 250, "HELO").await?;
                // QUIT is a courtesy: its answer does not change the verdict.
                let _ = w.write_all(b"QUIT\r\n").await;
                Ok::<(), String>(())
            };
            // The whole dialogue shares one bound, like keepalived's per-step timers.
            match tokio::time::timeout(self.connect_timeout * 3, dialogue).await {
                Ok(Ok(())) => Outcome::Up,
                Ok(Err(e)) => Outcome::Down(format!("SMTP {}: {e}", self.endpoint.target)),
                Err(_) => Outcome::Down(format!("SMTP {}: timeout", self.endpoint.target)),
            }
        })
    }

    fn describe(&self) -> String {
        format!("SMTP_CHECK {}", self.endpoint.target)
    }
}

/// Reads one (possibly multi-line, `250-...`) reply and checks its code.
async fn expect<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
    want: u16,
    step: &str,
) -> Result<(), String> {
    loop {
        let mut line = String::new();
        let n = tokio::io::AsyncReadExt::take(&mut *r, MAX_LINE as u64)
            .read_line(&mut line)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err(format!("connection closed before the {step} reply"));
        }
        let code = line.get(..3).and_then(|c| c.parse::<u16>().ok());
        let more = line.as_bytes().get(3) == Some(&b'-');
        match code {
            Some(c) if more && c == want => continue,
            Some(c) if c == want => return Ok(()),
            _ => {
                return Err(format!(
                    "{step}: expected {want}, got '{}'",
                    line.trim_end()
                ))
            }
        }
    }
}
