//! Desktop (RDP) sessions: the sans-IO core ([`core::Desktop`]), its recorder
//! ([`recorder`]), the relay's decoded screen ([`screen_copy`]) and the RDP side of its
//! task ([`task`]).

pub(crate) mod ack;
pub(crate) mod core;
pub(crate) mod pointer;
pub(crate) mod recorder;
pub(crate) mod screen_copy;
pub(crate) mod task;

pub(crate) use self::core::{Desktop, DesktopConfig};
