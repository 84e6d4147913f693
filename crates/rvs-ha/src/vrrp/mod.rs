//! VRRP (v2 and v3, IPv4 and IPv6) compatible with keepalived: codec, state machine,
//! and the runtime that drives it with raw sockets.

pub mod io;
pub mod machine;
pub mod packet;
pub mod plan;
pub mod runtime;
