//! The IPVS connection-synchronisation messages, as Linux's sync daemon sends and
//! reads them (net/netfilter/ipvs/ip_vs_sync.c): version 1 (written and read) and
//! version 0 (read; a v1 message starts with a zero byte so that v0 receivers drop
//! it).
//!
//! ```text
//! v1 header: | 0 | syncid | size(16) | nr_conns | version=1 | spare(16)=0 |
//! v1 conn:   | type(bit0=IPv6) | protocol | ver(4)=0,size(12) | flags(32) |
//!            | state(16) | cport | vport | dport | fwmark(32) | timeout s(32) |
//!            | caddr | vaddr | daddr (4 or 16 bytes each) | options (TLV) |
//!            each connection padded to 4 bytes
//! v0 header: | nr_conns | syncid | size(16) |
//! v0 conn:   | 0 | protocol | cport | vport | dport | caddr | vaddr | daddr |
//!            | flags(16) | state(16) | [+24 bytes of sequence data if F_SEQ_MASK] |
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Connection flags the sync protocol carries (IP_VS_CONN_F_*).
pub mod flags {
    pub const FWD_MASK: u32 = 0x0007;
    pub const MASQ: u32 = 0x0000;
    pub const LOCALNODE: u32 = 0x0001;
    pub const TUNNEL: u32 = 0x0002;
    pub const DROUTE: u32 = 0x0003;
    pub const SYNC: u32 = 0x0020;
    pub const HASHED: u32 = 0x0040;
    pub const NOOUTPUT: u32 = 0x0080;
    pub const INACTIVE: u32 = 0x0100;
    pub const OUT_SEQ: u32 = 0x0200;
    pub const IN_SEQ: u32 = 0x0400;
    pub const SEQ_MASK: u32 = 0x0600;
    pub const NO_CPORT: u32 = 0x0800;
    pub const TEMPLATE: u32 = 0x1000;
    pub const ONE_PACKET: u32 = 0x2000;
    /// What a backup keeps of the received flags.
    pub const BACKUP_MASK: u32 = FWD_MASK | NOOUTPUT | INACTIVE | SEQ_MASK | NO_CPORT | TEMPLATE;
}

const V0_HEADER: usize = 4;
const V1_HEADER: usize = 8;
const V0_CONN: usize = 24;
const SEQ_OPTS: usize = 24;
const V1_CONN_V4: usize = 36;
const V1_CONN_V6: usize = 72;
const OPT_SEQ_DATA: u8 = 1;
const OPT_PE_DATA: u8 = 2;
const OPT_PE_NAME: u8 = 3;
/// Options with this bit set may be skipped by receivers that do not know them.
const OPT_F_PARAM: u8 = 1 << (7 - 1);
const PE_DATA_MAX: usize = 255;
const PE_NAME_MAX: usize = 16;
/// The kernel's default (and largest useful) message size: one Ethernet MTU of UDP.
pub const DEFAULT_MAXLEN: usize = 1500 - 20 - 8;
/// Most connections one message can count.
pub const MAX_CONNS_PER_MESSAGE: usize = 255;

/// TCP sequence adjustment data (kept for application helpers such as FTP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeqData {
    /// in_seq then out_seq: init_seq, delta, previous_delta each.
    pub words: [u32; 6],
}

/// One connection as the sync protocol describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncedConn {
    pub protocol: u8,
    pub flags: u32,
    pub state: u16,
    pub cport: u16,
    pub vport: u16,
    pub dport: u16,
    pub fwmark: u32,
    /// Seconds; 0 in v0 messages (the receiver uses its state's timeout).
    pub timeout: u32,
    pub caddr: IpAddr,
    pub vaddr: IpAddr,
    pub daddr: IpAddr,
    pub seq: Option<SeqData>,
    pub pe_data: Vec<u8>,
    pub pe_name: String,
}

/// A decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncMessage {
    pub version: u8,
    pub syncid: u8,
    pub conns: Vec<SyncedConn>,
    /// Connections skipped because they were malformed in a way the kernel skips
    /// (unknown mandatory option, IPv6 in v0...): counted, not fatal.
    pub skipped: usize,
}

/// Why a whole message was dropped (the kernel drops the rest of a buffer on these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    TooShort,
    /// The size field disagrees with the datagram length.
    BadSize,
    /// A connection runs past the end of the message.
    Truncated,
    /// A connection declares a sync-conn version other than 0.
    UnknownConnVersion(u8),
    /// An option is malformed (zero length, overflow, duplicate, oversize).
    BadOption,
    /// The connection type is neither IPv4 nor IPv6.
    BadType(u8),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::TooShort => f.write_str("message header too short"),
            DecodeError::BadSize => f.write_str("bogus message size"),
            DecodeError::Truncated => f.write_str("connection runs past the message"),
            DecodeError::UnknownConnVersion(v) => write!(f, "unknown connection version {v}"),
            DecodeError::BadOption => f.write_str("malformed connection option"),
            DecodeError::BadType(t) => write!(f, "unknown connection type {t}"),
        }
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn addr(b: &[u8], at: usize, v6: bool) -> IpAddr {
    if v6 {
        let mut o = [0u8; 16];
        o.copy_from_slice(&b[at..at + 16]);
        IpAddr::V6(Ipv6Addr::from(o))
    } else {
        IpAddr::V4(Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3]))
    }
}

/// Decode one datagram (v0 or v1), applying the kernel receiver's checks.
pub fn decode(buf: &[u8]) -> Result<SyncMessage, DecodeError> {
    if buf.len() < V0_HEADER {
        return Err(DecodeError::TooShort);
    }
    if be16(buf, 2) as usize != buf.len() {
        return Err(DecodeError::BadSize);
    }
    let is_v1 = buf.len() >= V1_HEADER && buf[0] == 0 && buf[5] == 1 && be16(buf, 6) == 0;
    if is_v1 {
        decode_v1(buf)
    } else {
        decode_v0(buf)
    }
}

fn decode_v0(buf: &[u8]) -> Result<SyncMessage, DecodeError> {
    let mut msg = SyncMessage {
        version: 0,
        syncid: buf[1],
        conns: Vec::new(),
        skipped: 0,
    };
    let mut p = V0_HEADER;
    for _ in 0..buf[0] {
        if p + V0_CONN > buf.len() {
            return Err(DecodeError::Truncated);
        }
        let c = &buf[p..];
        let flags = (be16(c, 20) as u32 | flags::SYNC) & !flags::HASHED;
        let seq = if flags & flags::SEQ_MASK != 0 {
            if p + V0_CONN + SEQ_OPTS > buf.len() {
                return Err(DecodeError::Truncated);
            }
            let mut words = [0u32; 6];
            for (i, w) in words.iter_mut().enumerate() {
                // v0 carries the kernel's in-memory (host order) struct; read as
                // little-endian, the order of every architecture Linux IPVS runs on here.
                let at = V0_CONN + i * 4;
                *w = u32::from_le_bytes([c[at], c[at + 1], c[at + 2], c[at + 3]]);
            }
            p += V0_CONN + SEQ_OPTS;
            Some(SeqData { words })
        } else {
            p += V0_CONN;
            None
        };
        msg.conns.push(SyncedConn {
            protocol: c[1],
            flags,
            state: be16(c, 22),
            cport: be16(c, 2),
            vport: be16(c, 4),
            dport: be16(c, 6),
            fwmark: 0,
            timeout: 0,
            caddr: addr(c, 8, false),
            vaddr: addr(c, 12, false),
            daddr: addr(c, 16, false),
            seq,
            pe_data: Vec::new(),
            pe_name: String::new(),
        });
    }
    Ok(msg)
}

fn decode_v1(buf: &[u8]) -> Result<SyncMessage, DecodeError> {
    let mut msg = SyncMessage {
        version: 1,
        syncid: buf[1],
        conns: Vec::new(),
        skipped: 0,
    };
    let mut p = V1_HEADER;
    for _ in 0..buf[4] {
        if p + V1_CONN_V4 > buf.len() {
            return Err(DecodeError::Truncated);
        }
        let ver_size = be16(buf, p + 2);
        let size = (ver_size & 0x0fff) as usize;
        let end = p + size;
        if end > buf.len() {
            return Err(DecodeError::Truncated);
        }
        if ver_size >> 12 != 0 {
            return Err(DecodeError::UnknownConnVersion((ver_size >> 12) as u8));
        }
        match decode_v1_conn(&buf[p..end])? {
            Some(c) => msg.conns.push(c),
            None => msg.skipped += 1,
        }
        p += (size + 3) & !3;
    }
    Ok(msg)
}

/// One v1 connection; `Ok(None)` for one the kernel skips without dropping the rest.
fn decode_v1_conn(c: &[u8]) -> Result<Option<SyncedConn>, DecodeError> {
    if c.len() < V1_CONN_V4 {
        return Err(DecodeError::Truncated);
    }
    let v6 = match c[0] {
        0 => false,
        1 => true,
        t => return Err(DecodeError::BadType(t)),
    };
    let fixed = if v6 { V1_CONN_V6 } else { V1_CONN_V4 };
    if c.len() < fixed {
        return Err(DecodeError::Truncated);
    }
    let alen = if v6 { 16 } else { 4 };
    let mut seq = None;
    let mut pe_data: Option<&[u8]> = None;
    let mut pe_name: Option<&[u8]> = None;
    let mut skip = false;
    let mut p = fixed;
    while p < c.len() {
        if p + 2 > c.len() {
            return Err(DecodeError::BadOption);
        }
        let (ptype, plen) = (c[p], c[p + 1] as usize);
        p += 2;
        if plen == 0 || p + plen > c.len() {
            return Err(DecodeError::BadOption);
        }
        let data = &c[p..p + plen];
        match ptype & !OPT_F_PARAM {
            OPT_SEQ_DATA => {
                if plen != SEQ_OPTS || seq.is_some() {
                    return Err(DecodeError::BadOption);
                }
                let mut words = [0u32; 6];
                for (i, w) in words.iter_mut().enumerate() {
                    *w = be32(data, i * 4);
                }
                seq = Some(SeqData { words });
            }
            OPT_PE_DATA => {
                if plen > PE_DATA_MAX || pe_data.is_some() {
                    return Err(DecodeError::BadOption);
                }
                pe_data = Some(data);
            }
            OPT_PE_NAME => {
                if plen > PE_NAME_MAX || pe_name.is_some() {
                    return Err(DecodeError::BadOption);
                }
                pe_name = Some(data);
            }
            _ if ptype & OPT_F_PARAM == 0 => skip = true,
            _ => {}
        }
        p += plen;
    }
    if skip {
        return Ok(None);
    }
    Ok(Some(SyncedConn {
        protocol: c[1],
        flags: (be32(c, 4) & flags::BACKUP_MASK) | flags::SYNC,
        state: be16(c, 8),
        cport: be16(c, 10),
        vport: be16(c, 12),
        dport: be16(c, 14),
        fwmark: be32(c, 16),
        timeout: be32(c, 20),
        caddr: addr(c, 24, v6),
        vaddr: addr(c, 24 + alen, v6),
        daddr: addr(c, 24 + 2 * alen, v6),
        seq,
        pe_data: pe_data.map(<[u8]>::to_vec).unwrap_or_default(),
        pe_name: pe_name
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default(),
    }))
}

/// Encodes connections into v1 messages of at most `maxlen` bytes and 255
/// connections each, as a master sync daemon sends them.
#[derive(Debug)]
pub struct Encoder {
    syncid: u8,
    maxlen: usize,
    current: Vec<u8>,
}

impl Encoder {
    pub fn new(syncid: u8, maxlen: usize) -> Encoder {
        Encoder {
            syncid,
            maxlen: maxlen.clamp(V1_HEADER + V1_CONN_V6 + 64, 65507),
            current: Vec::new(),
        }
    }

    /// Number of connections in the message being built.
    pub fn pending(&self) -> usize {
        self.current.get(4).copied().unwrap_or(0) as usize
    }

    /// Add a connection; returns a finished message when the current one is full.
    pub fn push(&mut self, c: &SyncedConn) -> Option<Vec<u8>> {
        let v6 = c.caddr.is_ipv6();
        let mut len = if v6 { V1_CONN_V6 } else { V1_CONN_V4 };
        if c.seq.is_some() {
            len += 2 + SEQ_OPTS;
        }
        let pe_data = &c.pe_data[..c.pe_data.len().min(PE_DATA_MAX)];
        let pe_name = &c.pe_name.as_bytes()[..c.pe_name.len().min(PE_NAME_MAX)];
        if !pe_data.is_empty() {
            len += 2 + pe_data.len();
            if !pe_name.is_empty() {
                len += 2 + pe_name.len();
            }
        }
        let pad = (4 - self.current.len() % 4) % 4;
        let mut done = None;
        if !self.current.is_empty()
            && (self.current.len() + pad + len > self.maxlen
                || self.pending() >= MAX_CONNS_PER_MESSAGE)
        {
            done = self.flush();
        }
        if self.current.is_empty() {
            self.current
                .extend_from_slice(&[0, self.syncid, 0, V1_HEADER as u8, 0, 1, 0, 0]);
        } else {
            self.current.resize(self.current.len() + pad, 0);
        }
        let b = &mut self.current;
        b.push(u8::from(v6));
        b.push(c.protocol);
        b.extend_from_slice(&((len as u16) & 0x0fff).to_be_bytes());
        b.extend_from_slice(&(c.flags & !flags::HASHED).to_be_bytes());
        b.extend_from_slice(&c.state.to_be_bytes());
        b.extend_from_slice(&c.cport.to_be_bytes());
        b.extend_from_slice(&c.vport.to_be_bytes());
        b.extend_from_slice(&c.dport.to_be_bytes());
        b.extend_from_slice(&c.fwmark.to_be_bytes());
        b.extend_from_slice(&c.timeout.to_be_bytes());
        for a in [c.caddr, c.vaddr, c.daddr] {
            match a {
                IpAddr::V4(a) if !v6 => b.extend_from_slice(&a.octets()),
                IpAddr::V6(a) if v6 => b.extend_from_slice(&a.octets()),
                IpAddr::V4(a) => b.extend_from_slice(&a.to_ipv6_mapped().octets()),
                IpAddr::V6(_) => b.extend_from_slice(&[0; 4]),
            }
        }
        if let Some(seq) = c.seq {
            b.push(OPT_SEQ_DATA);
            b.push(SEQ_OPTS as u8);
            for w in seq.words {
                b.extend_from_slice(&w.to_be_bytes());
            }
        }
        if !pe_data.is_empty() {
            b.push(OPT_PE_DATA);
            b.push(pe_data.len() as u8);
            b.extend_from_slice(pe_data);
            if !pe_name.is_empty() {
                b.push(OPT_PE_NAME);
                b.push(pe_name.len() as u8);
                b.extend_from_slice(pe_name);
            }
        }
        b[4] += 1;
        let size = b.len() as u16;
        b[2..4].copy_from_slice(&size.to_be_bytes());
        done
    }

    /// The message being built, if it holds any connection.
    pub fn flush(&mut self) -> Option<Vec<u8>> {
        if self.pending() == 0 {
            self.current.clear();
            return None;
        }
        Some(std::mem::take(&mut self.current))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(c: &str, v: &str, d: &str) -> SyncedConn {
        SyncedConn {
            protocol: 6,
            flags: flags::MASQ,
            state: 1,
            cport: 40000,
            vport: 80,
            dport: 8080,
            fwmark: 0,
            timeout: 900,
            caddr: c.parse().unwrap(),
            vaddr: v.parse().unwrap(),
            daddr: d.parse().unwrap(),
            seq: None,
            pe_data: Vec::new(),
            pe_name: String::new(),
        }
    }

    #[test]
    fn v1_ipv4_layout_matches_the_kernel() {
        let mut e = Encoder::new(7, DEFAULT_MAXLEN);
        assert!(e
            .push(&conn("10.1.0.1", "10.0.0.100", "10.0.2.11"))
            .is_none());
        let m = e.flush().unwrap();
        assert_eq!(m.len(), 8 + 36);
        assert_eq!(&m[..8], &[0, 7, 0, 44, 1, 1, 0, 0]);
        // type 0, TCP, size 36, flags MASQ, state ESTABLISHED
        assert_eq!(&m[8..16], &[0, 6, 0, 36, 0, 0, 0, 0]);
        assert_eq!(&m[16..18], &[0, 1]);
        assert_eq!(&m[18..24], &[0x9c, 0x40, 0, 80, 0x1f, 0x90]);
        assert_eq!(&m[28..32], &900u32.to_be_bytes());
        assert_eq!(&m[32..44], &[10, 1, 0, 1, 10, 0, 0, 100, 10, 0, 2, 11]);
        let d = decode(&m).unwrap();
        assert_eq!(d.version, 1);
        assert_eq!(d.syncid, 7);
        let mut expected = conn("10.1.0.1", "10.0.0.100", "10.0.2.11");
        expected.flags |= flags::SYNC;
        assert_eq!(d.conns, vec![expected]);
    }

    #[test]
    fn v1_ipv6_with_options_round_trips_and_pads() {
        let mut a = conn("2001:db8::1", "2001:db8::100", "2001:db8:1::11");
        a.pe_data = b"call-id-123".to_vec();
        a.pe_name = "sip".into();
        a.flags = flags::DROUTE | flags::NOOUTPUT;
        a.seq = Some(SeqData {
            words: [1, 2, 3, 4, 5, 6],
        });
        let b = conn("10.1.0.2", "10.0.0.100", "10.0.2.12");
        let mut e = Encoder::new(0, DEFAULT_MAXLEN);
        e.push(&a);
        e.push(&b);
        let m = e.flush().unwrap();
        let first = 72 + 26 + 13 + 5;
        assert_eq!(m.len(), 8 + ((first + 3) & !3) + 36);
        let d = decode(&m).unwrap();
        assert_eq!(d.conns.len(), 2);
        assert_eq!(d.conns[0].pe_name, "sip");
        assert_eq!(d.conns[0].pe_data, b"call-id-123");
        assert_eq!(d.conns[0].seq, a.seq);
        assert_eq!(d.conns[0].flags, a.flags | flags::SYNC);
        assert_eq!(d.conns[1].caddr, b.caddr);
    }

    #[test]
    fn messages_split_at_maxlen_and_255_conns() {
        let mut e = Encoder::new(1, 200);
        let mut out = Vec::new();
        for i in 0..10u16 {
            let mut c = conn("10.1.0.1", "10.0.0.100", "10.0.2.11");
            c.cport = i;
            out.extend(e.push(&c));
        }
        out.extend(e.flush());
        assert!(out.iter().all(|m| m.len() <= 200));
        let total: usize = out.iter().map(|m| decode(m).unwrap().conns.len()).sum();
        assert_eq!(total, 10);

        let mut e = Encoder::new(1, 65507);
        let mut out = Vec::new();
        for _ in 0..300 {
            out.extend(e.push(&conn("10.1.0.1", "10.0.0.100", "10.0.2.11")));
        }
        out.extend(e.flush());
        assert_eq!(out.len(), 2);
        assert_eq!(decode(&out[0]).unwrap().conns.len(), 255);
    }

    #[test]
    fn v0_messages_are_read() {
        let mut m = vec![1, 9, 0, 28];
        m.extend_from_slice(&[0, 17, 0x9c, 0x40, 0, 53, 0, 53]);
        m.extend_from_slice(&[10, 1, 0, 1, 10, 0, 0, 100, 10, 0, 2, 11]);
        m.extend_from_slice(&[0x01, 0x03, 0, 0]); // flags INACTIVE|DROUTE, state 0
        let d = decode(&m).unwrap();
        assert_eq!(d.version, 0);
        assert_eq!(d.syncid, 9);
        let c = &d.conns[0];
        assert_eq!(c.protocol, 17);
        assert_eq!((c.cport, c.vport, c.dport), (40000, 53, 53));
        assert_eq!(c.flags, flags::INACTIVE | flags::DROUTE | flags::SYNC);
        assert_eq!(c.timeout, 0);
    }

    #[test]
    fn bad_messages_are_refused_and_unknown_optional_params_skipped() {
        let mut e = Encoder::new(0, DEFAULT_MAXLEN);
        e.push(&conn("10.1.0.1", "10.0.0.100", "10.0.2.11"));
        let m = e.flush().unwrap();
        assert_eq!(decode(&m[..20]), Err(DecodeError::BadSize));
        let mut wrong_ver = m.clone();
        wrong_ver[10] |= 0x10;
        assert_eq!(decode(&wrong_ver), Err(DecodeError::UnknownConnVersion(1)));
        // An optional parameter (type 7 | F_PARAM) is skipped, a mandatory unknown one
        // drops the connection but not the message.
        for (ptype, kept) in [(7u8 | OPT_F_PARAM, 1), (5u8, 0)] {
            let mut x = m.clone();
            x.extend_from_slice(&[ptype, 2, 0xaa, 0xbb]);
            x[10..12].copy_from_slice(&40u16.to_be_bytes());
            let len = x.len() as u16;
            x[2..4].copy_from_slice(&len.to_be_bytes());
            let d = decode(&x).unwrap();
            assert_eq!(d.conns.len(), kept);
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 120) as usize;
            let mut buf: Vec<u8> = (0..len).map(|i| (x >> (i % 56)) as u8).collect();
            if len >= 4 {
                buf[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            }
            if len >= 8 && x & 1 == 0 {
                buf[0] = 0;
                buf[5] = 1;
                buf[6] = 0;
                buf[7] = 0;
            }
            let _ = decode(&buf);
        }
    }
}
