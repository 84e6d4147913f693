//! TCP_CHECK: the server is up if a TCP connection opens within connect_timeout.

use core::time::Duration;

use super::{Endpoint, HealthCheck, Outcome, ProbeFuture};

pub struct TcpCheck {
    pub endpoint: Endpoint,
    pub connect_timeout: Duration,
}

impl HealthCheck for TcpCheck {
    fn probe(&self) -> ProbeFuture<'_> {
        Box::pin(async move {
            match self.endpoint.connect_tcp(self.connect_timeout).await {
                Ok(_) => Outcome::Up,
                Err(e) => Outcome::Down(e),
            }
        })
    }

    fn describe(&self) -> String {
        format!("TCP_CHECK {}", self.endpoint.target)
    }
}
