//! Retention's decisions, pure: which recordings a pass deletes, and how far it prunes the
//! audit log, given the time, the rows and the settings.

/// A day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// An ended session whose recording is still kept, as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptRecording {
    pub id: String,
    /// Unix milliseconds.
    pub ended_at: i64,
    /// On legal hold.
    pub held: bool,
    /// Its `recording_sealed` entry is written (only a sealed recording is deleted, so
    /// its deletion always follows its seal in the audit chain).
    pub sealed: bool,
}

/// The instant before which things older than `days` days are due (`None`: never).
pub fn cutoff(now_ms: i64, days: Option<u32>) -> Option<i64> {
    days.map(|d| now_ms.saturating_sub(i64::from(d).saturating_mul(DAY_MS)))
}

/// The ids of the recordings to delete now: sessions that ended at or before the cutoff
/// of `days`, sealed, and not on legal hold. Nothing without `days`.
pub fn recordings_to_delete(now_ms: i64, days: Option<u32>, rows: &[KeptRecording]) -> Vec<String> {
    let Some(cutoff) = cutoff(now_ms, days) else {
        return Vec::new();
    };
    rows.iter()
        .filter(|r| r.ended_at <= cutoff && r.sealed && !r.held)
        .map(|r| r.id.clone())
        .collect()
}

/// The seq through which the audit log is pruned: the newest entry older than the
/// cutoff (`newest_expired`), but never `floor` or anything after it (the entries some
/// other part of Vigil still needs). `None`: prune nothing.
pub fn audit_prune_through(newest_expired: Option<i64>, floor: Option<i64>) -> Option<i64> {
    let through = newest_expired?;
    let through = match floor {
        Some(f) => through.min(f - 1),
        None => through,
    };
    (through >= 1).then_some(through)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn rec(id: &str, days_ago: i64, held: bool, sealed: bool) -> KeptRecording {
        KeptRecording {
            id: id.into(),
            ended_at: NOW - days_ago * DAY_MS,
            held,
            sealed,
        }
    }

    #[test]
    fn old_sealed_unheld_recordings_go_and_nothing_else() {
        let rows = [
            rec("old", 31, false, true),
            rec("edge", 30, false, true),
            rec("young", 29, false, true),
            rec("held", 400, true, true),
            rec("unsealed", 400, false, false),
        ];
        assert_eq!(recordings_to_delete(NOW, Some(30), &rows), ["old", "edge"]);
        assert!(
            recordings_to_delete(NOW, None, &rows).is_empty(),
            "no setting: keep all"
        );
        assert_eq!(
            recordings_to_delete(NOW, Some(0), &rows),
            ["old", "edge", "young"],
            "0 days: every sealed, unheld recording"
        );
    }

    #[test]
    fn a_huge_setting_keeps_everything() {
        let rows = [rec("old", 10_000, false, true)];
        assert!(recordings_to_delete(NOW, Some(u32::MAX), &rows).is_empty());
        assert_eq!(
            cutoff(NOW, Some(u32::MAX)),
            Some(NOW - i64::from(u32::MAX) * DAY_MS)
        );
    }

    #[test]
    fn the_prune_stops_before_the_floor() {
        assert_eq!(audit_prune_through(None, None), None);
        assert_eq!(audit_prune_through(Some(120), None), Some(120));
        assert_eq!(audit_prune_through(Some(120), Some(50)), Some(49));
        assert_eq!(audit_prune_through(Some(120), Some(500)), Some(120));
        assert_eq!(
            audit_prune_through(Some(120), Some(1)),
            None,
            "nothing before seq 1"
        );
        assert_eq!(audit_prune_through(Some(0), None), None);
    }
}
