//! A minimal SCTP peer over raw IP sockets, for kernels without SCTP (like the
//! lab's): enough of the association set-up (RFC 9260 5.1) to see through a load
//! balancer which real server answered, and to carry the association to
//! ESTABLISHED and end it.
//!
//! Client: INIT -> (INIT ACK with a state cookie) -> COOKIE ECHO -> COOKIE ACK ->
//! ABORT. The responder is stateless: its cookie holds the client's initiate tag
//! and the responder's name, which is what the client reports.
//!
//! Raw sockets see every SCTP packet of the namespace (with the IPv4 header in
//! front over IPv4), so both sides filter on ports and verification tags. With a
//! raw socket open the kernel does not answer SCTP with "protocol unreachable".

use rvs_wire::sctp::{ChunkType, Packet, Repr, HEADER_LEN};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

const IPPROTO_SCTP: libc::c_int = 132;
/// State Cookie parameter of INIT ACK (RFC 9260 3.3.3).
const PARAM_STATE_COOKIE: u16 = 7;

/// A raw SCTP socket of the family of `family_of`.
struct RawSctp {
    fd: OwnedFd,
    v6: bool,
}

impl RawSctp {
    fn open(family_of: IpAddr) -> io::Result<RawSctp> {
        let v6 = family_of.is_ipv6();
        let domain = if v6 { libc::AF_INET6 } else { libc::AF_INET };
        // SAFETY: plain syscall; the result is checked before use.
        let fd = unsafe { libc::socket(domain, libc::SOCK_RAW | libc::SOCK_CLOEXEC, IPPROTO_SCTP) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(RawSctp { fd, v6 })
    }

    fn set_timeout(&self, t: Duration) -> io::Result<()> {
        let tv = libc::timeval {
            tv_sec: t.as_secs() as libc::time_t,
            tv_usec: t.subsec_micros() as libc::suseconds_t,
        };
        // SAFETY: `tv` lives for the call and its size is passed.
        let r = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn send_to(&self, sctp: &[u8], to: IpAddr) -> io::Result<()> {
        let (storage, len) = sockaddr(to);
        // SAFETY: `sctp` and `storage` live for the call; lengths are theirs.
        let r = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                sctp.as_ptr().cast(),
                sctp.len(),
                0,
                (&storage as *const libc::sockaddr_storage).cast(),
                len,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The next SCTP packet and its source; `Ok(None)` on timeout.
    fn recv<'b>(&self, buf: &'b mut [u8]) -> io::Result<Option<(IpAddr, &'b [u8])>> {
        // SAFETY: all-zero is a valid sockaddr_storage.
        let mut from: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut from_len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: `buf` and `from` are valid for the lengths given.
        let n = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                (&mut from as *mut libc::sockaddr_storage).cast(),
                &mut from_len,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock
                | io::ErrorKind::TimedOut
                | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        let src = source_of(&from);
        Ok(Some((src, self.strip_ip_header(&buf[..n as usize]))))
    }

    /// The SCTP packet in what a raw socket received: IPv4 raw sockets deliver
    /// the IP header too, IPv6 ones do not.
    fn strip_ip_header<'b>(&self, data: &'b [u8]) -> &'b [u8] {
        if self.v6 {
            return data;
        }
        let ihl = usize::from(data.first().copied().unwrap_or(0) & 0x0f) * 4;
        data.get(ihl..).unwrap_or(&[])
    }
}

impl AsRawFd for RawSctp {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

fn sockaddr(ip: IpAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match ip {
        IpAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
            let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.octets());
            std::mem::size_of::<libc::sockaddr_in>()
        }
        IpAddr::V6(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_addr.s6_addr = a.octets();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

fn source_of(from: &libc::sockaddr_storage) -> IpAddr {
    match i32::from(from.ss_family) {
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 = unsafe { &*(from as *const _ as *const libc::sockaddr_in6) };
            IpAddr::from(sin6.sin6_addr.s6_addr)
        }
        _ => {
            // SAFETY: the storage holds a sockaddr_in (or zeros).
            let sin = unsafe { &*(from as *const _ as *const libc::sockaddr_in) };
            IpAddr::from(sin.sin_addr.s_addr.to_ne_bytes())
        }
    }
}

/// A packet of one chunk: common header, chunk header, `value` padded to 4 bytes,
/// CRC32c filled in.
fn packet(src_port: u16, dst_port: u16, vtag: u32, chunk: ChunkType, value: &[u8]) -> Vec<u8> {
    let chunk_len = 4 + value.len();
    let mut b = vec![0u8; HEADER_LEN + ((chunk_len + 3) & !3)];
    let header = Repr {
        src_port,
        dst_port,
        verification_tag: vtag,
    };
    // The buffer is longer than the header: emit cannot fail.
    let _ = header.emit(&mut b);
    b[HEADER_LEN] = chunk.0;
    b[HEADER_LEN + 2..HEADER_LEN + 4].copy_from_slice(&(chunk_len as u16).to_be_bytes());
    b[HEADER_LEN + 4..HEADER_LEN + chunk_len].copy_from_slice(value);
    Packet::new_unchecked(&mut b[..]).fill_checksum();
    b
}

/// The fixed part of INIT and INIT ACK: initiate tag, a_rwnd, streams, TSN.
fn init_fields(tag: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(16);
    v.extend_from_slice(&tag.to_be_bytes());
    v.extend_from_slice(&65535u32.to_be_bytes());
    v.extend_from_slice(&1u16.to_be_bytes());
    v.extend_from_slice(&1u16.to_be_bytes());
    v.extend_from_slice(&tag.wrapping_mul(7).to_be_bytes());
    v
}

/// A packet that parses, carries a valid CRC32c and is addressed to `port`.
fn valid_to(sctp: &[u8], port: u16) -> Option<Packet<&[u8]>> {
    let p = Packet::new_checked(sctp).ok()?;
    (p.dst_port() == port && p.verify_checksum()).then_some(p)
}

/// The first chunk's type and value.
fn first_chunk<'a>(p: &Packet<&'a [u8]>) -> Option<(ChunkType, &'a [u8])> {
    let bytes: &'a [u8] = (*p).into_inner();
    let chunk = bytes.get(HEADER_LEN..)?;
    let kind = *chunk.first()?;
    let len = usize::from(u16::from_be_bytes([*chunk.get(2)?, *chunk.get(3)?]));
    Some((ChunkType(kind), chunk.get(4..len)?))
}

/// The State Cookie among INIT ACK parameters (after the 16 fixed bytes).
fn state_cookie(init_ack: &[u8]) -> Option<&[u8]> {
    let mut rest = init_ack.get(16..)?;
    while rest.len() >= 4 {
        let kind = u16::from_be_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        if len < 4 || len > rest.len() {
            return None;
        }
        if kind == PARAM_STATE_COOKIE {
            return Some(&rest[4..len]);
        }
        rest = rest.get((len + 3) & !3..).unwrap_or(&[]);
    }
    None
}

/// A tag that is not zero and differs between calls.
fn fresh_tag(salt: u64) -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(salt);
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    (h.finish() as u32).max(1)
}

/// A responder's socket, opened (so that a kernel refusing raw SCTP sockets fails
/// at start) but not yet answering.
pub struct Responder {
    socket: RawSctp,
    port: u16,
}

impl Responder {
    /// Answer on `addr`'s port; its address only picks the family.
    pub fn open(addr: SocketAddr) -> io::Result<Responder> {
        let socket = RawSctp::open(addr.ip())?;
        // Answers leave from the address asked: the VIP in DR and TUN.
        super::udp::enable_pktinfo_on(&socket, socket.v6)?;
        Ok(Responder {
            socket,
            port: addr.port(),
        })
    }

    /// Answer association set-ups with `name` in the state cookie, until the
    /// process ends.
    pub fn run(self, name: &str) -> io::Result<()> {
        serve(self.socket, self.port, name)
    }
}

fn serve(socket: RawSctp, port: u16, name: &str) -> io::Result<()> {
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, peer, info) = match super::udp::recv_with_info(&socket, &mut buf) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let sctp = socket.strip_ip_header(&buf[..n]);
        let Some(p) = valid_to(sctp, port) else {
            continue;
        };
        let Some((chunk, value)) = first_chunk(&p) else {
            continue;
        };
        let reply = match chunk {
            ChunkType::INIT if p.verification_tag() == 0 && value.len() >= 16 => {
                let peer_tag = u32::from_be_bytes([value[0], value[1], value[2], value[3]]);
                let mut v = init_fields(fresh_tag(u64::from(p.src_port())));
                let cookie_len = 4 + 4 + name.len();
                v.extend_from_slice(&PARAM_STATE_COOKIE.to_be_bytes());
                v.extend_from_slice(&(cookie_len as u16).to_be_bytes());
                v.extend_from_slice(&peer_tag.to_be_bytes());
                v.extend_from_slice(name.as_bytes());
                v.resize((v.len() + 3) & !3, 0);
                packet(port, p.src_port(), peer_tag, ChunkType::INIT_ACK, &v)
            }
            ChunkType::COOKIE_ECHO if value.len() >= 4 => {
                let peer_tag = u32::from_be_bytes([value[0], value[1], value[2], value[3]]);
                packet(port, p.src_port(), peer_tag, ChunkType::COOKIE_ACK, &[])
            }
            _ => continue,
        };
        // Raw sockets take no port.
        let to = SocketAddr::new(peer.ip(), 0);
        let _ = match info {
            Some(info) => super::udp::send_from(&socket, &reply, to, info),
            None => socket.send_to(&reply, peer.ip()),
        };
    }
}

/// Set up an association with `target`, bring it to ESTABLISHED and abort it;
/// returns the name in the responder's cookie. Fails on timeout, or if the
/// answer does not come from `target` itself.
pub fn ask(target: SocketAddr, timeout: Duration) -> io::Result<String> {
    let socket = RawSctp::open(target.ip())?;
    socket.set_timeout(Duration::from_millis(100))?;
    let tag = fresh_tag(u64::from(std::process::id()));
    let src_port = 32768 + (fresh_tag(u64::from(tag)) % 28000) as u16;
    let dst_port = target.port();
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; 65536];

    let init = packet(src_port, dst_port, 0, ChunkType::INIT, &init_fields(tag));
    socket.send_to(&init, target.ip())?;
    let (peer_tag, cookie) = loop {
        let (chunk, value) = next_answer(&socket, &mut buf, target, src_port, tag, deadline)?;
        if chunk == ChunkType::INIT_ACK && value.len() >= 16 {
            let peer_tag = u32::from_be_bytes([value[0], value[1], value[2], value[3]]);
            let cookie = state_cookie(&value)
                .ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, "INIT ACK without a cookie")
                })?
                .to_vec();
            break (peer_tag, cookie);
        }
    };
    let echo = packet(
        src_port,
        dst_port,
        peer_tag,
        ChunkType::COOKIE_ECHO,
        &cookie,
    );
    socket.send_to(&echo, target.ip())?;
    loop {
        let (chunk, _) = next_answer(&socket, &mut buf, target, src_port, tag, deadline)?;
        if chunk == ChunkType::COOKIE_ACK {
            break;
        }
    }
    let abort = packet(src_port, dst_port, peer_tag, ChunkType::ABORT, &[]);
    socket.send_to(&abort, target.ip())?;
    let name = cookie.get(4..).unwrap_or(&[]);
    Ok(String::from_utf8_lossy(name)
        .trim_end_matches('\0')
        .to_string())
}

/// The first chunk of the next packet from `target` to `port` with tag `tag`.
fn next_answer(
    socket: &RawSctp,
    buf: &mut [u8],
    target: SocketAddr,
    port: u16,
    tag: u32,
    deadline: Instant,
) -> io::Result<(ChunkType, Vec<u8>)> {
    loop {
        if Instant::now() > deadline {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "no SCTP answer"));
        }
        let Some((src, sctp)) = socket.recv(buf)? else {
            continue;
        };
        if src != target.ip() {
            continue;
        }
        let Some(p) = valid_to(sctp, port) else {
            continue;
        };
        if p.src_port() != target.port() || p.verification_tag() != tag {
            continue;
        }
        if let Some((chunk, value)) = first_chunk(&p) {
            return Ok((chunk, value.to_vec()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_init_ack_carries_the_cookie_and_a_valid_checksum() {
        let mut v = init_fields(0x1234_5678);
        v.extend_from_slice(&PARAM_STATE_COOKIE.to_be_bytes());
        v.extend_from_slice(&11u16.to_be_bytes());
        v.extend_from_slice(&[0, 0, 0, 9, b'r', b's', b'1', 0]);
        let b = packet(5000, 40000, 9, ChunkType::INIT_ACK, &v);
        let p = valid_to(&b, 40000).expect("valid");
        assert_eq!(p.verification_tag(), 9);
        let (chunk, value) = first_chunk(&p).unwrap();
        assert_eq!(chunk, ChunkType::INIT_ACK);
        assert_eq!(
            state_cookie(value).unwrap(),
            &[0, 0, 0, 9, b'r', b's', b'1']
        );
        let mut bad = b.clone();
        bad[HEADER_LEN + 5] ^= 1;
        assert!(
            valid_to(&bad, 40000).is_none(),
            "a corrupted packet is refused"
        );
        assert!(valid_to(&b, 40001).is_none(), "another port is ignored");
    }

    #[test]
    fn a_truncated_parameter_list_has_no_cookie() {
        let mut v = init_fields(1);
        v.extend_from_slice(&PARAM_STATE_COOKIE.to_be_bytes());
        v.extend_from_slice(&40u16.to_be_bytes());
        assert!(state_cookie(&v).is_none());
    }
}
