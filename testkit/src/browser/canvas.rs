//! Desktop canvases in the page: [`Browser::canvas_shot`] reads a canvas's pixels and
//! returns a hash, a count of lit pixels and an 8×8-block downsample; [`CanvasShot::diff`]
//! compares two of them (last row and column ignored: freerdp-shadow never repaints them),
//! and [`Browser::click_desktop`] / [`Browser::type_desktop`] click at a desktop coordinate
//! and type into the focused canvas.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use fantoccini::actions::{InputSource, MouseActions, PointerAction, MOUSE_BUTTON_LEFT};
use serde_json::{json, Value};

use super::Browser;
use crate::{tid, POLL};

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
