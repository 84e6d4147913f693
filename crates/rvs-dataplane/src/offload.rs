//! Receive offloads on owned interfaces.
//!
//! GRO and LRO merge consecutive TCP segments into one large frame before the
//! packet taps see them; rvs forwards frames one by one and must not send such a
//! super-frame on. They are switched off on every owned interface (and logged), and
//! switched back on at shutdown. Partial checksums are finished instead (see
//! [`crate::checksum`]), so checksum offloads stay as they are.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const ETHTOOL_GFLAGS: u32 = 0x25;
const ETHTOOL_SFLAGS: u32 = 0x26;
const ETHTOOL_GGRO: u32 = 0x2b;
const ETHTOOL_SGRO: u32 = 0x2c;
const ETH_FLAG_LRO: u32 = 1 << 15;

#[repr(C)]
#[derive(Clone, Copy)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

fn ctl_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ethtool(sock: &OwnedFd, ifname: &str, cmd: u32, data: u32) -> io::Result<u32> {
    let name = ifname.as_bytes();
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {ifname:?}"),
        ));
    }
    let mut value = EthtoolValue { cmd, data };
    // SAFETY: ifreq is plain old data; all-zero is valid.
    let mut ifr: libc::ifreq = unsafe { core::mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(name) {
        *dst = *src as libc::c_char;
    }
    ifr.ifr_ifru.ifru_data = (&mut value as *mut EthtoolValue).cast();
    // SAFETY: `ifr` and the `value` it points to live across the call; SIOCETHTOOL
    // reads and writes only an ethtool_value for these commands.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCETHTOOL as _, &mut ifr) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value.data)
}

/// What was changed on one interface, to undo it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Changed {
    ifname: String,
    gro_was_on: bool,
    lro_was_on: bool,
}

/// Receive offloads turned off on some interfaces; dropping it turns them back on
/// (in the network namespace they were turned off in, whichever thread drops it).
#[derive(Debug, Default)]
pub struct OffloadGuard {
    changed: Vec<Changed>,
    netns: Option<std::fs::File>,
}

impl OffloadGuard {
    /// Turn GRO and LRO off on `interfaces`. A device that does not support the
    /// request keeps its setting (it then has nothing to turn off).
    pub fn disable_receive_offloads(interfaces: &[String]) -> io::Result<OffloadGuard> {
        let sock = ctl_socket()?;
        let mut guard = OffloadGuard {
            changed: Vec::new(),
            netns: std::fs::File::open("/proc/thread-self/ns/net").ok(),
        };
        for ifname in interfaces {
            let gro_was_on = ethtool(&sock, ifname, ETHTOOL_GGRO, 0).unwrap_or(0) != 0;
            let flags = ethtool(&sock, ifname, ETHTOOL_GFLAGS, 0).unwrap_or(0);
            let lro_was_on = flags & ETH_FLAG_LRO != 0;
            if gro_was_on {
                ethtool(&sock, ifname, ETHTOOL_SGRO, 0)?;
                eprintln!("rvs-dataplane: turned GRO off on {ifname}");
            }
            if lro_was_on {
                ethtool(&sock, ifname, ETHTOOL_SFLAGS, flags & !ETH_FLAG_LRO)?;
                eprintln!("rvs-dataplane: turned LRO off on {ifname}");
            }
            if gro_was_on || lro_was_on {
                guard.changed.push(Changed {
                    ifname: ifname.clone(),
                    gro_was_on,
                    lro_was_on,
                });
            }
        }
        Ok(guard)
    }

    /// Whether GRO is on for `ifname` now.
    pub fn gro_enabled(ifname: &str) -> io::Result<bool> {
        Ok(ethtool(&ctl_socket()?, ifname, ETHTOOL_GGRO, 0)? != 0)
    }

    /// Turn GRO on or off on `ifname` (used by tests and tools).
    pub fn set_gro(ifname: &str, on: bool) -> io::Result<()> {
        ethtool(&ctl_socket()?, ifname, ETHTOOL_SGRO, u32::from(on)).map(|_| ())
    }
}

fn restore(changed: Vec<Changed>) {
    let Ok(sock) = ctl_socket() else { return };
    for c in changed {
        if c.gro_was_on {
            let _ = ethtool(&sock, &c.ifname, ETHTOOL_SGRO, 1);
        }
        if c.lro_was_on {
            if let Ok(flags) = ethtool(&sock, &c.ifname, ETHTOOL_GFLAGS, 0) {
                let _ = ethtool(&sock, &c.ifname, ETHTOOL_SFLAGS, flags | ETH_FLAG_LRO);
            }
        }
    }
}

impl Drop for OffloadGuard {
    fn drop(&mut self) {
        let changed = std::mem::take(&mut self.changed);
        if changed.is_empty() {
            return;
        }
        let Some(ns) = self.netns.take() else {
            restore(changed);
            return;
        };
        // The interfaces live in the namespace of the thread that changed them: do
        // the work on a short-lived thread that enters it.
        let worker = std::thread::spawn(move || {
            // SAFETY: setns on a valid namespace descriptor changes only this thread.
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } == 0 {
                restore(changed);
            }
        });
        let _ = worker.join();
    }
}
