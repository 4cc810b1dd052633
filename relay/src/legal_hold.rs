//! Legal hold: an administrator's flag on a session that keeps its recording from
//! retention (`retention`). Placing and releasing it are audited in the transaction that
//! changes the row, from the API (`PUT /api/v1/sessions/{id}/legal-hold`) and the command
//! line (`vigil session hold|release`) alike.

use vigil_wire::api::LegalHold;
use vigil_wire::audit::AuditAction;

use crate::audit::AuditKey;
use crate::store::audit::{NewEntry, Who};
use crate::store::{self, now_ms, Db};

/// The longest reason kept.
pub const REASON_MAX_CHARS: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    #[error("a legal hold needs a reason")]
    ReasonRequired,
    #[error("the reason is longer than {REASON_MAX_CHARS} characters")]
    ReasonTooLong,
    #[error("no session {0}")]
    NoSuchSession(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The reason as stored: trimmed; required to place a hold, optional to release one.
pub fn reason(hold: bool, reason: Option<&str>) -> Result<String, HoldError> {
    let r = reason.map(str::trim).unwrap_or_default();
    if r.chars().count() > REASON_MAX_CHARS {
        return Err(HoldError::ReasonTooLong);
    }
    if hold && r.is_empty() {
        return Err(HoldError::ReasonRequired);
    }
    Ok(r.to_string())
}

/// Places (`hold`) or releases the legal hold on session `id` as `who`, audited
/// (`legal_hold_set` / `legal_hold_released`, the reason as detail) in the same
/// transaction. Returns whether anything changed: a hold placed on a held session keeps
/// the first one, and nothing is audited for a request that changes nothing.
pub async fn set(
    db: &Db,
    key: &AuditKey,
    who: Who<'_>,
    id: &str,
    hold: bool,
    why: Option<&str>,
) -> Result<bool, HoldError> {
    let why = reason(hold, why)?;
    let mut tx = store::begin_write(db).await?;
    let exists: Option<String> = sqlx::query_scalar("SELECT id FROM sessions WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_none() {
        return Err(HoldError::NoSuchSession(id.to_string()));
    }
    let placed = hold.then(|| LegalHold {
        by: who.actor.to_string(),
        at: now_ms(),
        reason: why.clone(),
    });
    if !store::sessions::set_legal_hold(&mut *tx, id, placed.as_ref()).await? {
        return Ok(false);
    }
    let action = if hold {
        AuditAction::LegalHoldSet
    } else {
        AuditAction::LegalHoldReleased
    };
    store::audit::append(&mut tx, key, NewEntry::new(who, action, &why).on(id)).await?;
    tx.commit().await?;
    tracing::info!(session = %id, actor = who.actor, hold, "Legal hold changed");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_needs_a_reason_a_release_does_not() {
        assert!(matches!(reason(true, None), Err(HoldError::ReasonRequired)));
        assert!(matches!(
            reason(true, Some("   ")),
            Err(HoldError::ReasonRequired)
        ));
        assert_eq!(reason(true, Some(" case 42 ")).expect("reason"), "case 42");
        assert_eq!(reason(false, None).expect("release"), "");
        let long = "x".repeat(REASON_MAX_CHARS + 1);
        assert!(matches!(
            reason(false, Some(&long)),
            Err(HoldError::ReasonTooLong)
        ));
    }
}
