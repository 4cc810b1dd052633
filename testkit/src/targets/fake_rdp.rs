//! Fake RDP targets on loopback, for the hub's tests and the relay's hostile-target test.
//!
//! [`serve`] answers each connection as its [`Misbehaviour`] says. The first two break the
//! X.224 negotiation with raw bytes; the others run the server side of the real connection
//! sequence (IronRDP's acceptor, TLS with a throwaway certificate made by `openssl`, no
//! NLA) far enough for the relay's RDP leg to meet the misbehaviour where it would meet a
//! real hostile server: in the TLS handshake's aftermath, in the Demand Active, or once the
//! desktop is up, in the fast-path stream.

use std::sync::{Arc, OnceLock};

use anyhow::{bail, ensure, Context as _};
use ironrdp_acceptor::{Acceptor, BeginResult, DesktopSize};
use ironrdp_pdu::encode_vec;
use ironrdp_pdu::mcs::SendDataIndication;
use ironrdp_pdu::nego::SecurityProtocol;
use ironrdp_pdu::rdp::capability_sets::{
    Bitmap, BitmapDrawingFlags, CapabilitySet, DemandActive, General, GeneralExtraFlags, Input,
    InputFlags, MultifragmentUpdate, Pointer, ServerDemandActive,
};
use ironrdp_pdu::rdp::headers::{ServerDeactivateAll, ShareControlHeader, ShareControlPdu};
use ironrdp_pdu::x224::X224;
use ironrdp_tokio::TokioFramed;
use tokio::io::{AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::fake_net::{self, drain, first_read, noise};

/// What a fake RDP server does with each connection.
#[derive(Debug, Clone, Copy)]
pub enum Misbehaviour {
    /// Answers the X.224 Connection Request with a TPKT frame of garbage.
    X224Garbage,
    /// Answers the X.224 Connection Request with a TPKT header announcing 1000 bytes and
    /// 10 of them, then closes.
    X224HalfPdu,
    /// Negotiates TLS, then never says another word (it reads and drops what comes).
    StallAfterTls,
    /// Announces a desktop of `width`×`height` in its Demand Active.
    Desktop { width: u16, height: u16 },
    /// Once the desktop is up: deactivates it (Deactivate All), then reactivates it with a
    /// Demand Active announcing `width`×`height`.
    Reactivate { width: u16, height: u16 },
    /// Once the desktop is up: starts a fragmented fast-path update and never finishes it,
    /// sending `Next` fragments of `len` bytes until the client hangs up.
    EndlessFragments { len: usize },
    /// Once the desktop is up: [`MALFORMED_FRAMED`] whole fast-path PDUs whose contents
    /// lie and an X.224 PDU of noise, then (at the second cue, if served on cue) a
    /// fast-path PDU whose length is shorter than its own header.
    Malformed,
    /// Once the desktop is up: 64 KiB of noise.
    Garbage,
    /// Once the desktop is up: the first 10 bytes of a 1000-byte fast-path PDU, then close.
    HalfPdu,
    /// Not hostile: once the desktop is up, `pdus` times [`bulk_pdu`] as fast as the client
    /// reads them, then nothing (for throughput benchmarks).
    Bulk { pdus: u32 },
}

/// How many fast-path PDUs [`Misbehaviour::Malformed`] sends before the unframeable one
/// (each still a whole fast-path frame, so a client that tolerates them passes them on).
pub const MALFORMED_FRAMED: usize = 5;

/// The desktop every well-sized fake announces.
const DESKTOP: DesktopSize = DesktopSize {
    width: 800,
    height: 600,
};

/// Serves `how` on a loopback port; returns the port.
pub async fn serve(how: Misbehaviour) -> anyhow::Result<u16> {
    serve_with(how, None).await
}

/// Paces a fake served by [`serve_on_cue`]: its first cue lets it misbehave once the
/// desktop is up; [`Misbehaviour::Malformed`] waits for a second one between its framed
/// PDUs and the unframeable one.
pub struct Cue(watch::Sender<u32>);

impl Cue {
    /// One more step (at once for a connection already waiting, later for one to come).
    pub fn give(&self) {
        self.0.send_modify(|given| *given += 1);
    }
}

/// Like [`serve`], except that the server waits for its [`Cue`] at each step (e.g. until
/// the client's viewer is watching, or has seen what came before).
pub async fn serve_on_cue(how: Misbehaviour) -> anyhow::Result<(u16, Cue)> {
    let (cue, wait) = watch::channel(0);
    let port = serve_with(how, Some(wait)).await?;
    Ok((port, Cue(cue)))
}

/// Waits until `cue` (if any) has been given `step` times.
async fn cued(cue: &mut Option<watch::Receiver<u32>>, step: u32) -> anyhow::Result<()> {
    if let Some(cue) = cue {
        cue.wait_for(|given| *given >= step).await?;
    }
    Ok(())
}

async fn serve_with(how: Misbehaviour, cue: Option<watch::Receiver<u32>>) -> anyhow::Result<u16> {
    // Made before the first connection, so that a missing `openssl` fails the caller.
    let tls = match how {
        Misbehaviour::X224Garbage | Misbehaviour::X224HalfPdu => None,
        _ => Some(tls_acceptor()?),
    };
    fake_net::listen_on_threads("rdp", move |stream| {
        connection(stream, how, tls.clone(), cue.clone())
    })
    .await
}

async fn connection(
    mut tcp: TcpStream,
    how: Misbehaviour,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut cue: Option<watch::Receiver<u32>>,
) -> anyhow::Result<()> {
    match how {
        Misbehaviour::X224Garbage => {
            first_read(&mut tcp).await?;
            // A well-formed TPKT frame whose X.224 part is noise, not a connection confirm.
            let mut frame = vec![3, 0, 0, 19];
            frame.extend(noise(15, 0xbad));
            tcp.write_all(&frame).await?;
            drain(&mut tcp).await;
            return Ok(());
        }
        Misbehaviour::X224HalfPdu => {
            first_read(&mut tcp).await?;
            let mut frame = vec![3, 0, 0x03, 0xe8];
            frame.extend(noise(10, 0xdead));
            tcp.write_all(&frame).await?;
            tcp.shutdown().await?;
            drain(&mut tcp).await;
            return Ok(());
        }
        _ => {}
    }
    let size = match how {
        Misbehaviour::Desktop { width, height } => DesktopSize { width, height },
        _ => DESKTOP,
    };
    let mut acceptor = Acceptor::new(SecurityProtocol::SSL, size, capabilities(size), None);
    let tcp = match ironrdp_acceptor::accept_begin(TokioFramed::new(tcp), &mut acceptor)
        .await
        .context("X.224 negotiation")?
    {
        BeginResult::ShouldUpgrade(tcp) => tcp,
        BeginResult::Continue(_) => bail!("the client did not ask for TLS"),
    };
    let tls = tls.context("no TLS configuration")?;
    let mut tls = tls.accept(tcp).await.context("TLS")?;
    acceptor.mark_security_upgrade_as_done();
    if matches!(how, Misbehaviour::StallAfterTls) {
        drain(&mut tls).await;
        return Ok(());
    }
    let (framed, accepted) =
        ironrdp_acceptor::accept_finalize(TokioFramed::new(tls), &mut acceptor)
            .await
            .context("connection sequence")?;
    let channels = Channels {
        user: accepted.user_channel_id,
        io: accepted.io_channel_id,
    };
    let (tls, _) = framed.into_inner();
    let (mut rd, mut wr) = tokio::io::split(tls);
    // The client's acknowledgements and requests are read and dropped meanwhile.
    let reader = tokio::spawn(async move { drain(&mut rd).await });
    cued(&mut cue, 1).await?;
    let result = misbehave(&mut wr, how, channels, &mut cue).await;
    let _ = reader.await;
    result
}

/// What the server does once the desktop is up.
async fn misbehave<W: AsyncWrite + Unpin>(
    wr: &mut W,
    how: Misbehaviour,
    channels: Channels,
    cue: &mut Option<watch::Receiver<u32>>,
) -> anyhow::Result<()> {
    match how {
        Misbehaviour::Reactivate { width, height } => {
            let size = DesktopSize { width, height };
            let deactivate = ShareControlPdu::ServerDeactivateAll(ServerDeactivateAll);
            let demand = ShareControlPdu::ServerDemandActive(ServerDemandActive {
                pdu: DemandActive {
                    source_descriptor: "RDP".into(),
                    capability_sets: capabilities(size),
                },
            });
            wr.write_all(&share_control(channels, deactivate)?).await?;
            wr.write_all(&share_control(channels, demand)?).await?;
            wr.flush().await?;
        }
        Misbehaviour::EndlessFragments { len } => {
            ensure!(len <= MAX_UPDATE_DATA, "a fragment of {len} bytes");
            let data = noise(len, 0xf4a9);
            wr.write_all(&fast_path(&[update(BITMAP, FIRST, &data)]))
                .await?;
            let next = fast_path(&[update(BITMAP, NEXT, &data)]);
            // Until the client hangs up (the write fails) or the fake's lifetime ends.
            loop {
                wr.write_all(&next).await?;
            }
        }
        Misbehaviour::Malformed => {
            for pdu in malformed_framed() {
                wr.write_all(&pdu).await?;
            }
            wr.flush().await?;
            cued(cue, 2).await?;
            // A fast-path PDU whose length (1) is shorter than its own header (2 bytes).
            wr.write_all(&[0x00, 0x01, 0x00, 0x00]).await?;
            wr.flush().await?;
        }
        Misbehaviour::Garbage => {
            wr.write_all(&noise(64 * 1024, 0x6a7b)).await?;
            wr.flush().await?;
        }
        Misbehaviour::HalfPdu => {
            let mut half = vec![0x00, 0x83, 0xe8];
            half.extend(noise(7, 0x4a1f));
            wr.write_all(&half).await?;
            wr.shutdown().await?;
        }
        Misbehaviour::Bulk { pdus } => {
            let pdu = bulk_pdu();
            for _ in 0..pdus {
                wr.write_all(&pdu).await?;
            }
            wr.flush().await?;
        }
        // A desktop the client refuses, or misbehaviours met before the desktop is up.
        Misbehaviour::Desktop { .. }
        | Misbehaviour::X224Garbage
        | Misbehaviour::X224HalfPdu
        | Misbehaviour::StallAfterTls => {}
    }
    Ok(())
}

/// The MCS channels of an accepted connection.
#[derive(Debug, Clone, Copy)]
struct Channels {
    user: u16,
    io: u16,
}

/// A Share Control PDU from the server on the I/O channel: TPKT, X.224 Data, MCS Send Data
/// Indication, Share Control Header (share id 0, as the acceptor's first Demand Active).
fn share_control(channels: Channels, pdu: ShareControlPdu) -> anyhow::Result<Vec<u8>> {
    let header = ShareControlHeader {
        share_control_pdu: pdu,
        pdu_source: channels.io,
        share_id: 0,
    };
    let indication = SendDataIndication {
        initiator_id: channels.user,
        channel_id: channels.io,
        user_data: encode_vec(&header)?.into(),
    };
    Ok(encode_vec(&X224(indication))?)
}

// Fast-path output (MS-RDPBCGR 2.2.9.1.2), written by hand: a hostile server's bytes
// should be plain to read.

/// `updateCode` values.
const BITMAP: u8 = 0x1;
const PALETTE: u8 = 0x2;
const SURFACE_COMMANDS: u8 = 0x4;
const LARGE_POINTER: u8 = 0xc;
/// `fragmentation` values.
const SINGLE: u8 = 0x0;
const FIRST: u8 = 0x2;
const NEXT: u8 = 0x3;
/// The largest `data` one update may carry in a fast-path PDU (its length has 15 bits).
const MAX_UPDATE_DATA: usize = 0x7fff - 3 - 3;

/// One TS_FP_UPDATE: header (code, fragmentation, no compression), size, data.
fn update(code: u8, fragmentation: u8, data: &[u8]) -> Vec<u8> {
    let size = u16::try_from(data.len()).unwrap_or(u16::MAX);
    let mut out = vec![code | (fragmentation << 4)];
    out.extend(size.to_le_bytes());
    out.extend_from_slice(data);
    out
}

/// One fast-path output PDU holding `updates` (the two-byte length form).
fn fast_path(updates: &[Vec<u8>]) -> Vec<u8> {
    let body: usize = updates.iter().map(Vec::len).sum();
    let len = (body + 3).min(0x7fff);
    let mut out = vec![0x00, 0x80 | (len >> 8) as u8, (len & 0xff) as u8];
    for u in updates {
        out.extend_from_slice(u);
    }
    out
}

/// The edge of the square tile each [`bulk_pdu`] paints.
pub const BULK_TILE: u16 = 64;

/// The fast-path PDU [`Misbehaviour::Bulk`] repeats: one Surface Bits command painting a
/// [`BULK_TILE`]-pixel square at the top left, uncompressed 32 bpp (codec NONE, the format a
/// fast-path processor decodes without prior state), in a pattern of noise. About 16 KiB.
pub fn bulk_pdu() -> Vec<u8> {
    let edge = BULK_TILE;
    let pixels = noise(usize::from(edge) * usize::from(edge) * 4, 0xb01c);
    let mut cmd = Vec::with_capacity(pixels.len() + 22);
    // TS_SURFCMD_STREAM_SURF_BITS: cmdType, then destLeft, destTop, destRight, destBottom.
    cmd.extend(0x0006u16.to_le_bytes());
    for v in [0, 0, edge, edge] {
        cmd.extend(v.to_le_bytes());
    }
    // TS_BITMAP_DATA_EX: bpp, flags, reserved, codecID (NONE), width, height, length.
    cmd.extend([32, 0, 0, 0]);
    cmd.extend(edge.to_le_bytes());
    cmd.extend(edge.to_le_bytes());
    cmd.extend(
        u32::try_from(pixels.len())
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    );
    cmd.extend(pixels);
    fast_path(&[update(SURFACE_COMMANDS, SINGLE, &cmd)])
}

/// [`MALFORMED_FRAMED`] whole fast-path PDUs whose contents lie, and one X.224 PDU of noise.
fn malformed_framed() -> Vec<Vec<u8>> {
    // TS_UPDATE_BITMAP_DATA claiming 65535 rectangles and carrying none.
    let bitmap = [0x01, 0x00, 0xff, 0xff];
    // TS_UPDATE_PALETTE_DATA claiming 256 colours and carrying 2.
    let palette = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 1, 2, 3, 4, 5, 6,
    ];
    // TS_FP_LARGE_POINTERATTRIBUTE claiming 384×384 and carrying nothing after its header.
    let pointer = [
        0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x01, 0x80, 0x01, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff,
    ];
    let fast_path_pdus = vec![
        fast_path(&[update(SURFACE_COMMANDS, SINGLE, &noise(64, 0x5c))]),
        // A `Next` fragment with no `First` before it.
        fast_path(&[update(BITMAP, NEXT, &noise(16, 0x7e))]),
        fast_path(&[update(BITMAP, SINGLE, &bitmap)]),
        fast_path(&[update(PALETTE, SINGLE, &palette)]),
        fast_path(&[update(LARGE_POINTER, SINGLE, &pointer)]),
    ];
    debug_assert_eq!(fast_path_pdus.len(), MALFORMED_FRAMED);
    // TPKT, X.224 Data, then noise where the MCS Send Data Indication should be.
    let mut x224 = vec![0x03, 0x00, 0x00, 7 + 32, 0x02, 0xf0, 0x80];
    x224.extend(noise(32, 0x224));
    let mut all = fast_path_pdus;
    all.push(x224);
    all
}

/// What the fake announces in its Demand Active: enough for a client to activate.
fn capabilities(size: DesktopSize) -> Vec<CapabilitySet> {
    vec![
        CapabilitySet::General(General {
            extra_flags: GeneralExtraFlags::FASTPATH_OUTPUT_SUPPORTED
                | GeneralExtraFlags::NO_BITMAP_COMPRESSION_HDR,
            ..General::default()
        }),
        CapabilitySet::Bitmap(Bitmap {
            pref_bits_per_pix: 32,
            desktop_width: size.width,
            desktop_height: size.height,
            desktop_resize_flag: false,
            drawing_flags: BitmapDrawingFlags::empty(),
        }),
        CapabilitySet::Input(Input {
            input_flags: InputFlags::SCANCODES | InputFlags::MOUSEX | InputFlags::UNICODE,
            keyboard_layout: 0,
            keyboard_type: None,
            keyboard_subtype: 0,
            keyboard_function_key: 0,
            keyboard_ime_filename: String::new(),
        }),
        CapabilitySet::Pointer(Pointer {
            color_pointer_cache_size: 32,
            pointer_cache_size: 32,
        }),
        CapabilitySet::MultiFragmentUpdate(MultifragmentUpdate {
            max_request_size: 8 * 1024 * 1024,
        }),
    ]
}

/// The fakes' TLS: one throwaway P-256 certificate per test process, made by `openssl`
/// (which the project's RDP target scripts need too). The relay pins it on first use.
fn tls_acceptor() -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    static CONFIG: OnceLock<Result<Arc<rustls::ServerConfig>, String>> = OnceLock::new();
    let config = CONFIG
        .get_or_init(|| tls_config().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow::anyhow!("the fake RDP server's certificate: {e}"))?;
    Ok(tokio_rustls::TlsAcceptor::from(config))
}

fn tls_config() -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let dir = tempfile::Builder::new()
        .prefix("vigil-fake-rdp-")
        .tempdir()?;
    let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=vigil-fake-rdp", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdin(std::process::Stdio::null())
        .output()
        .context("run openssl")?;
    ensure!(
        out.status.success(),
        "openssl failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let certs = CertificateDer::pem_slice_iter(&std::fs::read(&cert)?)
        .collect::<Result<Vec<_>, _>>()
        .context("read the certificate")?;
    let key = PrivateKeyDer::from_pem_slice(&std::fs::read(&key)?).context("read the key")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(Arc::new(config))
}
