//! Opening a share link (`/share#<token>`): the token from the fragment, the relay's
//! answer to redeeming it, and where the app goes next. Pure: tested natively.

use vigil_wire::share::{Redeemed, ShareKind};

/// The token in a `location.hash` (`#<token>`), if there is one.
pub fn token_from_hash(hash: &str) -> Option<String> {
    let token = hash.strip_prefix('#').unwrap_or(hash).trim();
    (!token.is_empty()).then(|| token.to_string())
}

/// Why the relay refused a link, from its error code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    NotFound,
    Expired,
    Revoked,
    NotForYou,
    /// A code is needed, and none or a wrong one was given.
    WrongCode,
    TooManyAttempts,
    /// Anything else (the relay's or the network's message).
    Other(String),
}

impl Refusal {
    /// The refusal an error answer means: its `code`, else its `message`.
    pub fn from_code(code: &str, message: &str) -> Refusal {
        match code {
            "link_not_found" => Refusal::NotFound,
            "link_expired" => Refusal::Expired,
            "link_revoked" => Refusal::Revoked,
            "link_not_for_you" => Refusal::NotForYou,
            "wrong_code" => Refusal::WrongCode,
            "too_many_attempts" => Refusal::TooManyAttempts,
            _ => Refusal::Other(message.to_string()),
        }
    }

    /// What the person who opened the link is told.
    pub fn message(&self) -> String {
        match self {
            Refusal::NotFound => {
                "This link does not exist. Check that you copied all of it.".into()
            }
            Refusal::Expired => {
                "This link has expired. Ask the person who shared it for a new one.".into()
            }
            Refusal::Revoked => {
                "This link has been revoked. Ask the person who shared it for a new one.".into()
            }
            Refusal::NotForYou => {
                "This link was not shared with you. Check that you are logged in as the person it names, or ask for a link of your own.".into()
            }
            Refusal::WrongCode => {
                "That verification code is not right. Check the code you were given and enter it again.".into()
            }
            Refusal::TooManyAttempts => {
                "Too many wrong verification codes: this link no longer opens for you. Ask the person who shared it for a new link.".into()
            }
            Refusal::Other(m) => format!(
                "The link could not be opened: {} Open it again; if it keeps failing, ask the person who shared it.",
                crate::util::sentence(m)
            ),
        }
    }

    /// The `data-reason` the page carries (the relay's code, or `error`).
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::NotFound => "link_not_found",
            Refusal::Expired => "link_expired",
            Refusal::Revoked => "link_revoked",
            Refusal::NotForYou => "link_not_for_you",
            Refusal::WrongCode => "wrong_code",
            Refusal::TooManyAttempts => "too_many_attempts",
            Refusal::Other(_) => "error",
        }
    }
}

/// What the link page shows or does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// No token in the address.
    NoToken,
    /// Redeeming (with or without a code).
    Opening,
    /// The link needs its verification code; `wrong`: one was given and was not right.
    AskCode { wrong: bool },
    /// Refused for good.
    Refused(Refusal),
    /// Opened: go to this path of the app.
    Go(String),
}

/// The step after the relay answered a redeem that carried a code (`code_given`) or not.
pub fn after_redeem(answer: Result<Redeemed, Refusal>, code_given: bool) -> Step {
    match answer {
        Ok(r) => Step::Go(destination(&r)),
        Err(Refusal::WrongCode) => Step::AskCode { wrong: code_given },
        Err(r) => Step::Refused(r),
    }
}

/// The player a redeemed link opens.
pub fn destination(r: &Redeemed) -> String {
    let id = path_segment(&r.session_id);
    match r.kind {
        ShareKind::Live => format!("/sessions/{id}"),
        ShareKind::Recording => format!("/replay/{id}"),
    }
}

/// `s` as one URL path segment: every byte but the unreserved ones percent-encoded.
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
