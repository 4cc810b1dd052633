//! Optional TLS: a listener that does handshakes off the accept path (a slow client
//! can't hold up others) and hands finished streams over. Each accepted connection
//! takes a slot of the connection cap first; without one it is closed at once.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {reason}")]
    Pem { path: String, reason: String },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let pem_err = |p: &Path, e: &dyn std::fmt::Display| TlsError::Pem {
        path: p.display().to_string(),
        reason: e.to_string(),
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| pem_err(cert, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(cert, &e))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_err(key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    // axum is built with HTTP/1 only here; do not offer h2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

type Accepted = (TlsStream<TcpStream>, SocketAddr, OwnedSemaphorePermit);

pub struct TlsListener {
    rx: mpsc::Receiver<Accepted>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsListener {
    pub fn new(tcp: TcpListener, acceptor: TlsAcceptor, cap: Arc<Semaphore>) -> TlsListener {
        let (tx, rx) = mpsc::channel(64);
        let task = tokio::spawn(async move {
            loop {
                let (stream, addr, permit) = crate::app::accept_capped(&tcp, &cap).await;
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, addr, permit)).await;
                        }
                        Ok(Err(error)) => tracing::debug!(%error, %addr, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
                    }
                });
            }
        });
        TlsListener { rx, task }
    }

    /// The next connection whose handshake finished, with its slot of the cap.
    pub async fn accept(&mut self) -> Accepted {
        match self.rx.recv().await {
            Some(conn) => conn,
            // The accept task only stops with the listener.
            None => std::future::pending().await,
        }
    }
}
