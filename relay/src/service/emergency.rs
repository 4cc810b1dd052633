//! Emergency controls: lock or terminate every live session of one user or one asset in
//! one call. The API applies them at once for an administrator; the CLI queues one in
//! the database and bumps the access change counter, and the running relay applies it
//! ([`apply_queued`]). Each session touched is audited, and so is the call itself.

use vigil_wire::api::{EmergencyAction, EmergencyScope, SessionId};

use crate::policy::{decide, Action, Actor};
use crate::service::ending::end_session;
use crate::state::AppState;
use crate::store::audit::{NewEntry, Who};
use crate::store::{self, now_ms};
use vigil_wire::audit::AuditAction;

/// Applies `action` to every live session in `scope` named `name`, as `by`. With an
/// `actor` (the API), each session goes through the policy like a single Lock or
/// Terminate, so an administrator's own sessions are left alone; the CLI, run by whoever
/// runs the relay, has none. Returns the sessions it locked or terminated.
pub async fn apply(
    state: &AppState,
    who: Who<'_>,
    actor: Option<&Actor>,
    scope: EmergencyScope,
    name: &str,
    action: EmergencyAction,
) -> Result<Vec<SessionId>, sqlx::Error> {
    let by = who.actor;
    let rows = store::sessions::list(&state.db, Some(true)).await?;
    let mut done = Vec::new();
    for row in rows {
        let in_scope = match scope {
            EmergencyScope::User => row.username == name,
            EmergencyScope::Asset => row.asset_name == name,
        };
        let policy_action = match action {
            EmergencyAction::Lock => Action::LockSession,
            EmergencyAction::Terminate => Action::TerminateSession,
        };
        let allowed = actor
            .is_none_or(|a| decide(a, row.asset_id, Some(&row.facts(a)), policy_action).is_ok());
        if !in_scope || !allowed {
            continue;
        }
        let reason = format!(
            "emergency {} of {} {name} by {by}",
            action.as_str(),
            scope.as_str()
        );
        match action {
            EmergencyAction::Lock => {
                if row.locked {
                    continue;
                }
                // Not live in this relay's hub: the row still says locked, so no
                // relaunch on the asset is possible until an administrator unlocks.
                let _ = state.hub.lock(&row.id);
                let mut tx = store::begin_write(&state.db).await?;
                store::sessions::set_locked(&mut *tx, &row.id, true).await?;
                let entry = NewEntry::new(who, AuditAction::Lock, &reason).on(&row.id);
                store::audit::append(&mut tx, &state.audit_key, entry).await?;
                tx.commit().await?;
                state.notify(&row.id);
            }
            EmergencyAction::Terminate => {
                if !end_session(state, &row.id, &reason, who).await? {
                    continue;
                }
            }
        }
        done.push(row.id);
    }
    let detail = format!(
        "{} {name}: {} session(s) {}",
        scope.as_str(),
        done.len(),
        match action {
            EmergencyAction::Lock => "locked",
            EmergencyAction::Terminate => "terminated",
        }
    );
    let audit_action = match action {
        EmergencyAction::Lock => AuditAction::EmergencyLock,
        EmergencyAction::Terminate => AuditAction::EmergencyTerminate,
    };
    let entry = NewEntry::new(who, audit_action, &detail);
    store::audit::record(&state.db, &state.audit_key, entry).await?;
    tracing::warn!(%by, %detail, "Emergency control applied");
    Ok(done)
}

/// Applies what the CLI queued, oldest first, and marks each done with its count.
pub async fn apply_queued(state: &AppState) -> Result<(), sqlx::Error> {
    for q in store::emergency::pending(&state.db).await? {
        // Queued from the command line: its `requested_by` is the CLI's.
        let who = Who {
            actor: &q.requested_by,
            source: Some("cli"),
        };
        let done = apply(state, who, None, q.scope, &q.name, q.action).await?;
        store::emergency::done(&state.db, q.id, now_ms(), done.len()).await?;
    }
    Ok(())
}
