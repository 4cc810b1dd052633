//! Fake SSH targets on loopback, for the hub's tests and the relay's hostile-target test.
//!
//! - [`serve`]: russh's server, accepting any password, the PTY and the shell, then doing
//!   what its [`Shell`] says (echo, flood before or after the shell is ready, or never read).
//! - [`serve_broken`]: a raw TCP peer that breaks the SSH handshake ([`Handshake`]):
//!   garbage after the version exchange, a stall after its banner, a close mid-packet.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::PrivateKey;
use russh::server::{Auth, Msg, Session};
use russh::{Channel, ChannelId, Pty};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

use super::fake_net::{self, drain, first_read, noise, LIFETIME};

const CHUNK: usize = 64 * 1024;

/// What the target does once asked for a shell.
#[derive(Clone)]
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
    fake_net::listen("ssh", move |stream| {
        let config = config.clone();
        let handler = Fake {
            shell: shell.clone(),
            channel: None,
        };
        async move {
            let session = russh::server::run_stream(config, stream, handler).await?;
            session.await?;
            Ok(())
        }
    })
    .await
}

/// How a raw peer breaks the SSH handshake.
#[derive(Debug, Clone, Copy)]
pub enum Handshake {
    /// A banner, then 64 KiB of pseudo-random bytes.
    Garbage,
    /// A banner, then nothing (it reads and drops what the client sends).
    Stall,
    /// A banner and the first bytes of a key-exchange packet announcing 300, then close.
    HalfPacket,
}

/// Serves a raw TCP peer breaking the handshake `how` on a loopback port; returns the port.
pub async fn serve_broken(how: Handshake) -> anyhow::Result<u16> {
    fake_net::listen("broken ssh", move |stream| async move {
        break_handshake(stream, how).await?;
        Ok(())
    })
    .await
}

async fn break_handshake(mut stream: TcpStream, how: Handshake) -> std::io::Result<()> {
    stream.write_all(b"SSH-2.0-x\r\n").await?;
    match how {
        Handshake::Garbage => stream.write_all(&noise(64 * 1024, 0x5eed)).await?,
        Handshake::Stall => {}
        Handshake::HalfPacket => {
            first_read(&mut stream).await?;
            // packet_length 300, padding_length 4, SSH_MSG_KEXINIT, half a cookie.
            let mut half = vec![0, 0, 1, 44, 4, 20];
            half.extend(noise(8, 0xc0ffee));
            stream.write_all(&half).await?;
            stream.shutdown().await?;
        }
    }
    drain(&mut stream).await;
    Ok(())
}
