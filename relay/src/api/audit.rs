//! The audit log for administrators: entries filtered and paged, the chain's check, and
//! the export as JSON Lines.

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::Response;
use axum::Json;
use futures_util::stream;
use vigil_wire::api::ApiError;
use vigil_wire::audit::{AuditEntry, AuditQuery, AuditVerification};

use super::extract::RequireAdmin;
use super::params::ApiQuery;
use crate::audit::verify;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store;

/// Entries per read while exporting.
const EXPORT_PAGE: i64 = 500;

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", operation_id = "listAuditEntries",
    params(AuditQuery),
    responses(
        (status = 200, body = [AuditEntry], description = "Matching entries, newest first (at most `limit`; the next page with `before_seq` set to the last one's seq)"),
        (status = 400, body = ApiError, description = "`bad_request`: a filter that does not parse"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`forbidden`: not an administrator"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    _admin: RequireAdmin,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> AppResult<Json<Vec<AuditEntry>>> {
    Ok(Json(store::audit::list(&state.db, &q).await?))
}

#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    operation_id = "verifyAudit",
    responses(
        (status = 200, body = AuditVerification, description = "The chain checked entry by entry (hash, MAC, place) up to its head, then every sealed recording; `broken` names the first problem"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`forbidden`: not an administrator"),
    ))]
pub async fn verify(
    State(state): State<AppState>,
    _admin: RequireAdmin,
) -> AppResult<Json<AuditVerification>> {
    let dir = state.config.recordings_dir();
    Ok(Json(
        verify::verify(&state.db, &state.audit_key, &dir).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit",
    operation_id = "exportAudit",
    params(AuditQuery),
    responses(
        (status = 200, content_type = "application/x-ndjson", description = "Matching entries as JSON Lines (one `AuditEntry` a line), oldest first, streamed; `before_seq` and `limit` are ignored"),
        (status = 400, body = ApiError, description = "`bad_request`: a filter that does not parse"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`forbidden`: not an administrator"),
    ))]
pub async fn export(
    State(state): State<AppState>,
    _admin: RequireAdmin,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> AppResult<Response> {
    // Page by page, so neither the log nor a read transaction is held for the download.
    let pages = stream::try_unfold(Some(0i64), move |after| {
        let (db, q) = (state.db.clone(), q.clone());
        async move {
            let Some(after) = after else {
                return Ok::<_, sqlx::Error>(None);
            };
            let page = store::audit::page_after(&db, &q, after, EXPORT_PAGE).await?;
            let Some(last) = page.last() else {
                return Ok(None);
            };
            let next = (i64::try_from(page.len()).unwrap_or(0) == EXPORT_PAGE).then_some(last.seq);
            let mut lines = Vec::new();
            for e in &page {
                serde_json::to_writer(&mut lines, e)
                    .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
                lines.push(b'\n');
            }
            Ok(Some((bytes::Bytes::from(lines), next)))
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .header(
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"vigil-audit.jsonl\"",
        )
        .body(Body::from_stream(pages))
        .map_err(AppError::internal)
}
