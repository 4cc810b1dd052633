-- Emergency controls: lock or terminate every live session of one user or one asset.
-- The API applies them at once; the CLI, in its own process, queues one here and bumps
-- the access change counter, and the running relay applies it and marks it done.
CREATE TABLE emergency_actions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    scope       TEXT NOT NULL,   -- 'user' or 'asset'
    name        TEXT NOT NULL,
    action      TEXT NOT NULL,   -- 'lock' or 'terminate'
    requested_by TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    done_at     BIGINT,
    sessions    INTEGER
);
