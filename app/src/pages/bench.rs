//! `/bench/decode/:id`: decode benchmark for headless browsers. Fetches the whole desktop
//! recording of a finished session (through the normal API, so only for someone allowed
//! to fetch it) and decodes every record as fast as possible, drawing each PDU's dirty
//! regions, then writes the result as JSON into `data-testid="decode-bench-result"`:
//! `{"width","height","pdus","frames","frame_source","total_ms","ms_per_frame",
//! "frames_per_s","max_ms","keyframes","keyframe_max_ms","wall_ms"}`.
//!
//! - `pdus`: Graphics records decoded; `max_ms`: the slowest one (decode + draw).
//! - `frames`: End frame markers seen in the Graphics PDUs (RemoteFX streams); a stream
//!   without markers (plain bitmaps) counts each Graphics record as a frame.
//!   `frame_source` says which (`"markers"` or `"graphics_records"`).
//! - `total_ms`: decode + draw time of all Graphics and Keyframe records (not the fetch);
//!   `ms_per_frame = total_ms / frames`, `frames_per_s = 1000 / ms_per_frame`.
//! - `wall_ms`: elapsed time including the pauses that let the page paint every ~100 ms.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_params_map;
use vigil_wire::recording::Kind;

use super::desktop_replay::apply;
use crate::api;
use crate::app::set_title;
use crate::desktop::replay::{FrameCounter, Segment};
use crate::desktop::view::{perf_now, Desktop, DesktopView};

#[component]
pub fn BenchPage() -> impl IntoView {
    let params = use_params_map();
    move || {
        let id = params.with(|p| p.get("id")).unwrap_or_default();
        view! { <Bench id/> }
    }
}

/// Lets the browser paint and run timers.
async fn yield_now() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

#[component]
fn Bench(id: String) -> impl IntoView {
    set_title("Decode benchmark");
    let desktop = Desktop::new();
    let status = RwSignal::new("Fetching the recording…".to_string());
    let result = RwSignal::new(String::new());
    spawn_local(async move {
        let bytes = match api::recording_bytes(&id).await {
            Ok(b) => b,
            Err(e) => {
                let _ = status.try_set(format!("Could not load the recording: {e}"));
                let _ = result.try_set(format!(
                    r#"{{"error":{}}}"#,
                    serde_json::Value::from(e.to_string())
                ));
                return;
            }
        };
        let seg = match Segment::file(bytes) {
            Ok(s) => s,
            Err(e) => {
                let _ = status.try_set(format!("Not a desktop recording: {e}"));
                let _ = result.try_set(format!(
                    r#"{{"error":{}}}"#,
                    serde_json::Value::from(e.to_string())
                ));
                return;
            }
        };
        let _ = status.try_set(format!("Decoding {} records…", seg.recs.len()));
        yield_now().await;
        let mut counter = FrameCounter::default();
        let (mut pdus, mut markers, mut keyframes) = (0u64, 0u64, 0u64);
        let (mut total, mut max, mut kf_max) = (0.0f64, 0.0f64, 0.0f64);
        let wall0 = perf_now();
        let mut since_yield = perf_now();
        for r in &seg.recs {
            let payload = seg.payload(r);
            match r.kind {
                Kind::Graphics => {
                    let t0 = perf_now();
                    apply(&desktop, r.kind, payload);
                    let ms = perf_now() - t0;
                    pdus += 1;
                    total += ms;
                    max = max.max(ms);
                    markers += counter.frame_ends(payload) as u64;
                }
                Kind::Keyframe => {
                    let t0 = perf_now();
                    apply(&desktop, r.kind, payload);
                    let ms = perf_now() - t0;
                    keyframes += 1;
                    total += ms;
                    kf_max = kf_max.max(ms);
                }
                Kind::Params => {
                    counter = FrameCounter::default();
                    apply(&desktop, r.kind, payload);
                }
                Kind::Marker => {}
            }
            if perf_now() - since_yield > 100.0 {
                yield_now().await;
                since_yield = perf_now();
            }
        }
        let wall = perf_now() - wall0;
        let (frames, source) = if markers > 0 {
            (markers, "markers")
        } else {
            (pdus, "graphics_records")
        };
        let per_frame = if frames > 0 {
            total / frames as f64
        } else {
            0.0
        };
        let fps = if per_frame > 0.0 {
            1000.0 / per_frame
        } else {
            0.0
        };
        let (w, h) = desktop.size.get_untracked().unwrap_or((0, 0));
        let json = serde_json::json!({
            "width": w,
            "height": h,
            "pdus": pdus,
            "frames": frames,
            "frame_source": source,
            "total_ms": (total * 1000.0).round() / 1000.0,
            "ms_per_frame": (per_frame * 1000.0).round() / 1000.0,
            "frames_per_s": (fps * 10.0).round() / 10.0,
            "max_ms": (max * 1000.0).round() / 1000.0,
            "keyframes": keyframes,
            "keyframe_max_ms": (kf_max * 1000.0).round() / 1000.0,
            "wall_ms": wall.round(),
        });
        let _ = status.try_set("Done.".into());
        let _ = result.try_set(json.to_string());
    });
    view! {
        <section class="page">
            <h1>"Decode benchmark"</h1>
            <p class="muted" role="status">{move || status.get()}</p>
            <pre class="bench-result" data-testid="decode-bench-result">{move || result.get()}</pre>
            <div class="replay-desktop">
                <DesktopView desktop testid="bench-canvas" locked=false capture=false/>
            </div>
        </section>
    }
}
