//! Loopback plumbing shared by the fake targets ([`super::fake_ssh`], [`super::fake_rdp`]):
//! a listener that serves each connection in its own task for at most [`LIFETIME`],
//! deterministic noise, and reads that never wait forever.

use std::future::Future;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _};
use tokio::net::{TcpListener, TcpStream};

/// How long a fake keeps a connection before giving up on its peer.
pub const LIFETIME: Duration = Duration::from_secs(30);

/// Serves every connection to a fresh loopback port with `serve`, each in its own task and
/// for at most [`LIFETIME`]; returns the port. Errors of one connection are printed, never
/// fatal: a fake's peer (the relay) hangs up on it on purpose.
pub async fn listen<F, Fut>(what: &'static str, serve: F) -> anyhow::Result<u16>
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let conn = serve(stream);
            tokio::spawn(async move {
                match tokio::time::timeout(LIFETIME, conn).await {
                    Ok(Ok(())) | Err(_) => {}
                    Ok(Err(e)) => eprintln!("fake target {what}: {e:#}"),
                }
            });
        }
    });
    Ok(port)
}

/// Like [`listen`], for connections whose futures cannot move between threads (IronRDP's
/// acceptor): each is served on a thread of its own, in a single-threaded runtime.
pub async fn listen_on_threads<F, Fut>(what: &'static str, serve: F) -> anyhow::Result<u16>
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + 'static,
{
    let serve = std::sync::Arc::new(serve);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let Ok(stream) = stream.into_std() else {
                continue;
            };
            let serve = serve.clone();
            std::thread::spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => return eprintln!("fake target {what}: runtime: {e}"),
                };
                let outcome = runtime.block_on(async move {
                    let stream = TcpStream::from_std(stream)?;
                    match tokio::time::timeout(LIFETIME, serve(stream)).await {
                        Ok(result) => result,
                        Err(_) => Ok(()),
                    }
                });
                if let Err(e) = outcome {
                    eprintln!("fake target {what}: {e:#}");
                }
            });
        }
    });
    Ok(port)
}

/// Deterministic noise (xorshift), so that every run sees the same garbage.
pub fn noise(len: usize, mut state: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[3]
        })
        .collect()
}

/// Reads (and drops) what the peer sends until it closes, or [`LIFETIME`] ends.
pub async fn drain<R: AsyncRead + Unpin>(reader: &mut R) {
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(LIFETIME, async {
        while let Ok(n) = reader.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// Waits for the peer's first bytes (an SSH banner, an X.224 request) and drops them.
pub async fn first_read(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    match tokio::time::timeout(LIFETIME, stream.read(&mut buf)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}
