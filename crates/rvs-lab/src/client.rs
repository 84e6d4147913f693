//! The lab's client: makes requests through the VIP and reports who answered.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

/// One HTTP request on a new TCP connection; returns the body (the real server's
/// name), trimmed.
pub fn http_get(target: SocketAddr, timeout: Duration) -> io::Result<String> {
    let mut s = TcpStream::connect_timeout(&target, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: {target}\r\nUser-Agent: rvs-lab\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    s.read_to_end(&mut response)?;
    body_of(&response)
}

/// One datagram; returns the answer, trimmed.
pub fn udp_ask(target: SocketAddr, timeout: Duration) -> io::Result<String> {
    let bind: SocketAddr = if target.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let s = UdpSocket::bind(bind)?;
    s.set_read_timeout(Some(timeout))?;
    s.send_to(b"who?\n", target)?;
    let mut buf = [0u8; 512];
    let (n, _) = s.recv_from(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).trim().to_string())
}

fn body_of(response: &[u8]) -> io::Result<String> {
    let text = String::from_utf8_lossy(response);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "no HTTP header end",
        ));
    };
    if !head.starts_with("HTTP/1.") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not an HTTP response",
        ));
    }
    Ok(body.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_extracted_from_a_response() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nrs2\n";
        assert_eq!(body_of(r).unwrap(), "rs2");
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(body_of(b"hello").is_err());
        assert!(body_of(b"SSH-2.0\r\n\r\nx").is_err());
    }

    #[test]
    fn responder_and_client_talk_over_loopback() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        std::thread::spawn(move || crate::responder::serve("rsX", &[addr], &[]));
        let mut answer = Err(io::Error::other("not yet"));
        for _ in 0..50 {
            answer = http_get(addr, Duration::from_secs(2));
            if answer.is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(answer.unwrap(), "rsX");
    }
}
