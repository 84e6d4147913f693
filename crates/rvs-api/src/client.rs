//! A blocking client of rvsd's control socket, for rvsadm and tests.
//!
//! ```no_run
//! use rvs_api::{client::Client, request::Request, socket::resolve_socket_path};
//! let mut client = Client::connect(resolve_socket_path(None))?;
//! let reply = client.call(Request::GetSnapshot)?;
//! # Ok::<(), rvs_api::client::ClientError>(())
//! ```

use crate::request::{ApiError, ErrorKind, Reply, Request};
use crate::wire::{self, WireError};
use std::io;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// Why a call did not get a reply. `Api` is rvsd's refusal of the request itself
/// (its `kind` is the errno ipvsadm's message depends on); the others mean the
/// request never got a judgement.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("rvsd is not running (no socket at {})", path.display())]
    NotRunning { path: PathBuf },
    #[error("permission denied on {} (rvsd's socket is root-only)", path.display())]
    PermissionDenied { path: PathBuf },
    #[error("{0}")]
    Api(ApiError),
    #[error("{0}")]
    Protocol(String),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

impl ClientError {
    /// rvsd's refusal, when that is what happened.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            ClientError::Api(e) => Some(e),
            _ => None,
        }
    }
}

/// One connection to rvsd; several calls may follow each other on it.
#[derive(Debug)]
pub struct Client {
    stream: UnixStream,
    path: PathBuf,
}

impl Client {
    pub fn connect(path: impl AsRef<Path>) -> Result<Client, ClientError> {
        let path = path.as_ref().to_path_buf();
        match UnixStream::connect(&path) {
            Ok(stream) => Ok(Client { stream, path }),
            Err(e) => Err(connect_error(path, e)),
        }
    }

    /// The socket this client is connected to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends one request and waits for its answer.
    pub fn call(&mut self, request: Request) -> Result<Reply, ClientError> {
        let path = &self.path;
        let io_error = |e: WireError| match e {
            WireError::Io(source) => ClientError::Io {
                path: path.clone(),
                source,
            },
            WireError::Closed => ClientError::Protocol(format!(
                "rvsd closed the connection on {} without answering",
                path.display()
            )),
            other => ClientError::Protocol(other.to_string()),
        };
        wire::write_frame(&mut self.stream, &wire::envelope(request)).map_err(io_error)?;
        let body = wire::read_frame(&mut self.stream).map_err(io_error)?;
        match wire::decode_response(&body) {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => Err(match e.kind {
                ErrorKind::Permission => ClientError::PermissionDenied { path: path.clone() },
                ErrorKind::Protocol => ClientError::Protocol(e.message),
                _ => ClientError::Api(e),
            }),
            Err(e) => Err(ClientError::Protocol(format!(
                "rvsd's answer could not be read (is rvsd of another release?): {e}"
            ))),
        }
    }
}

fn connect_error(path: PathBuf, e: io::Error) -> ClientError {
    match e.kind() {
        // No socket file, or a file left behind by an rvsd that is gone.
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
            ClientError::NotRunning { path }
        }
        io::ErrorKind::PermissionDenied => ClientError::PermissionDenied { path },
        _ => ClientError::Io { path, source: e },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_socket_says_rvsd_is_not_running() {
        let path = std::env::temp_dir().join(format!("rvs-no-such-{}.sock", std::process::id()));
        let e = Client::connect(&path).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("rvsd is not running (no socket at {})", path.display())
        );
    }

    #[test]
    fn a_stale_socket_says_rvsd_is_not_running() {
        let dir = std::env::temp_dir().join(format!("rvs-stale-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("rvsd.sock");
        let _ = std::fs::remove_file(&path);
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let e = Client::connect(&path).unwrap_err();
        assert!(matches!(e, ClientError::NotRunning { .. }), "{e:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn permission_errors_name_the_socket() {
        let e = connect_error(
            PathBuf::from("/run/rvs/rvsd.sock"),
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        assert_eq!(
            e.to_string(),
            "permission denied on /run/rvs/rvsd.sock (rvsd's socket is root-only)"
        );
    }
}
