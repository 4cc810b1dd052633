//! The figures a benchmark reports to `bench-all`: one [`Row`] per goal of the performance
//! table, a typed record written as one JSON line to the file named by `$VIGIL_BENCH_ROWS`
//! (set by `bench-all` for each program it runs; unset, [`emit`] does nothing and the
//! program only prints its own report).
//!
//! A row carries its figure, the baseline from the same run when the goal has one, and the
//! goal itself; [`Row::verdict`] decides met or missed, so `bench-all` never reads a
//! program's printed text back.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The environment variable naming the file rows are appended to.
pub const ROWS_ENV: &str = "VIGIL_BENCH_ROWS";

/// Which line of the performance table a row fills. `bench-all` prints them in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Relay RSS per idle watched SSH session at 1,000 sessions.
    MemoryPerSession,
    /// Keystroke round trip p99 with 1,000 sessions held.
    KeystrokeP99AtLoad,
    /// Relay CPU per active RDP session.
    CpuPerDesktop,
    /// SSH output throughput through the relay to a user and an observer, recorded.
    SshThroughput,
    /// RDP fast-path forwarding throughput, screen-copy decode excluded.
    RdpThroughput,
    /// Lock request → first input dropped at the relay, p99.
    LockFirstDrop,
    /// Late observer → first complete frame in Chromium, xrdp at 1920×1080, p95.
    LateJoinXrdp,
    /// Late observer → first complete frame in Chromium, freerdp-shadow at 1920×1080, p95.
    LateJoinShadow,
    /// Bytes on the wire before the login page works.
    LoginBytes,
    /// Bytes on the wire for everything an SSH session needs.
    SshSessionBytes,
    /// Bytes on the wire for a desktop session.
    DesktopSessionBytes,
    /// Bytes on the wire for the desktop decode worker.
    DecodeWorkerBytes,
    /// 1080p decode in the browser's worker against native IronRDP.
    WorkerDecodeSpeed,
    /// Bytes on the wire for a second visit.
    SecondVisitBytes,
    /// An asset's compressed size against its budget in `cargo xtask dist`.
    AssetBudget,
}

/// What a figure counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    KiB,
    /// Kilobytes of 1000 bytes.
    Kb,
    Ms,
    /// Megabytes (10^6) per second.
    MbPerS,
    /// Percent of one core.
    PercentCore,
    /// Frames per second.
    FramesPerS,
}

impl Unit {
    fn symbol(self) -> &'static str {
        match self {
            Unit::KiB => "KiB",
            Unit::Kb => "KB",
            Unit::Ms => "ms",
            Unit::MbPerS => "MB/s",
            Unit::PercentCore => "% core",
            Unit::FramesPerS => "frames/s",
        }
    }
}

/// The goal a figure is held to.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Goal {
    /// The figure must be at most this.
    AtMost(f64),
    /// The figure must be below this.
    Below(f64),
    /// The figure divided by the baseline must be at least this (higher is better).
    RatioAtLeast(f64),
    /// The baseline divided by the figure must be at least this (lower is better), i.e.
    /// the figure is within `1/value` of the baseline. Written as "within N×".
    WithinTimes(f64),
}

/// A baseline measured in the same run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// What the baseline is, in a few words.
    pub label: String,
    pub value: f64,
}

/// One figure of the performance table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub measure: Measure,
    /// What was measured, in a few words (for example the asset's name, or "p99 over 100").
    pub label: String,
    pub value: f64,
    pub unit: Unit,
    pub baseline: Option<Baseline>,
    pub goal: Goal,
}

/// Met or missed, as decided from the figure, its baseline and its goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Met,
    Missed,
    /// A ratio goal without a usable baseline.
    NoBaseline,
}

impl Row {
    /// The figure over its baseline, when there is one that is not zero.
    pub fn ratio(&self) -> Option<f64> {
        let base = self.baseline.as_ref()?.value;
        (base != 0.0).then(|| self.value / base)
    }

    pub fn verdict(&self) -> Verdict {
        let met = match self.goal {
            Goal::AtMost(max) => self.value <= max,
            Goal::Below(max) => self.value < max,
            Goal::RatioAtLeast(min) => match self.ratio() {
                Some(r) => r >= min,
                None => return Verdict::NoBaseline,
            },
            Goal::WithinTimes(times) => match self.ratio() {
                Some(r) => r <= times,
                None => return Verdict::NoBaseline,
            },
        };
        if met {
            Verdict::Met
        } else {
            Verdict::Missed
        }
    }

    /// The goal as the table prints it.
    pub fn goal_text(&self) -> String {
        let unit = self.unit.symbol();
        match self.goal {
            Goal::AtMost(v) => format!("≤ {} {unit}", number(v)),
            Goal::Below(v) => format!("< {} {unit}", number(v)),
            Goal::RatioAtLeast(v) => format!("≥ {}× baseline", number(v)),
            Goal::WithinTimes(v) => format!("within {}× baseline", number(v)),
        }
    }

    /// The figure with its unit.
    pub fn value_text(&self) -> String {
        format!("{} {}", number(self.value), self.unit.symbol())
    }
}

/// A figure printed with as many decimals as its size needs.
pub fn number(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Appends `row` to `$VIGIL_BENCH_ROWS` when it is set. A failure to write is an error:
/// `bench-all` would otherwise show the row as not measured.
pub fn emit(row: &Row) -> anyhow::Result<()> {
    let Some(path) = std::env::var_os(ROWS_ENV).map(PathBuf::from) else {
        return Ok(());
    };
    let mut line = serde_json::to_string(row)?;
    line.push('\n');
    let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
    file.write_all(line.as_bytes())?;
    Ok(())
}

/// Reads the rows a program wrote. A line that is not a row is an error naming its number.
pub fn read(text: &str) -> anyhow::Result<Vec<Row>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| anyhow::anyhow!("rows line {}: {e}", i + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(value: f64, baseline: Option<f64>, goal: Goal) -> Row {
        Row {
            measure: Measure::SshThroughput,
            label: "t".into(),
            value,
            unit: Unit::MbPerS,
            baseline: baseline.map(|value| Baseline {
                label: "splice".into(),
                value,
            }),
            goal,
        }
    }

    #[test]
    fn verdicts_follow_the_goal() {
        assert_eq!(row(5.0, None, Goal::AtMost(5.0)).verdict(), Verdict::Met);
        assert_eq!(row(5.1, None, Goal::AtMost(5.0)).verdict(), Verdict::Missed);
        assert_eq!(row(5.0, None, Goal::Below(5.0)).verdict(), Verdict::Missed);
        let ratio = Goal::RatioAtLeast(0.9);
        assert_eq!(row(90.0, Some(100.0), ratio).verdict(), Verdict::Met);
        assert_eq!(row(89.0, Some(100.0), ratio).verdict(), Verdict::Missed);
        assert_eq!(row(89.0, None, ratio).verdict(), Verdict::NoBaseline);
        assert_eq!(row(89.0, Some(0.0), ratio).verdict(), Verdict::NoBaseline);
        let within = Goal::WithinTimes(1.5);
        assert_eq!(row(15.0, Some(10.0), within).verdict(), Verdict::Met);
        assert_eq!(row(15.1, Some(10.0), within).verdict(), Verdict::Missed);
    }

    #[test]
    fn rows_round_trip_as_json_lines() {
        let rows = vec![
            row(1.0, Some(2.0), Goal::RatioAtLeast(0.9)),
            row(3.0, None, Goal::AtMost(4.0)),
        ];
        let text: String = rows
            .iter()
            .map(|r| serde_json::to_string(r).expect("a row serialises") + "\n")
            .collect();
        assert_eq!(read(&text).expect("rows read back"), rows);
        let err = read("{\"measure\":1}\n")
            .expect_err("not a row")
            .to_string();
        assert!(err.contains("rows line 1"), "{err}");
    }
}
