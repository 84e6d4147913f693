//! rvs-dataplane: packet I/O, steering, route and neighbour resolution, workers.
//!
//! rvsd starts the data plane with [`Dataplane::start`], giving it the interfaces it
//! owns and a [`FrameProcessor`] (the engine). Each worker thread reads frames from
//! AF_PACKET rings, hands them to its [`WorkerProcessor`], resolves the egress of
//! forwarded frames through the kernel's routes and neighbours, and sends them in
//! batches. [`Steering`] hides the claimed packets from the kernel.

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
