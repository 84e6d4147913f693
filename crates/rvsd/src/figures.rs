//! Where live figures come from. rvsd asks a [`Figures`] for everything a listing
//! shows beyond the configuration, and tells it every change of the desired state.
//! The engine of rvs-core is the real source; [`NoTraffic`] serves a director whose
//! data plane is absent, so swapping one for the other touches only this file and
//! the place that builds the daemon.

use rvs_api::state::ConfigState;
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

/// A director that forwards nothing: every counter is zero and the connection table
/// is empty, which is exactly the truth without a data plane.
#[derive(Debug, Default)]
pub struct NoTraffic;

impl Figures for NoTraffic {
    fn apply(&mut self, _state: &ConfigState, _now: Instant) {}

    fn services(&self, state: &ConfigState, _now: Instant) -> Vec<ServiceEntry> {
        state.snapshot(0).services
    }

    fn connections(&self, _now: Instant) -> Vec<ConnEntry> {
        Vec::new()
    }

    fn zero(&mut self, _service: Option<&ServiceKey>) {}

    fn tick(&mut self, _now: Instant) {}
}
