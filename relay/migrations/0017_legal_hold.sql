-- Legal hold and retention (issue 11). A session is on hold while `legal_hold_at` is
-- set: retention keeps its recording. Who placed it and why are kept beside it (the
-- history of every hold and release is in the audit chain). `recording_deleted_at` is
-- when retention deleted the recording's files (in the transaction that audits it).
ALTER TABLE sessions ADD COLUMN legal_hold_at BIGINT;
ALTER TABLE sessions ADD COLUMN legal_hold_by TEXT;
ALTER TABLE sessions ADD COLUMN legal_hold_reason TEXT;
ALTER TABLE sessions ADD COLUMN recording_deleted_at BIGINT;
CREATE INDEX sessions_retention ON sessions (ended_at) WHERE recording_deleted_at IS NULL;
