-- Audit-once lookups (a recording read is audited once per viewer and session), and
-- the launch checks on a request's and a user's live sessions.
CREATE INDEX audit_log_session_actor_action ON audit_log (session_id, actor, action);
CREATE INDEX sessions_request_live ON sessions (request_id, ended_at);
CREATE INDEX sessions_user_asset_live ON sessions (user_id, asset_id, ended_at);
