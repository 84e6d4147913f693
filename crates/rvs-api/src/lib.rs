//! rvs-api: the control protocol between rvsadm (or any client) and rvsd.
#![forbid(unsafe_code)]

pub mod listing;

pub use rvs_core::model;
