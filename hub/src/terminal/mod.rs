//! Terminal (SSH) sessions: the sans-IO core ([`core::Terminal`]), its model of the
//! target's screen ([`screen::TerminalScreen`]) and the SSH side of its task ([`task`]).

pub(crate) mod core;
pub(crate) mod screen;
pub(crate) mod task;

pub(crate) use self::core::{Terminal, TerminalParams};
