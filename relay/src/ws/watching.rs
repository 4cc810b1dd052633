//! One participant's time in a session, from attach to detach: their place in the live
//! participants registry, and the `view_start` and `view_end` audit entries. Dropping the
//! [`Watching`] (on every way out of a stream) leaves the registry and audits the end.

use vigil_wire::live::Participant;
use vigil_wire::share::{JoinedVia, LiveParticipant};

use crate::participants::Presence;
use crate::share::audit::{self, ShareEvent, Via};
use crate::state::AppState;
use crate::store::audit::Who;
use crate::store::now_ms;

/// Who is attaching, and how they came in.
#[derive(Debug, Clone)]
pub struct WhoWatches {
    pub username: String,
    pub display_name: String,
    pub participant: Participant,
    pub via: Via,
    /// The client's address, as the audit's source.
    pub source: Option<String>,
}

impl WhoWatches {
    fn who(&self) -> Who<'_> {
        Who {
            actor: &self.username,
            source: self.source.as_deref(),
        }
    }
}

/// An attached participant; dropping it detaches them from the registry and audits it.
pub struct Watching {
    state: AppState,
    session: String,
    who: WhoWatches,
    since: i64,
    pub presence: Presence,
}

impl Watching {
    /// `who` attached to `session` now: audited, then registered. A view that could not
    /// be audited does not start: the error is returned and nobody is registered.
    pub async fn start(
        state: &AppState,
        session: &str,
        who: WhoWatches,
    ) -> Result<Watching, sqlx::Error> {
        let since = now_ms();
        let event = ShareEvent::ViewStart {
            via: &who.via,
            participant: who.participant,
        };
        audit::record(state, who.who(), session, event).await?;
        let presence = state.participants.join(
            session,
            LiveParticipant {
                username: who.username.clone(),
                display_name: who.display_name.clone(),
                participant: who.participant,
                via: match who.via {
                    Via::Owner => JoinedVia::Owner,
                    Via::Role => JoinedVia::Role,
                    Via::Link(_) => JoinedVia::Link,
                },
                since,
            },
        );
        Ok(Watching {
            state: state.clone(),
            session: session.to_string(),
            who,
            since,
            presence,
        })
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let state = self.state.clone();
        let session = std::mem::take(&mut self.session);
        let who = self.who.clone();
        let seconds = (now_ms() - self.since) / 1000;
        // The registry is left at once (the presence is dropped with this); the audit
        // entry is written by a task, since a drop cannot wait.
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            let event = ShareEvent::ViewEnd {
                via: &who.via,
                participant: who.participant,
                seconds,
            };
            if let Err(error) = audit::record(&state, who.who(), &session, event).await {
                tracing::error!(%error, %session, "Could not audit a view end");
            }
        });
    }
}
