//! The steps of connecting a session to its target, as the relay reports them to the
//! session's user while they wait (`ServerControl::Connecting`'s `done`).

use serde::{Deserialize, Serialize};

use crate::api::Protocol;

/// One step of a connection, in the order they complete. The relay reports each step
/// once it is done, never out of order; the last (`Opened`) comes just before
/// `Connected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConnectStep {
    /// The target answered on its address (TCP).
    Reached,
    /// The channel is encrypted and the target's identity checked: TLS and the
    /// certificate pin for RDP, the SSH key exchange and the host key for SSH.
    Secured,
    /// The target accepted the managed credential: NLA (CredSSP) for RDP (or the logon
    /// inside the connection, without NLA), SSH authentication for SSH.
    Authenticated,
    /// The desktop is activated (RDP) or the shell is open (SSH).
    Opened,
}

impl ConnectStep {
    /// Every step, in order.
    pub const ALL: [ConnectStep; 4] = [
        ConnectStep::Reached,
        ConnectStep::Secured,
        ConnectStep::Authenticated,
        ConnectStep::Opened,
    ];

    /// What the step is called for a session of `protocol`.
    pub fn label(self, protocol: Protocol) -> &'static str {
        match (self, protocol) {
            (ConnectStep::Reached, _) => "Reaching the target",
            (ConnectStep::Secured, Protocol::Rdp) => "Securing the connection (TLS)",
            (ConnectStep::Secured, Protocol::Ssh) => "Securing the connection (host key)",
            (ConnectStep::Authenticated, Protocol::Rdp) => "Signing in with the credentials (NLA)",
            (ConnectStep::Authenticated, Protocol::Ssh) => "Signing in with the credentials",
            (ConnectStep::Opened, Protocol::Rdp) => "Desktop activated",
            (ConnectStep::Opened, Protocol::Ssh) => "Shell opened",
        }
    }

    /// The step after this one, if any.
    pub fn next(self) -> Option<ConnectStep> {
        Self::ALL.into_iter().find(|s| *s > self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_in_order_and_each_names_itself_per_protocol() {
        assert!(ConnectStep::ALL.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(ConnectStep::Reached.next(), Some(ConnectStep::Secured));
        assert_eq!(ConnectStep::Opened.next(), None);
        assert_eq!(
            ConnectStep::Secured.label(Protocol::Rdp),
            "Securing the connection (TLS)"
        );
        assert_eq!(
            ConnectStep::Opened.label(Protocol::Rdp),
            "Desktop activated"
        );
        assert_eq!(ConnectStep::Opened.label(Protocol::Ssh), "Shell opened");
    }

    #[test]
    fn connecting_without_a_step_reads_and_writes_as_before() {
        use crate::live::ServerControl;
        let old: ServerControl =
            serde_json::from_str(r#"{"type":"connecting","message":"connecting"}"#)
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            old,
            ServerControl::Connecting {
                message: "connecting".into(),
                done: None
            }
        );
        let written = serde_json::to_string(&old).unwrap_or_default();
        assert_eq!(written, r#"{"type":"connecting","message":"connecting"}"#);
        let stepped = ServerControl::Connecting {
            message: "connecting".into(),
            done: Some(ConnectStep::Secured),
        };
        let written = serde_json::to_string(&stepped).unwrap_or_default();
        assert!(written.contains(r#""done":"secured""#), "{written}");
    }
}
