//! What the benchmark reads from the relay at the edges of a window: its process CPU time
//! (`/proc/<pid>/stat`, utime + stime: every thread, those that ended too) and its own
//! per-part timers (the sums of its histograms at `/metrics`).

use anyhow::{Context, Result};
use vigil_bench::scrape::{scrape, series};

/// The relay's timers of a desktop's parts: (label, histogram).
pub const PARTS: [(&str, &str); 6] = [
    ("decode into the screen copy", "vigil_rdp_decode_seconds"),
    (
        "peek: fragments, pointer tracking",
        "vigil_rdp_peek_seconds",
    ),
    (
        "snapshots (keyframes, joiners)",
        "vigil_rdp_snapshot_seconds",
    ),
    ("thumbnails", "vigil_rdp_thumbnail_seconds"),
    ("recording writes", "vigil_recording_write_seconds"),
    ("WebSocket sends", "vigil_ws_send_seconds"),
];

/// The relay at one instant.
#[derive(Debug, Clone)]
pub struct RelaySample {
    /// utime + stime, in clock ticks.
    pub ticks: u64,
    /// Each of [`PARTS`]' histogram sums, in seconds, and how many samples it has.
    pub parts: Vec<(f64, u64)>,
    /// RDP bytes read from targets.
    pub rdp_bytes: f64,
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 if it cannot be asked).
pub fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let rest = stat.rsplit_once(')').context("odd /proc stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime 14, stime 15 (1-based, as in proc(5)).
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok(utime + stime)
}

pub async fn relay_sample(
    http: &reqwest::Client,
    metrics_url: &str,
    pid: u32,
) -> Result<RelaySample> {
    let ticks = cpu_ticks(pid)?;
    let text = scrape(http, metrics_url).await?;
    let parts = PARTS
        .iter()
        .map(|(_, name)| {
            (
                series(&text, &format!("{name}_sum")).unwrap_or(0.0),
                series(&text, &format!("{name}_count")).map_or(0, |c| c as u64),
            )
        })
        .collect();
    let rdp_bytes = series(
        &text,
        "vigil_relayed_bytes_total{protocol=\"rdp\",direction=\"from_target\"}",
    )
    .unwrap_or(0.0);
    Ok(RelaySample {
        ticks,
        parts,
        rdp_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cpu_ticks_are_read() {
        assert!(cpu_ticks(std::process::id()).is_ok());
    }
}
