//! `GET /live`: the Active Sessions feed, filtered per viewer.

use std::collections::HashSet;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;
use vigil_hub::HubEvent;
use vigil_wire::api::ApiError;
use vigil_wire::live::FeedMsg;

use super::{check_origin, close, next_frame, to_message, upgrade};
use crate::api::sessions::{session_dto, visible_sessions};
use crate::auth::CurrentUser;
use crate::error::{AppError, AppResult};
use crate::permissions::Viewer;
use crate::policy::{decide, Action};
use crate::state::{AppState, SessionChanged};
use crate::store::{self, now_ms};

/// How often a feed re-checks its viewer's login and what they may see.
const FEED_RECHECK: Duration = Duration::from_secs(15);

// Its protocol is written into the OpenAPI document by `api::doc::Streams`.
/// The Active Sessions feed (WebSocket): the live sessions the viewer may see.
#[utoipa::path(get, path = "/api/v1/live", tag = "live", operation_id = "liveSessions",
    responses(
        (status = 101, description = "Switching to the WebSocket: `FeedMsg` out (see the description), only sessions the viewer may see"),
        (status = 400, body = ApiError, description = "`bad_request`: not a WebSocket upgrade"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`origin`: an Origin other than the relay's, or none"),
    ))]
pub async fn live(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: Result<CurrentUser, AppError>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> AppResult<Response> {
    check_origin(&state, &headers)?;
    let user = user?;
    let ws = upgrade(ws)?;
    Ok(ws.on_upgrade(move |socket| async move {
        let token = state.shutdown.clone();
        let mut feed = Feed {
            state: &state,
            user,
            shown: HashSet::new(),
            socket,
        };
        let end = tokio::select! {
            r = feed.run() => r,
            () = token.cancelled() => Ok(()),
        };
        if let Err(error) = &end {
            tracing::debug!(%error, "Live feed closed");
        }
        // A peer that stopped reading takes no Close frame either: the socket is dropped
        // at once. Any other peer gets as long to take one as it had for a message.
        if !matches!(end, Err(FeedEnd::Stalled)) {
            let limit = state.config.feed_send_timeout;
            let _ = tokio::time::timeout(limit, close(&mut feed.socket)).await;
        }
    }))
}

struct Feed<'a> {
    state: &'a AppState,
    user: CurrentUser,
    /// Ids of sessions this viewer currently has in their list.
    shown: HashSet<String>,
    socket: WebSocket,
}

#[derive(Debug, thiserror::Error)]
enum FeedEnd {
    #[error("peer gone")]
    Gone,
    #[error("login ended")]
    LoggedOut,
    #[error("peer stopped reading")]
    Stalled,
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<sqlx::Error> for FeedEnd {
    fn from(e: sqlx::Error) -> Self {
        FeedEnd::App(AppError::Db(e))
    }
}

impl Feed<'_> {
    async fn send(&mut self, msg: &FeedMsg) -> Result<(), FeedEnd> {
        // A feed whose peer takes longer than this to accept one message is dropped: a
        // stalled socket must not pin hub events. The app reconnects and gets the whole
        // list again.
        match tokio::time::timeout(
            self.state.config.feed_send_timeout,
            self.socket.send(to_message(msg.encode())),
        )
        .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(FeedEnd::Gone),
            Err(_) => {
                crate::metrics::feed_stalled();
                Err(FeedEnd::Stalled)
            }
        }
    }

    /// The user behind the socket, re-read so that grant changes apply. (Takes the
    /// parts it needs, not `&self`: a `WebSocket` is not `Sync`.)
    async fn viewer(state: &AppState, user_id: i64) -> Result<Viewer, FeedEnd> {
        let user = store::users::by_id(&state.db, user_id)
            .await?
            .ok_or(FeedEnd::LoggedOut)?;
        Ok(Viewer::load(state, user).await?)
    }

    /// Sends the whole list (`initial`), or the difference from what is shown.
    async fn sync(&mut self, initial: bool) -> Result<(), FeedEnd> {
        let v = Self::viewer(self.state, self.user.user.id).await?;
        let sessions = visible_sessions(self.state, &v.actor, Some(true)).await?;
        let ids: HashSet<String> = sessions.iter().map(|s| s.id.clone()).collect();
        if initial {
            self.send(&FeedMsg::Sessions { sessions }).await?;
            for id in &ids {
                if let Some(thumbnail) = self.state.hub.thumbnail(id) {
                    self.send(&FeedMsg::Thumbnail {
                        id: id.clone(),
                        thumbnail,
                    })
                    .await?;
                }
            }
        } else {
            let gone: Vec<String> = self.shown.difference(&ids).cloned().collect();
            for id in gone {
                self.send(&FeedMsg::Removed { id }).await?;
            }
            let new: Vec<_> = sessions
                .into_iter()
                .filter(|s| !self.shown.contains(&s.id))
                .collect();
            for session in new {
                self.send(&FeedMsg::Upsert { session }).await?;
            }
        }
        self.shown = ids;
        Ok(())
    }

    async fn changed(&mut self, id: String) -> Result<(), FeedEnd> {
        let v = Self::viewer(self.state, self.user.user.id).await?;
        let row = store::sessions::get(&self.state.db, &id).await?;
        let visible = row.filter(|r| {
            r.ended_at.is_none()
                && decide(
                    &v.actor,
                    r.asset_id,
                    Some(&r.facts(&v.actor)),
                    Action::SeeSession,
                )
                .is_ok()
        });
        match visible {
            Some(row) => {
                self.shown.insert(id);
                self.send(&FeedMsg::Upsert {
                    session: session_dto(self.state, &row, &v.actor),
                })
                .await
            }
            None if self.shown.remove(&id) => self.send(&FeedMsg::Removed { id }).await,
            None => Ok(()),
        }
    }

    async fn run(&mut self) -> Result<(), FeedEnd> {
        let mut changes = self.state.changes.subscribe();
        let mut hub_events = self.state.hub.subscribe();
        let mut access = self.state.access.subscribe();
        self.sync(true).await?;
        let mut recheck = tokio::time::interval(FEED_RECHECK);
        recheck.reset();
        loop {
            tokio::select! {
                change = changes.recv() => match change {
                    Ok(SessionChanged(id)) => self.changed(id).await?,
                    Err(RecvError::Lagged(_)) => {
                        crate::metrics::feed_resynced();
                        self.sync(false).await?
                    }
                    Err(RecvError::Closed) => return Ok(()),
                },
                event = hub_events.recv() => match event {
                    Ok(HubEvent::Thumbnail { id, thumbnail }) if self.shown.contains(&id) => {
                        self.send(&FeedMsg::Thumbnail { id, thumbnail }).await?;
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return Ok(()),
                },
                access_change = access.recv() => {
                    if matches!(access_change, Err(RecvError::Closed)) {
                        return Ok(());
                    }
                    if store::logins::find(&self.state.db, &self.user.token_hash, now_ms()).await?.is_none() {
                        return Err(FeedEnd::LoggedOut);
                    }
                    self.sync(false).await?;
                }
                _ = recheck.tick() => {
                    if store::logins::find(&self.state.db, &self.user.token_hash, now_ms()).await?.is_none() {
                        return Err(FeedEnd::LoggedOut);
                    }
                    self.sync(false).await?;
                }
                frame = next_frame(&mut self.socket) => {
                    // The feed is one-way; anything the peer sends is ignored.
                    if frame.is_none() {
                        return Err(FeedEnd::Gone);
                    }
                }
            }
        }
    }
}
