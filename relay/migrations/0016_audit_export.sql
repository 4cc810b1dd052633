-- Audit export (issue 11): how far each configured sink has accepted the audit log.
-- `seq` is the last entry the sink accepted (0: none yet); the exporter delivers the
-- entries after it and advances it only once the sink took them. `holder` and
-- `lease_until` (Unix milliseconds) let one relay at a time export when several share
-- the database.
CREATE TABLE audit_export_cursor (
    sink        TEXT PRIMARY KEY,
    seq         INTEGER NOT NULL,
    holder      TEXT,
    lease_until INTEGER
);
