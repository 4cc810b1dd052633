//! RFC 5424 messages for audit entries, and their framing (sans-IO):
//!
//! `<PRI>1 TIMESTAMP HOSTNAME vigil PROCID MSGID [vigil@PEN seq="" actor="" source=""
//! session="" hash=""] MSG`, where MSGID is the action's name, MSG the entry as JSON,
//! and PRI the facility's and the action's severity. Over TCP and TLS every message is
//! octet-counted (RFC 6587, RFC 5425): `LEN SP MSG`.

use std::fmt::Write as _;

use vigil_wire::audit::{AuditAction, AuditEntry};

use super::config::Facility;

/// RFC 5424 severities the export uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Warning = 4,
    Notice = 5,
    Informational = 6,
}

/// How serious an action is for a SIEM: refusals warn, changes of access and monitor
/// actions are notices, reads and views are informational.
pub fn severity(action: AuditAction) -> Severity {
    use AuditAction as A;
    match action {
        A::AccessDenied | A::HostKeyRefused => Severity::Warning,
        A::Lock
        | A::Unlock
        | A::Terminate
        | A::TerminateAndCancel
        | A::EmergencyLock
        | A::EmergencyTerminate
        | A::Share
        | A::Revoke
        | A::RequestApprove
        | A::RequestDeny
        | A::UserCreate
        | A::UserDisable
        | A::UserEnable
        | A::UserEndLogins
        | A::UserKeyboardLayout
        | A::GroupRemoveMember
        | A::RuleCreate
        | A::RuleDelete
        | A::AssetCreate
        | A::AcceptHostKey
        | A::HostKeyPinned
        | A::CredentialsResealed
        | A::AuditChained
        | A::AuditCheckpoint
        | A::LegalHoldSet
        | A::LegalHoldReleased
        | A::RecordingDeleted => Severity::Notice,
        A::Launch
        | A::Observe
        | A::ViewStart
        | A::ViewEnd
        | A::LinkUse
        | A::Replay
        | A::ViewKeystrokes
        | A::Download
        | A::RecordingSealed
        | A::RequestCreate
        | A::RequestCheckin => Severity::Informational,
    }
}

/// `facility * 8 + severity`.
pub fn pri(facility: Facility, severity: Severity) -> u8 {
    facility.code() * 8 + severity as u8
}

/// What every message of one relay shares.
#[derive(Debug, Clone)]
pub struct Header {
    pub facility: Facility,
    /// Already a valid HOSTNAME ([`hostname`]).
    pub hostname: String,
    pub procid: u32,
    pub enterprise_id: u32,
}

/// `name` as an RFC 5424 HOSTNAME: printable US-ASCII without spaces, at most 255
/// characters; `-` (the nil value) when nothing is left.
pub fn hostname(name: &str) -> String {
    let clean: String = name
        .trim()
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect();
    if clean.is_empty() {
        "-".into()
    } else {
        clean
    }
}

/// A PARAM-VALUE with `"`, `\` and `]` escaped by a backslash (RFC 5424, 6.3.3).
pub fn escape_param(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Unix milliseconds as an RFC 5424 TIMESTAMP in UTC (`2026-12-02T09:37:59.123Z`).
pub fn timestamp(at_ms: i64) -> String {
    let nanos = i128::from(at_ms) * 1_000_000;
    match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        ),
        Err(_) => "-".into(),
    }
}

/// Whether the JSON body was left out (a UDP datagram too large with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    Full,
    Omitted,
}

/// One entry as an RFC 5424 message (without framing).
pub fn message(h: &Header, e: &AuditEntry, body: Body) -> String {
    let mut sd = format!(
        "[vigil@{} seq=\"{}\" actor=\"{}\"",
        h.enterprise_id,
        e.seq,
        escape_param(&e.actor)
    );
    if let Some(source) = &e.source {
        let _ = write!(sd, " source=\"{}\"", escape_param(source));
    }
    if let Some(session) = &e.session_id {
        let _ = write!(sd, " session=\"{}\"", escape_param(session));
    }
    let _ = write!(sd, " hash=\"{}\"", escape_param(&e.hash));
    if body == Body::Omitted {
        sd.push_str(" truncated=\"true\"");
    }
    sd.push(']');
    let mut msg = format!(
        "<{}>1 {} {} vigil {} {} {}",
        pri(h.facility, severity(e.action)),
        timestamp(e.at),
        h.hostname,
        h.procid,
        e.action.as_str(),
        sd
    );
    if body == Body::Full {
        // Serialising a plain struct of strings and integers cannot fail.
        if let Ok(json) = serde_json::to_string(e) {
            msg.push(' ');
            msg.push_str(&json);
        }
    }
    msg
}

/// One entry for a UDP datagram of at most `max` bytes: whole, or without its JSON body
/// when too large (the structured data still names it by seq and hash).
pub fn datagram(h: &Header, e: &AuditEntry, max: usize) -> String {
    let whole = message(h, e, Body::Full);
    if whole.len() <= max {
        whole
    } else {
        message(h, e, Body::Omitted)
    }
}

/// RFC 6587 octet counting: `LEN SP MSG`.
pub fn octet_counted(msg: &str) -> Vec<u8> {
    let mut out = format!("{} ", msg.len()).into_bytes();
    out.extend_from_slice(msg.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(action: AuditAction) -> AuditEntry {
        AuditEntry {
            seq: 42,
            at: 1_764_668_279_123,
            actor: "ro\"ot]\\".into(),
            action,
            session_id: Some("s-1".into()),
            source: Some("127.0.0.1".into()),
            detail: "locked".into(),
            hash: "ab12".into(),
        }
    }

    fn header() -> Header {
        Header {
            facility: Facility::Authpriv,
            hostname: hostname("relay 1\n"),
            procid: 77,
            enterprise_id: 32473,
        }
    }

    #[test]
    fn escaping_and_pri() {
        assert_eq!(escape_param(r#"a"b\c]d[e"#), r#"a\"b\\c\]d[e"#);
        assert_eq!(pri(Facility::Authpriv, Severity::Notice), 85);
        assert_eq!(pri(Facility::Auth, Severity::Warning), 36);
        assert_eq!(pri(Facility::Local7, Severity::Informational), 190);
        assert_eq!(severity(AuditAction::AccessDenied), Severity::Warning);
        assert_eq!(severity(AuditAction::Lock), Severity::Notice);
        assert_eq!(severity(AuditAction::ViewStart), Severity::Informational);
        assert_eq!(hostname("  "), "-");
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn a_whole_message() {
        let e = entry(AuditAction::Lock);
        let m = message(&header(), &e, Body::Full);
        let expected_head = "<85>1 2025-12-02T09:37:59.123Z relay1 vigil 77 lock [vigil@32473 seq=\"42\" actor=\"ro\\\"ot\\]\\\\\" source=\"127.0.0.1\" session=\"s-1\" hash=\"ab12\"] ";
        assert!(m.starts_with(expected_head), "{m}");
        let json: AuditEntry =
            serde_json::from_str(&m[expected_head.len()..]).expect("MSG is the entry");
        assert_eq!(json, e);
        let mut bare = e.clone();
        bare.session_id = None;
        bare.source = None;
        let m = message(&header(), &bare, Body::Full);
        assert!(!m.contains("session=") && !m.contains("source="), "{m}");
    }

    #[test]
    fn big_datagrams_lose_their_body_not_their_identity() {
        let mut e = entry(AuditAction::RecordingSealed);
        e.detail = "x".repeat(10_000);
        let d = datagram(&header(), &e, 8192);
        assert!(d.len() < 8192);
        assert!(d.ends_with("hash=\"ab12\" truncated=\"true\"]"), "{d}");
        assert!(d.starts_with("<86>1 "), "informational: {d}");
        let small = datagram(&header(), &entry(AuditAction::Lock), 8192);
        assert!(small.ends_with('}'));
    }

    #[test]
    fn octet_counting() {
        assert_eq!(octet_counted("<85>1 x"), b"7 <85>1 x".to_vec());
        let utf8 = "é";
        assert_eq!(
            octet_counted(utf8),
            b"2 \xc3\xa9".to_vec(),
            "bytes, not chars"
        );
    }
}
