//! The lab's real server: a tiny HTTP and UDP responder that names itself, so the
//! client can see which real server answered each request.

pub mod sctp;
pub mod udp;

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::thread;

/// Serve HTTP on every `tcp` address and answer datagrams on every `udp` address,
/// with `name` as the body, until the process is ended.
pub fn serve(name: &str, tcp: &[SocketAddr], udp: &[SocketAddr]) -> io::Result<()> {
    serve_all(name, tcp, udp, &[])
}

/// [`serve`], and answer SCTP association set-ups on every `sctp` port (see
/// [`sctp`]) with `name` in the cookie.
pub fn serve_all(
    name: &str,
    tcp: &[SocketAddr],
    udp: &[SocketAddr],
    sctp: &[SocketAddr],
) -> io::Result<()> {
    let mut threads = Vec::new();
    for addr in sctp {
        let responder = sctp::Responder::open(*addr)?;
        let (addr, name) = (*addr, name.to_string());
        threads.push(thread::spawn(move || {
            if let Err(e) = responder.run(&name) {
                eprintln!("rvs-lab serve: SCTP on {addr}: {e}");
            }
        }));
    }
    for addr in tcp {
        let listener = TcpListener::bind(addr)?;
        let name = name.to_string();
        threads.push(thread::spawn(move || accept_loop(listener, name)));
    }
    for addr in udp {
        let socket = UdpSocket::bind(addr)?;
        udp::enable_pktinfo(&socket)?;
        let name = name.to_string();
        threads.push(thread::spawn(move || udp_loop(socket, name)));
    }
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}

fn accept_loop(listener: TcpListener, name: String) {
    for stream in listener.incoming().flatten() {
        let name = name.clone();
        thread::spawn(move || {
            let _ = http_session(stream, &name);
        });
    }
}

/// Answer requests on one connection until the client closes it or asks to.
fn http_session(stream: TcpStream, name: &str) -> io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let body = format!("{name}\n");
    loop {
        let mut close = false;
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let http10 = line.trim_end().ends_with("HTTP/1.0");
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 {
                return Ok(());
            }
            let h = header.trim_end();
            if h.is_empty() {
                break;
            }
            if h.to_ascii_lowercase().starts_with("connection:")
                && h.to_ascii_lowercase().contains("close")
            {
                close = true;
            }
        }
        close |= http10;
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nX-Real-Server: {name}\r\n{}\r\n{body}",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        writer.write_all(response.as_bytes())?;
        if close {
            return Ok(());
        }
    }
}

/// Answer every datagram with the name, from the address it was sent to.
fn udp_loop(socket: UdpSocket, name: String) {
    let mut buf = [0u8; 2048];
    let reply = format!("{name}\n");
    while let Ok((_, peer, info)) = udp::recv_with_info(&socket, &mut buf) {
        let _ = match info {
            Some(info) => udp::send_from(&socket, reply.as_bytes(), peer, info),
            None => socket.send_to(reply.as_bytes(), peer).map(|_| ()),
        };
    }
}
