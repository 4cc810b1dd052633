//! The kiosk view for ISA users at a locked-down screen: `/kiosk` (Active Sessions) and
//! `/kiosk/sessions/:id` (the live player), the same pages as the app's, inside a bar
//! that offers only Active Sessions, full screen and Log out. No link leaves the kiosk.
//!
//! - [`paths`] (where the kiosk's pages are), [`idle`] (when an idle kiosk logs out) and
//!   [`keyboard`] (what the page says of the Keyboard Lock) are pure and build natively.
//! - `view` (the bar, full screen, the idle timer) and `keyboard_lock` (the Keyboard Lock
//!   API on a desktop session) touch the DOM and build for `wasm32` only.

pub mod idle;
pub mod keyboard;
pub mod paths;

#[cfg(target_arch = "wasm32")]
mod keyboard_lock;
#[cfg(target_arch = "wasm32")]
mod view;

#[cfg(target_arch = "wasm32")]
pub use keyboard_lock::KeyboardLockStatus;
#[cfg(target_arch = "wasm32")]
pub use view::{in_kiosk, HideInKiosk, KioskActivePage, KioskPlayerPage};
