//! rvs-lab: the seeds' LVS topologies in network namespaces, for the demo, the
//! end-to-end tests and the system benchmarks.

pub mod bench;
pub mod bins;
pub mod client;
pub mod demo;
pub mod director;
pub mod garbage;
pub mod netns;
pub mod realserver;
pub mod responder;
pub mod topology;
