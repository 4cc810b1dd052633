//! Browsers, kiosks, the keyboard and accessibility, end to end: one binary, a module per
//! part.
//!
//! - [`firefox`]: the foundation, SSH and RDP scenarios in Firefox ESR through geckodriver.
//! - [`keyboard`]: Active Sessions with the keyboard alone, and at 400 px wide.
//! - [`kiosk`]: an ISA user's kiosk at 1366×768: Lock and Unlock, full screen with the
//!   Keyboard Lock, no way out, the idle logout.
//! - [`axe`]: axe-core on every page, in Chromium and in Firefox.

use vigil_testkit::Relay;

mod axe;
mod firefox;
mod keyboard;
mod kiosk;

/// Every cast this binary's tests use, seeded once into the shared relay.
pub(crate) const CASTS: &[&str] = &["ffx", "axe", "axe-ffx"];

/// The relay every test of this binary shares (desktop assets seeded on xrdp).
pub(crate) fn relay() -> &'static Relay {
    Relay::shared_with_rdp(CASTS)
}
