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

/// `count` HTTP requests on ONE keep-alive connection, `interval` apart; calls
/// `answer` with each body (the real server's name). Stops at the first error.
pub fn http_keepalive(
    target: SocketAddr,
    count: usize,
    interval: Duration,
    timeout: Duration,
    mut answer: impl FnMut(usize, io::Result<String>),
) {
    let stream = TcpStream::connect_timeout(&target, timeout).and_then(|s| {
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        Ok(s)
    });
    let mut s = match stream {
        Ok(s) => s,
        Err(e) => return answer(1, Err(e)),
    };
    for i in 1..=count {
        if i > 1 {
            std::thread::sleep(interval);
        }
        let r = write!(
            s,
            "GET / HTTP/1.1\r\nHost: {target}\r\nUser-Agent: rvs-lab\r\n\r\n"
        )
        .and_then(|()| read_response(&mut s));
        let failed = r.is_err();
        answer(i, r);
        if failed {
            return;
        }
    }
}

/// Read one response with a Content-Length body from a keep-alive connection.
fn read_response(s: &mut TcpStream) -> io::Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        head.push(byte[0]);
        if head.len() > 8192 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "header too long",
            ));
        }
    }
    let text = String::from_utf8_lossy(&head);
    let len = text
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no Content-Length"))?;
    let mut body = vec![0u8; len.min(1 << 20)];
    s.read_exact(&mut body)?;
    Ok(String::from_utf8_lossy(&body).trim().to_string())
}

/// One datagram; returns the answer, trimmed. Only an answer from `target` itself
/// counts (the socket is connected), as for a real UDP client: an answer from a
/// real server's own address, or not translated back by the director, is lost.
pub fn udp_ask(target: SocketAddr, timeout: Duration) -> io::Result<String> {
    let bind: SocketAddr = if target.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let s = UdpSocket::bind(bind)?;
    s.set_read_timeout(Some(timeout))?;
    s.connect(target)?;
    s.send(b"who?\n")?;
    let mut buf = [0u8; 512];
    let n = s.recv(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).trim().to_string())
}

/// One SCTP association set-up to `target`, carried to ESTABLISHED and aborted;
/// returns the name of the real server that answered (see
/// [`crate::responder::sctp`]).
pub fn sctp_ask(target: SocketAddr, timeout: Duration) -> io::Result<String> {
    crate::responder::sctp::ask(target, timeout)
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
