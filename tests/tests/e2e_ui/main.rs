//! The pages in browsers, kiosks and with the keyboard (issue 12): one binary, one module
//! per part.

mod kiosk;
