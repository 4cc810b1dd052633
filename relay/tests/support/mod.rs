//! The harness every relay integration test shares: the relay's router on a real socket
//! (127.0.0.1:0) with a data dir of the test's, stopped when the [`Relay`] is dropped.

use std::net::SocketAddr;

use vigil_relay::config::Config;
use vigil_relay::AppState;

pub struct Relay {
    /// `http://127.0.0.1:<port>/api/v1`
    pub base: String,
    #[allow(dead_code)] // read by some of the test binaries that include this module
    pub addr: SocketAddr,
    pub state: AppState,
    #[allow(dead_code)] // read by some of the test binaries that include this module
    pub dir: tempfile::TempDir,
    /// Dropping it stops the server; a test that fakes a crash forgets it.
    pub _stop: tokio::sync::oneshot::Sender<()>,
    served: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Relay {
    /// Shuts the relay down and waits for it, every connection task included, for at
    /// most `within`.
    #[allow(dead_code)] // used by some of the test binaries that include this module
    pub async fn stop(self, within: std::time::Duration) -> Result<(), Box<dyn std::error::Error>> {
        self.stop_keeping_dir(within).await.map(drop)
    }

    /// [`Relay::stop`], handing back the data directory for a relay started after it.
    #[allow(dead_code)] // used by some of the test binaries that include this module
    pub async fn stop_keeping_dir(
        self,
        within: std::time::Duration,
    ) -> Result<tempfile::TempDir, Box<dyn std::error::Error>> {
        let _ = self._stop.send(());
        tokio::time::timeout(within, self.served)
            .await
            .map_err(|_| format!("the relay did not shut down within {within:?}"))???;
        Ok(self.dir)
    }
}

/// Starts a relay on `dir` (which may hold a previous run's data), its configuration
/// changed by `adjust`. The app it serves is a placeholder page and wasm file.
pub async fn start(
    dir: tempfile::TempDir,
    adjust: impl FnOnce(&mut Config),
) -> Result<Relay, Box<dyn std::error::Error>> {
    let mut config = Config::with_data_dir(dir.path().join("data"));
    config.dist_dir = dir.path().join("dist");
    std::fs::create_dir_all(&config.dist_dir)?;
    std::fs::write(
        config.dist_dir.join("index.html"),
        "<!doctype html><title>vigil</title>",
    )?;
    std::fs::write(config.dist_dir.join("app_bg.wasm"), b"\0asm\x01\0\0\0")?;
    adjust(&mut config);
    let state = vigil_relay::app::start(config).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(vigil_relay::app::serve(
        state.clone(),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    Ok(Relay {
        base: format!("http://{addr}/api/v1"),
        addr,
        state,
        dir,
        _stop: stop,
        served,
    })
}
