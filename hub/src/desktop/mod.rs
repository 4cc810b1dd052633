//! Desktop (RDP) sessions: the sans-IO core ([`core::Desktop`]), its recorder
//! ([`recorder`]) and the task that owns the target connection ([`task`]).

pub(crate) mod ack;
pub(crate) mod core;
pub(crate) mod pointer;
pub(crate) mod recorder;
pub(crate) mod task;

pub(crate) use self::core::{Desktop, DesktopConfig};
