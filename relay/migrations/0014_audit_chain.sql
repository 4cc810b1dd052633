-- The audit log becomes a keyed hash chain (relay/src/audit/chain.rs): every entry gets
-- its place (`seq`, from 1, no gaps), where it came from (`source`: the client's address,
-- `cli` or `relay`), the hash of the entry before it, its own hash and its MAC under the
-- audit key. `audit_head` holds the newest entry's seq and hash: appending advances it
-- first, which takes the database's write lock (a row lock on a server database), so
-- relays sharing the database and the key append to one chain.
ALTER TABLE audit_log ADD COLUMN seq BIGINT;
ALTER TABLE audit_log ADD COLUMN source TEXT;
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
ALTER TABLE audit_log ADD COLUMN mac TEXT;
CREATE UNIQUE INDEX audit_log_seq ON audit_log (seq);
CREATE INDEX audit_log_session_seq ON audit_log (session_id, seq);

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- The entries written before the chain, chained once (in id order) by the first relay or
-- CLI command that opens the database with the key; it claims this row by deleting it.
-- A row without a hash written later is outside the chain, and verification says so.
CREATE TABLE audit_unchained (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    through_id BIGINT NOT NULL
);
INSERT INTO audit_unchained (id, through_id) SELECT 1, COALESCE(MAX(id), 0) FROM audit_log;

-- When a session's recording was sealed into the chain (its files' SHA-256). Sessions that
-- ended before sealing existed are marked 0: their recordings are not covered.
ALTER TABLE sessions ADD COLUMN sealed_at BIGINT;
UPDATE sessions SET sealed_at = 0 WHERE ended_at IS NOT NULL;
