//! Starting the relay (storage, vault, hub, lifecycle task) and serving it.

use std::future::Future;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use vigil_hub::{Hub, HubConfig};

use crate::auth::ClientAddr;
use crate::config::Config;
use crate::state::AppState;
use crate::store::{self, now_ms};
use crate::vault::Vault;
use crate::{api, lifecycle, tls};

/// Creates the data directory layout and opens the database (migrated).
pub async fn open_storage(config: &Config) -> anyhow::Result<store::Db> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    std::fs::create_dir_all(config.recordings_dir())
        .with_context(|| format!("creating {}", config.recordings_dir().display()))?;
    Ok(store::open(&config.db_path()).await?)
}

/// Everything the server needs, started: database, vault, hub and its lifecycle task.
pub async fn start(config: Config) -> anyhow::Result<AppState> {
    let db = open_storage(&config).await?;
    let stale = store::sessions::end_all_running(&db, now_ms(), "relay restarted").await?;
    if stale > 0 {
        tracing::warn!(
            count = stale,
            "Sessions left running by a previous run marked ended"
        );
    }
    let vault = Vault::open_or_create(&config.secret_key_path())?;
    let (tx, rx) = mpsc::channel(256);
    let hub = Hub::new(HubConfig::new(config.recordings_dir()), tx);
    let state = AppState::new(db, hub, vault, config);
    tokio::spawn(lifecycle::run(state.clone(), rx));
    tokio::spawn(crate::access::watch(state.clone()));
    Ok(state)
}

/// Serves `state` on `listener` until `signal` completes, then shuts down gracefully:
/// sockets close, the hub terminates every session and finishes its recordings.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    signal: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = api::router(state.clone()).into_make_service_with_connect_info::<ClientAddr>();
    let s = state.clone();
    let shutdown = async move {
        signal.await;
        tracing::info!("Shutting down");
        s.shutdown.cancel();
        s.hub.shutdown().await;
    };
    match &state.config.tls {
        Some(files) => {
            let acceptor = tls::acceptor(&files.cert, &files.key)?;
            let listener = tls::TlsListener::new(listener, acceptor)?;
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await?;
        }
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await?
        }
    }
    store::sessions::end_all_running(&state.db, now_ms(), "relay shutting down").await?;
    state.db.close().await;
    Ok(())
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
