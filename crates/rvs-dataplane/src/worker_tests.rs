//! The worker loop against a scripted backend: verdicts, egress resolution, the
//! waiting queue and the counters, without sockets.

use super::*;
use crate::counters::Counters;
use crate::io::{RxMeta, TxGso, TxOutcome};
use crate::neigh::{Key, Shared};
use core::net::IpAddr;
use rvs_core::verdict::{DropReason, Egress};
use std::collections::VecDeque;
use std::sync::Mutex;

const HOP_READY: [u8; 4] = [10, 0, 0, 2];
const HOP_LATER: [u8; 4] = [10, 0, 0, 3];
const HOP_FAILED: [u8; 4] = [10, 0, 0, 4];

fn nh(last: u8) -> NextHop {
    NextHop {
        ifindex: 7,
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, last],
    }
}

fn key(a: [u8; 4]) -> Key {
    (IpAddr::from(a), false)
}

/// Decides by the byte after the Ethernet header.
struct TagProcessor {
    verified: Arc<Mutex<Vec<bool>>>,
}

impl WorkerProcessor for TagProcessor {
    fn process(&mut self, frame: &mut Frame<'_>, _now: Instant) -> Verdict {
        let fwd = |a: [u8; 4]| {
            Verdict::Forward(Egress {
                next_hop: IpAddr::from(a),
                on_link: false,
            })
        };
        match frame.bytes().get(14).copied() {
            Some(1) => Verdict::Drop(DropReason::Malformed),
            Some(2) => fwd(HOP_READY),
            Some(3) => fwd(HOP_LATER),
            Some(4) => fwd(HOP_FAILED),
            Some(5) => {
                frame.set_len(10);
                fwd(HOP_READY)
            }
            Some(6) => {
                // Encapsulate: 20 new bytes in front, Ethernet header moved there.
                assert!(frame.push_front(20));
                let (buf, start) = frame.raw_mut();
                buf.copy_within(start + 20..start + 34, start);
                fwd(HOP_READY)
            }
            Some(7) => {
                self.verified
                    .lock()
                    .unwrap()
                    .push(frame.checksum_verified());
                Verdict::Pass
            }
            _ => Verdict::Pass,
        }
    }
}

/// Frames sent, with their interface and segmentation request.
type Sent = Vec<(u32, Vec<u8>, Option<TxGso>)>;
type SentLog = Arc<Mutex<Sent>>;

struct MockIo {
    rx: VecDeque<(Vec<u8>, RxMeta)>,
    sent: SentLog,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    waits: usize,
}

impl PacketIo for MockIo {
    fn receive(&mut self, max: usize, sink: &mut dyn FnMut(&[u8], RxMeta) -> bool) -> usize {
        let mut n = 0;
        while n < max {
            let Some((f, m)) = self.rx.pop_front() else {
                break;
            };
            n += 1;
            if !sink(&f, m) {
                break;
            }
        }
        n
    }

    fn transmit(&mut self, buf: &[u8], descs: &[TxDesc]) -> TxOutcome {
        let mut out = TxOutcome::default();
        for d in descs {
            let f = buf[d.offset..d.offset + d.len].to_vec();
            out.sent += 1;
            out.sent_bytes += f.len();
            self.sent.lock().unwrap().push((d.ifindex, f, d.gso));
        }
        out
    }

    fn wait(&mut self, _timeout: Duration) -> std::io::Result<()> {
        self.waits += 1;
        match self.waits {
            // The resolver finishes the pending neighbour.
            2 => self.shared.publish_for_test(&[
                (key(HOP_READY), Resolution::Ready(nh(2))),
                (key(HOP_LATER), Resolution::Ready(nh(3))),
                (key(HOP_FAILED), Resolution::Failed(IoDrop::NoRoute)),
            ]),
            6 => self.stop.store(true, Ordering::Relaxed),
            _ => {}
        }
        Ok(())
    }
}

fn frame(tag: u8, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[12] = 0x08;
    f[14] = tag;
    f
}

fn meta(wire_len: usize) -> RxMeta {
    RxMeta {
        ifindex: 1,
        wire_len,
        csum_partial: false,
        csum_valid: false,
        vlan_stripped: false,
        gso: None,
    }
}

#[test]
fn verdicts_egress_and_waiting_frames() {
    let shared = Arc::new(Shared::default());
    shared.publish_for_test(&[
        (key(HOP_READY), Resolution::Ready(nh(2))),
        (key(HOP_FAILED), Resolution::Failed(IoDrop::NoRoute)),
    ]);
    let (neigh, requests) = NeighCache::for_test(shared.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(Mutex::new(Vec::new()));
    let mut rx = VecDeque::new();
    for (tag, len) in [
        (0, 60),
        (1, 60),
        (2, 60),
        (3, 61),
        (4, 60),
        (5, 60),
        (6, 60),
    ] {
        rx.push_back((frame(tag, len), meta(len)));
    }
    // Truncated by the ring (a GRO/TSO super-frame), and one over max_frame.
    rx.push_back((frame(2, 100), meta(64_000)));
    rx.push_back((frame(2, 3000), meta(3000)));
    // Checksum flags reach the engine.
    let mut valid = meta(60);
    valid.csum_valid = true;
    rx.push_back((frame(7, 60), valid));
    rx.push_back((frame(7, 60), meta(60)));
    // A TSO super-frame: IPv4 + TCP with 3000 payload bytes, cut into three segments
    // that the processor (seeing 0x45 as its tag) passes.
    let mut sup = frame(0x45, 14 + 20 + 20 + 3000);
    sup[16..18].copy_from_slice(&3040u16.to_be_bytes());
    sup[14 + 9] = 6;
    sup[14 + 20 + 12] = 0x50;
    let mut gso = meta(sup.len());
    gso.gso = Some(crate::gso::Gso {
        kind: crate::gso::GsoKind::Tcp,
        size: 1400,
    });
    rx.push_back((sup, gso));
    let verified = Arc::new(Mutex::new(Vec::new()));
    let counters = Arc::new(WorkerCounters::default());
    let worker = Worker {
        processor: TagProcessor {
            verified: verified.clone(),
        },
        io: MockIo {
            rx,
            sent: sent.clone(),
            shared: shared.clone(),
            stop: stop.clone(),
            waits: 0,
        },
        neigh,
        counters: counters.clone(),
        stop,
        tuning: WorkerTuning {
            batch: 4,
            headroom: 64,
            max_frame: 1518,
            spin_rounds: 0,
            poll_timeout: Duration::from_millis(1),
            pending_capacity: 8,
            housekeeping_interval: Duration::from_secs(1),
        },
        clock_origin: StdInstant::now(),
    };
    worker.run();

    // The unknown neighbour was asked for once.
    assert_eq!(
        requests.try_iter().collect::<Vec<_>>(),
        vec![key(HOP_LATER)]
    );
    let c: Counters = counters.snapshot();
    assert_eq!(c.rx_packets, 12);
    assert_eq!(c.pass, 6);
    assert_eq!(c.gso_split, 1);
    assert_eq!(c.engine_drop(DropReason::Malformed), 1);
    assert_eq!(c.io_drop(IoDrop::NoRoute), 1);
    assert_eq!(c.io_drop(IoDrop::Runt), 1);
    assert_eq!(c.io_drop(IoDrop::Oversize), 2);
    assert_eq!(c.resolved_later, 1);
    assert_eq!(c.tx_packets, 3);
    assert_eq!(*verified.lock().unwrap(), vec![true, false]);

    let sent = sent.lock().unwrap();
    let lens: Vec<usize> = sent.iter().map(|(_, f, _)| f.len()).collect();
    // Tag 2 (60), tag 6 encapsulated (80), then the frame that waited (61).
    assert_eq!(lens, vec![60, 80, 61]);
    for (ifindex, f, _) in sent.iter() {
        assert_eq!(*ifindex, 7);
        assert_eq!(&f[6..12], &[2, 0, 0, 0, 0, 1], "source MAC");
    }
    assert_eq!(&sent[0].1[0..6], &[2, 0, 0, 0, 0, 2]);
    assert_eq!(&sent[2].1[0..6], &[2, 0, 0, 0, 0, 3]);
    assert_eq!(
        sent[1].1[12], 0x08,
        "Ethernet header moved in front of the tunnel"
    );
}

/// Rewrites the last byte of the IPv4 destination in place (as NAT would), or
/// encapsulates (as a tunnel would); counts the frames it sees.
struct Rewrite {
    encapsulate: bool,
    seen: Arc<Mutex<Vec<usize>>>,
}

impl WorkerProcessor for Rewrite {
    fn process(&mut self, frame: &mut Frame<'_>, _now: Instant) -> Verdict {
        self.seen.lock().unwrap().push(frame.len());
        if self.encapsulate {
            assert!(frame.push_front(20));
            let (buf, start) = frame.raw_mut();
            buf.copy_within(start + 20..start + 34, start);
        } else {
            frame.bytes_mut()[33] = 99;
        }
        Verdict::Forward(Egress {
            next_hop: IpAddr::from(HOP_READY),
            on_link: false,
        })
    }
}

/// An IPv4 + TCP (ACK) super-frame with 3000 payload bytes, segments of 1400.
fn super_frame() -> (Vec<u8>, RxMeta) {
    let mut f = vec![0u8; 14 + 20 + 20 + 3000];
    f[12] = 0x08;
    f[14] = 0x45;
    f[16..18].copy_from_slice(&3040u16.to_be_bytes());
    f[14 + 9] = 6;
    f[26..34].copy_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    f[14 + 20 + 12] = 0x50;
    f[14 + 20 + 13] = 0x10;
    let mut m = meta(f.len());
    m.gso = Some(crate::gso::Gso {
        kind: crate::gso::GsoKind::Tcp,
        size: 1400,
    });
    (f, m)
}

fn run_rewrite(encapsulate: bool) -> (Vec<usize>, Sent, Counters) {
    let shared = Arc::new(Shared::default());
    shared.publish_for_test(&[(key(HOP_READY), Resolution::Ready(nh(2)))]);
    let (neigh, _requests) = NeighCache::for_test(shared.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let counters = Arc::new(WorkerCounters::default());
    let worker = Worker {
        processor: Rewrite {
            encapsulate,
            seen: seen.clone(),
        },
        io: MockIo {
            rx: VecDeque::from([super_frame()]),
            sent: sent.clone(),
            shared,
            stop: stop.clone(),
            waits: 0,
        },
        neigh,
        counters: counters.clone(),
        stop,
        tuning: WorkerTuning {
            batch: 4,
            headroom: 64,
            max_frame: 1518,
            spin_rounds: 0,
            poll_timeout: Duration::from_millis(1),
            pending_capacity: 8,
            housekeeping_interval: Duration::from_secs(1),
        },
        clock_origin: StdInstant::now(),
    };
    worker.run();
    let seen = seen.lock().unwrap().clone();
    let sent = sent.lock().unwrap().clone();
    (seen, sent, counters.snapshot())
}

#[test]
fn a_super_frame_rewritten_in_place_leaves_whole_for_the_kernel_to_cut() {
    let (seen, sent, c) = run_rewrite(false);
    assert_eq!(
        seen,
        vec![14 + 40 + 1400],
        "the engine saw the first segment only"
    );
    assert_eq!(sent.len(), 1);
    let (ifindex, f, gso) = &sent[0];
    assert_eq!(*ifindex, 7);
    assert_eq!(f.len(), 14 + 40 + 3000);
    assert_eq!(f[33], 99, "the rewrite reached the super-frame");
    assert_eq!(&f[0..6], &[2, 0, 0, 0, 0, 2], "destination MAC");
    let gso = gso.expect("segmentation asked of the kernel");
    assert_eq!((gso.size, gso.hdr_len, gso.csum_start), (1400, 54, 34));
    assert_eq!((c.gso_kept, c.gso_split, c.tx_packets), (1, 0, 1));
}

#[test]
fn a_super_frame_the_engine_encapsulates_is_cut_and_every_segment_processed() {
    let (seen, sent, c) = run_rewrite(true);
    assert_eq!(seen, vec![1454, 1454, 254]);
    let lens: Vec<usize> = sent.iter().map(|(_, f, _)| f.len()).collect();
    assert_eq!(lens, vec![1474, 1474, 274]);
    assert!(sent.iter().all(|(_, _, g)| g.is_none()));
    assert_eq!((c.gso_kept, c.gso_split, c.tx_packets), (0, 1, 3));
}
