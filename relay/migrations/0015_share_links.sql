-- Share links (issue 10): read-only access to one session for the people a link names.
-- Only the SHA-256 of a link's token is stored, never the token; a verification code is
-- stored as a hash keyed with a secret derived from `secret.key` (see `store::shares`).
CREATE TABLE share_links (
    id             TEXT PRIMARY KEY,
    session_id     TEXT NOT NULL REFERENCES sessions(id),
    -- 'live' or 'recording'
    kind           TEXT NOT NULL,
    token_hash     TEXT NOT NULL UNIQUE,
    -- 'named' (the users and groups below) or 'any_user'
    audience       TEXT NOT NULL,
    code_hash      TEXT,
    allow_download BOOLEAN NOT NULL DEFAULT FALSE,
    created_by     INTEGER NOT NULL REFERENCES users(id),
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    revoked_at     BIGINT,
    revoked_by     INTEGER REFERENCES users(id)
);
CREATE INDEX share_links_session ON share_links (session_id);

CREATE TABLE share_link_users (
    link_id TEXT NOT NULL REFERENCES share_links(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (link_id, user_id)
);

CREATE TABLE share_link_groups (
    link_id    TEXT NOT NULL REFERENCES share_links(id) ON DELETE CASCADE,
    group_name TEXT NOT NULL,
    PRIMARY KEY (link_id, group_name)
);

-- Who redeemed a link: what grants them its rights (with the audience, re-read at each
-- decision).
CREATE TABLE share_link_uses (
    link_id  TEXT NOT NULL REFERENCES share_links(id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    first_at BIGINT NOT NULL,
    last_at  BIGINT NOT NULL,
    PRIMARY KEY (link_id, user_id)
);
CREATE INDEX share_link_uses_user ON share_link_uses (user_id);

-- Wrong verification codes per link and user; at 5 the link refuses that user.
CREATE TABLE share_link_failures (
    link_id TEXT NOT NULL REFERENCES share_links(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    count   INTEGER NOT NULL,
    last_at BIGINT NOT NULL,
    PRIMARY KEY (link_id, user_id)
);
