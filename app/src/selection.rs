//! Active Sessions' selection, pure: which of the selection toolbar's buttons apply to
//! the selected session ([`Action::applies`]), and whether a selection survives a change
//! of the list ([`selected`]). The page (`pages/active/toolbar.rs`) shows them.

use vigil_wire::api::{Session, SessionId};

/// A button of the selection toolbar, in its order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Lock,
    Unlock,
    Terminate,
    TerminateAndCancel,
}

impl Action {
    pub const ALL: [Action; 4] = [
        Action::Lock,
        Action::Unlock,
        Action::Terminate,
        Action::TerminateAndCancel,
    ];

    /// The button's words (the product's).
    pub fn label(self) -> &'static str {
        match self {
            Action::Lock => "Lock",
            Action::Unlock => "Unlock",
            Action::Terminate => "Terminate",
            Action::TerminateAndCancel => "Terminate and Cancel",
        }
    }

    /// The button's `data-testid`.
    pub fn testid(self) -> &'static str {
        match self {
            Action::Lock => "toolbar-lock",
            Action::Unlock => "toolbar-unlock",
            Action::Terminate => "toolbar-terminate",
            Action::TerminateAndCancel => "toolbar-terminate-cancel",
        }
    }

    /// Whether it applies to `s` (none without a selection), as the per-row controls
    /// decide it: nothing on an ended session; Lock on an unlocked one and Unlock on a
    /// locked one where the viewer may lock; Terminate where they may terminate;
    /// Terminate and Cancel where the relay offers it (sessions under a request).
    pub fn applies(self, s: Option<&Session>) -> bool {
        let Some(s) = s.filter(|s| s.ended_at.is_none()) else {
            return false;
        };
        let c = &s.controls;
        match self {
            Action::Lock => c.lock && !s.locked,
            Action::Unlock => c.lock && s.locked,
            Action::Terminate => c.terminate,
            Action::TerminateAndCancel => c.terminate_and_cancel,
        }
    }
}

/// The selected session in the list `sessions`, while it is listed and live: the
/// selection holds through every update of the list, and is gone once its session ended
/// or left it.
pub fn selected<'a>(id: Option<&SessionId>, sessions: &'a [Session]) -> Option<&'a Session> {
    let id = id?;
    sessions
        .iter()
        .find(|s| &s.id == id && s.ended_at.is_none())
}

#[cfg(test)]
mod tests {
    use vigil_wire::api::{Protocol, Session, SessionControls, SessionKind};

    use super::{selected, Action};

    fn session(id: &str, locked: bool, controls: SessionControls) -> Session {
        Session {
            id: id.into(),
            user: "alice".into(),
            asset_id: 7,
            asset_name: "web-1".into(),
            protocol: Protocol::Ssh,
            kind: SessionKind::Request,
            request_id: Some(3),
            started_at: 1_000,
            ended_at: None,
            locked,
            end_reason: None,
            controls,
            watchers: None,
            legal_hold: None,
            recording_deleted_at: None,
        }
    }

    fn applicable(s: Option<&Session>) -> Vec<Action> {
        Action::ALL.into_iter().filter(|a| a.applies(s)).collect()
    }

    fn all() -> SessionControls {
        SessionControls {
            watch: true,
            lock: true,
            terminate: true,
            terminate_and_cancel: true,
            ..SessionControls::default()
        }
    }

    #[test]
    fn each_button_applies_only_where_the_row_offers_it() {
        assert_eq!(applicable(None), []);
        let open = session("a", false, all());
        assert_eq!(
            applicable(Some(&open)),
            [Action::Lock, Action::Terminate, Action::TerminateAndCancel]
        );
        let locked = session("a", true, all());
        assert_eq!(
            applicable(Some(&locked)),
            [
                Action::Unlock,
                Action::Terminate,
                Action::TerminateAndCancel
            ]
        );
        // An Admin or ISA session: no Terminate and Cancel.
        let direct = session(
            "a",
            false,
            SessionControls {
                terminate_and_cancel: false,
                ..all()
            },
        );
        assert_eq!(applicable(Some(&direct)), [Action::Lock, Action::Terminate]);
        // The session's own user, or a link viewer: no controls at all.
        let own = session("a", true, SessionControls::default());
        assert_eq!(applicable(Some(&own)), []);
        let mut ended = session("a", false, all());
        ended.ended_at = Some(2_000);
        assert_eq!(applicable(Some(&ended)), []);
    }

    #[test]
    fn the_selection_stays_while_listed_and_live() {
        let a = session("a", false, all());
        let b = session("b", false, all());
        let id = "a".to_string();
        let pick = |list: &[Session]| selected(Some(&id), list).map(|s| (s.id.clone(), s.locked));
        assert_eq!(pick(&[b.clone(), a.clone()]), Some(("a".into(), false)));
        // The list updated: the same session, now locked, still selected.
        let mut locked = a.clone();
        locked.locked = true;
        assert_eq!(pick(&[locked]), Some(("a".into(), true)));
        assert_eq!(pick(std::slice::from_ref(&b)), None);
        let mut ended = a;
        ended.ended_at = Some(2_000);
        assert_eq!(pick(&[ended, b.clone()]), None);
        assert!(selected(None, &[b]).is_none());
    }

    #[test]
    fn the_buttons_say_the_products_words() {
        let labels: Vec<_> = Action::ALL.iter().map(|a| a.label()).collect();
        assert_eq!(
            labels,
            ["Lock", "Unlock", "Terminate", "Terminate and Cancel"]
        );
    }
}
