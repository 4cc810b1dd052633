-- The login throttle's failure counts, shared by every relay on this database and kept
-- across restarts. One row per key: a (username, address) pair, an address (IPv4, or an
-- IPv6 /64) or a username. `key_hash` is hex of a keyed SHA-256 (the key derived from
-- `secret.key`), so neither usernames nor addresses are stored, nor can be recovered by
-- hashing guesses without that key.
-- Bounded by the relay: rows idle for 24 hours and not locked are deleted, and past
-- 100,000 rows the oldest unlocked ones go first (see relay/src/throttle).
CREATE TABLE login_throttle (
    key_hash     TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,   -- 'pair', 'address' or 'user'
    failures     INTEGER NOT NULL,
    last_at      BIGINT NOT NULL, -- the last failure counted
    locked_until BIGINT           -- NULL: not locked out
);
CREATE INDEX login_throttle_last_at ON login_throttle (last_at);
