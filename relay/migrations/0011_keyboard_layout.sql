-- Per-user keyboard layout of desktop (RDP) sessions, as a Windows keyboard layout id:
-- announced to the server at connect, and the layout the relay reads the session's
-- keystrokes in. 1033 = 0x409, US English. The relay writes only the ids it supports.
ALTER TABLE users ADD COLUMN keyboard_layout INTEGER NOT NULL DEFAULT 1033;
