-- Revocation: users can be disabled, and every change to who may do what (a rule
-- deleted, a group member removed, a user disabled, logins ended) bumps one counter.
-- A relay watches the counter, so a change made by the CLI in its own process, or by
-- another relay, reaches every open stream.
ALTER TABLE users ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE access_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO access_version (id, version) VALUES (1, 0);
