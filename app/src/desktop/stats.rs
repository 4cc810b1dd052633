//! The decode and draw timings of a [`Desktop`], published for tests and benchmarks as
//! JSON in a hidden `decode-stats` element. Benchmark builds only (`--features bench`).

use leptos::prelude::*;
use vigil_decode::{DecodeStats, Update};

use super::engine::Desktop;

/// The worker's decode timings and the page's drawing timings.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub decode: DecodeStats,
    /// Updates drawn on the page's main thread, and the time that took.
    pub draws: u64,
    pub draw_total_ms: f64,
    pub draw_max_ms: f64,
}

impl Stats {
    /// Takes in one update from the worker, drawn in `draw_ms`.
    pub fn record(&mut self, update: &Update, draw_ms: f64) {
        self.decode = update.stats;
        if !update.rects.is_empty() {
            self.draws += 1;
            self.draw_total_ms += draw_ms;
            self.draw_max_ms = self.draw_max_ms.max(draw_ms);
        }
    }

    pub fn json(&self) -> String {
        let d = &self.decode;
        format!(
            r#"{{"pdus":{},"frames":{},"total_ms":{:.3},"max_ms":{:.3},"snapshots":{},"snapshot_total_ms":{:.3},"snapshot_max_ms":{:.3},"errors":{},"draws":{},"draw_total_ms":{:.3},"draw_max_ms":{:.3}}}"#,
            d.pdus,
            d.frames,
            d.total_ms,
            d.max_ms,
            d.snapshots,
            d.snapshot_total_ms,
            d.snapshot_max_ms,
            d.errors,
            self.draws,
            self.draw_total_ms,
            self.draw_max_ms
        )
    }
}

/// The hidden element the tests and benchmarks read.
pub fn hidden(desktop: Desktop) -> impl IntoView {
    view! { <div hidden data-testid="decode-stats">{move || desktop.stats.get()}</div> }
}
