//! Browsers, kiosks, the keyboard and accessibility, end to end: one binary, a module per
//! part.
//!
//! - [`firefox`]: the foundation, SSH and RDP scenarios in Firefox ESR through geckodriver.
//! - [`keyboard`]: Active Sessions with the keyboard alone, and at 400 px wide.

use vigil_testkit::Relay;

mod firefox;
mod keyboard;

/// Every cast this binary's tests use, seeded once into the shared relay.
pub(crate) const CASTS: &[&str] = &["ffx"];

/// The relay every test of this binary shares (desktop assets seeded on xrdp).
pub(crate) fn relay() -> &'static Relay {
    Relay::shared_with_rdp(CASTS)
}
