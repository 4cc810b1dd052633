//! The session stream's handshake and the live feed, filtered per viewer.

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use vigil_relay::store::{self, now_ms};
use vigil_wire::api::SessionKind;
use vigil_wire::codec::Frame;
use vigil_wire::end::EndReason;
use vigil_wire::live::FeedMsg;

use crate::api_world::{sorted, world};
use crate::support::{Relay, R};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open_ws(r: &Relay, path: &str, cookie: &str) -> R<Ws> {
    let mut req = format!("ws://{}/api/v1{path}", r.addr).into_client_request()?;
    req.headers_mut().insert(
        "origin",
        HeaderValue::from_str(&format!("http://{}", r.addr))?,
    );
    req.headers_mut()
        .insert("cookie", HeaderValue::from_str(cookie)?);
    Ok(tokio_tungstenite::connect_async(req).await?.0)
}

async fn next_text(ws: &mut Ws) -> R<String> {
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(5), ws.next()).await? {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) => return Ok(t.to_string()),
            Some(Ok(_)) => continue,
            other => return Err(format!("socket ended: {other:?}").into()),
        }
    }
}

#[tokio::test]
async fn session_stream_handshake() -> R {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    use vigil_wire::live::{ClientControl, ClientMsg, Participant, ServerControl, ServerMsg};
    let w = world().await?;
    let hello = |v: u16| match ClientMsg::Control(ClientControl::Hello { version: v }).encode() {
        Frame::Text(t) => Message::Text(t.into()),
        Frame::Binary(b) => Message::Binary(b.into()),
    };
    let decode = |t: String| ServerMsg::decode(&Frame::Text(t));
    // A covering reviewer attaches as an observer; the session is not live: Welcome, Ended.
    let (_, _, rex) = w.r.login_with_cookie("rex").await?;
    let mut ws = open_ws(&w.r, &format!("/sessions/{}/stream", w.s_alice), &rex).await?;
    ws.send(hello(vigil_wire::PROTOCOL_VERSION)).await?;
    match decode(next_text(&mut ws).await?)? {
        ServerMsg::Control(ServerControl::Welcome {
            participant,
            session,
            ..
        }) => {
            assert_eq!(participant, Participant::Observer);
            assert!(session.controls.watch);
        }
        other => panic!("expected Welcome, got {other:?}"),
    }
    assert!(matches!(
        decode(next_text(&mut ws).await?)?,
        ServerMsg::Control(ServerControl::Ended { .. })
    ));
    // The owner is the user; a wrong protocol version gets an Error.
    let (_, _, alice) = w.r.login_with_cookie("alice").await?;
    let mut ws = open_ws(&w.r, &format!("/sessions/{}/stream", w.s_alice), &alice).await?;
    ws.send(hello(999)).await?;
    match decode(next_text(&mut ws).await?)? {
        ServerMsg::Control(ServerControl::Error { code, .. }) => {
            assert_eq!(code, vigil_wire::end::ErrorCode::Version)
        }
        other => panic!("expected Error, got {other:?}"),
    }
    // Someone who may not see the session is refused before the upgrade.
    let (_, _, bob) = w.r.login_with_cookie("bob").await?;
    match open_ws(&w.r, &format!("/sessions/{}/stream", w.s_alice), &bob).await {
        Err(e) => assert!(e.to_string().contains("404"), "{e}"),
        Ok(_) => panic!("bob attached to alice's session"),
    }
    // Nobody watched: the session was over before anyone attached (watching a live
    // session is audited as `view_start`/`view_end`: shares.rs).
    let audit = store::audit::list(&w.r.state.db, &Default::default()).await?;
    assert!(!audit.iter().any(|e| e.action == "view_start"), "{audit:?}");
    Ok(())
}

#[tokio::test]
async fn live_feed_is_filtered_and_pushes_changes() -> R {
    let w = world().await?;
    let (_, _, bob) = w.r.login_with_cookie("bob").await?;
    let (_, _, rex) = w.r.login_with_cookie("rex").await?;
    let mut bob_ws = open_ws(&w.r, "/live", &bob).await?;
    let mut rex_ws = open_ws(&w.r, "/live", &rex).await?;
    let ids = |m: FeedMsg| match m {
        FeedMsg::Sessions { sessions } => {
            let mut v: Vec<String> = sessions.into_iter().map(|s| s.id).collect();
            v.sort();
            v
        }
        other => panic!("expected Sessions, got {other:?}"),
    };
    let feed = |t: String| FeedMsg::decode(&Frame::Text(t));
    assert_eq!(
        ids(feed(next_text(&mut bob_ws).await?)?),
        vec![w.s_bob_db.clone()]
    );
    assert_eq!(
        ids(feed(next_text(&mut rex_ws).await?)?),
        sorted(&[&w.s_isa, &w.s_alice])
    );
    // A new session on web-1 reaches the reviewer, not bob.
    let alice = store::users::by_name(&w.r.state.db, "alice")
        .await?
        .ok_or("alice")?;
    let s_new =
        w.r.session(alice.id, w.web, SessionKind::Request, Some(w.alice_request))
            .await?;
    w.r.state.notify(&s_new);
    match feed(next_text(&mut rex_ws).await?)? {
        FeedMsg::Upsert { session } => assert_eq!(session.id, s_new),
        other => panic!("expected Upsert, got {other:?}"),
    }
    // It ends: removed from the reviewer's list.
    store::sessions::end(&w.r.state.db, &s_new, now_ms(), &EndReason::plain("closed")).await?;
    w.r.state.notify(&s_new);
    assert_eq!(
        feed(next_text(&mut rex_ws).await?)?,
        FeedMsg::Removed { id: s_new.clone() }
    );
    // Bob heard nothing of it.
    let quiet = tokio::time::timeout(std::time::Duration::from_millis(300), bob_ws.next()).await;
    assert!(quiet.is_err(), "bob got {quiet:?}");
    Ok(())
}
