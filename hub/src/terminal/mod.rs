//! Terminal (SSH) sessions: the sans-IO core ([`core::Terminal`]) and its model of the
//! target's screen ([`screen::TerminalScreen`]).

pub(crate) mod core;
pub(crate) mod screen;

pub(crate) use self::core::{TargetCmd, Terminal, TerminalParams};
