-- The code of the failure a session ended on (`vigil_wire::end::ErrorCode`), beside
-- `end_reason`, its message. NULL for a session that ended without one.
ALTER TABLE sessions ADD COLUMN end_code TEXT;
