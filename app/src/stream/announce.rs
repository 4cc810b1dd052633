//! What screen readers are told when a session's state changes: locked, unlocked, ended,
//! this viewer cut off. Pure: [`change`] compares two [`Facts`] and says what to announce;
//! the pages put the [`Announcement`] in their live region (`crate::live_region`).

use vigil_wire::api::Session;

use super::state::{Role, StreamState};

/// The parts of a session's state that are announced when they change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// Whose facts these are (Active Sessions: the selected session): a change of
    /// subject is not a change of state, and is not announced.
    pub subject: Option<String>,
    pub locked: bool,
    /// The message the locked user is shown (the user's own page only).
    pub lock_message: Option<String>,
    /// Why it ended.
    pub ended: Option<String>,
    /// What a viewer cut off (a link revoked or expired, a right or a login lost) is told.
    pub cut_off: Option<String>,
}

impl Facts {
    /// A stream's facts, as its page shows them.
    pub fn of_stream(s: &StreamState) -> Facts {
        Facts {
            subject: None,
            locked: s.lock.is_some(),
            lock_message: s.lock.clone().filter(|_| s.role == Role::Connect),
            ended: s.ended.clone(),
            cut_off: s.access_ended.clone(),
        }
    }

    /// The facts of the listed session `id` (Active Sessions), `s` as the list has it;
    /// `None` once it left the list.
    pub fn of_listed(id: &str, s: Option<&Session>) -> Facts {
        let subject = Some(id.to_string());
        match s {
            Some(s) => Facts {
                subject,
                locked: s.locked && s.ended_at.is_none(),
                lock_message: None,
                ended: s.ended_at.map(|_| {
                    s.end_reason
                        .as_ref()
                        .map_or_else(|| "closed".to_string(), ToString::to_string)
                }),
                cut_off: None,
            },
            None => Facts {
                subject,
                ended: Some("it is no longer active".into()),
                ..Facts::default()
            },
        }
    }
}

/// One thing to announce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Announcement {
    /// With the message the locked user is shown, on their own page.
    Locked(Option<String>),
    Unlocked,
    Ended(String),
    CutOff(String),
}

impl Announcement {
    pub fn text(&self) -> String {
        match self {
            Announcement::Locked(Some(m)) => format!("Session locked. {m}"),
            Announcement::Locked(None) => "Session locked: the user's input is blocked.".into(),
            Announcement::Unlocked => "Session unlocked.".into(),
            Announcement::Ended(r) => format!("Session ended: {r}."),
            Announcement::CutOff(m) => m.clone(),
        }
    }

    /// Said at once, interrupting (`aria-live="assertive"`): what stops the user or the
    /// viewer. An unlock waits its turn (`polite`).
    pub fn urgent(&self) -> bool {
        !matches!(self, Announcement::Unlocked)
    }
}

/// What changed from `before` to `after` that must be announced, the weightiest first:
/// cut off, ended, locked, unlocked (an end also clears the lock, unannounced).
pub fn change(before: &Facts, after: &Facts) -> Option<Announcement> {
    if before.subject != after.subject {
        return None;
    }
    if let (None, Some(m)) = (&before.cut_off, &after.cut_off) {
        return Some(Announcement::CutOff(m.clone()));
    }
    if let (None, Some(r)) = (&before.ended, &after.ended) {
        return Some(Announcement::Ended(r.trim_end_matches('.').to_string()));
    }
    if after.cut_off.is_some() || after.ended.is_some() {
        return None;
    }
    match (before.locked, after.locked) {
        (false, true) => Some(Announcement::Locked(after.lock_message.clone())),
        (true, false) => Some(Announcement::Unlocked),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{change, Announcement, Facts};

    fn locked(message: Option<&str>) -> Facts {
        Facts {
            locked: true,
            lock_message: message.map(str::to_string),
            ..Facts::default()
        }
    }

    #[test]
    fn lock_and_unlock_are_announced_once_each() {
        let open = Facts::default();
        let lock = change(&open, &locked(None));
        assert_eq!(lock, Some(Announcement::Locked(None)));
        assert_eq!(
            lock.map(|a| a.text()).as_deref(),
            Some("Session locked: the user's input is blocked.")
        );
        assert_eq!(change(&locked(None), &locked(None)), None);
        let unlock = change(&locked(None), &open);
        assert_eq!(unlock, Some(Announcement::Unlocked));
        assert_eq!(
            unlock.as_ref().map(Announcement::text).as_deref(),
            Some("Session unlocked.")
        );
        assert!(!Announcement::Unlocked.urgent());
        // The user's own page says what they are told.
        let own = change(&open, &locked(Some("Your session has been locked.")));
        assert_eq!(
            own.map(|a| a.text()).as_deref(),
            Some("Session locked. Your session has been locked.")
        );
    }

    #[test]
    fn an_end_or_a_cut_off_wins_over_the_lock_it_clears() {
        let ended = Facts {
            ended: Some("terminated by admin.".into()),
            ..Facts::default()
        };
        let a = change(&locked(None), &ended);
        assert_eq!(a, Some(Announcement::Ended("terminated by admin".into())));
        assert!(a.as_ref().is_some_and(Announcement::urgent));
        assert_eq!(
            a.map(|a| a.text()).as_deref(),
            Some("Session ended: terminated by admin.")
        );
        let cut = Facts {
            cut_off: Some("Your access through the shared link has ended.".into()),
            ..Facts::default()
        };
        assert_eq!(
            change(&locked(None), &cut),
            Some(Announcement::CutOff(
                "Your access through the shared link has ended.".into()
            ))
        );
        // Nothing more once over.
        assert_eq!(change(&ended, &ended), None);
        assert_eq!(change(&cut, &cut), None);
    }

    #[test]
    fn a_row_that_leaves_the_list_has_ended() {
        let listed = Facts {
            subject: Some("s-1".into()),
            ..Facts::default()
        };
        let gone = Facts::of_listed("s-1", None);
        assert_eq!(
            change(&listed, &gone).map(|a| a.text()).as_deref(),
            Some("Session ended: it is no longer active.")
        );
    }

    #[test]
    fn selecting_another_session_is_not_a_state_change() {
        let a = Facts {
            subject: Some("a".into()),
            ..Facts::default()
        };
        let b_locked = Facts {
            subject: Some("b".into()),
            locked: true,
            ..Facts::default()
        };
        assert_eq!(change(&a, &b_locked), None);
        assert_eq!(change(&b_locked, &Facts::default()), None);
    }
}
