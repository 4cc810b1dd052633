//! The russh adapter: connects, pins the host key, logs in with the managed
//! credential, opens the PTY and shell. Only translation lives here; policy (lock,
//! fan-out, recording) is in the session core.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, AuthResult, KeyboardInteractiveAuthResponse, Msg};
use russh::keys::{PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf, Disconnect, MethodKind};
use vigil_wire::connect::ConnectStep;
use vigil_wire::end::ErrorCode;

use crate::host_pin::{ssh_fingerprint, SshPin};
use crate::{SshAuth, SshTarget};

/// Why a connection failed, as the user is told: a code, and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnectError {
    pub code: ErrorCode,
    pub message: String,
    /// `host_key_changed`: the fingerprint of the key the target presented.
    pub offered: Option<String>,
}

fn error(code: ErrorCode, message: impl Into<String>) -> ConnectError {
    ConnectError {
        code,
        message: message.into(),
        offered: None,
    }
}

/// Bound on the output kept while the shell is set up (a banner and a prompt are a few KiB);
/// past it the connection ends rather than buffering a hostile target's flood.
pub(crate) const MAX_EARLY_OUTPUT: usize = 1024 * 1024;

/// Output collected before the session goes live, refused past a cap.
#[derive(Debug)]
struct EarlyOutput {
    buf: Vec<u8>,
    cap: usize,
}

impl EarlyOutput {
    fn new(cap: usize) -> Self {
        Self {
            buf: Vec::new(),
            cap,
        }
    }

    /// Keeps `data`, or refuses it (keeping nothing more) if the total would pass the cap.
    fn push(&mut self, data: &[u8]) -> Result<(), ConnectError> {
        if self.buf.len().saturating_add(data.len()) > self.cap {
            return Err(error(
                ErrorCode::TargetFlood,
                format!(
                    "the target sent more than {} KiB of output before the shell was ready",
                    self.cap / 1024
                ),
            ));
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    fn into_inner(self) -> Vec<u8> {
        self.buf
    }
}

/// What `check_server_key` saw; read back after the handshake, because russh only
/// reports a refused key as a generic error.
#[derive(Debug, Clone)]
enum HostKeyVerdict {
    Learned(String),
    Matched,
    /// `presented` is the key's fingerprint.
    Changed {
        presented: String,
    },
}

struct Handler {
    pinned: Option<SshPin>,
    verdict: Arc<Mutex<Option<HostKeyVerdict>>>,
}

impl client::Handler for Handler {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            // A host certificate is pinned by the key it certifies.
            PublicKeyOrCertificate::Certificate(cert) => PublicKey::from(cert.public_key().clone()),
        };
        let (verdict, accept) = match &self.pinned {
            None => (
                HostKeyVerdict::Learned(key.to_openssh().unwrap_or_default()),
                true,
            ),
            Some(pinned) if pinned.matches(&key) => (HostKeyVerdict::Matched, true),
            Some(_) => (
                HostKeyVerdict::Changed {
                    presented: ssh_fingerprint(&key),
                },
                false,
            ),
        };
        if let Ok(mut slot) = self.verdict.lock() {
            *slot = Some(verdict);
        }
        Ok(accept)
    }
}

/// A logged-in shell on the target.
pub(crate) struct SshConn {
    handle: client::Handle<Handler>,
    pub read: ChannelReadHalf,
    pub write: ChannelWriteHalf<Msg>,
    /// The host key, when none was pinned (trust on first use).
    pub learned_host_key: Option<String>,
    /// Output that arrived while the shell was being set up.
    pub early_output: Vec<u8>,
}

impl SshConn {
    /// Closes the channel, then the connection; errors are moot at this point.
    pub(crate) async fn close(self, reason: &str) {
        let _ = self.write.close().await;
        let _ = self
            .handle
            .disconnect(Disconnect::ByApplication, reason, "en")
            .await;
    }
}

/// Login and shell setup get at least this long: PAM delays each refused attempt by
/// seconds, and a refusal must surface as `auth_failed`, not as a timeout.
const MIN_LOGIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Connects (TCP and SSH handshake within `timeout`), then logs in and opens a shell in
/// an `xterm-256color` PTY of `cols`×`rows`.
pub(crate) async fn connect(
    target: &SshTarget,
    cols: u16,
    rows: u16,
    timeout: Duration,
    on_step: &(dyn Fn(ConnectStep) + Send + Sync),
) -> Result<SshConn, ConnectError> {
    let addr = format!("{}:{}", target.host, target.port);
    let reached = tokio::time::timeout(timeout, handshake(target, &addr, on_step)).await;
    let (mut handle, learned_host_key) = reached.map_err(|_| {
        error(
            ErrorCode::TargetUnreachable,
            format!("{addr} did not answer within {} s", timeout.as_secs_f32()),
        )
    })??;
    let login_timeout = timeout.max(MIN_LOGIN_TIMEOUT);
    on_step(ConnectStep::Secured);
    let login = async {
        authenticate(&mut handle, target).await?;
        on_step(ConnectStep::Authenticated);
        let shell = open_shell(&handle, cols, rows).await?;
        on_step(ConnectStep::Opened);
        Ok::<_, ConnectError>(shell)
    };
    let (read, write, early_output) = match tokio::time::timeout(login_timeout, login).await {
        Ok(Ok(shell)) => shell,
        Ok(Err(e)) => {
            if e.code == ErrorCode::TargetFlood {
                tracing::warn!(%addr, "target flooded the shell setup; disconnecting");
                // Bounded: the target may not read what the relay sends.
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    handle.disconnect(Disconnect::ByApplication, "output flood", "en"),
                )
                .await;
            }
            return Err(e);
        }
        Err(_) => {
            return Err(error(
                ErrorCode::TargetError,
                format!(
                    "{addr} did not complete the login within {} s",
                    login_timeout.as_secs()
                ),
            ))
        }
    };
    Ok(SshConn {
        handle,
        read,
        write,
        learned_host_key,
        early_output,
    })
}

/// TCP connection and SSH handshake, with the host-key check.
async fn handshake(
    target: &SshTarget,
    addr: &str,
    on_step: &(dyn Fn(ConnectStep) + Send + Sync),
) -> Result<(client::Handle<Handler>, Option<String>), ConnectError> {
    let pinned = match &target.pinned_host_key {
        None => None,
        Some(text) => Some(SshPin::parse(text).map_err(|e| {
            error(
                ErrorCode::TargetError,
                format!("the pinned host key cannot be read: {e}"),
            )
        })?),
    };
    let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| {
        error(
            ErrorCode::TargetUnreachable,
            format!("cannot connect to {addr}: {e}"),
        )
    })?;
    // Keystrokes are tiny packets; Nagle would add latency to every echo.
    let _ = stream.set_nodelay(true);
    on_step(ConnectStep::Reached);

    let verdict = Arc::new(Mutex::new(None));
    let handler = Handler {
        pinned,
        verdict: verdict.clone(),
    };
    let config = Arc::new(client::Config {
        // Notice a dead target instead of waiting forever on a silent socket.
        keepalive_interval: Some(Duration::from_secs(30)),
        ..Default::default()
    });
    let handshake = client::connect_stream(config, stream, handler).await;
    let verdict = verdict.lock().ok().and_then(|v| v.clone());
    if let Some(HostKeyVerdict::Changed { presented }) = verdict.clone() {
        return Err(ConnectError {
            code: ErrorCode::HostKeyChanged,
            message: format!(
                "the host key of {addr} is not the pinned one (it presented {presented}); \
                 an administrator must accept the new key before anyone connects"
            ),
            offered: Some(presented),
        });
    }
    let handle = handshake.map_err(|e| {
        error(
            ErrorCode::TargetError,
            format!("ssh handshake with {addr} failed: {e}"),
        )
    })?;
    let learned_host_key = match verdict {
        Some(HostKeyVerdict::Learned(key)) => Some(key),
        _ => None,
    };
    Ok((handle, learned_host_key))
}

fn protocol_error(e: russh::Error) -> ConnectError {
    error(ErrorCode::TargetError, format!("ssh error: {e}"))
}

async fn authenticate(
    handle: &mut client::Handle<Handler>,
    target: &SshTarget,
) -> Result<(), ConnectError> {
    let user = target.username.clone();
    let refused = || {
        error(
            ErrorCode::AuthFailed,
            format!("the target refused the managed credential for `{user}`"),
        )
    };
    match &target.auth {
        SshAuth::Password(password) => {
            let result = handle
                .authenticate_password(user.clone(), password.expose())
                .await
                .map_err(protocol_error)?;
            match result {
                AuthResult::Success => Ok(()),
                // Targets that take passwords only through PAM prompts.
                AuthResult::Failure {
                    remaining_methods, ..
                } if remaining_methods.contains(&MethodKind::KeyboardInteractive) => {
                    keyboard_interactive(handle, &user, password.expose())
                        .await?
                        .then_some(())
                        .ok_or_else(refused)
                }
                AuthResult::Failure { .. } => Err(refused()),
            }
        }
        SshAuth::PrivateKey(pem) => {
            let key = russh::keys::decode_secret_key(pem.expose(), None).map_err(|e| {
                error(
                    ErrorCode::AuthFailed,
                    format!("the managed private key cannot be read: {e}"),
                )
            })?;
            let hash = handle
                .best_supported_rsa_hash()
                .await
                .map_err(protocol_error)?
                .flatten();
            let result = handle
                .authenticate_publickey(
                    user.clone(),
                    PrivateKeyWithHashAlg::new(Arc::new(key), hash),
                )
                .await
                .map_err(protocol_error)?;
            result.success().then_some(()).ok_or_else(refused)
        }
    }
}

/// Answers every hidden prompt with the password. Bounded: a server that keeps asking
/// is refusing.
async fn keyboard_interactive(
    handle: &mut client::Handle<Handler>,
    user: &str,
    password: &str,
) -> Result<bool, ConnectError> {
    let mut reply = handle
        .authenticate_keyboard_interactive_start(user, None)
        .await
        .map_err(protocol_error)?;
    for _ in 0..4 {
        match reply {
            KeyboardInteractiveAuthResponse::Success => return Ok(true),
            KeyboardInteractiveAuthResponse::Failure { .. } => return Ok(false),
            KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } => {
                let answers = prompts
                    .iter()
                    .map(|p| {
                        if p.echo {
                            String::new()
                        } else {
                            password.to_string()
                        }
                    })
                    .collect();
                reply = handle
                    .authenticate_keyboard_interactive_respond(answers)
                    .await
                    .map_err(protocol_error)?;
            }
        }
    }
    Ok(false)
}

/// Opens the session channel with a PTY and a shell, waiting for the target to accept
/// both (so that a refusal is an error the user sees, not a silent dead terminal).
async fn open_shell(
    handle: &client::Handle<Handler>,
    cols: u16,
    rows: u16,
) -> Result<(ChannelReadHalf, ChannelWriteHalf<Msg>, Vec<u8>), ConnectError> {
    let channel = handle
        .channel_open_session()
        .await
        .map_err(protocol_error)?;
    let (mut read, write) = channel.split();
    write
        .request_pty(
            true,
            "xterm-256color",
            u32::from(cols),
            u32::from(rows),
            0,
            0,
            &[],
        )
        .await
        .map_err(protocol_error)?;
    write.request_shell(true).await.map_err(protocol_error)?;
    let mut early = EarlyOutput::new(MAX_EARLY_OUTPUT);
    let mut accepted = 0;
    while accepted < 2 {
        match read.wait().await {
            Some(ChannelMsg::Success) => accepted += 1,
            Some(ChannelMsg::Failure) => {
                let what = if accepted == 0 {
                    "a terminal"
                } else {
                    "a shell"
                };
                return Err(error(
                    ErrorCode::TargetError,
                    format!("the target refused {what}"),
                ));
            }
            Some(ChannelMsg::Data { data }) | Some(ChannelMsg::ExtendedData { data, .. }) => {
                early.push(&data)?
            }
            Some(_) => {}
            None => {
                return Err(error(
                    ErrorCode::TargetError,
                    "the target closed the channel during setup",
                ))
            }
        }
    }
    Ok((read, write, early.into_inner()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn early_output_is_kept_up_to_the_cap() {
        let mut early = EarlyOutput::new(10);
        early.push(b"login: ").expect("under the cap");
        early.push(b"").expect("nothing");
        early.push(b"abc").expect("exactly the cap");
        assert_eq!(early.into_inner(), b"login: abc");
    }

    #[test]
    fn early_output_past_the_cap_is_a_flood_error_and_is_not_buffered() {
        let mut early = EarlyOutput::new(MAX_EARLY_OUTPUT);
        let chunk = vec![b'x'; 32 * 1024];
        let mut pushed = 0usize;
        let err = loop {
            match early.push(&chunk) {
                Ok(()) => pushed += chunk.len(),
                Err(e) => break e,
            }
            assert!(pushed <= MAX_EARLY_OUTPUT, "no cap");
        };
        assert_eq!(err.code, ErrorCode::TargetFlood);
        assert!(err.message.contains("1024 KiB"), "{}", err.message);
        assert_eq!(pushed, MAX_EARLY_OUTPUT);
        assert_eq!(
            early.buf.len(),
            MAX_EARLY_OUTPUT,
            "the refused chunk is not kept"
        );
        assert!(early.push(b"y").is_err(), "still refused");
    }
}
