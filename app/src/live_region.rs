//! [`LiveRegion`]: the one place each page announces session state changes to screen
//! readers (locked, unlocked, ended, this viewer cut off), and [`announce_changes`],
//! which turns a page's [`Facts`] into [`Announcement`]s (`stream::announce::change`).
//!
//! The region is in the page from the start (a live region added together with its
//! text is not reliably read), visually hidden, and holds one polite and one assertive
//! part: an announcement fills its own part and empties the other, so the same words
//! said again after something else are a change, and are read again.

use leptos::prelude::*;

use crate::stream::announce::{change, Announcement, Facts};

/// What `facts` changes into, from the second value on: the first is what the page
/// already shows.
pub fn announce_changes(facts: Memo<Facts>) -> RwSignal<Option<Announcement>> {
    let said = RwSignal::new(None);
    Effect::new(move |before: Option<Facts>| {
        let now = facts.get();
        if let Some(a) = before.and_then(|before| change(&before, &now)) {
            said.set(Some(a));
        }
        now
    });
    said
}

#[component]
pub fn LiveRegion(#[prop(into)] said: Signal<Option<Announcement>>) -> impl IntoView {
    let text = move |urgent: bool| {
        said.with(|a| {
            a.as_ref()
                .filter(|a| a.urgent() == urgent)
                .map(Announcement::text)
                .unwrap_or_default()
        })
    };
    view! {
        <div class="sr-only" data-testid="live-region">
            <div role="status" aria-live="polite" aria-atomic="true" data-testid="live-polite">{move || text(false)}</div>
            <div aria-live="assertive" aria-atomic="true" data-testid="live-assertive">{move || text(true)}</div>
        </div>
    }
}
