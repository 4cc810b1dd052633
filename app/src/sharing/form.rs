//! The Share dialog's choices, and the request they make. Pure: tested natively.

use vigil_wire::share::{NewShareLink, ShareAudience, ShareKind};

/// The expiries the dialog offers, in minutes, with their labels. The relay allows at
/// most 24 hours, and a live link also ends with its session.
pub const EXPIRIES: [(u32, &str); 5] = [
    (15, "15 min"),
    (60, "1 hour"),
    (240, "4 hours"),
    (480, "8 hours"),
    (1440, "24 hours"),
];

/// The expiry chosen until the sharer picks another: 1 hour.
pub const DEFAULT_EXPIRY: u32 = 60;

/// Who may open the link, as the dialog asks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// The users and groups named (the default).
    Named,
    /// Any logged-in Vigil user.
    AnyUser,
}

/// What the sharer filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareForm {
    pub who: Who,
    /// Usernames, separated by commas.
    pub users: String,
    /// Group names, separated by commas.
    pub groups: String,
    pub expires_in_minutes: u32,
    pub with_code: bool,
    /// Recording links only.
    pub allow_download: bool,
}

impl Default for ShareForm {
    fn default() -> Self {
        ShareForm {
            who: Who::Named,
            users: String::new(),
            groups: String::new(),
            expires_in_minutes: DEFAULT_EXPIRY,
            with_code: false,
            allow_download: false,
        }
    }
}

/// Why the form cannot be sent yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("Name at least one user or group, or choose “Any logged-in Vigil user”.")]
    NobodyNamed,
    #[error("Choose one of the offered expiries.")]
    Expiry,
}

/// The names in a comma-separated list: trimmed, without empty entries or repeats, in
/// the order given.
pub fn names(list: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    }
    out
}

impl ShareForm {
    /// The body of `POST /sessions/{id}/shares` for a link of `kind`. The download is
    /// asked for only on a recording link.
    pub fn request(&self, kind: ShareKind) -> Result<NewShareLink, FormError> {
        if !EXPIRIES.iter().any(|(m, _)| *m == self.expires_in_minutes) {
            return Err(FormError::Expiry);
        }
        let audience = match self.who {
            Who::AnyUser => ShareAudience::AnyUser,
            Who::Named => {
                let (users, groups) = (names(&self.users), names(&self.groups));
                if users.is_empty() && groups.is_empty() {
                    return Err(FormError::NobodyNamed);
                }
                ShareAudience::Named { users, groups }
            }
        };
        Ok(NewShareLink {
            audience,
            expires_in_minutes: Some(self.expires_in_minutes),
            with_code: self.with_code,
            allow_download: kind == ShareKind::Recording && self.allow_download,
        })
    }
}
