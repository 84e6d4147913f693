//! rvs-ha: keepalived.conf, health checkers, VRRP and the IPVS connection sync protocol.

pub mod check;
pub mod config;
pub mod sync;
pub mod vrrp;
