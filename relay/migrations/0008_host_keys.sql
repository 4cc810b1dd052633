-- Host keys beyond trust on first use, and credentials bound to their asset.
--
-- `host_key_offered`: the fingerprint a target presented that differed from the pinned
-- one (SSH `SHA256:<base64>`, RDP `sha256:<hex>`); an administrator accepts it by naming
-- it, which pins it and clears this column.
ALTER TABLE assets ADD COLUMN host_key_offered TEXT;

-- The format of every sealed credential. 1: the associated data names the purpose only;
-- 2: it names the asset id too. The relay re-seals every value from 1 to 2 once, in one
-- transaction that also sets this to 2; after that no value is opened as format 1.
CREATE TABLE credential_format (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO credential_format (id, version) VALUES (1, 1);
