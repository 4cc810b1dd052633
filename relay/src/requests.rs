//! The access-request lifecycle, as pure functions over a request's state and the clock.
//!
//! pending → approved (at once when a rule auto-approves) | denied;
//! approved → checked_in (by its requester, an administrator, or Terminate and Cancel)
//! | expired (by time). A session starts only under an approved, unexpired request
//! of its requester for that asset.

use vigil_wire::api::{AssetId, RequestStatus, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestState {
    pub user_id: UserId,
    pub asset_id: AssetId,
    pub status: RequestStatus,
    pub duration_minutes: u32,
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("the request is not pending")]
    NotPending,
    #[error("the request is not approved")]
    NotApproved,
    #[error("the request has expired")]
    Expired,
    #[error("the request was made by someone else")]
    NotRequester,
    #[error("the request is for another asset")]
    OtherAsset,
}

/// The status as of `now`: an approved request past its end is expired.
pub fn effective_status(status: RequestStatus, expires_at: Option<i64>, now: i64) -> RequestStatus {
    match (status, expires_at) {
        (RequestStatus::Approved, Some(end)) if now >= end => RequestStatus::Expired,
        (s, _) => s,
    }
}

impl RequestState {
    pub fn status_at(&self, now: i64) -> RequestStatus {
        effective_status(self.status, self.expires_at, now)
    }

    /// Approval: returns the new status and the end of the access window.
    pub fn approve(&self, now: i64) -> Result<(RequestStatus, i64), LifecycleError> {
        match self.status_at(now) {
            RequestStatus::Pending => Ok((
                RequestStatus::Approved,
                now + i64::from(self.duration_minutes) * 60_000,
            )),
            _ => Err(LifecycleError::NotPending),
        }
    }

    pub fn deny(&self, now: i64) -> Result<RequestStatus, LifecycleError> {
        match self.status_at(now) {
            RequestStatus::Pending => Ok(RequestStatus::Denied),
            _ => Err(LifecycleError::NotPending),
        }
    }

    /// Check-in ends an approved window early (a pending request is withdrawn the same way).
    pub fn check_in(&self, now: i64) -> Result<RequestStatus, LifecycleError> {
        match self.status_at(now) {
            RequestStatus::Approved | RequestStatus::Pending => Ok(RequestStatus::CheckedIn),
            RequestStatus::Expired => Err(LifecycleError::Expired),
            _ => Err(LifecycleError::NotApproved),
        }
    }

    /// May `user` start a session on `asset` under this request now?
    pub fn usable_for_launch(
        &self,
        user: UserId,
        asset: AssetId,
        now: i64,
    ) -> Result<(), LifecycleError> {
        if self.user_id != user {
            return Err(LifecycleError::NotRequester);
        }
        if self.asset_id != asset {
            return Err(LifecycleError::OtherAsset);
        }
        match self.status_at(now) {
            RequestStatus::Approved => Ok(()),
            RequestStatus::Expired => Err(LifecycleError::Expired),
            _ => Err(LifecycleError::NotApproved),
        }
    }
}

pub fn status_str(s: RequestStatus) -> &'static str {
    match s {
        RequestStatus::Pending => "pending",
        RequestStatus::Approved => "approved",
        RequestStatus::Denied => "denied",
        RequestStatus::CheckedIn => "checked_in",
        RequestStatus::Expired => "expired",
    }
}

pub fn parse_status(s: &str) -> Option<RequestStatus> {
    Some(match s {
        "pending" => RequestStatus::Pending,
        "approved" => RequestStatus::Approved,
        "denied" => RequestStatus::Denied,
        "checked_in" => RequestStatus::CheckedIn,
        "expired" => RequestStatus::Expired,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;

    fn pending() -> RequestState {
        RequestState {
            user_id: 7,
            asset_id: 3,
            status: RequestStatus::Pending,
            duration_minutes: 30,
            expires_at: None,
        }
    }

    fn approved(at: i64) -> RequestState {
        let r = pending();
        let (status, end) = r.approve(at).expect("pending approves");
        RequestState {
            status,
            expires_at: Some(end),
            ..r
        }
    }

    #[test]
    fn pending_cannot_launch() {
        assert_eq!(
            pending().usable_for_launch(7, 3, T0),
            Err(LifecycleError::NotApproved)
        );
    }

    #[test]
    fn approval_opens_a_window_of_the_requested_duration() {
        let r = approved(T0);
        assert_eq!(r.expires_at, Some(T0 + 30 * 60_000));
        assert_eq!(r.usable_for_launch(7, 3, T0 + 1), Ok(()));
        assert_eq!(
            r.usable_for_launch(8, 3, T0 + 1),
            Err(LifecycleError::NotRequester)
        );
        assert_eq!(
            r.usable_for_launch(7, 4, T0 + 1),
            Err(LifecycleError::OtherAsset)
        );
        assert_eq!(r.status_at(T0 + 30 * 60_000), RequestStatus::Expired);
        assert_eq!(
            r.usable_for_launch(7, 3, T0 + 30 * 60_000),
            Err(LifecycleError::Expired)
        );
    }

    #[test]
    fn decisions_happen_once() {
        let r = approved(T0);
        assert_eq!(r.approve(T0 + 1), Err(LifecycleError::NotPending));
        assert_eq!(r.deny(T0 + 1), Err(LifecycleError::NotPending));
        assert_eq!(pending().deny(T0), Ok(RequestStatus::Denied));
        let denied = RequestState {
            status: RequestStatus::Denied,
            ..pending()
        };
        assert_eq!(denied.approve(T0), Err(LifecycleError::NotPending));
        assert_eq!(
            denied.usable_for_launch(7, 3, T0),
            Err(LifecycleError::NotApproved)
        );
    }

    #[test]
    fn checked_in_is_final() {
        let r = approved(T0);
        let status = r.check_in(T0 + 5).expect("approved checks in");
        assert_eq!(status, RequestStatus::CheckedIn);
        let r = RequestState { status, ..r };
        assert_eq!(
            r.usable_for_launch(7, 3, T0 + 6),
            Err(LifecycleError::NotApproved)
        );
        assert_eq!(r.check_in(T0 + 7), Err(LifecycleError::NotApproved));
        assert_eq!(
            approved(T0).check_in(T0 + 31 * 60_000),
            Err(LifecycleError::Expired)
        );
    }

    #[test]
    fn status_strings_round_trip() {
        for s in [
            RequestStatus::Pending,
            RequestStatus::Approved,
            RequestStatus::Denied,
            RequestStatus::CheckedIn,
            RequestStatus::Expired,
        ] {
            assert_eq!(parse_status(status_str(s)), Some(s));
        }
    }
}
