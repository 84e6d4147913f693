//! Where rvsd's control socket is: `--socket PATH`, else `$RVS_SOCKET`, else
//! [`DEFAULT_SOCKET`].

use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub use crate::request::DEFAULT_SOCKET;

/// The environment variable naming the control socket.
pub const SOCKET_ENV: &str = "RVS_SOCKET";

/// The socket path to use, given an explicit `--socket` value if any.
pub fn resolve_socket_path(explicit: Option<&Path>) -> PathBuf {
    resolve_from(explicit, std::env::var_os(SOCKET_ENV))
}

/// [`resolve_socket_path`] with the environment value passed in (an empty one counts
/// as unset).
pub fn resolve_from(explicit: Option<&Path>, env: Option<OsString>) -> PathBuf {
    if let Some(path) = explicit {
        return path.to_path_buf();
    }
    match env {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(DEFAULT_SOCKET),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_beats_environment_beats_default() {
        let env = Some(OsString::from("/tmp/env.sock"));
        assert_eq!(
            resolve_from(Some(Path::new("/tmp/x.sock")), env.clone()),
            PathBuf::from("/tmp/x.sock")
        );
        assert_eq!(resolve_from(None, env), PathBuf::from("/tmp/env.sock"));
        assert_eq!(
            resolve_from(None, Some(OsString::new())),
            PathBuf::from(DEFAULT_SOCKET)
        );
        assert_eq!(resolve_from(None, None), PathBuf::from(DEFAULT_SOCKET));
    }
}
