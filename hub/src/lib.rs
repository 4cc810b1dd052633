//! Live sessions.
