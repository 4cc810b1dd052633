//! The browsers, kiosks, keyboard and accessibility (issue 12), end to end: one module per
//! part.

mod keyboard;
