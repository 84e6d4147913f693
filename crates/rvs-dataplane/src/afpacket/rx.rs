//! A packet receive ring, TPACKET_V2 (the default) or TPACKET_V3.
//!
//! V2: fixed-size frame slots, each handed to user space as soon as it is written,
//! with a wake-up per frame. A frame larger than its slot (a GSO super-frame) is
//! queued whole on the socket (`PACKET_COPY_THRESH`) and read with `recvmsg`.
//!
//! V3: the kernel packs variable-length frames into blocks and hands a whole block
//! to user space when it is full or `retire_timeout` has passed. Memory-efficient,
//! but every frame may wait up to the timeout (a millisecond at least) before user
//! space sees it: at request-response rates that latency bounds throughput.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{fence, Ordering};

use super::sys;
use crate::gso::{Gso, GsoKind};
use crate::io::RxMeta;

#[path = "rx_v2.rs"]
mod v2;

/// Geometry of a receive ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingConfig {
    /// Bytes per block: a power of two, a multiple of the page size.
    pub block_size: u32,
    /// Number of blocks.
    pub block_count: u32,
    /// How long the kernel may keep a partly filled block, in milliseconds.
    pub retire_timeout_ms: u32,
    /// Ask for a virtio-net header before each frame: it tells GSO super-frames
    /// (and their segment size) apart, so they can be cut instead of dropped.
    pub vnet_hdr: bool,
    /// Bytes per frame slot of a TPACKET_V2 ring (a multiple of 16 that divides
    /// `block_size`); 0 asks for a TPACKET_V3 ring instead.
    pub frame_size: u32,
}

impl Default for RingConfig {
    /// TPACKET_V2, 16 blocks of 1 MiB in 2 KiB slots: 8192 frames of up to 1972
    /// bytes (larger ones go through the socket queue).
    fn default() -> Self {
        RingConfig {
            block_size: 1 << 20,
            block_count: 16,
            retire_timeout_ms: 1,
            vnet_hdr: true,
            frame_size: 2048,
        }
    }
}

const PACKET_VNET_HDR: i32 = 15;
const VNET_HDR_LEN: usize = 10;
const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
const VIRTIO_NET_HDR_F_DATA_VALID: u8 = 2;

/// The GSO request of a virtio-net header (`None`: a plain frame, or a kind rvs
/// cannot cut, which then stays oversize).
fn parse_vnet(h: &[u8; VNET_HDR_LEN]) -> (Option<Gso>, bool, bool) {
    let size = u16::from_le_bytes([h[4], h[5]]);
    let kind = match h[1] & 0x7f {
        1 | 4 => Some(GsoKind::Tcp),
        5 => Some(GsoKind::Udp),
        _ => None,
    };
    let gso = kind.map(|kind| Gso { kind, size });
    (
        gso,
        h[0] & VIRTIO_NET_HDR_F_NEEDS_CSUM != 0,
        h[0] & VIRTIO_NET_HDR_F_DATA_VALID != 0,
    )
}

/// Nominal frame size for the kernel's bookkeeping (V3 packs frames by their real
/// size; it only requires block_size / frame_size * block_count == frame count).
const NOMINAL_FRAME: u32 = 2048;

/// A mapped ring bound to one interface.
#[derive(Debug)]
pub struct RxRing {
    fd: OwnedFd,
    map: *mut u8,
    map_len: usize,
    block_size: usize,
    block_count: usize,
    ifindex: u32,
    vnet_hdr: bool,
    /// The block being read.
    block: usize,
    /// Frames left to read in `block` (0: not yet opened).
    left: u32,
    /// Offset in `block` of the next frame.
    offset: usize,
    /// TPACKET_V2 state (`None`: a V3 ring).
    v2: Option<v2::Slots>,
}

// SAFETY: the mapping is owned by this value alone (no other alias exists in the
// process) and is only touched through `&mut self`, so moving it to another thread
// is sound.
unsafe impl Send for RxRing {}

impl RxRing {
    /// Open a ring on interface `ifindex`. With `fanout`, join that fanout group
    /// (`Some(0)`: create a new group with a kernel-chosen unique id); returns the
    /// group id in use.
    pub fn open(
        ifindex: u32,
        cfg: RingConfig,
        fanout: Option<u16>,
    ) -> io::Result<(RxRing, Option<u16>)> {
        let page = 4096u32;
        if !cfg.block_size.is_power_of_two() || cfg.block_size < page || cfg.block_count == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "ring block size must be a power of two of at least 4096 and blocks at least 1",
            ));
        }
        // Protocol 0: the socket receives nothing until bound below, after the ring
        // exists.
        let v2 = cfg.frame_size != 0;
        if v2 && (cfg.frame_size % 16 != 0 || cfg.block_size % cfg.frame_size != 0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "ring frame size must be a multiple of 16 dividing the block size",
            ));
        }
        let fd = sys::packet_socket(0)?;
        let version = if v2 {
            libc::tpacket_versions::TPACKET_V2
        } else {
            libc::tpacket_versions::TPACKET_V3
        };
        sys::set_opt(
            &fd,
            libc::SOL_PACKET,
            libc::PACKET_VERSION,
            &(version as i32),
        )?;
        if cfg.vnet_hdr {
            sys::set_opt(&fd, libc::SOL_PACKET, PACKET_VNET_HDR, &1i32)?;
        }
        // Our own transmissions must not come back as received frames.
        sys::set_opt(&fd, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, &1i32)?;
        if v2 {
            v2::setup(&fd, cfg)?;
        } else {
            let req = libc::tpacket_req3 {
                tp_block_size: cfg.block_size,
                tp_block_nr: cfg.block_count,
                tp_frame_size: NOMINAL_FRAME,
                tp_frame_nr: cfg.block_size / NOMINAL_FRAME * cfg.block_count,
                tp_retire_blk_tov: cfg.retire_timeout_ms,
                tp_sizeof_priv: 0,
                tp_feature_req_word: 0,
            };
            sys::set_opt(&fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &req)?;
        }
        let map_len = cfg.block_size as usize * cfg.block_count as usize;
        // SAFETY: mapping the ring the kernel just allocated for this socket, with
        // the exact size requested; the result is checked.
        let map = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd.as_raw_fd(),
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ring = RxRing {
            fd,
            map: map.cast(),
            map_len,
            block_size: cfg.block_size as usize,
            block_count: cfg.block_count as usize,
            ifindex,
            vnet_hdr: cfg.vnet_hdr,
            block: 0,
            left: 0,
            offset: 0,
            v2: v2.then(|| v2::Slots::new(cfg)),
        };
        // ETH_P_ALL: a socket bound to ETH_P_IP is served after the netdev ingress
        // hook and would miss the frames steering drops.
        sys::bind_ll(&ring.fd, ifindex, sys::ETH_P_ALL)?;
        let group = match fanout {
            None => None,
            Some(id) => {
                // The group replaces the socket's own hook, so it needs its own
                // "ignore outgoing" flag, or our transmissions come back as input.
                let mut flags = libc::PACKET_FANOUT_HASH | libc::PACKET_FANOUT_FLAG_IGNORE_OUTGOING;
                if id == 0 {
                    flags |= libc::PACKET_FANOUT_FLAG_UNIQUEID;
                }
                let arg: u32 = u32::from(id) | (flags << 16);
                sys::set_opt(&ring.fd, libc::SOL_PACKET, libc::PACKET_FANOUT, &arg)?;
                let got = sys::get_opt_u32(&ring.fd, libc::SOL_PACKET, libc::PACKET_FANOUT)?;
                Some((got & 0xffff) as u16)
            }
        };
        Ok((ring, group))
    }

    pub fn fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    pub(crate) fn fd_owned(&self) -> &OwnedFd {
        &self.fd
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    fn block_desc(&self, i: usize) -> *mut libc::tpacket_block_desc {
        // SAFETY: i < block_count, so the offset stays inside the mapping.
        unsafe { self.map.add(i * self.block_size).cast() }
    }

    fn block_status(&self, i: usize) -> u32 {
        let bd = self.block_desc(i);
        // SAFETY: `bd` points at a block header inside the live mapping; the kernel
        // writes it concurrently, hence the volatile read.
        let status =
            unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*bd).hdr.bh1.block_status)) };
        fence(Ordering::Acquire);
        status
    }

    fn release_block(&mut self) {
        let bd = self.block_desc(self.block);
        fence(Ordering::Release);
        // SAFETY: as in `block_status`; handing the block back is a single store.
        unsafe {
            core::ptr::write_volatile(
                core::ptr::addr_of_mut!((*bd).hdr.bh1.block_status),
                libc::TP_STATUS_KERNEL,
            );
        }
        self.block = (self.block + 1) % self.block_count;
        self.left = 0;
        self.offset = 0;
    }

    /// Give up to `max` frames to `sink`; returns how many.
    pub fn receive(&mut self, max: usize, sink: &mut dyn FnMut(&[u8], RxMeta) -> bool) -> usize {
        if self.v2.is_some() {
            return self.receive_v2(max, sink);
        }
        let mut got = 0;
        while got < max {
            if self.left == 0 {
                if self.block_status(self.block) & libc::TP_STATUS_USER == 0 {
                    break;
                }
                let bd = self.block_desc(self.block);
                // SAFETY: the block belongs to user space now (TP_STATUS_USER); its
                // header is inside the mapping.
                let (num, first) = unsafe {
                    let h = core::ptr::addr_of!((*bd).hdr.bh1);
                    ((*h).num_pkts, (*h).offset_to_first_pkt as usize)
                };
                if num == 0 || first >= self.block_size {
                    self.release_block();
                    continue;
                }
                self.left = num;
                self.offset = first;
            }
            match self.frame_at(self.offset) {
                Some((data, meta, next)) => {
                    let more = sink(data, meta);
                    got += 1;
                    self.left -= 1;
                    if self.left == 0 || next == 0 {
                        self.release_block();
                    } else {
                        self.offset += next;
                    }
                    if !more {
                        break;
                    }
                }
                // A header that does not fit the block: never expected from the
                // kernel, but skip the block rather than read out of bounds.
                None => self.release_block(),
            }
        }
        got
    }

    /// The frame whose header is at `offset` in the current block, its metadata and
    /// the offset of the next one, if it lies wholly inside the block.
    fn frame_at(&self, offset: usize) -> Option<(&[u8], RxMeta, usize)> {
        let hdr_len = core::mem::size_of::<libc::tpacket3_hdr>();
        if offset.checked_add(hdr_len)? > self.block_size {
            return None;
        }
        // SAFETY: offset + header size is inside the current block, which user space
        // owns until released; read_unaligned needs no alignment.
        let hdr = unsafe {
            core::ptr::read_unaligned(
                self.map
                    .add(self.block * self.block_size + offset)
                    .cast::<libc::tpacket3_hdr>(),
            )
        };
        let mac = usize::from(hdr.tp_mac);
        let snap = hdr.tp_snaplen as usize;
        if offset + mac + snap > self.block_size {
            return None;
        }
        // SAFETY: the range was checked to lie inside the owned block.
        let data = unsafe {
            core::slice::from_raw_parts(
                self.map.add(self.block * self.block_size + offset + mac),
                snap,
            )
        };
        let mut meta = RxMeta {
            ifindex: self.ifindex,
            wire_len: hdr.tp_len as usize,
            csum_partial: hdr.tp_status & libc::TP_STATUS_CSUMNOTREADY != 0,
            csum_valid: hdr.tp_status & libc::TP_STATUS_CSUM_VALID != 0,
            vlan_stripped: hdr.tp_status & libc::TP_STATUS_VLAN_VALID != 0,
            gso: None,
        };
        if self.vnet_hdr && mac >= hdr_len + VNET_HDR_LEN {
            let mut vnet = [0u8; VNET_HDR_LEN];
            // SAFETY: the header sits right before the frame, after the tpacket
            // header (checked just above), inside the owned block.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    self.map
                        .add(self.block * self.block_size + offset + mac - VNET_HDR_LEN),
                    vnet.as_mut_ptr(),
                    VNET_HDR_LEN,
                );
            }
            apply_vnet(&mut meta, &vnet);
        }
        Some((data, meta, hdr.tp_next_offset as usize))
    }
}

/// Fold what a virtio-net header says into `meta`.
fn apply_vnet(meta: &mut RxMeta, vnet: &[u8; VNET_HDR_LEN]) {
    let (gso, needs_csum, valid) = parse_vnet(vnet);
    meta.gso = gso;
    meta.csum_partial |= needs_csum;
    meta.csum_valid |= valid;
}

impl Drop for RxRing {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping created in `open`, once; no slice
        // into it outlives `&self` borrows.
        unsafe {
            libc::munmap(self.map.cast(), self.map_len);
        }
    }
}
