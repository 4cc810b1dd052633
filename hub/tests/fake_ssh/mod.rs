//! A fake SSH target for the hub's tests: russh's server on a loopback port, accepting
//! any password, the PTY and the shell, then doing what its [`Shell`] says.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::PrivateKey;
use russh::server::{Auth, Msg, Session};
use russh::{Channel, ChannelId, Pty};
use tokio::net::TcpListener;

/// How long a fake keeps a connection before giving up on its peer.
pub const LIFETIME: Duration = Duration::from_secs(30);
const CHUNK: usize = 64 * 1024;

/// What the target does once asked for a shell.
#[derive(Clone)]
#[allow(dead_code)] // each test binary that includes this module uses some of them
pub enum Shell {
    /// Answers, prints a prompt and echoes what it is sent.
    Echo,
    /// Never answers; sends `bytes` of output instead, as the client's window lets it.
    FloodBeforeReady { bytes: usize },
    /// Answers, then sends `bytes` of output, counting what the client took into `sent`,
    /// then closes the channel.
    FloodLive {
        bytes: usize,
        sent: Arc<AtomicUsize>,
    },
    /// Answers and never reads (serve it with a window of 0 and nothing can be written).
    Silent,
}

struct Fake {
    shell: Shell,
    channel: Option<Channel<Msg>>,
}

impl russh::server::Handler for Fake {
    type Error = russh::Error;

    async fn auth_password(&mut self, _user: &str, _password: &str) -> Result<Auth, Self::Error> {
        Ok(Auth::Accept)
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        self.channel = Some(channel);
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _cols: u32,
        _rows: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn shell_request(
        &mut self,
        channel_id: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let (bytes, sent, close) = match &self.shell {
            Shell::Echo => {
                session.channel_success(channel_id)?;
                return session.data(channel_id, Bytes::from_static(b"echo$ "));
            }
            Shell::Silent => return session.channel_success(channel_id),
            Shell::FloodBeforeReady { bytes } => (*bytes, None, false),
            Shell::FloodLive { bytes, sent } => {
                session.channel_success(channel_id)?;
                (*bytes, Some(sent.clone()), true)
            }
        };
        if let Some(channel) = self.channel.take() {
            tokio::spawn(async move {
                let chunk = Bytes::from(vec![b'x'; CHUNK]);
                let flood = async {
                    for _ in 0..bytes / CHUNK {
                        if channel.data_bytes(chunk.clone()).await.is_err() {
                            return;
                        }
                        if let Some(sent) = &sent {
                            sent.fetch_add(CHUNK, Ordering::SeqCst);
                        }
                    }
                    if close {
                        let _ = channel.eof().await;
                        let _ = channel.close().await;
                    }
                };
                let _ = tokio::time::timeout(LIFETIME, flood).await;
            });
        }
        Ok(())
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if matches!(self.shell, Shell::Echo) {
            session.data(channel, Bytes::copy_from_slice(data))?;
        }
        Ok(())
    }
}

/// Serves a fake doing `shell` on a loopback port, with `window_size` bytes of room for
/// the client (None: russh's default); returns the port.
pub async fn serve(shell: Shell, window_size: Option<u32>) -> anyhow::Result<u16> {
    let mut config = russh::server::Config {
        keys: vec![PrivateKey::from(Ed25519Keypair::from_seed(&[9; 32]))],
        auth_rejection_time: Duration::ZERO,
        auth_rejection_time_initial: Some(Duration::ZERO),
        inactivity_timeout: Some(LIFETIME),
        ..Default::default()
    };
    if let Some(w) = window_size {
        config.window_size = w;
    }
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let config = config.clone();
            let handler = Fake {
                shell: shell.clone(),
                channel: None,
            };
            tokio::spawn(async move {
                if let Ok(session) = russh::server::run_stream(config, stream, handler).await {
                    let _ = tokio::time::timeout(LIFETIME, session).await;
                }
            });
        }
    });
    Ok(port)
}
