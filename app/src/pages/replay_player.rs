//! `/replay/:id`: plays a recording (asciicast v2) in a read-only terminal, with
//! Play/Pause, seeking, speed, and the Keystrokes list (a click seeks to it).

use std::rc::Rc;
use std::time::Duration;

use leptos::html::Div;
use leptos::prelude::*;
use leptos::task::spawn_local;
use vigil_wire::api::{Keystroke, Protocol};
use vigil_wire::recording::RecordingIndex;
use vigil_wire::share::ShareKind;

mod desktop;

use crate::api;
use crate::cast::{self, Cast};
use crate::focus_escape::dom::FocusEscapeHint;
use crate::sharing::panel::SharePanel;
use crate::shell::{for_route_id, load_for, perf_now, set_title, ErrorBox, Loading};
use crate::term::{Term, TermOptions};
use crate::term_files;
use crate::util::{Fetched, NOT_AVAILABLE};
use crate::widgets::{
    load_keystrokes, local_time, AuditTrailLink, FetchProgress, KeystrokesPanel, ReplayControls,
};
use desktop::DesktopReplay;

#[component]
pub fn ReplayPlayerPage() -> impl IntoView {
    for_route_id(|id| view! { <ReplayLoader id/> })
}

#[derive(Debug, Clone)]
enum Loaded {
    Ready(Rc<Cast>),
    /// A desktop (RDP) recording: its keyframe index; spans are fetched while playing.
    Desktop(Rc<RecordingIndex>),
    Failed(String),
}

#[component]
fn ReplayLoader(id: String) -> impl IntoView {
    set_title("Replay");
    // The terminal recording's download, while it runs.
    let fetching = RwSignal::new(None::<Fetched>);
    let recording = load_for(&id, move |id| async move {
        if let Ok(s) = api::session(&id).await {
            if s.protocol == Protocol::Rdp {
                return match api::recording_index(&id).await {
                    Ok(i) => Loaded::Desktop(Rc::new(i)),
                    Err(e) if e.is_not_available() => Loaded::Failed(NOT_AVAILABLE.into()),
                    Err(e) => Loaded::Failed(format!("Could not load the recording: {e}")),
                };
            }
        }
        let answer = api::recording(&id, move |f| {
            let _ = fetching.try_set(Some(f));
        })
        .await;
        let _ = fetching.try_set(None);
        match answer {
            Ok(text) => match cast::parse(&text) {
                Ok(c) => Loaded::Ready(Rc::new(c)),
                Err(e) => Loaded::Failed(format!("This recording cannot be played: {e}. Download it to keep a copy, and tell an administrator.")),
            },
            Err(e) if e.is_not_available() => Loaded::Failed(NOT_AVAILABLE.into()),
            Err(e) => Loaded::Failed(format!("Could not load the recording: {e}")),
        }
    });
    let meta = load_for(&id, |id| async move { api::session(&id).await.ok() });
    let title = move || {
        meta.get().flatten().map(|s| {
            let when = local_time(s.started_at);
            format!("{} on {} · {when}", s.user, s.asset_name)
        })
    };
    // The download and Share follow the session's controls (a link viewer gets the download
    // only if the sharer allowed it, and never Share).
    let controls = move || meta.get().flatten().map(|s| s.controls).unwrap_or_default();
    let download = {
        let id = id.clone();
        move || {
            controls().download.then(|| {
                let name = meta
                    .get()
                    .flatten()
                    .map(|s| download_name(&s))
                    .unwrap_or_default();
                view! {
                    <a class="btn btn-small" data-testid="download-link" href=api::recording_url(&id)
                        download=name rel="external">"Download"</a>
                }
            })
        }
    };
    let share_id = id.clone();
    view! {
        <section class="page replay-page">
            <header class="page-head">
                <h1>"Replay"</h1>
                <span class="muted">{title}</span>
                <span class="spacer"></span>
                <AuditTrailLink id=id.clone()/>
                {download}
                <a class="btn btn-small" href="/replay">"Back to Replay Sessions"</a>
            </header>
            {move || match recording.get() {
                None => view! {
                    <Loading text="Loading the recording…"/>
                    <FetchProgress progress=fetching what="Downloading the recording"/>
                }.into_any(),
                Some(Loaded::Failed(e)) => view! {
                    <div class="alert alert-error" role="alert" data-testid="replay-error">{e}</div>
                }.into_any(),
                Some(Loaded::Desktop(i)) => {
                    let id = id.clone();
                    view! { <DesktopReplay index=i id/> }.into_any()
                }
                Some(Loaded::Ready(c)) => {
                    let id = id.clone();
                    view! { <ReplayPlayer cast=c id/> }.into_any()
                }
            }}
            {move || controls().share.then(|| view! { <SharePanel id=share_id.clone() kind=ShareKind::Recording/> })}
        </section>
    }
}

/// The file name a download is saved as.
fn download_name(s: &vigil_wire::api::Session) -> String {
    let ext = match s.protocol {
        Protocol::Ssh => "cast",
        Protocol::Rdp => "desktop",
    };
    format!("vigil-{}-{}-{}.{ext}", s.asset_name, s.user, s.id)
}

struct Playback {
    cast: Rc<Cast>,
    term: Option<Term>,
    /// Next event to play.
    next: usize,
    /// Current position, in recording milliseconds.
    at_ms: f64,
    /// `performance.now()` at the previous tick while playing.
    last_tick: Option<f64>,
}

#[component]
fn ReplayPlayer(cast: Rc<Cast>, id: String) -> impl IntoView {
    let duration_ms = cast.duration_ms;
    let torn = cast.torn_tail;
    let skipped = cast.skipped_lines;
    let empty = cast.events.is_empty();
    let pb = StoredValue::new_local(Playback {
        cast,
        term: None,
        next: 0,
        at_ms: 0.0,
        last_tick: None,
    });
    let playing = RwSignal::new(false);
    let at = RwSignal::new(0.0_f64);
    let speed = RwSignal::new(1.0_f64);
    let error = RwSignal::new(None::<String>);
    let keys = RwSignal::new(Vec::<Keystroke>::new());
    let keys_status = RwSignal::new(Some("Loading keystrokes…".to_string()));

    load_keystrokes(id, keys, keys_status);

    // Seeking: reset the terminal and write everything up to `t` in one go.
    let seek = move |t: f64| {
        let t = t.clamp(0.0, duration_ms);
        pb.update_value(|p| {
            let state = p.cast.seek(t);
            if let Some(term) = &p.term {
                term.reset();
                term.resize(state.cols, state.rows);
                term.write(&state.output);
            }
            p.next = state.next;
            p.at_ms = t;
            p.last_tick = None;
        });
        at.set(t);
    };

    let tick = move || {
        if !playing.get_untracked() {
            return;
        }
        let sp = speed.get_untracked();
        let mut finished = false;
        let mut pos = 0.0;
        pb.update_value(|p| {
            let now = perf_now();
            let dt = p.last_tick.map_or(0.0, |l| now - l);
            p.last_tick = Some(now);
            p.at_ms = (p.at_ms + dt * sp).min(duration_ms);
            let (out, resize, next) = p.cast.advance(p.next, p.at_ms);
            if let Some(term) = &p.term {
                if let Some((c, r)) = resize {
                    term.resize(c, r);
                }
                term.write(&out);
            }
            p.next = next;
            pos = p.at_ms;
            finished = p.at_ms >= duration_ms;
        });
        at.set(pos);
        if finished {
            playing.set(false);
        }
    };
    if let Ok(handle) = set_interval_with_handle(tick, Duration::from_millis(40)) {
        on_cleanup(move || handle.clear());
    }

    let toggle = move || {
        if playing.get_untracked() {
            playing.set(false);
        } else {
            if at.get_untracked() >= duration_ms {
                seek(0.0);
            }
            pb.update_value(|p| p.last_tick = None);
            playing.set(true);
        }
    };

    let node = NodeRef::<Div>::new();
    let started = StoredValue::new(false);
    Effect::new(move |_| {
        let Some(el) = node.get() else { return };
        if started.get_value() {
            return;
        }
        started.set_value(true);
        // The terminal opens once xterm.js has loaded (the page may be gone by then).
        spawn_local(async move {
            let loaded = term_files::load().await;
            if pb.try_with_value(|p| p.term.is_some()) != Some(false) {
                return;
            }
            match loaded.and_then(|()| Term::open(&el, TermOptions::read_only())) {
                Ok(t) => {
                    pb.update_value(|p| {
                        t.resize(p.cast.cols, p.cast.rows);
                        p.term = Some(t);
                    });
                    seek(0.0);
                }
                Err(e) => {
                    let _ = error.try_set(Some(e));
                }
            }
        });
    });
    on_cleanup(move || pb.update_value(|p| p.term = None));

    view! {
        {move || error.get().map(|e| view! { <ErrorBox message=e/> })}
        {torn.then(|| view! {
            <p class="alert alert-info" role="status">"The recording ends in an incomplete line (the session was cut short); it was skipped."</p>
        })}
        {(skipped > 0).then(|| view! {
            <p class="alert alert-info" role="status">{format!("{skipped} unreadable line(s) of the recording were skipped.")}</p>
        })}
        {empty.then(|| view! { <p class="alert alert-info" role="status">"This recording has no output."</p> })}
        <ReplayControls playing at speed duration_ms
            on_toggle=Callback::new(move |()| toggle())
            on_seek=Callback::new(move |t: f64| seek(t))/>
        <div class="player-body">
            <div class="term-scroll">
                <div class="term-host" data-testid="replay-terminal" node_ref=node></div>
                <FocusEscapeHint what="terminal"/>
            </div>
            <KeystrokesPanel keys selectable=true status=keys_status
                on_pick=Callback::new(move |at_ms: u64| seek(at_ms as f64))/>
        </div>
    }
}
