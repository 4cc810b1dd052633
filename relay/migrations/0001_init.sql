-- Vigil relay schema. Kept to portable SQL (SQLite now, PostgreSQL later):
-- timestamps are Unix milliseconds in BIGINT, lists are JSON text.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    is_admin      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL
);

CREATE TABLE user_groups (
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    group_name TEXT NOT NULL,
    PRIMARY KEY (user_id, group_name)
);

-- Login sessions: only the SHA-256 of the cookie token is stored.
CREATE TABLE auth_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE assets (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT NOT NULL UNIQUE,
    protocol        TEXT NOT NULL,
    host            TEXT NOT NULL,
    port            INTEGER NOT NULL,
    account         TEXT NOT NULL,
    tags            TEXT NOT NULL,
    -- 'password', 'private_key' or 'none'; the value is nonce || ChaCha20-Poly1305 ciphertext.
    credential_kind TEXT NOT NULL,
    credential      BLOB,
    host_key        TEXT,
    created_at      BIGINT NOT NULL
);

CREATE TABLE smart_rules (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL UNIQUE,
    name_glob    TEXT,
    protocol     TEXT,
    tags         TEXT NOT NULL,
    group_name   TEXT NOT NULL,
    roles        TEXT NOT NULL,
    auto_approve BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   BIGINT NOT NULL
);

CREATE TABLE access_requests (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id          INTEGER NOT NULL REFERENCES users(id),
    asset_id         INTEGER NOT NULL REFERENCES assets(id),
    reason           TEXT NOT NULL,
    duration_minutes INTEGER NOT NULL,
    status           TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT,
    decided_by       TEXT
);

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    asset_id   INTEGER NOT NULL REFERENCES assets(id),
    kind       TEXT NOT NULL,
    request_id INTEGER REFERENCES access_requests(id),
    started_at BIGINT NOT NULL,
    connected_at BIGINT,
    ended_at   BIGINT,
    locked     BOOLEAN NOT NULL DEFAULT FALSE,
    end_reason TEXT,
    cols       INTEGER NOT NULL,
    rows       INTEGER NOT NULL
);
CREATE INDEX sessions_active ON sessions (ended_at);

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         BIGINT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    session_id TEXT,
    detail     TEXT NOT NULL
);
