//! The relay's own timers, read from its `/metrics` page (enabled for a benchmark with
//! `VIGIL_METRICS_ENABLED=true`; loopback may scrape it).

use anyhow::Result;

/// The histograms of the relay's screen copy: everything it does in its screen jobs,
/// which the desktop's forward path waits for (decode, the peek before it, snapshots and
/// thumbnails).
pub const SCREEN_COPY_HISTOGRAMS: [&str; 4] = [
    "vigil_rdp_decode_seconds",
    "vigil_rdp_peek_seconds",
    "vigil_rdp_snapshot_seconds",
    "vigil_rdp_thumbnail_seconds",
];

/// The text of `url` (a relay's `/metrics`).
pub async fn scrape(http: &reqwest::Client, url: &str) -> Result<String> {
    Ok(http
        .get(url)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?)
}

/// One series' value from Prometheus text: the first line that is `series`, a space and
/// a number (`series` carries its labels when it has them, as the relay writes them).
pub fn series(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// The sum of the histograms' `_sum` series, in seconds (absent ones count 0).
pub fn seconds_in(text: &str, histograms: &[&str]) -> f64 {
    histograms
        .iter()
        .map(|h| series(text, &format!("{h}_sum")).unwrap_or(0.0))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_read_by_exact_name() {
        let text = "# HELP x\nvigil_rdp_decode_seconds_sum 1.5\nvigil_rdp_decode_seconds_count 7\n\
                    vigil_rdp_peek_seconds_sum 0.25\n\
                    vigil_relayed_bytes_total{protocol=\"rdp\",direction=\"from_target\"} 42\n";
        assert_eq!(series(text, "vigil_rdp_decode_seconds_sum"), Some(1.5));
        assert_eq!(series(text, "vigil_rdp_decode_seconds_count"), Some(7.0));
        assert_eq!(series(text, "vigil_rdp_decode_seconds"), None);
        assert_eq!(
            series(
                text,
                "vigil_relayed_bytes_total{protocol=\"rdp\",direction=\"from_target\"}"
            ),
            Some(42.0)
        );
        assert_eq!(seconds_in(text, &SCREEN_COPY_HISTOGRAMS), 1.75);
    }
}
