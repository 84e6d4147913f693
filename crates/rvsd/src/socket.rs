//! The control socket's file: created root-only, a stale one replaced, removed on
//! exit; and who may talk to it.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Whether a peer may use the control socket: root, or the user rvsd runs as (so an
/// unprivileged rvsd for tests can be driven by the same user). The socket's mode
/// (0600) already keeps others out; this check also covers a socket whose mode was
/// changed by hand.
pub fn peer_allowed(peer_uid: u32, own_uid: u32) -> bool {
    Access::for_process_uid(own_uid).allows(peer_uid)
}

/// Who may use the control socket, checked with SO_PEERCRED on each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// The user rvsd runs as.
    pub own_uid: u32,
    /// Whether root may connect (always, in rvsd; tests turn it off to see a refusal).
    pub root: bool,
}

impl Access {
    /// rvsd's rule: root and rvsd's own user.
    pub fn for_process_uid(own_uid: u32) -> Access {
        Access {
            own_uid,
            root: true,
        }
    }

    /// The rule for this process.
    pub fn this_process() -> Access {
        Access::for_process_uid(own_uid())
    }

    pub fn allows(&self, peer_uid: u32) -> bool {
        (self.root && peer_uid == 0) || peer_uid == self.own_uid
    }
}

/// The user rvsd runs as.
pub fn own_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// A bound control socket; dropping it removes the socket file (if it is still ours).
#[derive(Debug)]
pub struct ControlSocket {
    pub listener: UnixListener,
    path: PathBuf,
    inode: u64,
}

impl ControlSocket {
    /// Binds `path` with mode 0600, creating its directory (mode 0755) if needed.
    /// A socket file nobody listens on is replaced; a live one means another rvsd
    /// runs, and anything that is not a socket is left alone: both are errors.
    pub fn bind(path: &Path) -> io::Result<ControlSocket> {
        let context = |what: &str, e: io::Error| {
            io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(dir)
                .map_err(|e| context("cannot create the directory of", e))?;
        }
        match fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => {
                if UnixStream::connect(path).is_ok() {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!("another rvsd is listening on {}", path.display()),
                    ));
                }
                fs::remove_file(path).map_err(|e| context("cannot remove the stale socket", e))?;
                tracing::info!("replaced the stale socket {}", path.display());
            }
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists and is not a socket", path.display()),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(context("cannot inspect", e)),
        }
        // Bind under a temporary name, restrict it, then move it in place: the socket
        // is never reachable with a wider mode than 0600.
        let tmp = temp_name(path);
        let _ = fs::remove_file(&tmp);
        let listener = UnixListener::bind(&tmp).map_err(|e| context("cannot bind", e))?;
        let placed = fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600))
            .and_then(|()| fs::rename(&tmp, path));
        if let Err(e) = placed {
            let _ = fs::remove_file(&tmp);
            return Err(context("cannot set up", e));
        }
        let inode = fs::symlink_metadata(path)
            .map_err(|e| context("cannot inspect", e))?
            .ino();
        Ok(ControlSocket {
            listener,
            path: path.to_path_buf(),
            inode,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        // Only remove the file if it is still the one we bound (not a newer rvsd's).
        if fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.inode) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A short name beside `path` (socket paths are limited to 107 bytes, so the
/// temporary one must not be much longer than the final one).
fn temp_name(path: &Path) -> PathBuf {
    // Unique within the process too: an embedding program may bind several sockets.
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".rvsd-{}-{n}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_root_and_our_own_user_are_allowed() {
        assert!(peer_allowed(0, 1000));
        assert!(peer_allowed(1000, 1000));
        assert!(!peer_allowed(1001, 1000));
        assert!(peer_allowed(0, 0));
        assert!(!peer_allowed(65534, 0));
    }

    #[test]
    fn the_socket_is_root_only_replaces_a_stale_one_and_is_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/rvs/rvsd.sock");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        // A socket file whose owner is gone without cleaning up.
        drop(UnixListener::bind(&path).unwrap());
        let socket = ControlSocket::bind(&path).unwrap();
        let meta = fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.mode() & 0o777, 0o600);
        // A live socket is not taken over.
        let e = ControlSocket::bind(&path).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        drop(socket);
        assert!(!path.exists(), "the socket file outlived its server");
    }

    #[test]
    fn a_file_that_is_not_a_socket_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rvsd.sock");
        fs::write(&path, "not a socket").unwrap();
        let e = ControlSocket::bind(&path).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read_to_string(&path).unwrap(), "not a socket");
    }
}
