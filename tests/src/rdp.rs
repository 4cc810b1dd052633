//! RDP targets and desktop-canvas helpers.
//!
//! - [`rdp_targets`] starts the project's `scripts/targets/start-xrdp.sh` (TLS; every
//!   connection gets its own X session) and `start-shadow.sh` (freerdp-shadow, NLA) once
//!   per test binary on free loopback ports, for an account of their own with a password
//!   unique to the run; both are stopped by PID (`stop-*.sh`) when the binary exits.
//! - [`RdpAssets`] names the desktop assets a [`crate::Cast`] gets when the relay is
//!   seeded with RDP ([`crate::Relay::shared_with_rdp`]); [`add_rdp_asset`] adds another
//!   (e.g. one asked for 1920×1080) to a running relay.
//! - [`Browser`] gains canvas helpers: [`Browser::canvas_shot`] reads a canvas's pixels in
//!   the page and returns a hash, a count of lit pixels and an 8×8-block downsample;
//!   [`CanvasShot::diff`] compares two of them (last row and column ignored: freerdp-shadow
//!   never repaints them), and [`Browser::click_desktop`] / [`Browser::type_desktop`]
//!   click at a desktop coordinate and type into the focused canvas.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use fantoccini::actions::{InputSource, MouseActions, PointerAction, MOUSE_BUTTON_LEFT};
use serde_json::{json, Value};

use crate::{free_port, on_exit, step, tail, tid, unique, workspace_root, Browser, Relay, POLL};

/// One RDP server started by a project script.
#[derive(Debug, Clone)]
pub struct RdpServer {
    /// `xrdp` or `shadow`.
    pub kind: &'static str,
    pub port: u16,
    /// `$VIGIL_TARGETS_DIR` of the script.
    pub base: PathBuf,
}

impl RdpServer {
    /// The file the server's "typing-target" xterm appends its input to.
    pub fn typed_path(&self) -> PathBuf {
        self.base.join(self.kind).join("typed.txt")
    }

    /// What has been typed on the target so far.
    pub fn typed(&self) -> String {
        std::fs::read_to_string(self.typed_path()).unwrap_or_default()
    }

    /// Waits until the typed file contains `word`; `false` after `timeout`.
    pub async fn wait_typed(&self, word: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.typed().contains(word) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Both RDP targets and the managed account they share.
#[derive(Debug, Clone)]
pub struct RdpTargets {
    pub xrdp: RdpServer,
    pub shadow: RdpServer,
    pub account: String,
    pub password: String,
    /// The wrong password given to the `nlabad-*` asset.
    pub bad_password: String,
}

impl RdpTargets {
    /// Strings that must never reach a browser: both passwords, as UTF-8, UTF-16LE (what
    /// CredSSP carries) and base64.
    pub fn secrets(&self) -> Vec<String> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut out = Vec::new();
        for p in [&self.password, &self.bad_password] {
            out.push(p.clone());
            out.push(b64.encode(p));
            let utf16: Vec<u8> = p.encode_utf16().flat_map(u16::to_le_bytes).collect();
            out.push(String::from_utf8_lossy(&utf16).into_owned());
        }
        out
    }
}

/// Starts xrdp and freerdp-shadow once per test binary (in parallel); they are stopped
/// when the binary exits.
pub fn rdp_targets() -> &'static RdpTargets {
    static TARGETS: OnceLock<RdpTargets> = OnceLock::new();
    TARGETS.get_or_init(|| match start_rdp_targets() {
        Ok(t) => t,
        Err(e) => panic!("could not start the RDP targets: {e:#}"),
    })
}

/// The account the tests' RDP targets use (not the hub tests' `gwrdp`, so a run of both at
/// once does not change each other's password).
pub const RDP_ACCOUNT: &str = "vigile2e";

fn start_rdp_targets() -> Result<RdpTargets> {
    let base = tempfile::Builder::new()
        .prefix("vigil-e2e-rdp-")
        .tempdir()?
        .keep();
    let password = format!("Rdp-{}-{}", unique(""), unique("x"));
    let bad_password = format!("Wrong-{}", unique(""));
    let (xrdp_port, shadow_port) = (free_port(), free_port());
    step(&format!(
        "starting xrdp on 127.0.0.1:{xrdp_port} and freerdp-shadow on 127.0.0.1:{shadow_port} ({})",
        base.display()
    ));
    let scripts = workspace_root().join("scripts/targets");
    let mut cleanup = String::new();
    for kind in ["xrdp", "shadow"] {
        cleanup.push_str(&format!(
            "VIGIL_TARGETS_DIR='{b}' bash '{s}' >/dev/null 2>&1; ",
            b = base.display(),
            s = scripts.join(format!("stop-{kind}.sh")).display()
        ));
    }
    cleanup.push_str(&format!("rm -rf '{}'", base.display()));
    // Registered before starting, so a half-started target is stopped too.
    on_exit(&cleanup)?;
    let run = |kind: &'static str, port_var: &'static str, port: u16| {
        let base = base.clone();
        let password = password.clone();
        let script = scripts.join(format!("start-{kind}.sh"));
        std::thread::spawn(move || -> Result<()> {
            let log = base.join(format!("start-{kind}.log"));
            let status = Command::new("bash")
                .arg(&script)
                .env("VIGIL_TARGETS_DIR", &base)
                .env(port_var, port.to_string())
                .env("RDP_USER", RDP_ACCOUNT)
                .env("RDP_PW", &password)
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(&log)?)
                .stderr(std::fs::OpenOptions::new().append(true).open(&log)?)
                .status()
                .with_context(|| format!("run {}", script.display()))?;
            if !status.success() {
                bail!("start-{kind}.sh failed ({status}):\n{}", tail(&log, 30));
            }
            Ok(())
        })
    };
    let t0 = Instant::now();
    let x = run("xrdp", "XRDP_PORT", xrdp_port);
    let s = run("shadow", "SHADOW_PORT", shadow_port);
    x.join()
        .map_err(|_| anyhow::anyhow!("xrdp start panicked"))??;
    s.join()
        .map_err(|_| anyhow::anyhow!("shadow start panicked"))??;
    step(&format!(
        "RDP targets up in {:.1} s",
        t0.elapsed().as_secs_f64()
    ));
    Ok(RdpTargets {
        xrdp: RdpServer {
            kind: "xrdp",
            port: xrdp_port,
            base: base.clone(),
        },
        shadow: RdpServer {
            kind: "shadow",
            port: shadow_port,
            base,
        },
        account: RDP_ACCOUNT.to_string(),
        password,
        bad_password,
    })
}

/// The desktop assets of one cast (tag `T`), all tagged `rdp-T`, covered by the cast's
/// ISA, reviewer and (auto-approved) requestor rules for protocol `rdp`.
#[derive(Debug, Clone)]
pub struct RdpAssets {
    /// xrdp, RemoteFX.
    pub rfx: String,
    /// xrdp, plain bitmaps.
    pub bitmap: String,
    /// freerdp-shadow, NLA.
    pub nla: String,
    /// freerdp-shadow with a wrong managed password.
    pub nla_bad: String,
    pub tag: String,
}

impl RdpAssets {
    pub fn new(tag: &str) -> RdpAssets {
        RdpAssets {
            rfx: format!("win-{tag}"),
            bitmap: format!("winbmp-{tag}"),
            nla: format!("nla-{tag}"),
            nla_bad: format!("nlabad-{tag}"),
            tag: format!("rdp-{tag}"),
        }
    }
}

/// One desktop asset on `server` through the CLI: `codec` is `remotefx` or `bitmap`, `size`
/// a `WIDTHxHEIGHT` (the relay's default when `None`).
struct NewRdpAsset<'a> {
    name: &'a str,
    tag: &'a str,
    server: &'a RdpServer,
    password: &'a str,
    codec: &'a str,
    size: Option<&'a str>,
}

fn cli_rdp_asset(data_dir: &Path, t: &RdpTargets, a: NewRdpAsset<'_>) -> Result<()> {
    let pw_var = "VIGIL_SEED_RDP_PASSWORD";
    let port = a.server.port.to_string();
    let mut args = vec![
        "asset",
        "add",
        a.name,
        "--protocol",
        "rdp",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--account",
        &t.account,
        "--password-env",
        pw_var,
        "--rdp-codec",
        a.codec,
        "--tag",
        a.tag,
    ];
    if let Some(size) = a.size {
        args.extend(["--rdp-size", size]);
    }
    crate::vigil_cli(data_dir, &args, &[(pw_var, a.password)]).map(|_| ())
}

/// Adds a desktop asset on `server` (RemoteFX, asked for `size`, `WIDTHxHEIGHT`) to cast
/// `tag` of a running relay started with [`Relay::start_with_rdp`]: tagged like the cast's
/// other desktops, so the cast's rules cover it. The CLI writes the database the relay
/// reads on every request.
pub fn add_rdp_asset(
    relay: &Relay,
    tag: &str,
    name: &str,
    server: &RdpServer,
    size: &str,
) -> Result<()> {
    let t = rdp_targets();
    cli_rdp_asset(
        &relay.data_dir,
        t,
        NewRdpAsset {
            name,
            tag: &RdpAssets::new(tag).tag,
            server,
            password: &t.password,
            codec: "remotefx",
            size: Some(size),
        },
    )
}

/// Adds the RDP assets and rules of cast `tag` to the relay's data dir.
pub(crate) fn seed_rdp(data_dir: &Path, tag: &str, t: &RdpTargets) -> Result<()> {
    let a = RdpAssets::new(tag);
    let asset = |name: &str, server: &RdpServer, password: &str, codec: &str| {
        let new = NewRdpAsset {
            name,
            tag: &a.tag,
            server,
            password,
            codec,
            size: None,
        };
        cli_rdp_asset(data_dir, t, new)
    };
    asset(&a.rfx, &t.xrdp, &t.password, "remotefx")?;
    asset(&a.bitmap, &t.xrdp, &t.password, "bitmap")?;
    asset(&a.nla, &t.shadow, &t.password, "remotefx")?;
    asset(&a.nla_bad, &t.shadow, &t.bad_password, "remotefx")?;
    let rule = |name: String, group: String, role: &str, extra: &[&str]| -> Result<()> {
        let mut args = vec![
            "rule",
            "add",
            &name,
            "--group",
            &group,
            "--role",
            role,
            "--protocol",
            "rdp",
            "--tag",
            &a.tag,
        ];
        args.extend_from_slice(extra);
        crate::vigil_cli(data_dir, &args, &[]).map(|_| ())
    };
    rule(format!("ops-rdp-{tag}"), format!("ops-{tag}"), "isa", &[])?;
    rule(
        format!("auditors-rdp-{tag}"),
        format!("auditors-{tag}"),
        "active_session_reviewer",
        &[],
    )?;
    rule(
        format!("staff-rdp-{tag}"),
        format!("staff-{tag}"),
        "requestor",
        &["--auto-approve"],
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------
// Canvas pixels

/// Side of the square blocks a canvas is downsampled into.
pub const BLOCK: u32 = 8;

/// What a canvas showed at one moment (last row and column left out).
#[derive(Debug, Clone, PartialEq)]
pub struct CanvasShot {
    pub width: u32,
    pub height: u32,
    /// Pixels that are not black.
    pub lit: u64,
    /// FNV-1a of the RGB bytes.
    pub hash: String,
    /// Blocks per row and per column of `blocks`.
    pub bw: u32,
    pub bh: u32,
    /// Average R, G, B of each [`BLOCK`]×[`BLOCK`] block, row by row.
    pub blocks: Vec<u8>,
}

/// Two canvases compared block by block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CanvasDiff {
    /// Blocks whose average differs by more than the tolerance in some channel.
    pub blocks: usize,
    pub total: usize,
    /// Largest difference of one channel of one block.
    pub max: u8,
    pub same_size: bool,
}

impl CanvasDiff {
    pub fn fraction(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            self.blocks as f64 / self.total as f64
        }
    }
}

impl std::fmt::Display for CanvasDiff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.same_size {
            return write!(f, "different sizes");
        }
        write!(
            f,
            "{} of {} blocks differ ({:.2}%, largest channel difference {})",
            self.blocks,
            self.total,
            100.0 * self.fraction(),
            self.max
        )
    }
}

impl CanvasShot {
    /// Large enough to be a desktop, and not (mostly) black.
    pub fn shows_desktop(&self) -> bool {
        self.width >= 64
            && self.height >= 64
            && self.lit > u64::from(self.width) * u64::from(self.height) / 4
    }

    /// Compares with `other`: a block differs when one channel's average is more than
    /// `tolerance` apart.
    pub fn diff(&self, other: &CanvasShot, tolerance: u8) -> CanvasDiff {
        if (self.width, self.height) != (other.width, other.height)
            || self.blocks.len() != other.blocks.len()
        {
            return CanvasDiff {
                blocks: self.blocks.len().max(1) / 3,
                total: self.blocks.len().max(1) / 3,
                max: 255,
                same_size: false,
            };
        }
        let mut d = CanvasDiff {
            blocks: 0,
            total: self.blocks.len() / 3,
            max: 0,
            same_size: true,
        };
        for (a, b) in self
            .blocks
            .chunks_exact(3)
            .zip(other.blocks.chunks_exact(3))
        {
            let m = a
                .iter()
                .zip(b)
                .map(|(x, y)| x.abs_diff(*y))
                .max()
                .unwrap_or(0);
            d.max = d.max.max(m);
            if m > tolerance {
                d.blocks += 1;
            }
        }
        d
    }
}

/// The page-side reader: `arguments[0]` is the canvas's selector, `arguments[1]` the block
/// size. Returns null when there is no sized canvas.
const SHOT_JS: &str = r#"
const c = document.querySelector(arguments[0]);
if (!c || !c.width || !c.height) return null;
const B = arguments[1];
const W = c.width - 1, H = c.height - 1;
const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
const bw = Math.floor(W / B), bh = Math.floor(H / B);
const sums = new Float64Array(bw * bh * 3);
let lit = 0, h = 0x811c9dc5;
for (let y = 0; y < H; y++) {
  const row = y * c.width * 4, by = Math.floor(y / B);
  for (let x = 0; x < W; x++) {
    const i = row + x * 4, r = d[i], g = d[i + 1], b = d[i + 2];
    if (r | g | b) lit++;
    h = Math.imul(h ^ r, 16777619); h = Math.imul(h ^ g, 16777619); h = Math.imul(h ^ b, 16777619);
    const bx = Math.floor(x / B);
    if (bx < bw && by < bh) { const k = (by * bw + bx) * 3; sums[k] += r; sums[k + 1] += g; sums[k + 2] += b; }
  }
}
const n = B * B, out = new Uint8Array(bw * bh * 3);
for (let k = 0; k < out.length; k++) out[k] = Math.round(sums[k] / n);
let s = ''; for (let k = 0; k < out.length; k += 0x8000) s += String.fromCharCode.apply(null, out.subarray(k, k + 0x8000));
return { width: c.width, height: c.height, lit: lit, hash: (h >>> 0).toString(16), bw: bw, bh: bh, blocks: btoa(s) };
"#;

impl Browser {
    /// Reads the canvas with this `data-testid`; `None` while it has no size.
    pub async fn canvas_shot(&self, testid: &str) -> Result<Option<CanvasShot>> {
        let v = self
            .js(SHOT_JS, vec![json!(tid(testid)), json!(BLOCK)])
            .await?;
        if v.is_null() {
            return Ok(None);
        }
        let num = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        let blocks = base64::engine::general_purpose::STANDARD
            .decode(v.get("blocks").and_then(Value::as_str).unwrap_or(""))
            .context("canvas blocks")?;
        Ok(Some(CanvasShot {
            width: num("width") as u32,
            height: num("height") as u32,
            lit: num("lit"),
            hash: v
                .get("hash")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            bw: num("bw") as u32,
            bh: num("bh") as u32,
            blocks,
        }))
    }

    /// Waits until the canvas shows a desktop (sized, mostly not black); returns it.
    pub async fn wait_desktop(&self, testid: &str, timeout: Duration) -> Result<CanvasShot> {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        loop {
            match self.canvas_shot(testid).await {
                Ok(Some(s)) if s.shows_desktop() => return Ok(s),
                Ok(s) => last = s.map(|s| (s.width, s.height, s.lit)),
                Err(_) => {}
            }
            if Instant::now() >= deadline {
                return Err(self
                    .fail(format!(
                        "timed out after {timeout:?} waiting for `{testid}` to show a desktop (last: {})",
                        last.map(|(w, h, l)| format!("{w}x{h}, {l} lit pixels"))
                            .unwrap_or_else(|| "no sized canvas".into())
                    ))
                    .await);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the canvas differs from `from` (the picture changes); returns it.
    pub async fn wait_desktop_change(
        &self,
        testid: &str,
        from: &CanvasShot,
        timeout: Duration,
    ) -> Result<CanvasShot> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(s)) = self.canvas_shot(testid).await {
                if s.hash != from.hash {
                    return Ok(s);
                }
            }
            if Instant::now() >= deadline {
                return Err(self
                    .fail(format!(
                        "`{testid}` did not change within {timeout:?} (hash {})",
                        from.hash
                    ))
                    .await);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The parsed JSON of the page's `decode-stats`, if any.
    pub async fn decode_stats(&self) -> Result<Option<Value>> {
        let v = self
            .js(
                "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
                vec![json!(tid("decode-stats"))],
            )
            .await?;
        Ok(v.as_str().and_then(|s| serde_json::from_str(s).ok()))
    }

    /// Viewport coordinates of desktop pixel (`x`, `y`) on the canvas `testid`.
    pub async fn desktop_point(&self, testid: &str, x: u32, y: u32) -> Result<(f64, f64)> {
        let v = self
            .js(
                "const c = document.querySelector(arguments[0]); if (!c || !c.width) return null;
                 c.scrollIntoView({block: 'nearest'});
                 const r = c.getBoundingClientRect();
                 return [r.left + (arguments[1] + 0.5) * r.width / c.width,
                         r.top + (arguments[2] + 0.5) * r.height / c.height];",
                vec![json!(tid(testid)), json!(x), json!(y)],
            )
            .await?;
        match (
            v.get(0).and_then(Value::as_f64),
            v.get(1).and_then(Value::as_f64),
        ) {
            (Some(px), Some(py)) => Ok((px, py)),
            _ => Err(self
                .fail(format!("`{testid}` has no size to click on"))
                .await),
        }
    }

    /// Clicks desktop pixel (`x`, `y`) of the canvas with a real pointer (WebDriver
    /// actions): the canvas takes focus and the remote pointer moves there.
    pub async fn click_desktop(&self, testid: &str, x: u32, y: u32) -> Result<()> {
        let (px, py) = self.desktop_point(testid, x, y).await?;
        let mouse = MouseActions::new("mouse".into())
            .then(PointerAction::MoveTo {
                duration: Some(Duration::from_millis(50)),
                x: px.round(),
                y: py.round(),
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            });
        self.client
            .perform_actions(mouse)
            .await
            .with_context(|| format!("{}: click on {testid}", self.name))?;
        self.client.release_actions().await.ok();
        Ok(())
    }

    /// Types `text` into the (focused) canvas with WebDriver key events; `\n` is Enter.
    pub async fn type_desktop(&self, testid: &str, text: &str) -> Result<()> {
        let el = self.wait_for_testid(testid, crate::secs(5.0)).await?;
        let keys: String = text
            .chars()
            .map(|c| {
                if c == '\n' {
                    char::from(fantoccini::key::Key::Enter)
                } else {
                    c
                }
            })
            .collect();
        el.send_keys(&keys)
            .await
            .with_context(|| format!("{}: type into {testid}", self.name))
    }
}

/// Reads the canvases of two browsers at (nearly) the same moment until they match within
/// `max_fraction` of blocks (tolerance `tolerance` per channel), for at most `timeout`.
/// Returns the best comparison seen and whether it matched.
pub async fn compare_canvases(
    a: (&Browser, &str),
    b: (&Browser, &str),
    tolerance: u8,
    max_fraction: f64,
    timeout: Duration,
) -> Result<(CanvasDiff, bool)> {
    let deadline = Instant::now() + timeout;
    let mut best: Option<CanvasDiff> = None;
    loop {
        let (x, y) = tokio::join!(a.0.canvas_shot(a.1), b.0.canvas_shot(b.1));
        if let (Ok(Some(x)), Ok(Some(y))) = (x, y) {
            let d = x.diff(&y, tolerance);
            if best.is_none_or(|b| d.blocks < b.blocks) {
                best = Some(d);
            }
            if d.same_size && d.fraction() <= max_fraction {
                return Ok((d, true));
            }
        }
        if Instant::now() >= deadline {
            return match best {
                Some(d) => Ok((d, false)),
                None => bail!("no sized canvases to compare within {timeout:?}"),
            };
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A word of lowercase letters unique to this run (the targets' typed files are shared).
pub fn unique_word(prefix: &str) -> String {
    let hex = unique("");
    let tail: String = hex
        .chars()
        .map(|c| {
            let d = c.to_digit(16).unwrap_or(0) as u8;
            char::from(b'a' + d)
        })
        .collect();
    format!("{prefix}{tail}")
}
