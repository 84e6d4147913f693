//! Batched transmission with `sendmmsg` on one unbound AF_PACKET socket: each
//! message names its output interface, so one socket serves every interface.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use super::sys;
use crate::io::{TxDesc, TxOutcome};

/// Frames per `sendmmsg` call.
pub const TX_BATCH: usize = 64;

/// A send-only packet socket with its reusable message arrays.
#[derive(Debug)]
pub struct TxSocket {
    fd: OwnedFd,
    msgs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    addrs: Vec<libc::sockaddr_ll>,
}

// SAFETY: the raw pointers inside `msgs`/`iovs` are only meaningful during one
// `transmit` call, which rewrites them all before use; between calls they are
// dead values, so the socket may move to another thread.
unsafe impl Send for TxSocket {}

impl TxSocket {
    /// A socket that sends on any interface. `qdisc_bypass` skips the queueing
    /// discipline (faster, but invisible to the kernel's traffic shaping).
    pub fn open(qdisc_bypass: bool) -> io::Result<TxSocket> {
        let fd = sys::packet_socket(0)?;
        if qdisc_bypass {
            sys::set_opt(&fd, libc::SOL_PACKET, libc::PACKET_QDISC_BYPASS, &1i32)?;
        }
        // SAFETY: these libc structs are plain old data; all-zero is valid.
        let zero_msg: libc::mmsghdr = unsafe { core::mem::zeroed() };
        let zero_iov = libc::iovec {
            iov_base: core::ptr::null_mut(),
            iov_len: 0,
        };
        Ok(TxSocket {
            fd,
            msgs: vec![zero_msg; TX_BATCH],
            iovs: vec![zero_iov; TX_BATCH],
            addrs: vec![sys::sockaddr_ll(0, 0); TX_BATCH],
        })
    }

    /// Send every frame of `descs` (in chunks of `TX_BATCH`). A frame the kernel
    /// refuses is counted as failed and skipped.
    pub fn transmit(&mut self, buf: &[u8], descs: &[TxDesc]) -> TxOutcome {
        let mut out = TxOutcome::default();
        let mut rest = descs;
        while !rest.is_empty() {
            let n = rest.len().min(TX_BATCH);
            let mut valid = 0;
            for d in &rest[..n] {
                let Some(frame) = d
                    .offset
                    .checked_add(d.len)
                    .and_then(|end| buf.get(d.offset..end))
                else {
                    out.failed += 1;
                    continue;
                };
                let ethertype = match frame {
                    [_, _, _, _, _, _, _, _, _, _, _, _, a, b, ..] => u16::from_be_bytes([*a, *b]),
                    _ => {
                        out.failed += 1;
                        continue;
                    }
                };
                self.addrs[valid] = sys::sockaddr_ll(d.ifindex, ethertype);
                self.iovs[valid] = libc::iovec {
                    iov_base: frame.as_ptr() as *mut libc::c_void,
                    iov_len: frame.len(),
                };
                valid += 1;
            }
            for i in 0..valid {
                let msg = &mut self.msgs[i].msg_hdr;
                msg.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_ll).cast();
                msg.msg_namelen = core::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
                msg.msg_iov = &mut self.iovs[i];
                msg.msg_iovlen = 1;
                msg.msg_control = core::ptr::null_mut();
                msg.msg_controllen = 0;
                msg.msg_flags = 0;
                self.msgs[i].msg_len = 0;
            }
            let mut start = 0;
            while start < valid {
                // SAFETY: msgs[start..valid] point into `self.iovs`, `self.addrs` and
                // `buf`, all alive and unmoved for the duration of the call; the
                // kernel only reads the frames.
                let rc = unsafe {
                    libc::sendmmsg(
                        self.fd.as_raw_fd(),
                        self.msgs.as_mut_ptr().add(start),
                        (valid - start) as u32,
                        0,
                    )
                };
                if rc <= 0 {
                    let interrupted =
                        rc < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted;
                    if !interrupted {
                        // The first message of the rest failed: skip it.
                        out.failed += 1;
                        start += 1;
                    }
                    continue;
                }
                let sent = rc as usize;
                for m in &self.msgs[start..start + sent] {
                    out.sent += 1;
                    out.sent_bytes += m.msg_len as usize;
                }
                start += sent;
            }
            rest = &rest[n..];
        }
        out
    }
}
