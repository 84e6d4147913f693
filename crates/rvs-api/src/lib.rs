//! rvs-api: the control protocol between rvsadm (or any client) and rvsd.
#![forbid(unsafe_code)]

pub mod request;

pub use rvs_core::model;
pub use rvs_core::status as listing;
