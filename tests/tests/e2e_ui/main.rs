//! Browsers, kiosks, keyboard and accessibility, end to end.

mod axe;
