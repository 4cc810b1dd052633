//! Desktop (RDP) sessions: the sans-IO core ([`session::Desktop`]), its recorder
//! ([`recorder`]) and the task that owns the target connection ([`task`]).

pub(crate) mod pointer;
pub(crate) mod recorder;
pub(crate) mod session;
pub(crate) mod task;

pub(crate) use session::{Desktop, DesktopConfig};
