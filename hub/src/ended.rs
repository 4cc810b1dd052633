//! The end reasons of sessions that have left the registry but whose end the relay may not
//! have stored yet. A browser attaching in that moment is told why the session ended from
//! here, not by waiting on the database. The relay forgets an entry once it has stored the
//! end ([`crate::Hub::forget_ended`]); the oldest go first past [`ENDED_KEPT`], should a
//! store fail.

use std::collections::{HashMap, VecDeque};

use vigil_wire::end::EndReason;

use vigil_wire::api::SessionId;

/// Entries kept at most (a few seconds of ended sessions on the busiest relay).
pub(crate) const ENDED_KEPT: usize = 4096;

#[derive(Debug, Default)]
pub(crate) struct EndedLog {
    reasons: HashMap<SessionId, EndReason>,
    order: VecDeque<SessionId>,
}

impl EndedLog {
    pub(crate) fn record(&mut self, id: SessionId, reason: EndReason) {
        if self.reasons.insert(id.clone(), reason).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > ENDED_KEPT {
            if let Some(old) = self.order.pop_front() {
                self.reasons.remove(&old);
            }
        }
    }

    pub(crate) fn get(&self, id: &str) -> Option<&EndReason> {
        self.reasons.get(id)
    }

    pub(crate) fn forget(&mut self, id: &str) {
        if self.reasons.remove(id).is_some() {
            self.order.retain(|o| o != id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_until_forgotten_and_bounded() {
        let mut log = EndedLog::default();
        log.record("a".into(), EndReason::plain("closed"));
        assert_eq!(log.get("a").map(|r| r.message.as_str()), Some("closed"));
        log.forget("a");
        assert!(log.get("a").is_none());
        for i in 0..=ENDED_KEPT {
            log.record(format!("s{i}"), EndReason::plain("x"));
        }
        assert!(log.get("s0").is_none(), "the oldest went first");
        assert!(log.get(&format!("s{ENDED_KEPT}")).is_some());
        assert_eq!(log.order.len(), ENDED_KEPT);
    }
}
