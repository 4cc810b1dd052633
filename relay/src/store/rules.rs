use vigil_wire::api::{AssetSelector, GrantedRole, Protocol, RuleId, SmartRule};

use super::{json_list, now_ms, parse_or, tags_to_json, Db};
use crate::policy;

#[derive(sqlx::FromRow)]
struct Raw {
    id: i64,
    name: String,
    name_glob: Option<String>,
    protocol: Option<String>,
    tags: String,
    group_name: String,
    roles: String,
    auto_approve: bool,
    sessions_per_request: i64,
}

impl Raw {
    /// A column this relay cannot read is an error naming the rule, never a wider or
    /// narrower rule than the one written.
    fn into_rule(self) -> Result<SmartRule, sqlx::Error> {
        let row = format!("rule {}", self.id);
        Ok(SmartRule {
            id: self.id,
            name: self.name,
            selector: AssetSelector {
                name_glob: self.name_glob,
                protocol: self
                    .protocol
                    .map(|p| parse_or::<Protocol>(&p, &row, "protocol"))
                    .transpose()?,
                tags: json_list(&self.tags, &row, "tags")?,
            },
            group: self.group_name,
            roles: json_list(&self.roles, &row, "roles")?,
            auto_approve: self.auto_approve,
            // The column's CHECK keeps it within 1..=100.
            sessions_per_request: u32::try_from(self.sessions_per_request)
                .unwrap_or(policy::SESSIONS_PER_REQUEST),
        })
    }
}

/// Inserts a rule that allows the default number of sessions per request.
pub async fn insert(
    db: &Db,
    name: &str,
    selector: &AssetSelector,
    group: &str,
    roles: &[GrantedRole],
    auto_approve: bool,
) -> Result<RuleId, sqlx::Error> {
    insert_with_limit(
        db,
        name,
        selector,
        group,
        roles,
        auto_approve,
        policy::SESSIONS_PER_REQUEST,
    )
    .await
}

/// Inserts a rule; `sessions_per_request` must be within
/// [`policy::SESSIONS_PER_REQUEST_RANGE`] (the column refuses anything else).
pub async fn insert_with_limit(
    db: &Db,
    name: &str,
    selector: &AssetSelector,
    group: &str,
    roles: &[GrantedRole],
    auto_approve: bool,
    sessions_per_request: u32,
) -> Result<RuleId, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO smart_rules (name, name_glob, protocol, tags, group_name, roles, auto_approve,
            sessions_per_request, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(name)
    .bind(selector.name_glob.as_deref())
    .bind(selector.protocol.map(|p| p.as_str()))
    .bind(tags_to_json(&selector.tags))
    .bind(group)
    .bind(serde_json::to_string(roles).unwrap_or_else(|_| "[]".into()))
    .bind(auto_approve)
    .bind(i64::from(sessions_per_request))
    .bind(now_ms())
    .fetch_one(db)
    .await
}

pub async fn list(db: &Db) -> Result<Vec<SmartRule>, sqlx::Error> {
    let raws: Vec<Raw> = sqlx::query_as(
        "SELECT id, name, name_glob, protocol, tags, group_name, roles, auto_approve, sessions_per_request
         FROM smart_rules ORDER BY id",
    )
    .fetch_all(db)
    .await?;
    raws.into_iter().map(Raw::into_rule).collect()
}
