//! rvs-realserver: prepares a host to be an LVS real server for DR or TUN, and
//! decapsulates IPIP/GRE/GUE in user space where the kernel has no tunnel modules
//! (`ipip`, `ip_gre`, `fou`).
//!
//! `setup` does what the classic real-server script does (VIP on `lo` as a host
//! address, `arp_ignore=1` and `arp_announce=2` on `lo` and `all`, for TUN the
//! `tunl0` device with loose reverse-path filtering) and records every change in a
//! state file, so `teardown` undoes exactly those changes and nothing else.

pub mod args;
pub mod decap;
pub mod nft;
pub mod setup;
pub mod sysctl;
pub mod tun;
