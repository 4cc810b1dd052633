//! Starting the relay (storage, vault, hub, lifecycle task) and serving it.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use vigil_hub::{Hub, HubConfig};

use crate::audit::{self, AuditKey};
use crate::auth::ClientAddr;
use crate::config::Config;
use crate::state::AppState;
use crate::store::{self, now_ms};
use crate::{api, lifecycle, tls};

/// Creates the data directory layout (owner-only: 0700 directories, a 0600 database)
/// and opens the database (migrated). Refuses a `secret.key` others may read or write.
pub async fn open_storage(config: &Config) -> anyhow::Result<store::Db> {
    private_dir(&config.data_dir)
        .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    private_dir(&config.recordings_dir())
        .with_context(|| format!("creating {}", config.recordings_dir().display()))?;
    warn_if_shared(&config.data_dir);
    crate::vault::check_key_permissions(&config.secret_key_path())?;
    let db_path = config.db_path();
    private_file(&db_path).with_context(|| format!("creating {}", db_path.display()))?;
    Ok(store::open(&db_path).await?)
}

/// [`open_storage`], then the audit key (refused inside the data directory, missing or
/// shared), and the entries written before the audit chain existed chained (once).
/// Every command that writes audit entries opens the database this way.
pub async fn open_audited(config: &Config) -> anyhow::Result<(store::Db, AuditKey)> {
    let db = open_storage(config).await?;
    let key = AuditKey::load(config.audit_key_file.as_deref(), &config.data_dir)?;
    if let Some(n) = store::audit::chain_unchained(&db, &key).await? {
        if n > 0 {
            tracing::info!(
                count = n,
                "Audit entries written before the chain were chained"
            );
        }
    }
    Ok((db, key))
}

/// Creates `dir` (and parents) mode 0700; an existing one is left as the operator set it.
pub fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// An existing data dir keeps the mode its operator gave it, but a shared one is worth a warning.
fn warn_if_shared(dir: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(dir) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    dir = %dir.display(),
                    mode = format!("{mode:o}"),
                    "The data directory is accessible by group or others; chmod 700 is advised"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Creates `path` empty, mode 0600, unless it exists (SQLite then opens it as it is).
fn private_file(path: &std::path::Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Everything the server needs, started: database, vault, hub and its lifecycle task.
pub async fn start(config: Config) -> anyhow::Result<AppState> {
    crate::metrics::install();
    let (db, audit_key) = open_audited(&config).await?;
    let stale = store::sessions::end_all_running(&db, now_ms(), "relay restarted").await?;
    if stale > 0 {
        tracing::warn!(
            count = stale,
            "Sessions left running by a previous run marked ended"
        );
    }
    // Before the hub runs any session: whatever is ended and unsealed now is a previous
    // run's (a relay killed mid-recording included).
    let sealed = audit::seal::seal_left_over(&db, &audit_key, &config.recordings_dir()).await?;
    if sealed > 0 {
        tracing::info!(
            count = sealed,
            "Recordings of a previous run sealed into the audit chain"
        );
    }
    let vault = crate::reseal::open_vault(&config, &db, &audit_key).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    let hub = Hub::new(HubConfig::new(config.recordings_dir()), tx);
    let head_every = config.audit_head_interval;
    let state = AppState::new(db, hub, vault, audit_key, config);
    crate::export::start(
        &state.db,
        state.config.audit_export.as_ref(),
        state.shutdown.clone(),
    )
    .await?;
    tokio::spawn(lifecycle::run(state.clone(), rx));
    tokio::spawn(crate::access::watch(state.clone()));
    tokio::spawn(crate::retention::task(state.clone()));
    let stop = state.shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = crate::metrics::upkeep() => {}
            () = stop.cancelled() => {}
        }
    });
    let (db, stop) = (state.db.clone(), state.shutdown.clone());
    tokio::spawn(async move {
        tokio::select! {
            () = audit::log_head(db, head_every) => {}
            () = stop.cancelled() => {}
        }
    });
    Ok(state)
}

/// Serves `state` on `listener` until `signal` completes, then shuts down gracefully:
/// sockets close, the hub terminates every session and finishes its recordings.
///
/// Every connection holds a slot of `max_connections` (closed at once without one),
/// must send each request's headers within `header_timeout` (also the keep-alive
/// limit between requests), and is closed when no byte moves for `idle_timeout`.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    signal: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let router = api::router(state.clone());
    let s = state.clone();
    let shutdown = async move {
        signal.await;
        tracing::info!("Shutting down");
        s.shutdown.cancel();
        s.hub.shutdown().await;
    };
    tokio::pin!(shutdown);
    let cap = Arc::new(Semaphore::new(state.config.max_connections));
    let limits = Limits {
        header_timeout: state.config.header_timeout,
        idle_timeout: state.config.idle_timeout,
    };
    let stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    let conn = |addr, permit| Conn {
        addr,
        permit,
        router: router.clone(),
        limits,
        stop: stop.clone(),
    };
    match &state.config.tls {
        Some(files) => {
            let acceptor = tls::acceptor(&files.cert, &files.key)?;
            let mut listener = tls::TlsListener::new(listener, acceptor, cap.clone());
            loop {
                tokio::select! {
                    () = &mut shutdown => break,
                    (io, addr, permit) = listener.accept() => conn(addr, permit).serve(io, &tracker),
                }
            }
            drop(listener);
        }
        None => {
            loop {
                tokio::select! {
                    () = &mut shutdown => break,
                    (io, addr, permit) = accept_capped(&listener, &cap) => {
                        conn(addr, permit).serve(io, &tracker);
                    }
                }
            }
            drop(listener);
        }
    }
    stop.cancel();
    tracker.close();
    tracker.wait().await;
    store::sessions::end_all_running(&state.db, now_ms(), "relay shutting down").await?;
    state.db.close().await;
    Ok(())
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    header_timeout: Duration,
    idle_timeout: Duration,
}

/// The next TCP connection that gets a slot of `cap`; those that don't are closed.
pub(crate) async fn accept_capped(
    listener: &TcpListener,
    cap: &Arc<Semaphore>,
) -> (TcpStream, SocketAddr, OwnedSemaphorePermit) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => match cap.clone().try_acquire_owned() {
                Ok(permit) => return (stream, addr, permit),
                Err(_) => {
                    tracing::debug!(%addr, "Connection closed: at the connection limit");
                    drop(stream);
                }
            },
            Err(error) => {
                // Out of file descriptors, typically: back off rather than spin.
                tracing::warn!(%error, "Accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One accepted connection, about to be served.
struct Conn {
    addr: SocketAddr,
    permit: OwnedSemaphorePermit,
    router: Router,
    limits: Limits,
    stop: CancellationToken,
}

impl Conn {
    fn serve<I>(self, io: I, tracker: &TaskTracker)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Conn {
            addr,
            permit,
            router,
            limits,
            stop,
        } = self;
        tracker.spawn(async move {
            let activity = Arc::new(Activity::new());
            // The permit travels with the socket, so an upgraded WebSocket keeps its slot.
            let io = TokioIo::new(Watched {
                inner: io,
                activity: activity.clone(),
                _permit: permit,
            });
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(ClientAddr(addr)));
                router.clone().oneshot(req)
            });
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .keep_alive(true);
            let conn = builder.serve_connection(io, service).with_upgrades();
            tokio::pin!(conn);
            let mut stopping = false;
            loop {
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(error) = result {
                            tracing::debug!(%error, %addr, "Connection ended with an error");
                        }
                        break;
                    }
                    () = stop.cancelled(), if !stopping => {
                        stopping = true;
                        conn.as_mut().graceful_shutdown();
                    }
                    () = activity.idle_for(limits.idle_timeout) => {
                        tracing::debug!(%addr, "Idle connection closed");
                        break;
                    }
                }
            }
        });
    }
}

/// When bytes last moved on a connection.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Resolves once nothing has moved for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let last = self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let deadline = last + limit;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline.into()).await;
        }
    }
}

/// A socket that records activity and holds its connection slot.
struct Watched<I> {
    inner: I,
    activity: Arc<Activity>,
    _permit: OwnedSemaphorePermit,
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Resolves on SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "Cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "Cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
