//! AF_PACKET backend: one TPACKET_V2 receive ring per owned interface and worker
//! (workers of an interface share it through a hash fanout group), and one send
//! socket per worker that transmits batches with `sendmmsg` (plus one with
//! virtio-net headers for TCP super-frames the kernel segments).
//!
//! Frames are copied out of the ring into the worker's own buffer, behind headroom,
//! so the engine can rewrite and encapsulate them in place and the ring block is
//! returned to the kernel at once.

mod rx;
mod sys;
mod tx;

pub use rx::{RingConfig, RxRing};
pub use sys::ifindex as ifindex_of;
pub use tx::TxSocket;

use crate::io::{PacketIo, RxMeta, TxDesc, TxOutcome};
use std::io;
use std::time::Duration;

/// The rings and the send socket of one worker.
#[derive(Debug)]
pub struct AfPacketIo {
    rings: Vec<RxRing>,
    tx: TxSocket,
    pollfds: Vec<libc::pollfd>,
    next: usize,
}

impl AfPacketIo {
    pub fn new(rings: Vec<RxRing>, tx: TxSocket) -> AfPacketIo {
        let pollfds = rings
            .iter()
            .map(|r| libc::pollfd {
                fd: r.fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        AfPacketIo {
            rings,
            tx,
            pollfds,
            next: 0,
        }
    }
}

impl PacketIo for AfPacketIo {
    fn receive(&mut self, max: usize, sink: &mut dyn FnMut(&[u8], RxMeta) -> bool) -> usize {
        let n_rings = self.rings.len();
        let mut got = 0;
        let mut more = true;
        // Start at a different ring each call so one busy interface cannot starve
        // the others.
        for i in 0..n_rings {
            if got >= max || !more {
                break;
            }
            let ring = &mut self.rings[(self.next + i) % n_rings];
            let mut stop_aware = |data: &[u8], meta: RxMeta| {
                more = sink(data, meta);
                more
            };
            got += ring.receive(max - got, &mut stop_aware);
        }
        if n_rings > 0 {
            self.next = (self.next + 1) % n_rings;
        }
        got
    }

    fn transmit(&mut self, buf: &[u8], descs: &[TxDesc]) -> TxOutcome {
        self.tx.transmit(buf, descs)
    }

    fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        sys::poll(&mut self.pollfds, timeout)?;
        for (pfd, ring) in self.pollfds.iter_mut().zip(&self.rings) {
            if pfd.revents & libc::POLLERR != 0 {
                // The interface went down (ENETDOWN) or similar: reading the error
                // clears it, so poll() does not return at once forever.
                let err = sys::get_opt_u32(ring.fd_owned(), libc::SOL_SOCKET, libc::SO_ERROR);
                eprintln!(
                    "rvs-dataplane: receive ring of interface {}: error {:?}",
                    ring.ifindex(),
                    err.map(|e| io::Error::from_raw_os_error(e as i32))
                );
            }
            if pfd.revents & (libc::POLLHUP | libc::POLLNVAL) != 0 {
                // The interface is gone: stop watching this ring (negative fds are
                // skipped by poll).
                eprintln!(
                    "rvs-dataplane: interface {} is gone; its ring is no longer read",
                    ring.ifindex()
                );
                pfd.fd = -1;
            }
        }
        Ok(())
    }
}
