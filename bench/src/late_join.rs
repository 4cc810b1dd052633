//! The late-join half of `bench-rdp`: what the page and the relay say about one observer
//! opening the player of a live desktop.
//!
//! - [`PROBE_JS`] is installed in the observer's Chromium before any page script runs
//!   (`Page.addScriptToEvaluateOnNewDocument`), on player pages only. It stamps, on the
//!   page's own clock (`performance.now()`, zero at the navigation's start), the session
//!   socket's creation and opening, the arrival of the `DesktopSnapshot` message (tag
//!   `0x06`) and its size, the moment the page's `decode-stats` first counts a drawn
//!   snapshot (a `MutationObserver`, so no polling delay), and the next animation frame
//!   after it (the picture presented). [`Probe`] is what it hands back.
//! - [`SnapshotLine`] is one `vigil::snapshot` line of the relay's JSON log: what the
//!   relay's screen copy spent on one snapshot that reached a viewer.
//! - [`Spread`] is p50 / p95 / max of a list of figures.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::Path;

use anyhow::Result;
use serde::Deserialize;
use vigil_hub::snapshot_timing::LOG_TARGET;

use crate::desktop::percentile;

/// Installed before the page's scripts on every document of the observer's browser; does
/// nothing outside `/sessions/…`. Leaves `window.__vigilJoin` (see [`Probe`]).
pub const PROBE_JS: &str = r#"(() => {
  if (!location.pathname.startsWith('/sessions/') || window.__vigilJoin) return;
  const j = window.__vigilJoin = { ws_created: null, ws_open: null, snapshot_at: null, snapshot_bytes: 0, drawn: null, painted: null, stats: null };
  const W = window.WebSocket;
  window.WebSocket = class extends W {
    constructor(...a) {
      super(...a);
      const created = performance.now();
      let open = null;
      this.addEventListener('open', () => { open = performance.now(); });
      this.addEventListener('message', (e) => {
        const d = e.data;
        if (j.snapshot_at === null && d instanceof ArrayBuffer && d.byteLength > 0 && new Uint8Array(d, 0, 1)[0] === 6) {
          j.snapshot_at = performance.now();
          j.snapshot_bytes = d.byteLength;
          j.ws_created = created;
          j.ws_open = open;
        }
      });
    }
  };
  const obs = new MutationObserver(() => {
    if (j.drawn !== null) return;
    const e = document.querySelector('[data-testid="decode-stats"]');
    if (!e) return;
    let s = null;
    try { s = JSON.parse(e.textContent); } catch (_) { return; }
    if (!s || !(s.snapshots > 0)) return;
    j.drawn = performance.now();
    j.stats = s;
    obs.disconnect();
    requestAnimationFrame(() => { j.painted = performance.now(); });
  });
  obs.observe(document, { subtree: true, childList: true, characterData: true });
})();"#;

/// Reads the probe's record once the picture is presented (`null` before).
pub const PROBE_READ_JS: &str = r#"const j = window.__vigilJoin;
if (!j || j.painted === null) return null;
const nav = performance.getEntriesByType('navigation')[0];
const wasm = performance.getEntriesByType('resource').filter(r => r.name.endsWith('.wasm')).map(r => r.responseEnd);
return Object.assign({}, j, {
  dom_loaded: nav ? nav.domContentLoadedEventEnd : null,
  wasm_fetched: wasm.length ? Math.max.apply(null, wasm) : null,
});"#;

/// The page's worker and draw figures when the snapshot was drawn (`decode-stats`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PageStats {
    #[serde(default)]
    pub snapshot_total_ms: f64,
    #[serde(default)]
    pub draw_total_ms: f64,
}

/// One join as the page saw it; every instant is ms since the navigation started.
#[derive(Debug, Clone, Deserialize)]
pub struct Probe {
    pub ws_created: Option<f64>,
    pub ws_open: Option<f64>,
    pub snapshot_at: f64,
    pub snapshot_bytes: u64,
    pub drawn: f64,
    pub painted: f64,
    pub stats: PageStats,
    pub dom_loaded: Option<f64>,
    pub wasm_fetched: Option<f64>,
}

impl Probe {
    /// Navigation start → the first complete frame presented.
    pub fn first_frame_ms(&self) -> f64 {
        self.painted
    }
}

/// One `vigil::snapshot` line (`flatten_event`: fields at the top).
#[derive(Debug, Clone, Deserialize)]
pub struct SnapshotLine {
    pub target: String,
    pub id: String,
    /// The snapshot PDUs and their compression.
    pub micros: u64,
    /// The screen job it ended (queued PDUs decoded, then the snapshot).
    pub job_micros: u64,
    pub bytes: u64,
    pub viewers: u64,
}

impl SnapshotLine {
    pub fn ms(&self) -> f64 {
        self.micros as f64 / 1000.0
    }

    pub fn job_ms(&self) -> f64 {
        self.job_micros as f64 / 1000.0
    }
}

/// The `vigil::snapshot` lines of session `id` in `text` (other lines are skipped).
pub fn snapshot_lines(text: &str, id: &str) -> Vec<SnapshotLine> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<SnapshotLine>(l).ok())
        .filter(|l| l.target == LOG_TARGET && l.id == id)
        .collect()
}

/// What the log file holds past `offset`, and the new offset.
pub fn read_from(path: &Path, offset: u64) -> Result<(String, u64)> {
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    // Only whole lines: a line being written is read next time.
    let whole = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    buf.truncate(whole);
    let next = offset + whole as u64;
    Ok((String::from_utf8_lossy(&buf).into_owned(), next))
}

/// p50, p95 and max of some figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Spread {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        Spread {
            p50: percentile(&v, 0.5),
            p95: percentile(&v, 0.95),
            max: percentile(&v, 1.0),
        }
    }
}

impl std::fmt::Display for Spread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:>6.1}  p95 {:>6.1}  max {:>6.1}",
            self.p50, self.p95, self.max
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_lines_are_picked_by_target_and_session() {
        let text = format!(
            "{}\n{}\n{}\nnot json\n{}\n",
            r#"{"target":"vigil::snapshot","id":"s1","micros":12500,"job_micros":20000,"bytes":900,"viewers":1,"message":"Snapshot timing"}"#,
            r#"{"target":"vigil::snapshot","id":"s2","micros":1,"job_micros":1,"bytes":1,"viewers":1}"#,
            r#"{"target":"vigil::lock","id":"s1","micros":1,"job_micros":1,"bytes":1,"viewers":1}"#,
            r#"{"target":"vigil_relay","message":"hello"}"#,
        );
        assert_eq!(LOG_TARGET, "vigil::snapshot");
        let lines = snapshot_lines(&text, "s1");
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].ms(), 12.5);
        assert_eq!(lines[0].job_ms(), 20.0);
        assert_eq!(lines[0].bytes, 900);
    }

    #[test]
    fn a_half_written_line_is_left_for_the_next_read() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("log");
        std::fs::write(&path, "one\ntw")?;
        let (text, at) = read_from(&path, 0)?;
        assert_eq!((text.as_str(), at), ("one\n", 4));
        std::fs::write(&path, "one\ntwo\n")?;
        let (text, at) = read_from(&path, at)?;
        assert_eq!((text.as_str(), at), ("two\n", 8));
        Ok(())
    }

    #[test]
    fn spread_is_nearest_rank() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        let s = Spread::of(&v);
        assert_eq!((s.p50, s.p95, s.max), (11.0, 19.0, 20.0));
    }

    #[test]
    fn a_probe_record_parses_with_its_page_stats() -> Result<()> {
        let v = r#"{"ws_created":120.5,"ws_open":130.0,"snapshot_at":200.0,"snapshot_bytes":400000,"drawn":260.0,"painted":270.0,"stats":{"snapshots":1,"snapshot_total_ms":40.0,"draw_total_ms":8.0},"dom_loaded":50.0,"wasm_fetched":null}"#;
        let p: Probe = serde_json::from_str(v)?;
        assert_eq!(p.first_frame_ms(), 270.0);
        assert_eq!(p.stats.snapshot_total_ms, 40.0);
        assert_eq!(p.wasm_fetched, None);
        Ok(())
    }
}
