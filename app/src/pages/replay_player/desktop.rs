//! `/replay/:id` for desktop (RDP) recordings: fetches keyframe spans of the recording
//! with HTTP ranges and decodes them with the live view's decoder.
//!
//! Seek: the span from the last keyframe at or before `t` to the next keyframe is fetched,
//! its records up to `t` are decoded without drawing, and the picture is drawn once.
//! Playing decodes the records as their time comes, fetching the next span when the
//! current one runs out.

use std::rc::Rc;
use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use vigil_wire::api::Keystroke;
use vigil_wire::recording::{next_span, plan_seek, Kind, RecordingIndex, Span};

use crate::api;
use crate::desktop::engine::Desktop;
use crate::desktop::replay::Segment;
use crate::desktop::view::DesktopView;
use crate::shell::{perf_now, ErrorBox};
use crate::util;
use crate::widgets::{load_keystrokes, FetchProgress, KeystrokesPanel, ReplayControls};

struct Playback {
    seg: Option<Segment>,
    /// Next record of `seg` to decode.
    next: usize,
    at_ms: f64,
    last_tick: Option<f64>,
    /// Bumped by every seek: a fetch answering for an older one is dropped.
    generation: u64,
    loading: bool,
}

#[component]
pub fn DesktopReplay(index: Rc<RecordingIndex>, id: String) -> impl IntoView {
    let duration_ms = f64::from(index.duration_ms);
    let desktop = Desktop::new();
    let pb = StoredValue::new_local(Playback {
        seg: None,
        next: 0,
        at_ms: 0.0,
        last_tick: None,
        generation: 0,
        loading: false,
    });
    let idx = StoredValue::new_local(index);
    let rid = StoredValue::new(id.clone());
    let playing = RwSignal::new(false);
    let at = RwSignal::new(0.0_f64);
    let speed = RwSignal::new(1.0_f64);
    let error = RwSignal::new(None::<String>);
    // The span being downloaded, while it is.
    let fetching = RwSignal::new(None::<util::Fetched>);
    let markers = RwSignal::new(Vec::<(u32, String)>::new());
    let keys = RwSignal::new(Vec::<Keystroke>::new());
    let keys_status = RwSignal::new(Some("Loading keystrokes…".to_string()));
    // (seeks painted, ms from the seek to its picture on the canvas, target ms): for the
    // seek benchmark, in a hidden `seek-stats` element.
    #[cfg(feature = "bench")]
    let seeks = RwSignal::new((0u64, 0.0f64, 0.0f64));

    load_keystrokes(id, keys, keys_status);

    let note_markers = move |seg: &Segment| {
        let found: Vec<(u32, String)> = seg
            .recs
            .iter()
            .filter(|r| r.kind == Kind::Marker)
            .map(|r| (r.t_ms, String::from_utf8_lossy(seg.payload(r)).into_owned()))
            .collect();
        if !found.is_empty() {
            let _ = markers.try_update(|m| {
                for f in found {
                    if !m.contains(&f) {
                        m.push(f);
                    }
                }
            });
        }
    };

    // Fetches `span`; `then` runs with the parsed segment if no newer seek came meanwhile.
    let fetch = move |span: Span, generation: u64, then: Box<dyn FnOnce(Segment)>| {
        pb.update_value(|p| p.loading = true);
        let id = rid.get_value();
        spawn_local(async move {
            let result = api::recording_range(&id, span.start, span.end, move |f| {
                let _ = fetching.try_set(Some(f));
            })
            .await;
            let _ = fetching.try_set(None);
            let current = pb
                .try_with_value(|p| p.generation == generation)
                .unwrap_or(false);
            if !current {
                return;
            }
            match result
                .map_err(|e| e.to_string())
                .and_then(|bytes| Segment::at(bytes, span.start).map_err(|e| e.to_string()))
            {
                Ok(seg) => {
                    note_markers(&seg);
                    then(seg);
                }
                Err(e) => {
                    let _ = error.try_set(Some(format!("Could not load the recording: {e}")));
                    let _ = playing.try_set(false);
                }
            }
            let _ = pb.try_update_value(|p| {
                p.loading = false;
                p.last_tick = None;
            });
        });
    };

    let seek = move |t: f64| {
        let t = t.clamp(0.0, duration_ms);
        #[cfg(feature = "bench")]
        let started = perf_now();
        at.set(t);
        let generation = pb
            .try_update_value(|p| {
                p.generation += 1;
                p.at_ms = t;
                p.generation
            })
            .unwrap_or(0);
        let span = idx.with_value(|i| plan_seek(i, t as u32));
        let apply_seek = Box::new(move |seg: Segment| {
            let upto = seg.due(0, t as u32);
            desktop.set_quiet(true);
            for r in &seg.recs[..upto] {
                desktop.apply_record(r.kind, seg.payload(r));
            }
            desktop.set_quiet(false);
            #[cfg(feature = "bench")]
            desktop.fence(move || {
                let ms = perf_now() - started;
                let _ = seeks.try_update(|s| {
                    s.0 += 1;
                    s.1 = ms;
                    s.2 = t;
                });
            });
            pb.update_value(|p| {
                p.seg = Some(seg);
                p.next = upto;
            });
        });
        // Scrubbing within the span already held (e.g. a few seconds back) needs no fetch.
        let held = pb
            .try_update_value(|p| {
                let seg = p
                    .seg
                    .take_if(|s| s.base == span.start && s.end >= span.end)?;
                // Supersedes any fetch in flight, which will now be dropped unfinished.
                p.loading = false;
                p.last_tick = None;
                Some(seg)
            })
            .flatten();
        match held {
            Some(seg) => apply_seek(seg),
            None => fetch(span, generation, apply_seek),
        }
    };

    let tick = move || {
        if !playing.get_untracked() {
            return;
        }
        let sp = speed.get_untracked();
        let mut need: Option<(Span, u64)> = None;
        let mut pos = 0.0;
        let mut finished = false;
        pb.update_value(|p| {
            if p.loading {
                return;
            }
            let now = perf_now();
            let dt = p.last_tick.map_or(0.0, |l| now - l);
            p.last_tick = Some(now);
            p.at_ms = (p.at_ms + dt * sp).min(duration_ms);
            pos = p.at_ms;
            let Some(seg) = &p.seg else {
                return;
            };
            let upto = seg.due(p.next, p.at_ms as u32);
            for r in &seg.recs[p.next..upto] {
                desktop.apply_record(r.kind, seg.payload(r));
            }
            p.next = upto;
            if upto == seg.recs.len() {
                let end = seg.end;
                match idx.with_value(|i| next_span(i, end)) {
                    Some(span) if !span.is_empty() => need = Some((span, p.generation)),
                    _ => finished = p.at_ms >= duration_ms,
                }
            }
        });
        at.set(pos);
        if let Some((span, generation)) = need {
            fetch(
                span,
                generation,
                Box::new(move |seg| {
                    pb.update_value(|p| {
                        p.seg = Some(seg);
                        p.next = 0;
                    })
                }),
            );
        }
        if finished {
            playing.set(false);
        }
    };
    if let Ok(handle) = set_interval_with_handle(tick, Duration::from_millis(40)) {
        on_cleanup(move || handle.clear());
    }
    // Open on the first picture: the first keyframe is written a moment after the start.
    seek(idx.with_value(|i| i.keyframes.first().map_or(0.0, |k| f64::from(k.t_ms))));

    let toggle = move || {
        if playing.get_untracked() {
            playing.set(false);
        } else {
            if at.get_untracked() >= duration_ms {
                // Open on the first picture: the first keyframe is written a moment after the start.
                seek(idx.with_value(|i| i.keyframes.first().map_or(0.0, |k| f64::from(k.t_ms))));
            }
            pb.update_value(|p| p.last_tick = None);
            playing.set(true);
        }
    };
    let marker_list = move || {
        markers
            .get()
            .into_iter()
            .map(|(t, text)| {
                let left = if duration_ms > 0.0 {
                    f64::from(t) / duration_ms * 100.0
                } else {
                    0.0
                };
                let label = format!("{} at {}", text, util::mmss(u64::from(t)));
                view! {
                    <button type="button" class="marker" data-testid="replay-marker"
                        style=format!("left: {left:.2}%") title=label.clone() aria-label=label
                        on:click=move |_| seek(f64::from(t))></button>
                }
            })
            .collect_view()
    };
    #[cfg(feature = "bench")]
    let seek_stats = view! {
        <div hidden data-testid="seek-stats">{move || seeks.with(|(n, ms, t)| format!(
            r#"{{"seeks":{n},"last_ms":{ms:.1},"last_target_ms":{t:.0}}}"#
        ))}</div>
    };
    #[cfg(not(feature = "bench"))]
    let seek_stats = ();
    view! {
        {move || error.get().map(|e| view! { <ErrorBox message=e/> })}
        <FetchProgress progress=fetching what="Downloading the recording"/>
        <ReplayControls playing at speed duration_ms
            on_toggle=Callback::new(move |()| toggle())
            on_seek=Callback::new(move |t: f64| seek(t))
            overlay=ViewFn::from(marker_list)/>
        <div class="player-body">
            <div class="replay-desktop">
                <DesktopView desktop testid="replay-canvas" locked=false capture=false/>
                {seek_stats}
            </div>
            <KeystrokesPanel keys selectable=true status=keys_status
                on_pick=Callback::new(move |at_ms: u64| seek(at_ms as f64))/>
        </div>
    }
}
