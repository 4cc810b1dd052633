//! Browsers, kiosks, the keyboard and accessibility, end to end: one binary, one shared
//! relay (with desktop assets), a module per part.
//!
//! - [`firefox`]: the foundation, SSH and RDP scenarios in Firefox ESR through geckodriver.

use vigil_testkit::Relay;

mod firefox;

/// Every cast this binary's tests use, seeded once into the shared relay.
pub(crate) const CASTS: &[&str] = &["ffx"];

/// The relay every test of this binary shares (desktop assets seeded on xrdp).
pub(crate) fn relay() -> &'static Relay {
    Relay::shared_with_rdp(CASTS)
}
