//! The IPVS connection synchronisation protocol: codec and daemons.

pub mod codec;
pub mod daemon;
pub mod engine;
