//! rvsadm: ipvsadm 1.31's command line and output over rvsd's control socket.
//!
//! The pieces are I/O-free so that tests can drive them: [`cli`] turns a command
//! line into an [`cli::Action`], [`format`] prints listings exactly as ipvsadm does,
//! [`restore`] reads `-R` input, [`errors`] gives ipvsadm's messages for refusals,
//! and [`exec`] ties them to a [`exec::Backend`].

pub mod cli;
pub mod errors;
pub mod exec;
pub mod format;
pub mod options;
pub mod popt;
pub mod resolve;
pub mod restore;
pub mod usage;
