-- Per-asset RDP desktop size asked of the server; both NULL for the relay's default
-- (1024x768). Ignored for SSH assets. Bounds as vigil_rdp::DesktopSize.
ALTER TABLE assets ADD COLUMN rdp_width INTEGER CHECK (rdp_width BETWEEN 640 AND 5120);
ALTER TABLE assets ADD COLUMN rdp_height INTEGER CHECK (rdp_height BETWEEN 480 AND 2880)
    CHECK ((rdp_width IS NULL) = (rdp_height IS NULL));
