//! The table `bench-all` prints: one line per row, in the order of [`Measure`], with the
//! figure, its baseline from the same run, the ratio, the goal and ✓ or ✗; and a line for
//! each row a program did not report.

use std::fmt::Write as _;

use vigil_bench::rows::{number, Measure, Row, Verdict};

/// What the table calls each measure.
pub fn title(m: Measure) -> &'static str {
    match m {
        Measure::MemoryPerSession => "relay RSS per idle watched SSH session",
        Measure::KeystrokeP99AtLoad => "keystroke round trip p99, sessions held",
        Measure::CpuPerDesktop => "relay CPU per active RDP session",
        Measure::SshThroughput => "SSH output throughput, user + observer, recorded",
        Measure::RdpThroughput => "RDP fast-path forwarding throughput",
        Measure::LockFirstDrop => "lock → first input dropped at the relay",
        Measure::LateJoinXrdp => "late observer → first frame, xrdp 1920×1080, p95",
        Measure::LateJoinShadow => "late observer → first frame, shadow 1920×1080, p95",
        Measure::LoginBytes => "bytes before the login page works",
        Measure::SshSessionBytes => "bytes for everything an SSH session needs",
        Measure::DesktopSessionBytes => "bytes for a desktop session",
        Measure::DecodeWorkerBytes => "bytes for the desktop decode worker",
        Measure::WorkerDecodeSpeed => "1080p decode: worker ms/frame",
        Measure::SecondVisitBytes => "bytes for a second visit",
        Measure::AssetBudget => "size budget (brotli)",
    }
}

/// Whether figure ÷ baseline means something: not for memory per session, whose baseline
/// is the whole relay with no sessions (shown for scale).
fn shows_ratio(m: Measure) -> bool {
    !matches!(m, Measure::MemoryPerSession)
}

/// A row that was expected and not reported, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Missing {
    pub measure: Measure,
    pub why: String,
}

/// The table's text. Rows are sorted by measure, keeping each program's order within one.
pub fn render(rows: &[Row], missing: &[Missing]) -> String {
    let mut lines: Vec<(Measure, [String; 7])> = rows
        .iter()
        .map(|r| {
            let baseline = r.baseline.as_ref().map_or_else(
                || "–".to_owned(),
                |b| format!("{} {}", number(b.value), b.label),
            );
            let ratio = r
                .ratio()
                .filter(|_| shows_ratio(r.measure))
                .map_or_else(|| "–".to_owned(), |x| format!("{x:.2}×"));
            let mark = match r.verdict() {
                Verdict::Met => "✓",
                Verdict::Missed => "✗",
                Verdict::NoBaseline => "✗ (no baseline)",
            };
            (
                r.measure,
                [
                    title(r.measure).to_owned(),
                    r.label.clone(),
                    r.value_text(),
                    baseline,
                    ratio,
                    r.goal_text(),
                    mark.to_owned(),
                ],
            )
        })
        .collect();
    lines.extend(missing.iter().map(|m| {
        (
            m.measure,
            [
                title(m.measure).to_owned(),
                String::new(),
                "not measured".to_owned(),
                String::new(),
                String::new(),
                String::new(),
                format!("✗ ({})", m.why),
            ],
        )
    }));
    lines.sort_by_key(|(m, _)| *m);
    let header = [
        "measure", "what", "figure", "baseline", "ratio", "goal", "met",
    ]
    .map(str::to_owned);
    let mut widths = [0usize; 7];
    for cells in std::iter::once(&header).chain(lines.iter().map(|(_, c)| c)) {
        for (w, c) in widths.iter_mut().zip(cells) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for cells in std::iter::once(&header).chain(lines.iter().map(|(_, c)| c)) {
        let mut line = String::new();
        for (i, (w, c)) in widths.iter().zip(cells).enumerate() {
            let pad = w.saturating_sub(c.chars().count());
            // Figures, baselines and ratios are right-aligned; text left.
            if (2..=4).contains(&i) {
                let _ = write!(line, "{}{c}  ", " ".repeat(pad));
            } else {
                let _ = write!(line, "{c}{}  ", " ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The counts under the table.
pub fn summary(rows: &[Row], missing: &[Missing]) -> (usize, usize) {
    let met = rows.iter().filter(|r| r.verdict() == Verdict::Met).count();
    (met, rows.len() + missing.len() - met)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_bench::rows::{Baseline, Goal, Unit};

    #[test]
    fn rows_are_ordered_marked_and_missing_ones_shown() {
        let rows = vec![
            Row {
                measure: Measure::LoginBytes,
                label: "login".into(),
                value: 250.0,
                unit: Unit::Kb,
                baseline: None,
                goal: Goal::AtMost(200.0),
            },
            Row {
                measure: Measure::SshThroughput,
                label: "4 MiB".into(),
                value: 95.0,
                unit: Unit::MbPerS,
                baseline: Some(Baseline {
                    label: "splice".into(),
                    value: 100.0,
                }),
                goal: Goal::RatioAtLeast(0.9),
            },
        ];
        let missing = [Missing {
            measure: Measure::CpuPerDesktop,
            why: "bench-desktop-cpu exited 1".into(),
        }];
        let text = render(&rows, &missing);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines[1].starts_with("relay CPU per active RDP session"),
            "{text}"
        );
        assert!(
            lines[1].contains("not measured")
                && lines[1].ends_with("✗ (bench-desktop-cpu exited 1)")
        );
        assert!(
            lines[2].contains("0.95×") && lines[2].ends_with('✓'),
            "{text}"
        );
        assert!(lines[2].contains("100 splice") && lines[2].contains("≥ 0.90× baseline"));
        assert!(
            lines[3].contains("250 KB") && lines[3].ends_with('✗'),
            "{text}"
        );
        assert_eq!(summary(&rows, &missing), (1, 2));
    }
}
