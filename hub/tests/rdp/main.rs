//! Desktop sessions through the hub against real RDP servers started by
//! `scripts/targets/start-xrdp.sh` (TLS, RemoteFX) and `start-shadow.sh` (NLA): what the
//! user and a late observer receive decodes to the relay's picture, input and Lock reach
//! (or do not reach) the target, and the recording reads to its end; a session asked for
//! 1920×1080 comes up at that size; a relay SIGKILLed mid-session leaves a recording that
//! plays up to the kill.

//!
//! One binary: [`browser`] (the simulated browsers), [`sessions`], [`sizes`], [`kill`].

#[path = "../rdp_support/mod.rs"]
mod rdp_support;

mod browser;
mod kill;
mod sessions;
mod sizes;
