//! The OpenAPI document's finishing touches and its checks: the `internal` answer every
//! operation can give, the two WebSockets' protocol (described in their operations'
//! descriptions, there being no AsyncAPI document), the schema of binary bodies, and
//! the rules its operation ids follow.

use std::collections::BTreeMap;

use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, ResponseBuilder, Schema};
use utoipa::{Modify, PartialSchema, ToSchema};
use vigil_wire::end::ErrorCode;
use vigil_wire::PROTOCOL_VERSION;

/// The operation id of `GET /api/v1/openapi.json`: public, and it cannot fail.
pub const GET_OPENAPI: &str = "getOpenApi";
/// The operations that answer without an `ApiError` whatever happens: the document, and
/// the health probes, whose status is their answer (`/readyz` names its failed checks in
/// its own 503 body).
pub const NEVER_API_ERROR: [&str; 3] = [GET_OPENAPI, "getHealth", "getReadiness"];

fn never_api_error(op: &Operation) -> bool {
    op.operation_id
        .as_deref()
        .is_some_and(|id| NEVER_API_ERROR.contains(&id))
}
/// The operation id of the session stream (`GET /api/v1/sessions/{id}/stream`).
pub const STREAM_SESSION: &str = "streamSession";
/// The operation id of the Active Sessions feed (`GET /api/v1/live`).
pub const LIVE_SESSIONS: &str = "liveSessions";

/// Every operation of `doc`: its method, path and operation.
pub fn operations(doc: &OpenApi) -> Vec<(&'static str, &str, &Operation)> {
    let mut out = Vec::new();
    for (path, item) in &doc.paths.paths {
        let methods = [
            ("get", &item.get),
            ("put", &item.put),
            ("post", &item.post),
            ("delete", &item.delete),
            ("options", &item.options),
            ("head", &item.head),
            ("patch", &item.patch),
            ("trace", &item.trace),
        ];
        for (method, op) in methods {
            if let Some(op) = op {
                out.push((method, path.as_str(), op));
            }
        }
    }
    out
}

fn operations_mut(doc: &mut OpenApi) -> impl Iterator<Item = &mut Operation> {
    doc.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ]
        .into_iter()
        .flatten()
    })
}

/// `verbNoun`: a lower-case ASCII letter, then ASCII letters and digits.
fn is_camel_case(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase()) && chars.all(|c| c.is_ascii_alphanumeric())
}

/// What is wrong with the operation ids of `doc`: an operation without one, one not in
/// camelCase, one that repeats. Empty when they are right.
pub fn operation_id_problems(doc: &OpenApi) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    for (method, path, op) in operations(doc) {
        let Some(id) = op.operation_id.as_deref() else {
            problems.push(format!("{method} {path} has no operationId"));
            continue;
        };
        if !is_camel_case(id) {
            problems.push(format!("{method} {path}: `{id}` is not camelCase"));
        }
        if let Some((m, p)) = seen.insert(id, (method, path)) {
            problems.push(format!("`{id}` names both {m} {p} and {method} {path}"));
        }
    }
    problems
}

/// Whether `op` answers some 4xx status with an `ApiError` body.
pub fn has_client_error(op: &Operation) -> bool {
    let api_error = RefOr::Ref(Ref::from_schema_name("ApiError"));
    op.responses.responses.iter().any(|(status, response)| {
        status.starts_with('4')
            && matches!(response, RefOr::T(r) if r.content.get("application/json")
                .and_then(|c| c.schema.as_ref()) == Some(&api_error))
    })
}

/// Adds the answer any operation may give when the relay fails (its database, a file):
/// 500 `internal`, the detail kept for the relay's log. Operations that document their
/// own 500 keep it; those of [`NEVER_API_ERROR`] give none.
pub struct InternalErrors;

impl Modify for InternalErrors {
    fn modify(&self, doc: &mut OpenApi) {
        for op in operations_mut(doc) {
            if never_api_error(op) {
                continue;
            }
            op.responses
                .responses
                .entry("500".to_string())
                .or_insert_with(|| {
                    RefOr::T(
                        ResponseBuilder::new()
                            .description(
                                "`internal`: the relay failed (database, file system); the \
                                 detail is in its log, not in the answer",
                            )
                            .content(
                                "application/json",
                                Content::new(Some(RefOr::Ref(Ref::from_schema_name("ApiError")))),
                            )
                            .build(),
                    )
                });
        }
    }
}

/// What an [`ErrorCode`] tells the participant who receives it.
fn error_code_meaning(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::TargetUnreachable => "the target could not be reached",
        ErrorCode::AuthFailed => "the target refused the account's credential",
        ErrorCode::HostKeyChanged => "the SSH target offered a host key other than the pinned one",
        ErrorCode::CertChanged => {
            "the RDP target offered a certificate key other than the pinned one"
        }
        ErrorCode::TargetError => "the target broke its protocol",
        ErrorCode::TargetFlood => "the target sent more than the relay accepts",
        ErrorCode::DesktopTooLarge => "the desktop is larger than the relay keeps a copy of",
        ErrorCode::RecordingFailed => "the recording could not be written, so the session ended",
        ErrorCode::LoginEnded => "the viewer's login ended (logout, expiry, disabled user)",
        ErrorCode::AccessRevoked => "the viewer lost the right to this session",
        ErrorCode::LinkRevoked => "the share link the viewer came in through was revoked",
        ErrorCode::LinkExpired => "the share link the viewer came in through expired",
        ErrorCode::AuditFailed => "the relay could not audit the view, so it refused it",
        ErrorCode::ExpectedHello => "the first message was not `hello`",
        ErrorCode::Version => "the `hello` named another protocol version",
        ErrorCode::Malformed => "a frame did not decode (the stream goes on)",
    }
}

/// The session stream's protocol, from the `vigil_wire::live` and `vigil_wire::codec`
/// types and the relay's [`PROTOCOL_VERSION`].
pub fn stream_description() -> String {
    let codes: String = ErrorCode::ALL
        .iter()
        .map(|c| format!("- `{}`: {}\n", c.as_str(), error_code_meaning(*c)))
        .collect();
    format!(
        "A WebSocket (`Upgrade: websocket`, `Origin` the relay's own, the session cookie). \
The checks run before the upgrade and refuse with an `ApiError`; `101` opens the socket. \
The session's user is its interactive participant; every other viewer the relay lets in \
(monitors, share-link viewers) is a read-only observer.\n\n\
Frames: a text frame is one JSON control message tagged by `type`; a binary frame starts \
with a one-byte tag, then its bytes.\n\n\
**Browser to relay** (`vigil_wire::live::ClientMsg`):\n\
- text, `ClientControl` (schema `#/components/schemas/ClientControl`): `{{\"type\":\"hello\",\"version\":{PROTOCOL_VERSION}}}` (first, within \
10 seconds), `resize {{cols, rows}}`, `input {{events: [InputEvent]}}` (desktop input), \
`frame_decoded {{frame_id}}` (the user's frame acknowledgement);\n\
- binary tag `0x02`, `Input`: terminal bytes the user typed.\n\
What an observer sends, and the user's input while the session is locked, is dropped.\n\n\
**Relay to browser** (`vigil_wire::live::ServerMsg`):\n\
- text, `ServerControl` (schema `#/components/schemas/ServerControl`): `welcome {{version, participant, session: Session, cols, rows}}`, \
`connecting {{message}}`, `connected`, `desktop_activated {{params: DesktopParams}}`, \
`resized {{cols, rows}}`, `locked {{message}}`, `unlocked`, `keystroke {{keystroke: Keystroke}}`, \
`participants {{participants: [LiveParticipant]}}` (only to monitors), \
`ended {{reason: EndReason}}` (the last message), `error {{code: ErrorCode, message}}`;\n\
- binary: `0x01` `Output` (terminal bytes), `0x03` `Snapshot` (the current screen, once, \
before live output), `0x04` `Graphics` (one fast-path PDU), `0x05` `Graphics` ending a frame \
(the frame id as a big-endian u32, then the PDU; the user answers `frame_decoded`), `0x06` \
`DesktopSnapshot` (the whole desktop as fast-path PDUs, zlib-compressed).\n\n\
**Version**: the relay speaks version {PROTOCOL_VERSION}. A `hello` naming another version \
is answered `error {{code: \"version\"}}` and the socket closes; otherwise `welcome` carries \
the version agreed.\n\n\
**Closing**: the relay closes with a Close frame without a status code. Before it, `ended` \
says why the session (or, for a viewer cut off, this viewer's stream) ended; a failure comes \
first as `error`, whose `code` (`ErrorCode`) is one of:\n{codes}"
    )
}

/// The Active Sessions feed's protocol, from the `vigil_wire::live::FeedMsg` type.
pub fn live_description() -> String {
    "A WebSocket (`Upgrade: websocket`, `Origin` the relay's own, the session cookie). \
The checks run before the upgrade and refuse with an `ApiError`; `101` opens the socket. \
The relay only sends; what the browser sends is ignored.\n\n\
**Relay to browser**: text frames, each one `vigil_wire::live::FeedMsg` (schema `#/components/schemas/FeedMsg`) tagged by `type`: \
`sessions {sessions: [Session]}` (the whole list of live sessions the viewer may see, first), \
`upsert {session: Session}` (one started or changed), `removed {id}` (one left the list), \
`thumbnail {id, thumbnail}` (`{\"kind\":\"text\",\"rows\":[...]}` for a terminal, \
`{\"kind\":\"png\",\"base64\":...}` for a desktop). Only sessions the viewer may see are \
ever sent; a change to their grants is applied at once.\n\n\
**Version**: the feed has no handshake; its messages follow the relay's own version.\n\n\
**Closing**: the relay closes with a Close frame without a status code when the viewer's \
login ends or the relay shuts down; a viewer that does not read within \
`feed_send_timeout` is dropped without one. The app reconnects and gets the whole list again."
        .to_string()
}

/// Writes the two WebSockets' protocols into their operations' descriptions.
pub struct Streams;

impl Modify for Streams {
    fn modify(&self, doc: &mut OpenApi) {
        for op in operations_mut(doc) {
            match op.operation_id.as_deref() {
                Some(STREAM_SESSION) => op.description = Some(stream_description()),
                Some(LIVE_SESSIONS) => op.description = Some(live_description()),
                _ => {}
            }
        }
    }
}

/// The schema of a binary body (`application/octet-stream`): a string of bytes.
pub struct Binary;

impl PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl ToSchema for Binary {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ApiDoc;
    use utoipa::OpenApi as _;

    #[test]
    fn every_operation_has_a_unique_camel_case_id() {
        let doc = ApiDoc::openapi();
        assert_eq!(operation_id_problems(&doc), Vec::<String>::new());
        assert!(operations(&doc).len() >= 40, "the document lost operations");
    }

    #[test]
    fn a_repeated_or_missing_id_is_caught() {
        let mut doc = ApiDoc::openapi();
        let rules = doc
            .paths
            .paths
            .get_mut("/api/v1/rules")
            .expect("rules path");
        rules.get.as_mut().expect("GET /rules").operation_id = Some("listAssets".into());
        rules.post.as_mut().expect("POST /rules").operation_id = None;
        let problems = operation_id_problems(&doc);
        assert!(
            problems
                .iter()
                .any(|p| p
                    .contains("`listAssets` names both get /api/v1/assets and get /api/v1/rules")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p == "post /api/v1/rules has no operationId"),
            "{problems:?}"
        );
        assert!(!is_camel_case("list_rules") && !is_camel_case("List") && is_camel_case("getMe"));
    }

    #[test]
    fn every_operation_documents_its_success_and_its_errors_as_api_error() {
        let doc = ApiDoc::openapi();
        for (method, path, op) in operations(&doc) {
            let success = op
                .responses
                .responses
                .iter()
                .find(|(status, _)| status.starts_with('2') || status.as_str() == "101");
            let Some((status, RefOr::T(success))) = success else {
                panic!("{method} {path}: no success answer");
            };
            assert!(
                status == "204" || status == "101" || !success.content.is_empty(),
                "{method} {path}: {status} without a body"
            );
            for (status, response) in &op.responses.responses {
                let RefOr::T(response) = response else {
                    panic!("{method} {path} {status}: a reference");
                };
                assert!(!response.description.is_empty(), "{method} {path} {status}");
            }
            // The document itself and the probes answer without an `ApiError`.
            if never_api_error(op) {
                assert!(
                    !op.responses.responses.contains_key("500"),
                    "{method} {path}: a 500 it never gives"
                );
                continue;
            }
            assert!(
                has_client_error(op),
                "{method} {path}: no 4xx with ApiError"
            );
            assert!(
                op.responses.responses.contains_key("500"),
                "{method} {path}: no 500"
            );
        }
    }

    /// The `type` tags of the message schema `name` (`oneOf` objects tagged by `type`).
    fn message_tags(doc: &serde_json::Value, name: &str) -> Vec<String> {
        let variants = doc["components"]["schemas"][name]["oneOf"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        variants
            .iter()
            .filter_map(|v| {
                v["properties"]["type"]["enum"][0]
                    .as_str()
                    .map(String::from)
            })
            .collect()
    }

    #[test]
    fn the_stream_descriptions_name_every_message_of_the_wire_schemas() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("the document as JSON");
        let find = |id: &str| {
            let paths = doc["paths"].as_object().cloned().unwrap_or_default();
            paths
                .values()
                .filter_map(|item| {
                    item["get"]["operationId"]
                        .as_str()
                        .filter(|x| *x == id)
                        .map(|_| {
                            item["get"]["description"]
                                .as_str()
                                .unwrap_or_default()
                                .to_string()
                        })
                })
                .next()
                .unwrap_or_default()
        };
        let (stream, live) = (find(STREAM_SESSION), find(LIVE_SESSIONS));
        for (schema, described) in [
            ("ClientControl", &stream),
            ("ServerControl", &stream),
            ("FeedMsg", &live),
        ] {
            let tags = message_tags(&doc, schema);
            assert!(tags.len() >= 4, "{schema}: {tags:?}");
            for tag in tags {
                assert!(
                    described.contains(&format!("`{tag}"))
                        || described.contains(&format!("\"type\":\"{tag}\"")),
                    "{schema} `{tag}` is not described"
                );
            }
            assert!(described.contains(&format!("#/components/schemas/{schema}")));
        }
    }

    #[test]
    fn the_streams_are_described_with_every_close_code_and_the_version() {
        let doc = ApiDoc::openapi();
        let described = |id: &str| {
            operations(&doc)
                .into_iter()
                .find(|(_, _, op)| op.operation_id.as_deref() == Some(id))
                .and_then(|(_, _, op)| op.description.clone())
                .unwrap_or_default()
        };
        let stream = described(STREAM_SESSION);
        for code in ErrorCode::ALL {
            assert!(stream.contains(&format!("`{code}`")), "{code} missing");
        }
        assert!(stream.contains(&format!("\"version\":{PROTOCOL_VERSION}")));
        assert!(stream.contains("ClientControl") && stream.contains("ServerControl"));
        assert!(described(LIVE_SESSIONS).contains("FeedMsg"));
    }
}
