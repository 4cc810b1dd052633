//! Where a session stream stands, as the player and the connect page show it.

/// The state of one session stream in the app. [`StreamStatus::as_str`] is what the
/// status pill shows and its `data-status` attribute carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamStatus {
    /// Waiting for the relay's welcome, or for the target to connect.
    Connecting,
    /// Live.
    Connected,
    /// Live, with the user's input blocked.
    Locked,
    /// The session is over.
    Ended,
    /// The relay reported a failure (the message is shown beside it).
    Error,
    /// The session does not exist, or the viewer may not see it.
    Unavailable,
    /// The stream closed without saying why; a retry may help.
    Disconnected,
}

impl StreamStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Locked => "locked",
            Self::Ended => "ended",
            Self::Error => "error",
            Self::Unavailable => "unavailable",
            Self::Disconnected => "disconnected",
        }
    }

    /// The stream has stopped and will not go on by itself.
    pub fn stopped(self) -> bool {
        matches!(self, Self::Error | Self::Unavailable | Self::Disconnected)
    }
}

#[cfg(test)]
mod tests {
    use super::StreamStatus;

    #[test]
    fn names_are_the_pill_s_and_only_failures_stop_the_stream() {
        let all = [
            StreamStatus::Connecting,
            StreamStatus::Connected,
            StreamStatus::Locked,
            StreamStatus::Ended,
            StreamStatus::Error,
            StreamStatus::Unavailable,
            StreamStatus::Disconnected,
        ];
        let names: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "connecting",
                "connected",
                "locked",
                "ended",
                "error",
                "unavailable",
                "disconnected"
            ]
        );
        let stopped: Vec<_> = all.into_iter().filter(|s| s.stopped()).collect();
        assert_eq!(
            stopped,
            [
                StreamStatus::Error,
                StreamStatus::Unavailable,
                StreamStatus::Disconnected
            ]
        );
    }
}
