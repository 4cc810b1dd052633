//! [`Desktop`]: one desktop picture, decoded by its own Web Worker and drawn on a canvas.
//! It decodes even before its canvas is mounted; attaching draws what it has.

use leptos::prelude::*;
use vigil_decode::ToWorker;
use vigil_wire::desktop::DesktopParams;
use vigil_wire::recording::Kind;
use web_sys::HtmlCanvasElement;

use super::canvas::Canvas;
use super::pointer::PointerLook;
#[cfg(feature = "bench")]
use super::stats::Stats;
use super::worker::{DecodeWorker, Reply};

type Fence = Box<dyn FnOnce()>;

#[derive(Default)]
struct Engine {
    worker: Option<DecodeWorker>,
    canvas: Option<Canvas>,
    params: Option<DesktopParams>,
    on_frame: Option<Callback<u32>>,
    fences: Vec<(u32, Fence)>,
    next_fence: u32,
    failed: bool,
    #[cfg(feature = "bench")]
    stats: Stats,
}

impl Engine {
    fn send(&self, msg: &ToWorker<'_>) {
        if let Some(w) = &self.worker {
            w.send(msg);
        }
    }
}

/// A desktop picture: the decode worker, the canvas it draws on, and what the view shows
/// of it.
#[derive(Clone, Copy)]
pub struct Desktop {
    engine: StoredValue<Engine, LocalStorage>,
    pub size: RwSignal<Option<(u16, u16)>>,
    /// Set when the decoder cannot run; the view shows it.
    pub error: RwSignal<Option<String>>,
    /// The server pointer: its look, and where it is (desktop pixels) when known.
    pub pointer: RwSignal<PointerLook>,
    pub pointer_at: RwSignal<Option<(u16, u16)>>,
    /// The decode and draw timings as JSON (benchmark builds only).
    #[cfg(feature = "bench")]
    pub stats: RwSignal<String>,
}

impl Default for Desktop {
    fn default() -> Self {
        Self::new()
    }
}

impl Desktop {
    pub fn new() -> Self {
        Desktop {
            engine: StoredValue::new_local(Engine::default()),
            size: RwSignal::new(None),
            error: RwSignal::new(None),
            pointer: RwSignal::new(PointerLook::Unknown),
            pointer_at: RwSignal::new(None),
            #[cfg(feature = "bench")]
            stats: RwSignal::new(Stats::default().json()),
        }
    }

    /// Starts the worker (and the fetch and compile of its wasm) ahead of the first
    /// activation. Called by itself on first use; a terminal session never starts one.
    pub fn prepare(&self) {
        if self.engine.with_value(|e| e.worker.is_some()) {
            return;
        }
        let desktop = *self;
        match DecodeWorker::spawn(move |reply| desktop.on_reply(reply)) {
            Ok(w) => self.engine.update_value(|e| e.worker = Some(w)),
            Err(e) => {
                let _ = self.error.try_set(Some(e));
            }
        }
    }

    fn on_reply(self, reply: Reply) {
        let (update, pixels, at) = match reply {
            Reply::Update { update, pixels, at } => (update, pixels, at),
            Reply::Failed(why) => {
                leptos::logging::error!("desktop decoder: {why}");
                let _ = self.error.try_set(Some(why));
                // Nothing more will be drawn: release whoever waits for a fence.
                let waiting = self
                    .engine
                    .try_update_value(|e| {
                        e.failed = true;
                        std::mem::take(&mut e.fences)
                    })
                    .unwrap_or_default();
                for (_, f) in waiting {
                    f();
                }
                return;
            }
        };
        #[cfg(feature = "bench")]
        let t0 = crate::shell::perf_now();
        let Some((on_frame, fence)) = self.engine.try_update_value(|e| {
            if let Some(c) = &e.canvas {
                if update.width > 0 && update.height > 0 {
                    c.resize(update.width, update.height);
                }
                c.draw(&update.rects, &pixels, at);
            }
            #[cfg(feature = "bench")]
            e.stats.record(&update, crate::shell::perf_now() - t0);
            let fence = update.fence.and_then(|token| {
                let i = e.fences.iter().position(|(t, _)| *t == token)?;
                Some(e.fences.swap_remove(i).1)
            });
            (update.frame.and(e.on_frame), fence)
        }) else {
            return;
        };
        #[cfg(feature = "bench")]
        if let Some(json) = self.engine.try_with_value(|e| e.stats.json()) {
            let _ = self.stats.try_set(json);
        }
        if let Some(shape) = update.pointer {
            let _ = self.pointer.try_set(PointerLook::from_shape(shape));
        }
        if let Some(at) = update.pointer_at {
            let _ = self.pointer_at.try_set(Some(at));
        }
        if let (Some(cb), Some(frame)) = (on_frame, update.frame) {
            cb.run(frame);
        }
        if let Some(f) = fence {
            f();
        }
    }

    pub fn attach(&self, el: HtmlCanvasElement) -> Result<(), String> {
        let canvas = Canvas::new(el)?;
        self.engine.update_value(|e| {
            if let Some(p) = &e.params {
                canvas.resize(p.width, p.height);
            }
            e.canvas = Some(canvas);
            e.send(&ToWorker::Redraw);
        });
        Ok(())
    }

    pub fn detach(&self) {
        let _ = self.engine.try_update_value(|e| e.canvas = None);
    }

    pub fn canvas_element(&self) -> Option<HtmlCanvasElement> {
        self.engine
            .try_with_value(|e| e.canvas.as_ref().map(|c| c.element().clone()))
            .flatten()
    }

    /// Called with each frame id once that frame is decoded and drawn (the user's page
    /// reports these to the relay, which paces the server's acknowledgements on them).
    pub fn on_frame(&self, cb: Callback<u32>) {
        self.engine.update_value(|e| e.on_frame = Some(cb));
    }

    /// (Re)builds the decoder for `params` (a blank picture until the next snapshot).
    pub fn activate(&self, params: &DesktopParams) {
        self.prepare();
        self.engine.update_value(|e| {
            e.params = Some(params.clone());
            e.send(&ToWorker::Activate(params.clone()));
        });
        let _ = self.size.try_set(Some((params.width, params.height)));
    }

    pub fn params(&self) -> Option<DesktopParams> {
        self.engine.try_with_value(|e| e.params.clone()).flatten()
    }

    /// Queues one Graphics PDU; `frame` is the frame it ends, if any.
    pub fn graphics(&self, pdu: &[u8], frame: Option<u32>) {
        let _ = self
            .engine
            .try_with_value(|e| e.send(&ToWorker::Graphics { frame, pdu }));
    }

    /// Queues a `DesktopSnapshot` / keyframe.
    pub fn snapshot(&self, zlib: &[u8]) {
        let _ = self
            .engine
            .try_with_value(|e| e.send(&ToWorker::Snapshot(zlib)));
    }

    /// Decodes one record of a recording (Markers are only shown on the timeline).
    pub fn apply_record(&self, kind: Kind, payload: &[u8]) {
        match kind {
            Kind::Params => match serde_json::from_slice::<DesktopParams>(payload) {
                Ok(p) => self.activate(&p),
                Err(e) => leptos::logging::warn!("recording: bad params: {e}"),
            },
            Kind::Keyframe => self.snapshot(payload),
            Kind::Graphics => self.graphics(payload, None),
            Kind::Marker => {}
        }
    }

    /// While quiet, decoding does not draw; leaving quiet draws the whole picture once.
    pub fn set_quiet(&self, quiet: bool) {
        let _ = self
            .engine
            .try_with_value(|e| e.send(&ToWorker::Quiet(quiet)));
    }

    /// Runs `then` once everything queued so far is decoded and drawn.
    pub fn fence(&self, then: impl FnOnce() + 'static) {
        let then: Fence = Box::new(then);
        let idle = self.engine.try_update_value(|e| {
            if e.worker.is_none() || e.failed {
                return Some(then);
            }
            e.next_fence = e.next_fence.wrapping_add(1);
            let token = e.next_fence;
            e.fences.push((token, then));
            e.send(&ToWorker::Fence(token));
            None
        });
        // Nothing is queued without a worker.
        if let Some(Some(then)) = idle {
            then();
        }
    }

    /// A future that resolves once everything queued so far is decoded and drawn.
    pub async fn drawn(&self) {
        let promise = js_sys::Promise::new(&mut |resolve, _| {
            self.fence(move || {
                let _ = resolve.call0(&wasm_bindgen::JsValue::NULL);
            });
        });
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
    }

    #[cfg(feature = "bench")]
    pub fn current_stats(&self) -> Stats {
        self.engine.with_value(|e| e.stats)
    }
}
