//! Mapping of [`crate::live`] messages onto WebSocket frames.
//!
//! Binary frames start with a one-byte tag; text frames are JSON. Decoding never
//! panics on peer input: anything malformed is a [`DecodeError`].

use crate::live::{ClientControl, ClientMsg, FeedMsg, ServerControl, ServerMsg};

/// A WebSocket frame's payload, independent of any WebSocket library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Text(String),
    Binary(Vec<u8>),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("empty binary frame")]
    Empty,
    #[error("unknown binary frame tag {0:#04x}")]
    UnknownTag(u8),
    #[error("binary frame shorter than its header")]
    Truncated,
    #[error("malformed control message: {0}")]
    Json(String),
}

const TAG_OUTPUT: u8 = 0x01;
const TAG_INPUT: u8 = 0x02;
const TAG_SNAPSHOT: u8 = 0x03;
/// Graphics PDU: `[tag][pdu]`.
const TAG_GRAPHICS: u8 = 0x04;
/// Graphics PDU ending a frame: `[tag][frame id, u32 big-endian][pdu]`.
const TAG_GRAPHICS_FRAME_END: u8 = 0x05;
const TAG_DESKTOP_SNAPSHOT: u8 = 0x06;

fn tagged(tag: u8, bytes: &[u8]) -> Frame {
    let mut out = Vec::with_capacity(bytes.len() + 1);
    out.push(tag);
    out.extend_from_slice(bytes);
    Frame::Binary(out)
}

fn json<T: serde::Serialize>(value: &T) -> Frame {
    // Serialising these plain enums cannot fail: no maps with non-string keys, no I/O.
    Frame::Text(serde_json::to_string(value).unwrap_or_default())
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, DecodeError> {
    serde_json::from_str(text).map_err(|e| DecodeError::Json(e.to_string()))
}

fn split_tag(bytes: &[u8]) -> Result<(u8, &[u8]), DecodeError> {
    bytes
        .split_first()
        .map(|(t, rest)| (*t, rest))
        .ok_or(DecodeError::Empty)
}

impl ClientMsg {
    pub fn encode(&self) -> Frame {
        match self {
            ClientMsg::Input(bytes) => tagged(TAG_INPUT, bytes),
            ClientMsg::Control(c) => json(c),
        }
    }

    pub fn decode(frame: &Frame) -> Result<Self, DecodeError> {
        match frame {
            Frame::Text(t) => Ok(ClientMsg::Control(from_json::<ClientControl>(t)?)),
            Frame::Binary(b) => match split_tag(b)? {
                (TAG_INPUT, rest) => Ok(ClientMsg::Input(rest.to_vec())),
                (tag, _) => Err(DecodeError::UnknownTag(tag)),
            },
        }
    }
}

impl ServerMsg {
    pub fn encode(&self) -> Frame {
        match self {
            ServerMsg::Output(bytes) => tagged(TAG_OUTPUT, bytes),
            ServerMsg::Snapshot(bytes) => tagged(TAG_SNAPSHOT, bytes),
            ServerMsg::Graphics {
                frame_end: None,
                pdu,
            } => tagged(TAG_GRAPHICS, pdu),
            ServerMsg::Graphics {
                frame_end: Some(id),
                pdu,
            } => {
                let mut out = Vec::with_capacity(pdu.len() + 5);
                out.push(TAG_GRAPHICS_FRAME_END);
                out.extend_from_slice(&id.to_be_bytes());
                out.extend_from_slice(pdu);
                Frame::Binary(out)
            }
            ServerMsg::DesktopSnapshot(bytes) => tagged(TAG_DESKTOP_SNAPSHOT, bytes),
            ServerMsg::Control(c) => json(c),
        }
    }

    pub fn decode(frame: &Frame) -> Result<Self, DecodeError> {
        match frame {
            Frame::Text(t) => Ok(ServerMsg::Control(from_json::<ServerControl>(t)?)),
            Frame::Binary(b) => match split_tag(b)? {
                (TAG_OUTPUT, rest) => Ok(ServerMsg::Output(rest.to_vec())),
                (TAG_SNAPSHOT, rest) => Ok(ServerMsg::Snapshot(rest.to_vec())),
                (TAG_GRAPHICS, rest) => Ok(ServerMsg::Graphics {
                    frame_end: None,
                    pdu: rest.to_vec(),
                }),
                (TAG_GRAPHICS_FRAME_END, rest) => {
                    let (id, pdu) = rest.split_at_checked(4).ok_or(DecodeError::Truncated)?;
                    let id = u32::from_be_bytes([id[0], id[1], id[2], id[3]]);
                    Ok(ServerMsg::Graphics {
                        frame_end: Some(id),
                        pdu: pdu.to_vec(),
                    })
                }
                (TAG_DESKTOP_SNAPSHOT, rest) => Ok(ServerMsg::DesktopSnapshot(rest.to_vec())),
                (tag, _) => Err(DecodeError::UnknownTag(tag)),
            },
        }
    }
}

impl FeedMsg {
    pub fn encode(&self) -> Frame {
        json(self)
    }

    pub fn decode(frame: &Frame) -> Result<Self, DecodeError> {
        match frame {
            Frame::Text(t) => from_json(t),
            Frame::Binary(b) => Err(DecodeError::UnknownTag(b.first().copied().unwrap_or(0))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Protocol, Session, SessionControls, SessionKind};
    use crate::live::{Participant, Thumbnail};

    fn session() -> Session {
        Session {
            id: "s1".into(),
            user: "bob".into(),
            asset_id: 3,
            asset_name: "web-1".into(),
            protocol: Protocol::Ssh,
            kind: SessionKind::Request,
            request_id: Some(9),
            started_at: 1_700_000_000_000,
            ended_at: None,
            locked: true,
            end_reason: None,
            controls: SessionControls {
                watch: true,
                lock: true,
                terminate: true,
                terminate_and_cancel: true,
                share: true,
                download: false,
                legal_hold: false,
            },
            watchers: Some(2),
            legal_hold: None,
            recording_deleted_at: None,
        }
    }

    #[test]
    fn client_messages_round_trip() {
        let msgs = [
            ClientMsg::Input(b"ls -l\r".to_vec()),
            ClientMsg::Input(vec![]),
            ClientMsg::Control(ClientControl::Hello {
                version: crate::PROTOCOL_VERSION,
            }),
            ClientMsg::Control(ClientControl::Resize {
                cols: 120,
                rows: 40,
            }),
        ];
        for m in msgs {
            assert_eq!(ClientMsg::decode(&m.encode()), Ok(m));
        }
    }

    #[test]
    fn server_messages_round_trip() {
        let msgs = [
            ServerMsg::Output(vec![0x1b, b'[', b'H', 0xff]),
            ServerMsg::Snapshot(b"screen".to_vec()),
            ServerMsg::Graphics {
                frame_end: None,
                pdu: vec![0, 1, 2],
            },
            ServerMsg::Graphics {
                frame_end: Some(0xdead_beef),
                pdu: vec![9],
            },
            ServerMsg::DesktopSnapshot(vec![0x78, 0x9c]),
            ServerMsg::Control(ServerControl::DesktopActivated {
                params: crate::desktop::DesktopParams {
                    io_channel_id: 1003,
                    user_channel_id: 1002,
                    share_id: 0x103ea,
                    width: 1024,
                    height: 768,
                },
            }),
            ServerMsg::Control(ServerControl::Welcome {
                version: 1,
                participant: Participant::Observer,
                session: session(),
                cols: 80,
                rows: 24,
            }),
            ServerMsg::Control(ServerControl::Locked {
                message: crate::SSH_LOCK_MESSAGE.into(),
            }),
            ServerMsg::Control(ServerControl::Unlocked),
            ServerMsg::Control(ServerControl::Ended {
                reason: crate::end::EndReason::plain("terminated by admin"),
            }),
            ServerMsg::Control(ServerControl::Ended {
                reason: crate::end::EndReason::failed(
                    crate::end::ErrorCode::TargetUnreachable,
                    "connection refused",
                ),
            }),
            ServerMsg::Control(ServerControl::Error {
                code: crate::end::ErrorCode::TargetUnreachable,
                message: "x".into(),
            }),
            ServerMsg::Control(ServerControl::Participants {
                participants: vec![crate::share::LiveParticipant {
                    username: "bob".into(),
                    display_name: "Bob".into(),
                    participant: Participant::Observer,
                    via: crate::share::JoinedVia::Link,
                    since: 1_700_000_000_000,
                }],
            }),
        ];
        for m in msgs {
            assert_eq!(ServerMsg::decode(&m.encode()), Ok(m));
        }
    }

    #[test]
    fn feed_messages_round_trip() {
        let msgs = [
            FeedMsg::Sessions {
                sessions: vec![session()],
            },
            FeedMsg::Removed { id: "s1".into() },
            FeedMsg::Thumbnail {
                id: "s1".into(),
                thumbnail: Thumbnail::Text {
                    rows: vec!["$ ls".into()],
                },
            },
        ];
        for m in msgs {
            assert_eq!(FeedMsg::decode(&m.encode()), Ok(m));
        }
    }

    #[test]
    fn malformed_frames_are_errors_not_panics() {
        assert_eq!(
            ClientMsg::decode(&Frame::Binary(vec![])),
            Err(DecodeError::Empty)
        );
        assert_eq!(
            ClientMsg::decode(&Frame::Binary(vec![0x01, 1])),
            Err(DecodeError::UnknownTag(0x01))
        );
        assert_eq!(
            ServerMsg::decode(&Frame::Binary(vec![0x7f])),
            Err(DecodeError::UnknownTag(0x7f))
        );
        assert!(matches!(
            ClientMsg::decode(&Frame::Text("{".into())),
            Err(DecodeError::Json(_))
        ));
        assert!(matches!(
            ClientMsg::decode(&Frame::Text(
                r#"{"type":"resize","cols":-1,"rows":2}"#.into()
            )),
            Err(DecodeError::Json(_))
        ));
        assert!(matches!(
            FeedMsg::decode(&Frame::Text(r#"{"type":"nope"}"#.into())),
            Err(DecodeError::Json(_))
        ));
    }
}
