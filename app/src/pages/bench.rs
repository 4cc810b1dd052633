//! `/bench/decode/:id`: decode benchmark for headless browsers, in benchmark builds only
//! (`cargo xtask dist --bench`). Fetches the whole desktop
//! recording of a finished session (through the normal API, so only for someone allowed
//! to fetch it) and queues every record to the desktop's decode worker as fast as the
//! page can, the worker drawing each PDU's dirty regions back onto the canvas, then writes
//! the result as JSON into `data-testid="decode-bench-result"`.
//!
//! - `pdus`: Graphics records decoded; `max_ms`: the slowest one (decode, in the worker).
//! - `frames`: End frame markers seen in the Graphics PDUs (RemoteFX streams); a stream
//!   without markers (plain bitmaps) counts each Graphics record as a frame.
//!   `frame_source` says which (`"markers"` or `"graphics_records"`).
//! - `total_ms`: the worker's decode time of all Graphics and Keyframe records;
//!   `ms_per_frame = total_ms / frames`, `frames_per_s = 1000 / ms_per_frame`.
//! - `wall_ms`: from the first record queued to the last one drawn, fetch excluded;
//!   `wall_frames_per_s = frames / wall_ms`.
//! - `draw_max_ms`, `draw_total_ms`, `draws`: the page's main thread putting pixels.
//! - `long_tasks`, `long_task_max_ms`: main-thread tasks over 50 ms during the run.

use std::cell::Cell;
use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use vigil_wire::recording::Kind;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{
    PerformanceEntry, PerformanceObserver, PerformanceObserverEntryList, PerformanceObserverInit,
};

use crate::api;
use crate::desktop::engine::Desktop;
use crate::desktop::replay::{FrameCounter, Segment};
use crate::desktop::view::DesktopView;
use crate::shell::{for_route_id, perf_now, set_title};

#[component]
pub fn BenchPage() -> impl IntoView {
    for_route_id(|id| view! { <Bench id/> })
}

/// Lets the browser paint and run timers (after `ms`).
async fn yield_now(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// The main thread's long tasks (over 50 ms, as the browser defines them), counted by a
/// `PerformanceObserver`: the proof that decoding never froze the page.
struct LongTasks {
    seen: Rc<Cell<(u32, f64)>>,
    observer: PerformanceObserver,
    _callback: Closure<dyn FnMut(PerformanceObserverEntryList)>,
}

impl LongTasks {
    /// `None` where the browser has no long-task timing.
    fn watch() -> Option<LongTasks> {
        let seen = Rc::new(Cell::new((0u32, 0.0f64)));
        let s2 = seen.clone();
        let callback = Closure::<dyn FnMut(PerformanceObserverEntryList)>::new(
            move |list: PerformanceObserverEntryList| {
                for entry in list.get_entries() {
                    let ms = entry.unchecked_into::<PerformanceEntry>().duration();
                    let (n, max) = s2.get();
                    s2.set((n + 1, max.max(ms)));
                }
            },
        );
        let observer = PerformanceObserver::new(callback.as_ref().unchecked_ref()).ok()?;
        let types = js_sys::Array::of1(&"longtask".into());
        observer.observe(&PerformanceObserverInit::new(&types));
        Some(LongTasks {
            seen,
            observer,
            _callback: callback,
        })
    }

    /// How many long tasks, and the longest (ms).
    fn summary(self) -> (u32, f64) {
        self.observer.disconnect();
        self.seen.get()
    }
}

#[component]
fn Bench(id: String) -> impl IntoView {
    set_title("Decode benchmark");
    let desktop = Desktop::new();
    let status = RwSignal::new("Fetching the recording…".to_string());
    let result = RwSignal::new(String::new());
    let fail = move |what: &str, e: String| {
        let _ = status.try_set(format!("{what}: {e}"));
        let _ = result.try_set(serde_json::json!({ "error": e }).to_string());
    };
    spawn_local(async move {
        let bytes = match api::recording_bytes(&id).await {
            Ok(b) => b,
            Err(e) => return fail("Could not load the recording", e.to_string()),
        };
        let seg = match Segment::file(bytes) {
            Ok(s) => s,
            Err(e) => return fail("Not a desktop recording", e.to_string()),
        };
        let _ = status.try_set(format!("Decoding {} records…", seg.recs.len()));
        yield_now(0).await;
        let long_tasks = LongTasks::watch();
        let mut counter = FrameCounter::default();
        let (mut markers, mut keyframes) = (0u64, 0u64);
        let wall0 = perf_now();
        let mut since_yield = wall0;
        for r in &seg.recs {
            let payload = seg.payload(r);
            match r.kind {
                Kind::Graphics => markers += counter.frame_ends(payload) as u64,
                Kind::Keyframe => keyframes += 1,
                Kind::Params => counter = FrameCounter::default(),
                Kind::Marker => {}
            }
            desktop.apply_record(r.kind, payload);
            // Queueing is cheap, but thousands of messages in one task would be a long task.
            if perf_now() - since_yield > 20.0 {
                yield_now(0).await;
                since_yield = perf_now();
            }
        }
        desktop.drawn().await;
        let wall = perf_now() - wall0;
        // Long-task entries are delivered after the task; give them a moment.
        yield_now(200).await;
        let (long_count, long_max) = long_tasks.map_or((0, 0.0), |l| l.summary());
        let st = desktop.current_stats();
        let d = st.decode;
        let pdus = d.pdus;
        let (frames, source) = if markers > 0 {
            (markers, "markers")
        } else {
            (pdus, "graphics_records")
        };
        let total = d.total_ms + d.snapshot_total_ms;
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
        let wall_fps = if wall > 0.0 {
            frames as f64 * 1000.0 / wall
        } else {
            0.0
        };
        let round3 = |v: f64| (v * 1000.0).round() / 1000.0;
        let (w, h) = desktop.size.get_untracked().unwrap_or((0, 0));
        let json = serde_json::json!({
            "width": w,
            "height": h,
            "decoder": "worker",
            "pdus": pdus,
            "frames": frames,
            "frame_source": source,
            "total_ms": round3(total),
            "ms_per_frame": round3(per_frame),
            "frames_per_s": (fps * 10.0).round() / 10.0,
            "max_ms": round3(d.max_ms),
            "keyframes": keyframes,
            "keyframe_max_ms": round3(d.snapshot_max_ms),
            "errors": d.errors,
            "wall_ms": wall.round(),
            "wall_frames_per_s": (wall_fps * 10.0).round() / 10.0,
            "draws": st.draws,
            "draw_total_ms": round3(st.draw_total_ms),
            "draw_max_ms": round3(st.draw_max_ms),
            "long_tasks": long_count,
            "long_task_max_ms": round3(long_max),
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
