//! rvs-api: the control protocol between rvsadm (or any client) and rvsd.
//!
//! - [`request`]: the requests and replies (the shared contract).
//! - [`state::ConfigState`]: the desired state, changed only by validated requests,
//!   and its `diff` for reloads.
//! - [`wire`]: length-prefixed JSON frames over a unix stream socket.
//! - [`client::Client`]: a blocking client for rvsadm and tests.
//! - [`socket`]: where the control socket lives.
#![forbid(unsafe_code)]

pub mod client;
pub mod request;
pub mod socket;
pub mod state;
pub mod wire;

pub use rvs_core::model;
pub use rvs_core::status as listing;
