//! Walking a TPACKET_V2 ring: fixed slots, each with its own status word, handed
//! over one by one. A frame larger than a slot (a GSO super-frame) arrives twice: a
//! truncated copy in its slot, flagged `TP_STATUS_COPY`, and the whole frame queued
//! on the socket (`PACKET_COPY_THRESH`), read with `recvmsg` in slot order.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{fence, Ordering};

use super::{apply_vnet, RingConfig, RxRing, VNET_HDR_LEN};
use crate::afpacket::sys;
use crate::io::RxMeta;

const PACKET_COPY_THRESH: i32 = 7;
/// Room for a frame read from the socket queue: a 64 KiB super-frame with its
/// headers fits; anything larger is seen to be larger and dropped as oversize.
const COPY_BUF: usize = 128 << 10;
/// Socket buffer for queued super-frames (each accounts for more than its 64 KiB):
/// a too small one would make the kernel truncate them instead.
const RCVBUF: i32 = 32 << 20;

/// The V2 part of a ring's state.
#[derive(Debug)]
pub(super) struct Slots {
    frame_size: usize,
    per_block: usize,
    count: usize,
    /// The slot to read next.
    next: usize,
    /// Where frames read from the socket queue land (virtio-net header first).
    copy: Vec<u8>,
}

impl Slots {
    pub(super) fn new(cfg: RingConfig) -> Slots {
        let per_block = (cfg.block_size / cfg.frame_size) as usize;
        Slots {
            frame_size: cfg.frame_size as usize,
            per_block,
            count: per_block * cfg.block_count as usize,
            next: 0,
            copy: vec![0; COPY_BUF],
        }
    }
}

/// Ask for a V2 ring of `cfg`'s geometry on `fd`, with oversize frames queued.
pub(super) fn setup(fd: &OwnedFd, cfg: RingConfig) -> io::Result<()> {
    sys::set_opt(fd, libc::SOL_PACKET, PACKET_COPY_THRESH, &1i32)?;
    if sys::set_opt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &RCVBUF).is_err() {
        sys::set_opt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &RCVBUF)?;
    }
    let req = libc::tpacket_req {
        tp_block_size: cfg.block_size,
        tp_block_nr: cfg.block_count,
        tp_frame_size: cfg.frame_size,
        tp_frame_nr: cfg.block_size / cfg.frame_size * cfg.block_count,
    };
    sys::set_opt(fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &req)
}

impl RxRing {
    pub(super) fn receive_v2(
        &mut self,
        max: usize,
        sink: &mut dyn FnMut(&[u8], RxMeta) -> bool,
    ) -> usize {
        let mut got = 0;
        while got < max {
            let Some(slots) = self.v2.as_mut() else {
                break;
            };
            let i = slots.next;
            let at =
                (i / slots.per_block) * self.block_size + (i % slots.per_block) * slots.frame_size;
            // SAFETY: `at` is a slot start inside the mapping (i < count, the
            // geometry the kernel accepted); the slot header fits a slot.
            let hdr_ptr = unsafe { self.map.add(at) }.cast::<libc::tpacket2_hdr>();
            // SAFETY: as above; the kernel writes the status concurrently, hence
            // the volatile read, ordered before the reads of the slot.
            let status =
                unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*hdr_ptr).tp_status)) };
            fence(Ordering::Acquire);
            if status & libc::TP_STATUS_USER == 0 {
                break;
            }
            // SAFETY: the slot belongs to user space now (TP_STATUS_USER).
            let hdr = unsafe { core::ptr::read_unaligned(hdr_ptr) };
            let mut meta = RxMeta {
                ifindex: self.ifindex,
                wire_len: hdr.tp_len as usize,
                csum_partial: status & libc::TP_STATUS_CSUMNOTREADY != 0,
                csum_valid: status & libc::TP_STATUS_CSUM_VALID != 0,
                vlan_stripped: status & libc::TP_STATUS_VLAN_VALID != 0,
                gso: None,
            };
            let mac = usize::from(hdr.tp_mac);
            let snap = hdr.tp_snaplen as usize;
            let more = if status & libc::TP_STATUS_COPY != 0 {
                // The whole frame waits on the socket queue.
                let fd = self.fd.as_raw_fd();
                match read_queued(fd, &mut slots.copy, self.vnet_hdr) {
                    Some((vnet, len)) => {
                        let start = if self.vnet_hdr { VNET_HDR_LEN } else { 0 };
                        let end = (start + len).min(slots.copy.len());
                        meta.wire_len = len;
                        if let Some(v) = vnet {
                            apply_vnet(&mut meta, &v);
                        }
                        sink(&slots.copy[start..end], meta)
                    }
                    // Lost: hand over the truncated copy so it counts as oversize.
                    None => deliver_slot(self.map, at, mac, snap, slots.frame_size, meta, sink),
                }
            } else {
                if self.vnet_hdr && mac >= VNET_HDR_LEN + core::mem::size_of::<libc::tpacket2_hdr>()
                {
                    let mut v = [0u8; VNET_HDR_LEN];
                    // SAFETY: the virtio-net header sits right before the frame,
                    // after the slot header, inside the slot (mac < frame size is
                    // checked by deliver_slot before any frame byte is read).
                    if mac <= slots.frame_size {
                        unsafe {
                            core::ptr::copy_nonoverlapping(
                                self.map.add(at + mac - VNET_HDR_LEN),
                                v.as_mut_ptr(),
                                VNET_HDR_LEN,
                            );
                        }
                        apply_vnet(&mut meta, &v);
                    }
                }
                deliver_slot(self.map, at, mac, snap, slots.frame_size, meta, sink)
            };
            fence(Ordering::Release);
            // SAFETY: handing the slot back is a single store to its status word.
            unsafe {
                core::ptr::write_volatile(
                    core::ptr::addr_of_mut!((*hdr_ptr).tp_status),
                    libc::TP_STATUS_KERNEL,
                );
            }
            slots.next = (i + 1) % slots.count;
            got += 1;
            if !more {
                break;
            }
        }
        got
    }
}

/// Give the frame in the slot at `at` to `sink`, if it lies inside the slot.
fn deliver_slot(
    map: *mut u8,
    at: usize,
    mac: usize,
    snap: usize,
    frame_size: usize,
    meta: RxMeta,
    sink: &mut dyn FnMut(&[u8], RxMeta) -> bool,
) -> bool {
    if mac.saturating_add(snap) > frame_size {
        // Never expected from the kernel: skip rather than read out of the slot.
        return true;
    }
    // SAFETY: the range was checked to lie inside the slot, which user space owns
    // until its status is handed back.
    let data = unsafe { core::slice::from_raw_parts(map.add(at + mac), snap) };
    sink(data, meta)
}

/// Read the next queued frame into `buf`; returns its virtio-net header (when
/// asked for) and its full length, which may exceed what `buf` holds.
fn read_queued(
    fd: i32,
    buf: &mut [u8],
    vnet_hdr: bool,
) -> Option<(Option<[u8; VNET_HDR_LEN]>, usize)> {
    loop {
        // SAFETY: `buf` is a live, exclusively borrowed buffer of the length given.
        let rc = unsafe {
            libc::recv(
                fd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
            )
        };
        if rc < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return None;
        }
        let n = rc as usize;
        if !vnet_hdr {
            return Some((None, n));
        }
        let v: [u8; VNET_HDR_LEN] = buf.get(..VNET_HDR_LEN)?.try_into().ok()?;
        return Some((Some(v), n.checked_sub(VNET_HDR_LEN)?));
    }
}
