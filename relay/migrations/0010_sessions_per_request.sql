-- Sessions per request, per Smart Rule: how many live sessions one approved request may
-- have at once. Where several rules make a user a requestor on an asset, the launch
-- check takes the smallest. Existing rules keep the former fixed limit of 1.
ALTER TABLE smart_rules ADD COLUMN sessions_per_request INTEGER NOT NULL DEFAULT 1
    CHECK (sessions_per_request BETWEEN 1 AND 100);
