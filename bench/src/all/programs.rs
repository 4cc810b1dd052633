//! The benchmark programs `bench-all` runs, the arguments of their full and short runs,
//! and the rows each must report.

use vigil_bench::rows::Measure;

/// One benchmark program: a binary of this crate, found beside `bench-all`.
#[derive(Debug, Clone, Copy)]
pub struct Program {
    pub name: &'static str,
    /// The arguments of the run the issue's figures are for.
    pub full: &'static [&'static str],
    /// A run of a minute or two with the same rows, smaller; `None`: not run with `--short`.
    pub short: Option<&'static [&'static str]>,
    /// The rows the program reports; one missing is shown as not measured.
    pub rows: &'static [Measure],
    /// Needs root and the project's RDP targets (xrdp, freerdp-shadow).
    pub needs_rdp: bool,
}

pub const PROGRAMS: &[Program] = &[
    Program {
        name: "bench-ssh",
        full: &["--sessions", "1000"],
        short: Some(&[
            "--sessions",
            "50",
            "--keys",
            "50",
            "--locks",
            "10",
            "--revokes",
            "3",
        ]),
        rows: &[Measure::MemoryPerSession, Measure::KeystrokeP99AtLoad],
        needs_rdp: false,
    },
    Program {
        name: "bench-desktop-cpu",
        full: &["--seconds", "60"],
        short: Some(&["--seconds", "20", "--warmup", "5"]),
        rows: &[Measure::CpuPerDesktop],
        needs_rdp: true,
    },
    Program {
        name: "bench-throughput",
        full: &[],
        short: Some(&["--mib", "1", "--rounds", "1", "--pdus", "300"]),
        rows: &[Measure::SshThroughput, Measure::RdpThroughput],
        needs_rdp: false,
    },
    Program {
        name: "bench-lock",
        full: &[],
        short: Some(&["--locks", "20", "--keys", "50"]),
        rows: &[Measure::LockFirstDrop],
        needs_rdp: false,
    },
    Program {
        name: "bench-rdp",
        full: &["--size", "1920x1080", "--joins", "20"],
        short: Some(&["--joins", "5", "--seconds", "12"]),
        rows: &[
            Measure::LateJoinXrdp,
            Measure::LateJoinShadow,
            Measure::WorkerDecodeSpeed,
        ],
        needs_rdp: true,
    },
    Program {
        name: "bench-assets",
        full: &[],
        short: Some(&[]),
        rows: &[
            Measure::LoginBytes,
            Measure::SshSessionBytes,
            Measure::DesktopSessionBytes,
            Measure::DecodeWorkerBytes,
            Measure::SecondVisitBytes,
        ],
        needs_rdp: true,
    },
];

/// The program named `name`.
pub fn find(name: &str) -> Option<&'static Program> {
    PROGRAMS.iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_goal_of_the_issue_has_one_program() {
        let mut seen = HashSet::new();
        for p in PROGRAMS {
            for m in p.rows {
                assert!(seen.insert(*m), "{m:?} reported by two programs");
            }
        }
        // Every measure but the budget (read from xtask's sizes report) has a program.
        for m in [
            Measure::MemoryPerSession,
            Measure::KeystrokeP99AtLoad,
            Measure::CpuPerDesktop,
            Measure::SshThroughput,
            Measure::RdpThroughput,
            Measure::LockFirstDrop,
            Measure::LateJoinXrdp,
            Measure::LateJoinShadow,
            Measure::LoginBytes,
            Measure::SshSessionBytes,
            Measure::DesktopSessionBytes,
            Measure::DecodeWorkerBytes,
            Measure::WorkerDecodeSpeed,
            Measure::SecondVisitBytes,
        ] {
            assert!(seen.contains(&m), "{m:?} has no program");
        }
    }
}
