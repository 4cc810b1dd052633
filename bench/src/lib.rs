//! Helpers shared by the benchmark programs (each program is a binary in `src/`).

pub mod desktop;
pub mod late_join;
pub mod relay_kit;
pub mod rows;
pub mod scrape;
pub mod throughput_kit;
