//! `GET /sessions/{id}/stream`: one viewer's stream of a session, as its user or an
//! observer, re-checked on every change to their rights.

use std::time::Duration;

use axum::extract::rejection::PathRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;
use vigil_wire::api::ApiError;
use vigil_wire::end::{EndReason, ErrorCode};
use vigil_wire::live::{ClientControl, ClientMsg, Participant, ServerControl, ServerMsg};
use vigil_wire::PROTOCOL_VERSION;

use super::{check_origin, close, next_frame, send, send_control, upgrade};
use crate::api::extract::{refused, visible_session, PeerAddr};
use crate::api::sessions::session_dto;
use crate::auth::CurrentUser;
use crate::error::{AppError, AppResult};
use crate::permissions::Viewer;
use crate::policy::{allowed, Action};
use crate::share::audit::Via;
use crate::share::way_in;
use crate::state::{AppState, SessionChanged};
use crate::store::{self, now_ms};
use crate::ws::watching::{Watching, WhoWatches};

const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

// Its protocol is written into the OpenAPI document by `api::doc::Streams`.
/// A session's stream (WebSocket): its user participates, every other viewer observes.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/stream", tag = "live",
    operation_id = "streamSession",
    params(("id" = String, Path, description = "session id")),
    responses(
        (status = 101, description = "Switching to the WebSocket: `ClientMsg` in, `ServerMsg` out (see the description); the session's user participates, every other viewer observes"),
        (status = 400, body = ApiError, description = "`bad_request`: not a WebSocket upgrade"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`origin` (an Origin other than the relay's, or none), or `forbidden`: may see the session but neither take part nor watch"),
        (status = 404, body = ApiError, description = "`not_found`: unknown, or not visible to the caller"),
    ))]
pub async fn stream(
    State(state): State<AppState>,
    PeerAddr(addr): PeerAddr,
    headers: HeaderMap,
    user: Result<CurrentUser, AppError>,
    id: Result<Path<String>, PathRejection>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> AppResult<Response> {
    check_origin(&state, &headers)?;
    let user = user?;
    let Path(id) = id.map_err(|_| AppError::NotFound)?;
    let ws = upgrade(ws)?;
    let mut v = Viewer::load(&state, user.user).await?;
    v.source = addr.map(|a| a.to_string());
    let row = visible_session(&state, &v, &id).await?;
    let (participant, via) = if let Some(via) = way_in(&v, &row, Action::Participate) {
        (Participant::User, via)
    } else if let Some(via) = way_in(&v, &row, Action::WatchSession) {
        (Participant::Observer, via)
    } else {
        return Err(refused(&state, &v, &row, Action::WatchSession, AppError::Forbidden).await);
    };
    let link_expiry = match &via {
        Via::Link(_) => v.actor.links.get(&id).map(|held| held.expires_at),
        _ => None,
    };
    let facts = row.facts(&v.actor);
    let sees_participants = allowed(
        &v.actor,
        row.asset_id,
        Some(&facts),
        Action::SeeParticipants,
    );
    let session = session_dto(&state, &row, &v.actor);
    let (cols, rows) = (row.cols, row.rows);
    let token_hash = user.token_hash.clone();
    let who = WhoWatches {
        username: v.user.username.clone(),
        display_name: v.user.display_name.clone(),
        participant,
        via,
        source: v.source.clone(),
    };
    Ok(ws.on_upgrade(move |socket| async move {
        let token = state.shutdown.clone();
        let link = match &who.via {
            Via::Link(link_id) => Some(link_id.clone()),
            _ => None,
        };
        let rights = Rights {
            state: &state,
            token_hash,
            session: id.clone(),
            participant,
            link,
        };
        let watch = Watch {
            who,
            sees_participants,
            link_expiry,
        };
        tokio::select! {
            () = run_stream(&state, socket, session, cols, rows, &rights, watch) => {}
            () = token.cancelled() => {}
        }
    }))
}

/// What a stream knows of its viewer beyond their login: who they are in the session,
/// whether they may see who else watches, and when the link they came through expires.
struct Watch {
    who: WhoWatches,
    sees_participants: bool,
    link_expiry: Option<i64>,
}

/// Why a stream's viewer was detached while the session went on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detach {
    /// The login expired or was ended (logout, disabled user).
    LoginEnded,
    /// The viewer no longer holds the right to this stream.
    RightLost,
    /// The share link the viewer came through was revoked.
    LinkRevoked,
    /// The share link the viewer came through expired.
    LinkExpired,
}

impl Detach {
    fn message(self) -> &'static str {
        match self {
            Detach::LoginEnded => "Your login has ended. Log in again to continue.",
            Detach::RightLost => "You no longer have access to this session. Ask an administrator if you still need it.",
            Detach::LinkRevoked | Detach::LinkExpired => crate::share::LINK_ENDED_MESSAGE,
        }
    }

    fn code(self) -> ErrorCode {
        match self {
            Detach::LoginEnded => ErrorCode::LoginEnded,
            Detach::RightLost => ErrorCode::AccessRevoked,
            Detach::LinkRevoked => ErrorCode::LinkRevoked,
            Detach::LinkExpired => ErrorCode::LinkExpired,
        }
    }
}

/// What a re-check found: the viewer stays, with these rights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stay {
    /// May see the live participants.
    sees_participants: bool,
    /// When the link they hold on the session expires, if they came through one.
    link_expiry: Option<i64>,
}

/// What a stream re-checks about its viewer, each time something changes and when the
/// login expires: the login, and the policy decision that let them attach.
struct Rights<'a> {
    state: &'a AppState,
    token_hash: String,
    session: String,
    participant: Participant,
    /// The share link the viewer came through, if they did.
    link: Option<String>,
}

impl Rights<'_> {
    /// When the login expires (Unix ms); `Err` once it has ended.
    async fn login_expiry(&self) -> Result<i64, Detach> {
        match store::logins::expires_at(&self.state.db, &self.token_hash, now_ms()).await {
            Ok(Some(at)) => Ok(at),
            Ok(None) => Err(Detach::LoginEnded),
            // A database hiccup is no reason to cut a viewer off; the next change re-checks.
            Err(error) => {
                tracing::warn!(%error, "Could not re-check a stream's login");
                Ok(now_ms() + 1_000)
            }
        }
    }

    /// `Ok` while the viewer may still hold this stream. (A failure to read is no reason
    /// to cut a viewer off: `None` then, and the next change re-checks.)
    async fn check(&self) -> Result<Option<Stay>, Detach> {
        let login = store::logins::find(&self.state.db, &self.token_hash, now_ms()).await;
        let user = match login {
            Ok(Some(login)) => login.user,
            Ok(None) => return Err(Detach::LoginEnded),
            Err(error) => {
                tracing::warn!(%error, "Could not re-check a stream's rights");
                return Ok(None);
            }
        };
        let Ok(v) = Viewer::load(self.state, user).await else {
            return Ok(None);
        };
        let action = match self.participant {
            Participant::User => Action::Participate,
            Participant::Observer => Action::WatchSession,
        };
        // The relay's own re-check, not an attempt by the viewer: a right found lost
        // detaches them (their `view_end` records it) and is no `access_denied`.
        let row = match store::sessions::get(&self.state.db, &self.session).await {
            Ok(Some(row)) => row,
            Ok(None) => return Err(self.lost().await),
            Err(_) => return Ok(None),
        };
        let facts = row.facts(&v.actor);
        if !allowed(&v.actor, row.asset_id, Some(&facts), Action::SeeSession) {
            return Err(self.lost().await);
        }
        // Ended: the hub's `Ended`, already on its way, says why and closes the stream;
        // detaching first would tell the viewer a wrong reason.
        if row.ended_at.is_some() {
            return Ok(None);
        }
        let Some(via) = way_in(&v, &row, action) else {
            return Err(self.lost().await);
        };
        Ok(Some(Stay {
            sees_participants: allowed(
                &v.actor,
                row.asset_id,
                Some(&facts),
                Action::SeeParticipants,
            ),
            link_expiry: match via {
                Via::Link(_) => v.actor.links.get(&self.session).map(|held| held.expires_at),
                _ => None,
            },
        }))
    }

    /// Why the viewer lost the stream: for one who came through a link, the link's fate
    /// (revoked, expired) if that is what ended it.
    async fn lost(&self) -> Detach {
        let Some(link) = &self.link else {
            return Detach::RightLost;
        };
        match store::shares::by_id(&self.state.db, link).await {
            Ok(Some(l)) if l.revoked_at.is_some() => Detach::LinkRevoked,
            Ok(Some(l)) if l.expires_at <= now_ms() => Detach::LinkExpired,
            _ => Detach::RightLost,
        }
    }
}

/// Sleeps until the Unix-ms instant `at`.
async fn sleep_until_ms(at: i64) {
    let wait = u64::try_from(at.saturating_sub(now_ms())).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(wait)).await;
}

async fn run_stream(
    state: &AppState,
    mut socket: WebSocket,
    mut session: vigil_wire::api::Session,
    cols: u16,
    rows: u16,
    rights: &Rights<'_>,
    watch: Watch,
) {
    let id = session.id.clone();
    let participant = watch.who.participant;
    // 1. The peer's Hello.
    let hello = tokio::time::timeout(HELLO_TIMEOUT, next_frame(&mut socket)).await;
    let version = match hello {
        Ok(Some(frame)) => match ClientMsg::decode(&frame) {
            Ok(ClientMsg::Control(ClientControl::Hello { version })) => version,
            _ => {
                let message = "the first message must be Hello".to_string();
                send_control(
                    &mut socket,
                    ServerControl::Error {
                        code: ErrorCode::ExpectedHello,
                        message,
                    },
                )
                .await;
                close(&mut socket).await;
                return;
            }
        },
        _ => return,
    };
    if version != PROTOCOL_VERSION {
        let message = format!(
            "protocol version {version} is not supported (this relay speaks {PROTOCOL_VERSION})"
        );
        send_control(
            &mut socket,
            ServerControl::Error {
                code: ErrorCode::Version,
                message,
            },
        )
        .await;
        close(&mut socket).await;
        return;
    }

    // 2. Attach, or tell the peer it is over.
    let Some(mut att) = state.hub.attach(&id, participant) else {
        let reason = match session.end_reason.clone() {
            Some(r) => r,
            None => Box::pin(recorded_end_reason(state, &id)).await,
        };
        let welcome = ServerControl::Welcome {
            version: PROTOCOL_VERSION,
            participant,
            session,
            cols,
            rows,
        };
        if send_control(&mut socket, welcome).await {
            // A session that failed (to connect, say) ended before its user attached:
            // show its failure as the error it was.
            if let Some(code) = reason.code {
                let error = ServerControl::Error {
                    code,
                    message: reason.message.clone(),
                };
                send_control(&mut socket, error).await;
            }
            send_control(&mut socket, ServerControl::Ended { reason }).await;
        }
        close(&mut socket).await;
        return;
    };
    session.locked = att.locked;
    // The database work of attaching and of re-checking is boxed: held inline, the
    // largest of these futures would size this viewer's task for its whole life.
    let mut watching = match Box::pin(Watching::start(state, &id, watch.who)).await {
        Ok(watching) => watching,
        Err(error) => {
            // No view goes unaudited: refuse it.
            tracing::error!(%error, session = %id, "Could not audit a view start");
            let refusal = ServerControl::Error {
                code: ErrorCode::AuditFailed,
                message: "The relay could not record this view in the audit log.".into(),
            };
            send_control(&mut socket, refusal).await;
            close(&mut socket).await;
            return;
        }
    };
    let welcome = ServerControl::Welcome {
        version: PROTOCOL_VERSION,
        participant,
        session,
        cols: att.cols,
        rows: att.rows,
    };
    if !send_control(&mut socket, welcome).await {
        return;
    }
    let mut sees = watch.sees_participants;
    let mut link_expiry = watch.link_expiry;
    if sees && !send_participants(&mut socket, &mut watching).await {
        return;
    }

    // 3. Pump both ways. Observers have no input sender: what they send is dropped.
    // Any change (a session, a grant, a login) re-checks the viewer's right to stay, and
    // so do the login's and the link's expiry: dropping the attachment detaches them from
    // the hub.
    let mut changes = state.changes.subscribe();
    let mut access = state.access.subscribe();
    let mut expiry = match Box::pin(rights.login_expiry()).await {
        Ok(at) => at,
        Err(why) => return detach(&mut socket, why).await,
    };
    loop {
        let recheck = tokio::select! {
            () = sleep_until_ms(expiry) => match Box::pin(rights.login_expiry()).await {
                Ok(at) => {
                    expiry = at;
                    false
                }
                Err(why) => return detach(&mut socket, why).await,
            },
            () = sleep_until_ms(link_expiry.unwrap_or(i64::MAX)), if link_expiry.is_some() => true,
            change = changes.recv() => match change {
                Ok(SessionChanged(changed)) => changed == rights.session,
                Err(RecvError::Lagged(_)) => true,
                Err(RecvError::Closed) => break,
            },
            access = access.recv() => {
                if matches!(access, Err(RecvError::Closed)) {
                    break;
                }
                true
            }
            changed = watching.presence.updates.changed(), if sees => {
                if changed.is_ok() && !send_participants(&mut socket, &mut watching).await {
                    break;
                }
                false
            }
            out = att.rx.recv() => {
                let Some(msg) = out else { break };
                let last = matches!(msg, ServerMsg::Control(ServerControl::Ended { .. }));
                let started = std::time::Instant::now();
                let sent = send(&mut socket, &msg).await;
                metrics::histogram!(crate::metrics::WS_SEND_SECONDS)
                    .record(started.elapsed().as_secs_f64());
                if !sent || last {
                    break;
                }
                if let (ServerMsg::Control(ServerControl::Locked { .. }), Some(clock)) =
                    (&msg, &att.lock_clock)
                {
                    clock.notice_sent();
                }
                false
            }
            frame = next_frame(&mut socket) => {
                let Some(frame) = frame else { break };
                match ClientMsg::decode(&frame) {
                    Err(e) => {
                        let err = ServerControl::Error { code: ErrorCode::Malformed, message: e.to_string() };
                        if !send_control(&mut socket, err).await {
                            break;
                        }
                    }
                    Ok(ClientMsg::Control(ClientControl::Hello { .. })) => {}
                    Ok(msg) => {
                        if let Some(input) = &att.input {
                            if input.send(msg).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                false
            }
        };
        if recheck {
            match Box::pin(rights.check()).await {
                Err(why) => return detach(&mut socket, why).await,
                Ok(Some(stay)) => {
                    let newly = stay.sees_participants && !sees;
                    sees = stay.sees_participants;
                    link_expiry = stay.link_expiry;
                    if newly && !send_participants(&mut socket, &mut watching).await {
                        break;
                    }
                }
                Ok(None) => {}
            }
        }
    }
    close(&mut socket).await;
}

/// Sends the session's participants as they are now; `false` if the socket is gone.
async fn send_participants(socket: &mut WebSocket, watching: &mut Watching) -> bool {
    let participants = watching.presence.updates.borrow_and_update().clone();
    send_control(socket, ServerControl::Participants { participants }).await
}

/// Tells a viewer why they were cut off, then closes their stream.
async fn detach(socket: &mut WebSocket, why: Detach) {
    tracing::info!(?why, "Stream viewer detached");
    let error = ServerControl::Error {
        code: why.code(),
        message: why.message().into(),
    };
    if send_control(socket, error).await {
        send_control(
            socket,
            // The session goes on; only this viewer's stream ends (its code went above).
            ServerControl::Ended {
                reason: EndReason::plain(why.message()),
            },
        )
        .await;
    }
    close(socket).await;
}

/// The end reason of a session the hub no longer runs, read when its row (read before the
/// attach) had none. The hub keeps the reason until the relay has stored it, and forgets it
/// only after: so one or the other has it, with no waiting.
async fn recorded_end_reason(state: &AppState, id: &str) -> EndReason {
    if let Some(reason) = state.hub.end_reason(id) {
        return reason;
    }
    match store::sessions::get(&state.db, id).await {
        Ok(Some(row)) => row.end_reason,
        Ok(None) => None,
        Err(error) => {
            tracing::warn!(%error, session = %id, "Could not read a session's end reason");
            None
        }
    }
    .unwrap_or_else(|| EndReason::plain("ended"))
}
