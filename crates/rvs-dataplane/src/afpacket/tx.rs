//! Batched transmission with `sendmmsg` on one unbound AF_PACKET socket: each
//! message names its output interface, so one socket serves every interface.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use super::sys;
use crate::io::{TxDesc, TxOutcome};

/// Frames per `sendmmsg` call.
pub const TX_BATCH: usize = 64;

/// A send-only packet socket with its reusable message arrays, and a second one
/// with virtio-net headers for super-frames the kernel must segment.
#[derive(Debug)]
pub struct TxSocket {
    fd: OwnedFd,
    gso_fd: OwnedFd,
    msgs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    addrs: Vec<libc::sockaddr_ll>,
}

// SAFETY: the raw pointers inside `msgs`/`iovs` are only meaningful during one
// `transmit` call, which rewrites them all before use; between calls they are
// dead values, so the socket may move to another thread.
unsafe impl Send for TxSocket {}

const PACKET_VNET_HDR: i32 = 15;

/// The frame `d` describes in `buf` and its link-layer destination, if well formed.
fn frame_of<'b>(buf: &'b [u8], d: &TxDesc) -> Option<(&'b [u8], libc::sockaddr_ll)> {
    let frame = buf.get(d.offset..d.offset.checked_add(d.len)?)?;
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    Some((frame, sys::sockaddr_ll(d.ifindex, ethertype)))
}

impl TxSocket {
    /// A socket that sends on any interface. `qdisc_bypass` skips the queueing
    /// discipline (faster, but invisible to the kernel's traffic shaping).
    pub fn open(qdisc_bypass: bool) -> io::Result<TxSocket> {
        let fd = sys::packet_socket(0)?;
        let gso_fd = sys::packet_socket(0)?;
        sys::set_opt(&gso_fd, libc::SOL_PACKET, PACKET_VNET_HDR, &1i32)?;
        if qdisc_bypass {
            for s in [&fd, &gso_fd] {
                sys::set_opt(s, libc::SOL_PACKET, libc::PACKET_QDISC_BYPASS, &1i32)?;
            }
        }
        // SAFETY: these libc structs are plain old data; all-zero is valid.
        let zero_msg: libc::mmsghdr = unsafe { core::mem::zeroed() };
        let zero_iov = libc::iovec {
            iov_base: core::ptr::null_mut(),
            iov_len: 0,
        };
        Ok(TxSocket {
            fd,
            gso_fd,
            msgs: vec![zero_msg; TX_BATCH],
            iovs: vec![zero_iov; TX_BATCH],
            addrs: vec![sys::sockaddr_ll(0, 0); TX_BATCH],
        })
    }

    /// Send every frame of `descs`, in order: plain frames in `sendmmsg` batches of
    /// up to `TX_BATCH`, super-frames one by one behind their virtio-net header. A
    /// frame the kernel refuses is counted as failed and skipped.
    pub fn transmit(&mut self, buf: &[u8], descs: &[TxDesc]) -> TxOutcome {
        let mut out = TxOutcome::default();
        let mut queued = 0;
        for d in descs {
            let Some((frame, addr)) = frame_of(buf, d) else {
                out.failed += 1;
                continue;
            };
            if let Some(gso) = d.gso {
                // Keep the order of the frames: what is queued leaves first.
                self.flush(queued, &mut out);
                queued = 0;
                self.send_gso(frame, addr, gso.vnet_header(), &mut out);
                continue;
            }
            self.addrs[queued] = addr;
            self.iovs[queued] = libc::iovec {
                iov_base: frame.as_ptr() as *mut libc::c_void,
                iov_len: frame.len(),
            };
            queued += 1;
            if queued == TX_BATCH {
                self.flush(queued, &mut out);
                queued = 0;
            }
        }
        self.flush(queued, &mut out);
        out
    }

    /// `sendmmsg` the first `valid` queued frames.
    fn flush(&mut self, valid: usize, out: &mut TxOutcome) {
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
            // SAFETY: msgs[start..valid] point into `self.iovs`, `self.addrs` and the
            // caller's frames, all alive and unmoved for the duration of the call;
            // the kernel only reads the frames.
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
    }

    /// Send one super-frame behind `vnet` on the virtio-net socket.
    fn send_gso(
        &mut self,
        frame: &[u8],
        mut addr: libc::sockaddr_ll,
        mut vnet: [u8; 10],
        out: &mut TxOutcome,
    ) {
        let mut iov = [
            libc::iovec {
                iov_base: vnet.as_mut_ptr().cast(),
                iov_len: vnet.len(),
            },
            libc::iovec {
                iov_base: frame.as_ptr() as *mut libc::c_void,
                iov_len: frame.len(),
            },
        ];
        // SAFETY: msghdr is plain old data; all-zero is valid.
        let mut msg: libc::msghdr = unsafe { core::mem::zeroed() };
        msg.msg_name = (&mut addr as *mut libc::sockaddr_ll).cast();
        msg.msg_namelen = core::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = iov.len();
        loop {
            // SAFETY: `msg` points at `addr`, `iov`, `vnet` and `frame`, all alive
            // for the call; the kernel only reads them.
            let rc = unsafe { libc::sendmsg(self.gso_fd.as_raw_fd(), &msg, 0) };
            if rc >= 0 {
                out.sent += 1;
                out.sent_bytes += frame.len();
                return;
            }
            if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                out.failed += 1;
                return;
            }
        }
    }
}
