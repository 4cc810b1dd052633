//! One recording as the bench sees it, and what each seek measured.

use super::*;

pub(crate) fn want(p: &Picture) -> String {
    format!("{}:{}x{}", p.hash, p.width, p.height)
}

/// One recording as the bench sees it: the bytes, the index the relay serves, its page.
pub(crate) struct Rec {
    pub(crate) name: &'static str,
    pub(crate) file: Vec<u8>,
    pub(crate) idx: RecordingIndex,
    pub(crate) browser: Browser,
    /// What the page shows now, as far as the bench knows.
    pub(crate) showing: Option<String>,
}

pub(crate) struct Opened {
    /// From navigation start.
    pub(crate) ms: f64,
    /// The index request, as resource timing saw it.
    pub(crate) index_ms: f64,
    /// Whether anything was due at 0:00 (else the page shows no picture yet).
    pub(crate) drew: bool,
}

#[derive(Default, Clone)]
pub(crate) struct Seek {
    pub(crate) t_ms: u32,
    pub(crate) ok: bool,
    pub(crate) ms: f64,
    /// Bytes of the range responses (resource timing), else the planned span.
    pub(crate) bytes: u64,
    pub(crate) measured_bytes: bool,
    pub(crate) fetch_ms: f64,
    /// The page's own seek-to-picture figure (`seek-stats`), if it has one.
    pub(crate) app_ms: Option<f64>,
    pub(crate) native_ms: f64,
    pub(crate) note: String,
}

pub(crate) fn num(v: &Value, k: &str) -> f64 {
    v.get(k).and_then(Value::as_f64).unwrap_or(0.0)
}

impl Rec {
    pub(crate) fn target(&self, frac: f64) -> u32 {
        let t = (f64::from(self.idx.duration_ms) * frac) as u32;
        t - t % SLIDER_STEP_MS
    }

    pub(crate) fn picture(&self, t: u32) -> Result<(Option<Picture>, f64)> {
        let t0 = Instant::now();
        let p = picture_at(&self.file, &self.idx, t)
            .with_context(|| format!("{}: native decode at {t} ms", self.name))?;
        if let Some(p) = &p {
            ensure!(
                p.errors == 0,
                "{}: native decode errors at {t} ms",
                self.name
            );
        }
        Ok((p, t0.elapsed().as_secs_f64() * 1e3))
    }

    /// Opens the replay page and waits for its first picture: the page starts at the first
    /// keyframe (or, when nothing is due there, for its first span).
    pub(crate) async fn open(&mut self, sid: &str) -> Result<Opened> {
        self.browser
            .cdp("Network.setCacheDisabled", json!({ "cacheDisabled": true }))
            .await?;
        self.browser.goto(&format!("/replay/{sid}")).await?;
        let start = self.idx.keyframes.first().map_or(0, |k| k.t_ms);
        let (first, _) = self.picture(start)?;
        let w = first.as_ref().map(want);
        let v = self
            .browser
            .client
            .execute_async(
                &format!("{HASH_JS}{FIRST_PAINT_JS}"),
                vec![json!(w), json!(30_000)],
            )
            .await
            .with_context(|| format!("{}: first paint script", self.name))?;
        if v.get("ok") != Some(&Value::Bool(true)) {
            return Err(self
                .browser
                .fail(format!("{}: no first picture: {v}", self.name))
                .await);
        }
        self.showing = w;
        let index = v
            .get("fetches")
            .and_then(Value::as_array)
            .and_then(|f| {
                f.iter()
                    .find(|e| e.get("index") == Some(&Value::Bool(true)))
            })
            .cloned()
            .unwrap_or(Value::Null);
        Ok(Opened {
            ms: num(&v, "ms"),
            index_ms: num(&index, "end") - num(&index, "start"),
            drew: first.is_some(),
        })
    }

    /// Seeks the page to `t` and times the right picture.
    pub(crate) async fn seek(&mut self, t: u32) -> Result<Seek> {
        let (p, native_ms) = self.picture(t)?;
        let p = p.with_context(|| format!("{}: nothing to show at {t} ms", self.name))?;
        let w = want(&p);
        if self.showing.as_deref() == Some(w.as_str()) {
            // Already on screen: first move to a different picture, untimed.
            let decoy = [t.saturating_sub(5_000), t + 5_000, t / 2, 0]
                .into_iter()
                .map(|d| d - d % SLIDER_STEP_MS)
                .filter(|&d| d != t && d <= self.idx.duration_ms)
                .find(|&d| matches!(self.picture(d), Ok((Some(q), _)) if want(&q) != w));
            if let Some(d) = decoy {
                Box::pin(self.seek(d)).await?;
            }
        }
        let v = self
            .browser
            .client
            .execute_async(
                &format!("{HASH_JS}{SEEK_JS}"),
                vec![json!(t), json!(w), json!(SEEK_TIMEOUT_MS)],
            )
            .await
            .with_context(|| format!("{}: seek script", self.name))?;
        if let Some(e) = v.get("error") {
            bail!("{}: {e}", self.name);
        }
        let set = num(&v, "set") as u32;
        ensure!(set == t, "{}: the slider took {set}, not {t}", self.name);
        let ok = v.get("ok") == Some(&Value::Bool(true));
        let before = v.get("before").and_then(Value::as_str).unwrap_or("");
        let ranges: Vec<&Value> = v
            .get("fetches")
            .and_then(Value::as_array)
            .map(|f| {
                f.iter()
                    .filter(|e| e.get("index") != Some(&Value::Bool(true)))
                    .collect()
            })
            .unwrap_or_default();
        let measured: u64 = ranges.iter().map(|e| num(e, "bytes") as u64).sum();
        let Span { start: s, end: e } = plan_seek(&self.idx, t);
        let mut notes = Vec::new();
        if before == w {
            notes.push("already showing".to_string());
        }
        if !ok {
            let last = v.get("last").and_then(Value::as_str).unwrap_or("");
            let changed = if last == before {
                "unchanged"
            } else {
                "changed"
            };
            notes.push(format!("no match (canvas {changed})"));
        }
        if ranges.len() != 1 {
            notes.push(format!("{} range fetches", ranges.len()));
        }
        if measured > 0 && measured != e - s {
            notes.push(format!("fetched {measured} bytes, planned {}", e - s));
        }
        if ranges
            .iter()
            .any(|e| num(e, "transfer") == 0.0 && num(e, "bytes") > 0.0)
        {
            notes.push("from cache".to_string());
        }
        if ok {
            self.showing = Some(w);
        } else {
            self.showing = v.get("last").and_then(Value::as_str).map(str::to_string);
        }
        Ok(Seek {
            t_ms: t,
            ok,
            ms: num(&v, "ms"),
            bytes: if measured > 0 { measured } else { e - s },
            measured_bytes: measured > 0,
            fetch_ms: ranges.iter().map(|e| num(e, "end") - num(e, "start")).sum(),
            app_ms: v.get("app_ms").and_then(Value::as_f64),
            native_ms,
            note: notes.join("; "),
        })
    }
}
