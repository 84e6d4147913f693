//! The seam between the data plane and the engine: the data plane owns sockets and
//! threads, the engine owns every decision about a frame.

use rvs_core::time::Instant;
use rvs_core::verdict::{Frame, Verdict};

/// Something that hands each worker thread its own frame processor (rvs-core's
/// `Engine` implements it). Called once per worker at start.
pub trait FrameProcessor: Send + Sync + 'static {
    type Worker: WorkerProcessor;

    /// The processor of worker `index` (0-based, `< workers`).
    fn worker(&self, index: usize) -> Self::Worker;
}

/// The per-thread processor: decides about one frame at a time, rewriting it in place.
///
/// `frame` starts at the Ethernet header and has headroom in front of it for tunnel
/// headers. A `Forward` frame must still begin with an Ethernet header (whose MAC
/// addresses the data plane overwrites) and is sent towards `Egress::next_hop`.
pub trait WorkerProcessor: Send + 'static {
    fn process(&mut self, frame: &mut Frame<'_>, now: Instant) -> Verdict;

    /// Called about every `housekeeping_interval` with the current time, also when
    /// idle, so the engine can expire connections without traffic. Default: nothing.
    fn housekeeping(&mut self, _now: Instant) {}
}
