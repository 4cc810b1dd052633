//! The stream's state machine driven by relay message sequences, as both pages get them:
//! `connect` for the user's page, `watch` for the player, `share` for what sharing adds
//! (the participants list, a link viewer cut off).

mod connect;
mod share;
mod watch;

use vigil_wire::api::{Keystroke, Protocol, Session, SessionControls, SessionKind};
use vigil_wire::desktop::DesktopParams;
use vigil_wire::end::{EndReason, ErrorCode};
use vigil_wire::live::{ClientControl, ClientMsg, Participant, ServerControl, ServerMsg};
use vigil_wire::{PROTOCOL_VERSION, RDP_LOCK_MESSAGE, SSH_LOCK_MESSAGE};

use super::state::lock_message;
use super::*;
use crate::util::NOT_AVAILABLE;

fn session(protocol: Protocol) -> Session {
    Session {
        id: "s-1".into(),
        user: "alice".into(),
        asset_id: 7,
        asset_name: "web-1".into(),
        protocol,
        kind: SessionKind::Request,
        request_id: Some(3),
        started_at: 1_000,
        ended_at: None,
        locked: false,
        end_reason: None,
        controls: SessionControls::default(),
        watchers: None,
        legal_hold: None,
        recording_deleted_at: None,
    }
}

fn welcome(participant: Participant, session: Session) -> ServerControl {
    ServerControl::Welcome {
        version: PROTOCOL_VERSION,
        participant,
        session,
        cols: 80,
        rows: 24,
    }
}

fn params() -> DesktopParams {
    DesktopParams {
        io_channel_id: 1003,
        user_channel_id: 1007,
        share_id: 0x1_03ea,
        width: 1024,
        height: 768,
    }
}

fn keystroke(seq: u64) -> Keystroke {
    Keystroke {
        seq,
        at_ms: 250,
        key: "a".into(),
        raw: "61".into(),
        browser_text: None,
    }
}

/// Applies each input in turn; returns every effect, in order.
fn run(state: &mut StreamState, inputs: impl IntoIterator<Item = Input>) -> Vec<Effect> {
    inputs.into_iter().flat_map(|i| state.apply(i)).collect()
}

/// A connect page whose terminal stream is open and welcomed (`participant`).
fn connected(participant: Participant, protocol: Protocol) -> StreamState {
    let mut s = StreamState::new(Role::Connect, None);
    run(
        &mut s,
        [
            Input::Opening,
            Input::Opened,
            welcome(participant, session(protocol)).into(),
            ServerControl::Connected.into(),
        ],
    );
    s
}

const LOST: Close = Close {
    code: 1006,
    was_open: true,
};
