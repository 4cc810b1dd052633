//! What the share link tests share: a relay whose web-1 is the project's real sshd, alice's
//! live session on it (launched under an approved request), the people around it, and a
//! session stream client.
//!
//! - root: administrator; rex: Active Session Reviewer on web-* (group `audit`); rita: the
//!   same through group `audit2`; alice: requestor (group `devs`); bob and carol: no role;
//!   dave: no role, in group `friends`.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use reqwest::Client;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use vigil_relay::store::{self, now_ms};
use vigil_wire::api::{AuditEntry, GrantedRole, Launched};
use vigil_wire::audit::AuditQuery;
use vigil_wire::codec::Frame;
use vigil_wire::live::{ClientControl, ClientMsg, FeedMsg, ServerControl, ServerMsg};
use vigil_wire::share::CreatedShareLink;

use crate::support::{self, post, Relay, R};

/// The project's sshd on a free port, its state in a temporary directory; stopped when
/// dropped.
pub struct Sshd {
    dir: tempfile::TempDir,
    pub port: u16,
}

fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/targets")
}

impl Sshd {
    pub fn start() -> R<Sshd> {
        let dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let out = Command::new("bash")
            .arg(scripts().join("start-ssh.sh"))
            .env("VIGIL_TARGETS_DIR", dir.path())
            .env("SSH_PORT", port.to_string())
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "sshd did not start: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(Sshd { dir, port })
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(scripts().join("stop-ssh.sh"))
            .env("VIGIL_TARGETS_DIR", self.dir.path())
            .output();
    }
}

pub struct ShareWorld {
    pub r: Relay,
    pub _sshd: Sshd,
    /// alice's live session on web-1.
    pub session: String,
    /// alice's stream, as its user (kept open so the session has its user).
    pub _alice_ws: Stream,
}

impl ShareWorld {
    pub async fn start() -> R<ShareWorld> {
        let sshd = Sshd::start()?;
        let r = support::relay().await?;
        r.user("root", true, &[]).await?;
        r.user("rex", false, &["audit"]).await?;
        r.user("rita", false, &["audit2"]).await?;
        let alice = r.user("alice", false, &["devs"]).await?;
        r.user("bob", false, &[]).await?;
        r.user("carol", false, &[]).await?;
        r.user("dave", false, &["friends"]).await?;
        use GrantedRole::*;
        r.rule("audit", "web-*", "audit", &[ActiveSessionReviewer])
            .await?;
        r.rule("audit2", "web-*", "audit2", &[ActiveSessionReviewer])
            .await?;
        r.rule("devs", "web-*", "devs", &[Requestor]).await?;
        let (root, csrf) = r.login("root").await?;
        let asset: Value = post(
            &root,
            format!("{}/assets", r.base),
            &csrf,
            json!({"name": "web-1", "protocol": "ssh", "host": "127.0.0.1", "port": sshd.port,
                   "account": "gwpass", "password": "gwpass-Secret1", "tags": []}),
        )
        .await?
        .json()
        .await?;
        let web = asset["id"].as_i64().ok_or(format!("no asset: {asset}"))?;
        let request = r.approved_request(alice, web, now_ms() + 3_600_000).await?;
        let (c, csrf) = r.login("alice").await?;
        let resp = post(
            &c,
            format!("{}/sessions", r.base),
            &csrf,
            json!({"asset_id": web, "request_id": request, "cols": 80, "rows": 24}),
        )
        .await?;
        assert_eq!(resp.status(), 200, "alice launches");
        let Launched { session_id } = resp.json().await?;
        let mut alice_ws = Stream::open(&r, &session_id, "alice").await?;
        alice_ws
            .until("Connected", Duration::from_secs(20), |c| {
                matches!(c, ServerControl::Connected)
            })
            .await?;
        Ok(ShareWorld {
            r,
            _sshd: sshd,
            session: session_id,
            _alice_ws: alice_ws,
        })
    }

    /// `who` shares the session with `body`; the answer's status and body.
    pub async fn share(&self, who: &str, body: Value) -> R<(u16, Value)> {
        share_at(&self.r, &self.session, who, body).await
    }

    /// The audit log, oldest first.
    pub async fn audit(&self) -> R<Vec<AuditEntry>> {
        let mut log = store::audit::list(
            &self.r.state.db,
            &AuditQuery {
                limit: Some(1000),
                ..Default::default()
            },
        )
        .await?;
        log.reverse();
        Ok(log)
    }

    /// Waits (at most 5 s) for an audit entry that `pred` accepts.
    pub async fn await_audit(&self, pred: impl Fn(&AuditEntry) -> bool) -> R<AuditEntry> {
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(e) = self.audit().await?.into_iter().find(|e| pred(e)) {
                return Ok(e);
            }
            if Instant::now() > end {
                return Err(format!("no such audit entry in {:?}", self.audit().await?).into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `who` shares session `id`; the answer's status and body.
pub async fn share_at(r: &Relay, id: &str, who: &str, body: Value) -> R<(u16, Value)> {
    let (c, csrf) = r.login(who).await?;
    let resp = post(&c, format!("{}/sessions/{id}/shares", r.base), &csrf, body).await?;
    Ok((
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    ))
}

/// The token of a link made just now (the URL's fragment).
pub fn token_of(created: &CreatedShareLink) -> R<String> {
    Ok(created
        .url
        .split_once("/share#")
        .ok_or("no fragment in the link's URL")?
        .1
        .to_string())
}

/// `c` redeems `token` with `code`; status and error code (`""` on success).
pub async fn redeem(
    r: &Relay,
    c: &Client,
    csrf: &str,
    token: &str,
    code: Option<&str>,
) -> R<(u16, String)> {
    let resp = post(
        c,
        format!("{}/shares/redeem", r.base),
        csrf,
        json!({"token": token, "code": code}),
    )
    .await?;
    let status = resp.status().as_u16();
    let body: Value = resp.json().await?;
    Ok((status, body["code"].as_str().unwrap_or("").to_string()))
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `path` (under `/api/v1`) as a WebSocket, logged in as `who`.
async fn open_ws(r: &Relay, path: &str, who: &str) -> R<Ws> {
    let (_, _, cookie) = r.login_with_cookie(who).await?;
    let mut req = format!("ws://{}/api/v1{path}", r.addr).into_client_request()?;
    req.headers_mut().insert(
        "origin",
        HeaderValue::from_str(&format!("http://{}", r.addr))?,
    );
    req.headers_mut()
        .insert("cookie", HeaderValue::from_str(&cookie)?);
    Ok(tokio_tungstenite::connect_async(req).await?.0)
}

/// The Active Sessions feed of `who`.
pub struct Feed {
    ws: Ws,
}

impl Feed {
    pub async fn open(r: &Relay, who: &str) -> R<Feed> {
        Ok(Feed {
            ws: open_ws(r, "/live", who).await?,
        })
    }

    /// Reads until a message `pred` accepts, within `within`.
    pub async fn until(&mut self, within: Duration, pred: impl Fn(&FeedMsg) -> bool) -> R<FeedMsg> {
        let end = tokio::time::Instant::now() + within;
        loop {
            let msg = tokio::time::timeout_at(end, self.ws.next())
                .await
                .map_err(|_| "no such feed message in time")?;
            match msg {
                Some(Ok(Message::Text(t))) => {
                    if let Ok(m) = FeedMsg::decode(&Frame::Text(t.to_string())) {
                        if pred(&m) {
                            return Ok(m);
                        }
                    }
                }
                Some(Ok(_)) => {}
                other => return Err(format!("the feed ended: {other:?}").into()),
            }
        }
    }
}

/// A session stream as the app speaks it.
pub struct Stream {
    ws: Ws,
}

impl Stream {
    /// Logs `who` in, opens session `id`'s stream and says Hello.
    pub async fn open(r: &Relay, id: &str, who: &str) -> R<Stream> {
        let mut ws = open_ws(r, &format!("/sessions/{id}/stream"), who).await?;
        let hello = ClientMsg::Control(ClientControl::Hello {
            version: vigil_wire::PROTOCOL_VERSION,
        });
        match hello.encode() {
            Frame::Text(t) => ws.send(Message::Text(t.into())).await?,
            Frame::Binary(b) => ws.send(Message::Binary(b.into())).await?,
        }
        Ok(Stream { ws })
    }

    /// The next control message within `within`; `None` when the socket closed.
    pub async fn next_control(&mut self, within: Duration) -> R<Option<ServerControl>> {
        let end = tokio::time::Instant::now() + within;
        loop {
            let msg = tokio::time::timeout_at(end, self.ws.next())
                .await
                .map_err(|_| "no control message in time")?;
            match msg {
                Some(Ok(Message::Text(t))) => {
                    if let Ok(ServerMsg::Control(c)) =
                        ServerMsg::decode(&Frame::Text(t.to_string()))
                    {
                        return Ok(Some(c));
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ok(None),
                Some(Ok(_)) => {}
            }
        }
    }

    /// Reads until a control message `pred` accepts (which it returns), within `within`.
    pub async fn until(
        &mut self,
        what: &str,
        within: Duration,
        pred: impl Fn(&ServerControl) -> bool,
    ) -> R<ServerControl> {
        let end = Instant::now() + within;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.next_control(left).await {
                Ok(Some(c)) if pred(&c) => return Ok(c),
                Ok(Some(_)) => {}
                Ok(None) => return Err(format!("the stream closed before {what}").into()),
                Err(e) => return Err(format!("{what}: {e}").into()),
            }
        }
    }

    /// Whether the socket closes within `within` (after whatever it still sends).
    pub async fn closes(&mut self, within: Duration) -> R<bool> {
        let end = Instant::now() + within;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.next_control(left).await {
                Ok(None) => return Ok(true),
                Ok(Some(_)) => {}
                Err(_) => return Ok(false),
            }
        }
    }
}
