//! rvs-core: the virtual-server engine, with no I/O and no clock of its own.
//!
//! The caller feeds packets and the current time ([`time::Instant`]); the engine
//! classifies, schedules, tracks connections and rewrites frames in place.
#![forbid(unsafe_code)]

pub mod conn;
pub mod engine;
pub mod estimator;
pub mod model;
pub mod persist;
pub mod sched;
pub mod stats;
pub mod status;
pub mod time;
pub mod verdict;
