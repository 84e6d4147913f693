//! rvs-core's engine is the processor rvsd runs: each worker thread gets its own
//! `engine::Worker`. (The engine's `tick` is the control plane's job.)

use rvs_core::engine::{Engine, Worker};
use rvs_core::time::Instant;
use rvs_core::verdict::{Frame, Verdict};

use crate::processor::{FrameProcessor, WorkerProcessor};

impl FrameProcessor for Engine {
    type Worker = Worker;

    fn worker(&self, index: usize) -> Worker {
        Engine::worker(self, index)
    }
}

impl WorkerProcessor for Worker {
    fn process(&mut self, frame: &mut Frame<'_>, now: Instant) -> Verdict {
        Worker::process(self, frame, now)
    }
}
