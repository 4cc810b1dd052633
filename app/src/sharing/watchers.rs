//! Who is watching: the live player's list of the session's participants, for people with
//! monitoring rights (the relay sends it to nobody else).

use leptos::prelude::*;
use vigil_wire::share::LiveParticipant;

use super::describe;
use crate::widgets::local_time;

/// The participants as the stream last heard them; nothing while `None`.
#[component]
pub fn WhoIsWatching(
    #[prop(into)] participants: Signal<Option<Vec<LiveParticipant>>>,
) -> impl IntoView {
    move || {
        participants.get().map(|list| {
            let count = list.len();
            view! {
                <section class="watchers" data-testid="watchers" aria-labelledby="watchers-heading">
                    <h2 id="watchers-heading">"Who is watching" <span class="count">{count}</span></h2>
                    <ul class="watcher-list">
                        {list.into_iter().map(|p| {
                            let role = describe::participant_label(p.participant);
                            let via = describe::via_label(p.via);
                            view! {
                                <li data-testid="participant" data-username=p.username.clone()
                                    data-participant=role data-via=via>
                                    <span class="strong" title=p.username.clone()>{describe::participant_name(&p)}</span>
                                    " · " <span>{role}</span>
                                    " · " <span data-testid="participant-via">{format!("by {via}")}</span>
                                    " · " <span class="muted">{format!("since {}", local_time(p.since))}</span>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                </section>
            }
        })
    }
}
