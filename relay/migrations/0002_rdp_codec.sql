-- Per-asset RDP graphics codec: `remotefx` (default) or `bitmap`. Ignored for SSH assets.
ALTER TABLE assets ADD COLUMN rdp_codec TEXT NOT NULL DEFAULT 'remotefx'
    CHECK (rdp_codec IN ('remotefx', 'bitmap'));
