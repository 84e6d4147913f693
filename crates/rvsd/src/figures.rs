//! Where live figures come from. rvsd asks a [`Figures`] for everything a listing
//! shows beyond the configuration, and tells it every change of the desired state.
//! [`EngineFigures`] is the real source: the rvs-core engine, which the data plane's
//! workers (when started) feed with packets.

use rvs_api::state::ConfigState;
use rvs_core::engine::Engine;
use rvs_core::model::ServiceKey;
use rvs_core::status::{ConnEntry, ServiceEntry};
use rvs_core::time::Instant;

pub trait Figures: Send {
    /// The desired state changed (already validated); make it the running one.
    fn apply(&mut self, state: &ConfigState, now: Instant);
    /// The services of `state` with their live figures, in `state`'s order.
    fn services(&self, state: &ConfigState, now: Instant) -> Vec<ServiceEntry>;
    /// The connection table.
    fn connections(&self, now: Instant) -> Vec<ConnEntry>;
    /// `-Z`: zero the counters of one service or of all.
    fn zero(&mut self, service: Option<&ServiceKey>);
    /// Once a second: expire what is due, update rates.
    fn tick(&mut self, now: Instant);
}

/// The engine as rvsd's source of figures. Without a data plane it still runs, so
/// listings are the engine's own (all zero until packets flow).
#[derive(Debug, Clone)]
pub struct EngineFigures {
    engine: Engine,
}

impl EngineFigures {
    pub fn new(engine: Engine) -> EngineFigures {
        EngineFigures { engine }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl Figures for EngineFigures {
    fn apply(&mut self, state: &ConfigState, now: Instant) {
        // Firewall-mark services receive the packets of the state's rules (rvsadm
        // --add-mark), since the kernel's skb mark is invisible to a userspace data plane.
        self.engine.apply(
            state.services(),
            state.fwmark_rules(),
            state.timeouts(),
            now,
        );
    }

    fn services(&self, _state: &ConfigState, now: Instant) -> Vec<ServiceEntry> {
        // The engine lists services in the order `apply` gave them: the state's.
        self.engine.status(now)
    }

    fn connections(&self, now: Instant) -> Vec<ConnEntry> {
        self.engine.connections(now)
    }

    fn zero(&mut self, service: Option<&ServiceKey>) {
        self.engine.zero(service.copied());
    }

    fn tick(&mut self, now: Instant) {
        self.engine.tick(now);
    }
}
