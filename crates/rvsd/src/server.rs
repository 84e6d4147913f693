//! The control server: accepts clients on the control socket, checks who they are,
//! and answers their requests through the [`Daemon`], one at a time.

use crate::daemon::Daemon;
use crate::socket::{Access, ControlSocket};
use rvs_api::request::{ApiError, ErrorKind, Request, Response};
use rvs_api::wire::{self, WireError};
use rvs_core::time::Instant;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::watch;
use tracing::{debug, info, warn};

/// The daemon as the server's tasks share it. The lock is never held across an
/// await, so the single control thread never blocks on it.
pub type SharedDaemon = Arc<Mutex<Daemon>>;

pub fn lock(daemon: &SharedDaemon) -> MutexGuard<'_, Daemon> {
    // A panic while holding the lock cannot leave the state half-changed
    // (dispatch validates before it changes anything), so a poisoned lock is usable.
    daemon.lock().unwrap_or_else(|p| p.into_inner())
}

/// rvsd's clock: milliseconds since the daemon started, from a monotonic source.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: std::time::Instant,
}

impl Clock {
    pub fn start() -> Clock {
        Clock {
            origin: std::time::Instant::now(),
        }
    }

    /// The moment the clock reads zero (the data plane's workers must count from it).
    pub fn origin(&self) -> std::time::Instant {
        self.origin
    }

    pub fn now(&self) -> Instant {
        let ms = self.origin.elapsed().as_millis();
        Instant::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
    }
}

/// The largest request a peer that may not use the socket can make us read before
/// it is told so.
const UNPRIVILEGED_FRAME: usize = 64 << 10;

/// Serves clients until `shutdown` turns true (or its sender is dropped), then
/// removes the socket file.
pub async fn serve(
    socket: ControlSocket,
    daemon: SharedDaemon,
    clock: Clock,
    access: Access,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    socket.listener.set_nonblocking(true)?;
    let listener = tokio::net::UnixListener::from_std(socket.listener.try_clone()?)?;
    info!("control socket {}", socket.path().display());
    loop {
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(client(stream, daemon.clone(), clock, access));
                }
                Err(e) => warn!("accept on the control socket: {e}"),
            },
        }
    }
    info!("removing the control socket {}", socket.path().display());
    drop(listener);
    drop(socket);
    Ok(())
}

async fn client(mut stream: UnixStream, daemon: SharedDaemon, clock: Clock, access: Access) {
    let peer = stream.peer_cred().ok().map(|c| c.uid());
    let allowed = peer.is_some_and(|uid| access.allows(uid));
    if !allowed {
        info!(uid = ?peer, "refused a client of the control socket");
    }
    loop {
        let limit = if allowed {
            wire::MAX_FRAME as usize
        } else {
            UNPRIVILEGED_FRAME
        };
        let body = match read_frame(&mut stream, limit).await {
            Ok(body) => body,
            Err(WireError::Closed) => return,
            Err(e) => {
                debug!("control client dropped: {e}");
                return;
            }
        };
        let response: Response = if allowed {
            match wire::decode_envelope(&body) {
                Ok(Request::Reload) => {
                    let hook = lock(&daemon).reload_hook();
                    match hook {
                        Some(reload) => reload(clock.now()),
                        None => lock(&daemon).handle(Request::Reload, clock.now()),
                    }
                }
                Ok(request) => lock(&daemon).handle(request, clock.now()),
                Err(e) => Err(e),
            }
        } else {
            Err(ApiError::new(
                ErrorKind::Permission,
                "only root may use rvsd's control socket",
            ))
        };
        let frame = match wire::encode(&response) {
            Ok(frame) => frame,
            Err(e) => {
                // Most likely a connection listing past MAX_FRAME: say so rather than
                // leaving the client with a closed connection.
                warn!("cannot send an answer: {e}");
                let refusal: Response = Err(ApiError::new(
                    ErrorKind::NoMemory,
                    format!("the answer cannot be sent: {e}"),
                ));
                match wire::encode(&refusal) {
                    Ok(frame) => frame,
                    Err(_) => return,
                }
            }
        };
        if let Err(e) = stream.write_all(&frame).await {
            debug!("control client gone before its answer: {e}");
            return;
        }
        if !allowed {
            return;
        }
    }
}

async fn read_frame(stream: &mut UnixStream, limit: usize) -> Result<Vec<u8>, WireError> {
    let mut header = [0; 4];
    match stream.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(WireError::Closed),
        Err(e) => return Err(e.into()),
    }
    let len = wire::frame_len(header)?;
    if len > limit {
        return Err(WireError::TooLarge(len as u32));
    }
    let mut body = vec![0; len];
    stream.read_exact(&mut body).await?;
    Ok(body)
}

/// A control server on its own thread and runtime, for tests and tools that embed
/// rvsd: the socket is bound before `start` returns, so clients may connect at once.
pub struct BackgroundServer {
    stop: Option<watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<io::Result<()>>>,
    daemon: SharedDaemon,
    path: PathBuf,
}

impl BackgroundServer {
    pub fn start(path: &Path, daemon: Daemon) -> io::Result<BackgroundServer> {
        BackgroundServer::start_with_access(path, daemon, Access::this_process())
    }

    pub fn start_with_access(
        path: &Path,
        daemon: Daemon,
        access: Access,
    ) -> io::Result<BackgroundServer> {
        let socket = ControlSocket::bind(path)?;
        let daemon = Arc::new(Mutex::new(daemon));
        let (stop, stopped) = watch::channel(false);
        let shared = daemon.clone();
        let thread = std::thread::Builder::new()
            .name("rvsd-control".into())
            .spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?
                    .block_on(serve(socket, shared, Clock::start(), access, stopped))
            })?;
        Ok(BackgroundServer {
            stop: Some(stop),
            thread: Some(thread),
            daemon,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn daemon(&self) -> &SharedDaemon {
        &self.daemon
    }

    /// Stops serving and waits until the socket file is gone.
    pub fn stop(mut self) -> io::Result<()> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the control thread panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        let _ = self.shut_down();
    }
}
