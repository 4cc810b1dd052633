//! Share links: what makes one (token, verification code, expiry) and the pure decision of
//! whether a redeem succeeds. The rows are `store::shares`; the endpoints `api::shares`;
//! what a link grants, `policy` (`SessionFacts::link`). Every audit entry of sharing and
//! watching goes through [`audit::append`] (with the change it records) or [`audit::record`].

use rand::Rng;
use sha2::{Digest, Sha256};

use crate::permissions::Viewer;
use crate::policy::{self, Action, SessionFacts};
use crate::store::sessions::SessionRow;

pub mod audit;

use audit::Via;

/// A link's lifetime when the sharer names none, and the longest they may name (minutes).
pub const DEFAULT_MINUTES: u32 = 60;
pub const MAX_MINUTES: u32 = 24 * 60;

/// Wrong verification codes after which a link refuses that user.
pub const MAX_CODE_FAILURES: u32 = 5;

/// What a viewer is told when their access through a link ends.
pub const LINK_ENDED_MESSAGE: &str = "Your access through the shared link has ended.";

/// The key purpose verification codes are hashed under (`Vault::derive_key`).
pub const CODE_KEY_PURPOSE: &str = "share-code";

/// The lifetime a link gets, in minutes: `None` is the default; 0 and more than a day are
/// refused.
pub fn lifetime_minutes(asked: Option<u32>) -> Result<u32, String> {
    match asked.unwrap_or(DEFAULT_MINUTES) {
        0 => Err("expires_in_minutes must be at least 1".into()),
        m if m > MAX_MINUTES => Err(format!("expires_in_minutes may be at most {MAX_MINUTES}")),
        m => Ok(m),
    }
}

/// A fresh 6-digit verification code.
pub fn new_code() -> String {
    format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32))
}

/// What is stored of `code` for link `link_id`: SHA-256 keyed with a secret derived from
/// `secret.key`, so that a copy of the database alone cannot try the million codes.
pub fn code_hash(key: &[u8; 32], link_id: &str, code: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"vigil/share-code/v1");
    h.update(key);
    for part in [link_id.as_bytes(), code.trim().as_bytes()] {
        h.update(u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
        h.update(part);
    }
    hex::encode(h.finalize())
}

/// How `v` may take `action` on `row`: as its own user (`Participate`), through their
/// role, or only through the share link they hold on it; `None` if they may not.
pub fn way_in(v: &Viewer, row: &SessionRow, action: Action) -> Option<Via> {
    let facts = row.facts(&v.actor);
    let may = |facts: &SessionFacts| policy::allowed(&v.actor, row.asset_id, Some(facts), action);
    if !may(&facts) {
        None
    } else if action == Action::Participate {
        Some(Via::Owner)
    } else if may(&SessionFacts {
        link: None,
        ..facts
    }) {
        Some(Via::Role)
    } else {
        v.actor
            .links
            .get(&row.id)
            .map(|held| Via::Link(held.link_id.clone()))
    }
}

/// What the database says about one redeem attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedeemFacts {
    pub revoked: bool,
    /// Past its expiry, or a live link whose session has ended.
    pub expired: bool,
    /// The audience includes the user.
    pub admitted: bool,
    /// Wrong codes the user gave for this link before.
    pub failures: u32,
    pub has_code: bool,
    /// A code was given and it is the link's.
    pub code_ok: bool,
}

/// Why a redeem is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Revoked,
    Expired,
    NotForYou,
    TooManyAttempts,
    /// Wrong or missing: the attempt counts.
    WrongCode,
}

/// Whether a redeem succeeds. The audience is checked before the code, so someone the
/// link is not for learns nothing about its code.
pub fn judge_redeem(f: &RedeemFacts) -> Result<(), Refusal> {
    if f.revoked {
        Err(Refusal::Revoked)
    } else if f.expired {
        Err(Refusal::Expired)
    } else if !f.admitted {
        Err(Refusal::NotForYou)
    } else if f.failures >= MAX_CODE_FAILURES {
        Err(Refusal::TooManyAttempts)
    } else if f.has_code && !f.code_ok {
        Err(Refusal::WrongCode)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FINE: RedeemFacts = RedeemFacts {
        revoked: false,
        expired: false,
        admitted: true,
        failures: 0,
        has_code: true,
        code_ok: true,
    };

    #[test]
    fn redeem_table() {
        let table: &[(RedeemFacts, Result<(), Refusal>)] = &[
            (FINE, Ok(())),
            (
                RedeemFacts {
                    has_code: false,
                    code_ok: false,
                    ..FINE
                },
                Ok(()),
            ),
            (
                RedeemFacts {
                    revoked: true,
                    expired: true,
                    ..FINE
                },
                Err(Refusal::Revoked),
            ),
            (
                RedeemFacts {
                    expired: true,
                    admitted: false,
                    ..FINE
                },
                Err(Refusal::Expired),
            ),
            (
                RedeemFacts {
                    admitted: false,
                    code_ok: false,
                    ..FINE
                },
                Err(Refusal::NotForYou),
            ),
            (
                RedeemFacts {
                    code_ok: false,
                    ..FINE
                },
                Err(Refusal::WrongCode),
            ),
            (
                RedeemFacts {
                    failures: 4,
                    code_ok: false,
                    ..FINE
                },
                Err(Refusal::WrongCode),
            ),
            // Five wrong codes: even the right one no longer opens it for this user.
            (
                RedeemFacts {
                    failures: 5,
                    ..FINE
                },
                Err(Refusal::TooManyAttempts),
            ),
        ];
        for (facts, want) in table {
            assert_eq!(judge_redeem(facts), *want, "{facts:?}");
        }
    }

    #[test]
    fn codes_are_six_digits_and_hashed_per_link_and_key() {
        let code = new_code();
        assert_eq!(code.len(), 6);
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
        let key = [7u8; 32];
        let h = code_hash(&key, "link-a", &code);
        assert_eq!(h, code_hash(&key, "link-a", &format!(" {code}\n")));
        assert_ne!(h, code_hash(&key, "link-b", &code));
        assert_ne!(h, code_hash(&[8u8; 32], "link-a", &code));
        assert!(!h.contains(&code));
    }

    #[test]
    fn lifetimes() {
        assert_eq!(lifetime_minutes(None), Ok(60));
        assert_eq!(lifetime_minutes(Some(1440)), Ok(1440));
        assert!(lifetime_minutes(Some(1441)).is_err());
        assert!(lifetime_minutes(Some(0)).is_err());
    }
}
