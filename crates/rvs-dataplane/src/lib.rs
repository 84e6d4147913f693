//! rvs-dataplane: packet I/O, steering, route and neighbour resolution, workers.
//!
//! rvsd starts the data plane with [`Dataplane::start`], giving it the interfaces it
//! owns and a [`FrameProcessor`] (the engine). Each worker thread reads frames from
//! AF_PACKET rings, hands them to its [`WorkerProcessor`], resolves the egress of
//! forwarded frames through the kernel's routes and neighbours, and sends them in
//! batches. [`Steering`] hides the claimed packets from the kernel.
//!
//! Choices, and why:
//! - Receive: one TPACKET_V2 ring per (worker, interface), bound with `ETH_P_ALL`
//!   (taps run before the netdev ingress hook, so steering's drop rule does not hide
//!   frames from us) and `PACKET_IGNORE_OUTGOING` (also on the fanout group, which
//!   replaces the socket's own hook). Workers share an interface through a hash
//!   fanout group. V2 hands each frame over as soon as it is written; V3 (still
//!   available, `RingConfig::frame_size = 0`) holds frames until a block retires,
//!   at least a millisecond, which capped request-response traffic. Frames larger
//!   than a V2 slot (super-frames) come whole through the socket queue.
//! - Frames are copied out of the ring into the worker's own slots, behind
//!   `headroom` bytes, so the engine rewrites and encapsulates in place and ring
//!   blocks go back to the kernel at once.
//! - Each frame carries a virtio-net header. A TCP super-frame (TSO from a veth
//!   peer or a local sender) stays whole: the engine sees its first segment, and
//!   when it only rewrote headers in place (NAT, DR, FULLNAT) the super-frame gets
//!   the same headers and leaves with a virtio-net header for the kernel to segment
//!   ([`gso::keep_whole`]); one engine pass and one send per 64 KiB instead of ~45.
//!   Other super-frames (tunnels, UDP_SEGMENT, FIN) are cut into segments like the
//!   kernel's GSO would ([`gso`]); partial checksums are finished ([`checksum`]);
//!   frames the kernel verified are marked so the engine skips verification.
//! - GRO and LRO are turned off on owned interfaces (logged, restored at shutdown).
//! - Send: one unbound packet socket per worker, `sendmmsg` batches, each message
//!   naming its interface; a second one with `PACKET_VNET_HDR` for super-frames.
//! - Egress: [`neigh`] resolves next hops through the kernel's routes and
//!   neighbours (NTF_USE to make the kernel resolve unknown ones; frames wait in a
//!   bounded per-worker queue meanwhile).
//! - Idle workers spin briefly (yielding), then sleep in `poll()`.
//! - `nft` runs and offloads are restored in the network namespace `start` ran in,
//!   whichever thread later updates or stops the data plane.

pub mod afpacket;
pub mod checksum;
pub mod counters;
mod dataplane;
mod engine;
pub mod gso;
pub mod io;
pub mod neigh;
pub mod offload;
pub mod processor;
pub mod steering;
mod worker;

pub use counters::{Counters, IoDrop};
pub use dataplane::{Dataplane, DataplaneConfig, DataplaneError, DataplaneHandle};
pub use processor::{FrameProcessor, WorkerProcessor};
pub use steering::{Steering, SteeringError};
