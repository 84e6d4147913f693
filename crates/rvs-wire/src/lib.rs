//! rvs-wire: zero-copy views and emitters of the packets a layer-4 balancer touches.
#![forbid(unsafe_code)]
#![no_std]
