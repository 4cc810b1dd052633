//! Vigil app.
