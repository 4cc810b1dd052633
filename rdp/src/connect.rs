//! The IO edge: TCP → X.224 negotiation → TLS (pinned) → CredSSP/NLA when the server selects it
//! → capability exchange and finalization. Everything after this is sans-IO ([`crate::Stream`]).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ironrdp_connector::credssp::CredsspSequence;
use ironrdp_connector::sspi::generator::NetworkRequest;
use ironrdp_connector::{
    BitmapConfig, ClientConnector, Config, ConnectionOutcome, ConnectorResult, Credentials,
    ServerName,
};
use ironrdp_core::WriteBuf;
use ironrdp_pdu::gcc::{ConnectionType, KeyboardType};
use ironrdp_pdu::rdp::capability_sets::{
    BitmapCodecs, CaptureFlags, Codec as CodecCap, CodecProperty, EntropyBits, MajorPlatformType,
    RailSupportLevel, RemoteFxContainer, RfxCaps, RfxCapset, RfxClientCapsContainer, RfxICap,
    RfxICapFlags,
};
use ironrdp_pdu::rdp::client_info::{PerformanceFlags, TimezoneInfo};
use sha2::{Digest as _, Sha256};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tracing::{debug, info};
use vigil_secret::Secret;
use vigil_wire::connect::ConnectStep;
use x509_cert::der::{Decode as _, Encode as _};

use crate::error::{ConnectError, ConnectErrorKind, StreamError};
use crate::{Codec, DesktopSize, KeyboardLayout, SessionParams, Stream};

/// The TLS stream to the target once connected.
pub type Transport = tokio_rustls::client::TlsStream<TcpStream>;

/// Where to connect, and as whom. The password is the asset's managed credential: it is used
/// for this connection only and never logged (a [`Secret`] redacts itself).
#[derive(Clone, Debug)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: Secret,
    pub domain: Option<String>,
}

#[derive(Clone, Debug)]
pub struct ConnectOptions {
    pub codec: Codec,
    /// The desktop size asked for; the server's answer is in [`Connected::params`].
    pub width: u16,
    pub height: u16,
    /// The pinned key (`sha256:<hex>` of the certificate's SubjectPublicKeyInfo); `None` on
    /// first use, and the learned pin comes back in [`Connected::pin`].
    pub pinned: Option<String>,
    /// Limit for the whole connection sequence.
    pub timeout: Duration,
    pub client_name: String,
    /// Announced to the server as the client's keyboard layout; the relay reads the
    /// session's keystrokes in the same layout.
    pub keyboard_layout: KeyboardLayout,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            codec: Codec::RemoteFx,
            width: DesktopSize::DEFAULT.width(),
            height: DesktopSize::DEFAULT.height(),
            pinned: None,
            timeout: Duration::from_secs(20),
            client_name: "vigil".into(),
            keyboard_layout: KeyboardLayout::default(),
        }
    }
}

/// A connected session: the values browsers need, the splitter, and the transport.
pub struct Connected {
    pub params: SessionParams,
    /// The splitter, already holding any bytes read past the connection sequence.
    pub stream: Stream,
    pub transport: Transport,
    /// The target's key pin (store it on first use).
    pub pin: String,
    /// Whether the server selected NLA (CredSSP).
    pub nla: bool,
    pub elapsed: Duration,
}

/// What is told each step of a connection as it completes ([`connect_reporting`]).
pub type OnStep<'a> = &'a (dyn Fn(ConnectStep) + Send + Sync);

/// Connect to `target`. Errors carry a stable kind: `target_unreachable`, `auth_failed`,
/// `cert_changed`, `desktop_too_large` or `target_error`.
pub async fn connect(target: &Target, options: &ConnectOptions) -> Result<Connected, ConnectError> {
    connect_reporting(target, options, &|_| {}).await
}

/// [`connect`], telling `on_step` each step as it completes, in order: the TCP
/// connection, TLS with the pin checked, the credential accepted (NLA, or the logon
/// inside the connection sequence without it), the desktop activated.
pub async fn connect_reporting(
    target: &Target,
    options: &ConnectOptions,
    on_step: OnStep<'_>,
) -> Result<Connected, ConnectError> {
    let started = Instant::now();
    let tcp = tokio::time::timeout(
        options.timeout,
        TcpStream::connect((target.host.as_str(), target.port)),
    )
    .await
    .map_err(|_| ConnectError::new(ConnectErrorKind::TargetUnreachable, "TCP connect timed out"))?
    .map_err(|e| {
        ConnectError::new(
            ConnectErrorKind::TargetUnreachable,
            format!("TCP connect: {e}"),
        )
    })?;
    on_step(ConnectStep::Reached);
    let remaining = options.timeout.saturating_sub(started.elapsed());
    let mut connected = tokio::time::timeout(remaining, handshake(tcp, target, options, on_step))
        .await
        .map_err(|_| {
            ConnectError::new(
                ConnectErrorKind::TargetError,
                "connection sequence timed out",
            )
        })??;
    connected.elapsed = started.elapsed();
    info!(host = %target.host, port = target.port, nla = connected.nla, ms = u64::try_from(connected.elapsed.as_millis()).unwrap_or(u64::MAX),
          params = ?connected.params, "RDP target connected");
    Ok(connected)
}

async fn handshake(
    tcp: TcpStream,
    target: &Target,
    options: &ConnectOptions,
    on_step: OnStep<'_>,
) -> Result<Connected, ConnectError> {
    let target_err = |what: &str, e: &dyn fmt::Display| {
        ConnectError::new(ConnectErrorKind::TargetError, format!("{what}: {e}"))
    };
    tcp.set_nodelay(true)
        .map_err(|e| target_err("socket", &e))?;
    let client_addr = tcp.local_addr().map_err(|e| target_err("socket", &e))?;
    let mut framed = ironrdp_tokio::TokioFramed::new(tcp);
    let mut connector = ClientConnector::new(build_config(target, options), client_addr);

    let should_upgrade = ironrdp_tokio::connect_begin(&mut framed, &mut connector)
        .await
        .map_err(|e| target_err("X.224 negotiation", &e.report()))?;
    let tcp = framed.into_inner_no_leftover();
    let (tls, spki, credssp_key) = tls_upgrade(tcp, &target.host).await?;
    let pin = pin_of(&spki);
    if let Some(pinned) = &options.pinned {
        if *pinned != pin {
            // Nothing has been sent over TLS yet: the credential never reaches an impostor.
            return Err(ConnectError {
                offered: Some(pin.clone()),
                ..ConnectError::new(
                    ConnectErrorKind::CertChanged,
                    format!("target key changed: pinned {pinned}, got {pin}"),
                )
            });
        }
    }
    on_step(ConnectStep::Secured);
    let upgraded = ironrdp_tokio::mark_as_upgraded(should_upgrade, &mut connector);
    let mut framed = ironrdp_tokio::TokioFramed::new(tls);

    let nla = connector.should_perform_credssp();
    if nla {
        // Run CredSSP on its own so that its failures, and only those, read as auth_failed.
        credssp(&mut connector, &mut framed, &target.host, credssp_key)
            .await
            .map_err(|e| {
                // IronRDP's report names internals ("read frame by hint"); people need the
                // verdict. The report goes to the log.
                tracing::warn!(error = %e.report(), host = %target.host, "NLA refused");
                ConnectError::new(
                    ConnectErrorKind::AuthFailed,
                    "the target refused the managed credential (NLA)",
                )
            })?;
        on_step(ConnectStep::Authenticated);
    }
    let outcome = ironrdp_tokio::connect_finalize(
        upgraded,
        connector,
        &mut framed,
        &mut NoNetwork,
        ServerName::new(target.host.clone()),
        Vec::new(), // CredSSP is done; connect_finalize skips it
        None,
    )
    .await
    .map_err(|e| target_err("connection finalization", &e.report()))?;
    let result = match outcome {
        ConnectionOutcome::Connected(result) => result,
        ConnectionOutcome::Redirected(_) => {
            return Err(ConnectError::new(
                ConnectErrorKind::TargetError,
                "server redirection is not supported",
            ))
        }
    };
    if result.compression_type.is_some() {
        return Err(ConnectError::new(
            ConnectErrorKind::TargetError,
            "server forced bulk compression",
        ));
    }
    if !nla {
        // Without NLA the logon rides in the connection sequence just finished.
        on_step(ConnectStep::Authenticated);
    }
    let (transport, leftover) = framed.into_inner();
    // A desktop size out of bounds is refused here, before the hub allocates its screen.
    let stream = Stream::new(result, &leftover).map_err(|e| {
        let kind = match e {
            StreamError::DesktopTooLarge { .. } => ConnectErrorKind::DesktopTooLarge,
            _ => ConnectErrorKind::TargetError,
        };
        ConnectError::new(kind, e.to_string())
    })?;
    on_step(ConnectStep::Opened);
    Ok(Connected {
        params: stream.params().clone(),
        stream,
        transport,
        pin,
        nla,
        elapsed: Duration::ZERO,
    })
}

async fn credssp(
    connector: &mut ClientConnector,
    framed: &mut ironrdp_tokio::TokioFramed<Transport>,
    host: &str,
    server_public_key: Vec<u8>,
) -> ConnectorResult<()> {
    let selected_protocol = match connector.state {
        ironrdp_connector::ClientConnectorState::Credssp { selected_protocol } => selected_protocol,
        _ => {
            return Err(ironrdp_connector::general_err!(
                "connector is not in the CredSSP state"
            ))
        }
    };
    let (sequence, ts_request) = CredsspSequence::init(
        connector.config.credentials.clone(),
        connector.config.domain.as_deref(),
        selected_protocol,
        ServerName::new(host.to_owned()),
        server_public_key,
        None,
    )?;
    let mut buf = WriteBuf::new();
    ironrdp_tokio::perform_credssp(framed, &mut NoNetwork, &mut buf, sequence, ts_request).await?;
    connector.mark_credssp_as_done();
    Ok(())
}

/// NTLM needs no network; Kerberos (a KDC) is not supported yet.
struct NoNetwork;

impl ironrdp_tokio::NetworkClient for NoNetwork {
    async fn send(&mut self, _request: &NetworkRequest) -> ConnectorResult<Vec<u8>> {
        Err(ironrdp_connector::general_err!(
            "no KDC access: only NTLM is supported"
        ))
    }
}

/// `sha256:<hex>` of the DER SubjectPublicKeyInfo: stable across certificate renewals that
/// keep the key, and the same value HPKP-style pins use.
fn pin_of(spki_der: &[u8]) -> String {
    let digest = Sha256::digest(spki_der);
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256:");
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// TLS with any certificate (RDP targets are mostly self-signed): trust comes from the pin.
/// Returns the stream, the SPKI DER (for the pin) and the raw public key (for CredSSP).
async fn tls_upgrade(
    tcp: TcpStream,
    host: &str,
) -> Result<(Transport, Vec<u8>, Vec<u8>), ConnectError> {
    let tls_err = |e: &dyn fmt::Display| {
        ConnectError::new(ConnectErrorKind::TargetError, format!("TLS: {e}"))
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(&e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinLater(provider)))
        .with_no_client_auth();
    // CredSSP binds to this TLS channel's key; a resumed session would not present it.
    config.resumption = rustls::client::Resumption::disabled();
    let name = rustls::pki_types::ServerName::try_from(host.to_owned()).map_err(|e| tls_err(&e))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| tls_err(&e))?;
    let (_, conn) = tls.get_ref();
    debug!(version = ?conn.protocol_version(), "TLS established");
    let cert = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or_else(|| tls_err(&"no server certificate"))?;
    let cert = x509_cert::Certificate::from_der(cert.as_ref()).map_err(|e| tls_err(&e))?;
    let spki = cert.tbs_certificate().subject_public_key_info();
    let spki_der = spki.to_der().map_err(|e| tls_err(&e))?;
    let raw_key = spki.subject_public_key.raw_bytes().to_vec();
    Ok((tls, spki_der, raw_key))
}

/// Accepts any chain; the handshake signatures are still verified, so the peer holds the key
/// whose pin is checked right after the handshake.
#[derive(Debug)]
struct PinLater(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for PinLater {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The client configuration. What matters for Vigil: no bulk compression, no EGFX, no UDP —
/// so the stream stays decodable by a decoder that starts late (the screen replays the
/// pointer cache) — and RemoteFX or plain bitmaps as chosen. The server pointer is on and
/// never software-rendered: browsers show it, the relay's pixels stay pointer-free.
pub(crate) fn build_config(target: &Target, options: &ConnectOptions) -> Config {
    let codecs = match options.codec {
        // An empty list leaves out SurfaceCommands/BitmapCodecs/FrameAcknowledge: legacy bitmaps.
        Codec::Bitmap => BitmapCodecs(Vec::new()),
        Codec::RemoteFx => BitmapCodecs(vec![CodecCap {
            id: 3, // CODEC_ID_REMOTEFX; the typed id's field is private
            property: CodecProperty::RemoteFx(RemoteFxContainer::ClientContainer(
                RfxClientCapsContainer {
                    capture_flags: CaptureFlags::empty(),
                    caps_data: RfxCaps(RfxCapset(vec![RfxICap {
                        flags: RfxICapFlags::empty(),
                        entropy_bits: EntropyBits::Rlgr3,
                    }])),
                },
            )),
        }]),
    };
    Config {
        desktop_size: ironrdp_connector::DesktopSize {
            width: options.width,
            height: options.height,
        },
        monitor_layout: None,
        desktop_scale_factor: 0,
        desktop_physical_size: None,
        desktop_orientation: None,
        device_scale_factor: None,
        monitor_extended_layout: None,
        relative_mouse_input: false,
        enable_tls: true,
        // Offered, not forced: the server picks NLA (shadow, Windows) or TLS (xrdp).
        enable_credssp: true,
        // Standard RDP security is RC4 without server authentication: never.
        enable_standard_rdp_security: false,
        credentials: Credentials::UsernamePassword {
            username: target.username.clone(),
            // IronRDP's connector takes the password as a string: exposed here only.
            password: target.password.expose().to_string(),
        },
        domain: target.domain.clone(),
        client_build: 0,
        client_name: options.client_name.clone(),
        keyboard_type: KeyboardType::IBM_ENHANCED,
        keyboard_subtype: 0,
        keyboard_functional_keys_count: 12,
        keyboard_layout: options.keyboard_layout.id(),
        connection_type: ConnectionType::Lan,
        ime_file_name: String::new(),
        bitmap: Some(BitmapConfig {
            lossy_compression: true,
            color_depth: 32,
            codecs,
        }),
        dig_product_id: String::new(),
        client_dir: "C:\\Windows\\System32\\mstscax.dll".to_owned(),
        alternate_shell: String::new(),
        work_dir: String::new(),
        remote_application_mode: false,
        rail_support_level: RailSupportLevel::empty(),
        platform: MajorPlatformType::UNIX,
        hardware_id: None,
        request_data: None,
        autologon: true,
        enable_audio_playback: false,
        enable_audio_capture: false,
        performance_flags: PerformanceFlags::default(),
        license_cache: None,
        timezone_info: TimezoneInfo::default(),
        compression_type: None,
        // The connector advertises the Pointer (32 + 32 slots) and Large Pointer (96 and 384 px)
        // capability sets either way; this flag only reaches the session's processor.
        enable_server_pointer: true,
        pointer_software_rendering: false,
        multitransport_flags: None,
        support_dyn_vc_gfx_protocol: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_is_sha256_hex_of_the_spki() {
        let pin = pin_of(b"abc");
        assert_eq!(
            pin,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_keyboard_layout_is_announced_to_the_server() {
        let target = Target {
            host: "h".into(),
            port: 1,
            username: "u".into(),
            password: Secret::new("p"),
            domain: None,
        };
        assert_eq!(
            build_config(&target, &ConnectOptions::default()).keyboard_layout,
            0x409
        );
        for layout in KeyboardLayout::ALL {
            let options = ConnectOptions {
                keyboard_layout: layout,
                ..ConnectOptions::default()
            };
            assert_eq!(build_config(&target, &options).keyboard_layout, layout.id());
        }
        let german = ConnectOptions {
            keyboard_layout: KeyboardLayout::DeDe,
            ..ConnectOptions::default()
        };
        assert_eq!(build_config(&target, &german).keyboard_layout, 0x407);
    }

    #[test]
    fn target_debug_never_shows_the_password() {
        let t = Target {
            host: "h".into(),
            port: 1,
            username: "u".into(),
            password: Secret::new("hunter2"),
            domain: None,
        };
        assert!(!format!("{t:?}").contains("hunter2"));
    }
}
