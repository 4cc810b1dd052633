//! `GET /sessions/{id}/recording` (with HTTP ranges) and `/recording/index` for desktop
//! recordings written by hand: no RDP server involved. Also what a relay restarted after a
//! crash does with a desktop session the crash left open.

use reqwest::{Client, StatusCode};
use vigil_relay::store::{self, now_ms};
use vigil_wire::api::{Protocol, Session, SessionKind};
use vigil_wire::end::EndReason;
use vigil_wire::recording::{encode, Kind, RecordingIndex, MAGIC};

use crate::support::{self, relay, Relay, R};

/// A relay serving the data dir in `dir` (which may hold a previous run's data).
async fn relay_in(dir: tempfile::TempDir) -> R<Relay> {
    support::start(dir, |_| {}).await
}

impl Relay {
    async fn ended_session(&self, user: i64, asset: i64) -> R<String> {
        let id = self.running_session(user, asset).await?;
        store::sessions::end(&self.state.db, &id, now_ms(), &EndReason::plain("closed")).await?;
        Ok(id)
    }

    async fn running_session(&self, user: i64, asset: i64) -> R<String> {
        self.session(user, asset, SessionKind::Admin, None).await
    }
}

/// A small desktop recording: two keyframes, graphics, a marker, and a torn tail.
/// Returns the file, its size in whole records, and its index file.
fn desktop_file() -> (Vec<u8>, u64, String) {
    let mut f = MAGIC.to_vec();
    let first = f.len() as u64;
    f.extend(encode(Kind::Params, 0, b"{}"));
    f.extend(encode(Kind::Keyframe, 0, b"kf-1"));
    f.extend(encode(Kind::Graphics, 40, b"pdu"));
    let second = f.len() as u64;
    f.extend(encode(Kind::Params, 10_000, b"{}"));
    f.extend(encode(Kind::Keyframe, 10_000, b"kf-2"));
    f.extend(encode(Kind::Marker, 10_500, b"terminate: done"));
    let whole = f.len() as u64;
    f.extend(&encode(Kind::Graphics, 11_000, b"torn")[..5]);
    let idx =
        format!("{{\"t_ms\":0,\"offset\":{first}}}\n{{\"t_ms\":10000,\"offset\":{second}}}\n");
    (f, whole, idx)
}

#[tokio::test(flavor = "current_thread")]
async fn desktop_recording_ranges_and_index_share_the_recording_authorization() -> R {
    let r = relay().await?;
    let root = r.user("root", true, &[]).await?;
    r.user("outsider", false, &[]).await?;
    let rdp = r.asset("win-1", Protocol::Rdp).await?;
    let ssh = r.asset("web-1", Protocol::Ssh).await?;
    let s_rdp = r.ended_session(root, rdp).await?;
    let s_ssh = r.ended_session(root, ssh).await?;

    let (file, whole, idx) = desktop_file();
    let path = r.state.hub.desktop_recording_path(&s_rdp);
    std::fs::create_dir_all(path.parent().ok_or("no parent")?)?;
    std::fs::write(&path, &file)?;
    std::fs::write(r.state.hub.desktop_index_path(&s_rdp), idx)?;
    std::fs::write(r.state.hub.recording_path(&s_ssh), "{\"version\":2}\n")?;

    let (admin, _) = r.login("root").await?;
    let url = |id: &str, tail: &str| format!("{}/sessions/{id}/recording{tail}", r.base);

    // The index: whole records only, both keyframes.
    let resp = admin.get(url(&s_rdp, "/index")).send().await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let index: RecordingIndex = resp.json().await?;
    assert_eq!(index.size, whole);
    assert_eq!(index.duration_ms, 10_500);
    assert_eq!(index.keyframes.len(), 2);

    // The whole file, then a range starting at the second keyframe.
    let resp = admin.get(url(&s_rdp, "")).send().await?;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-type"].to_str()?,
        "application/octet-stream"
    );
    assert_eq!(resp.bytes().await?.as_ref(), &file[..]);
    let from = index.keyframes[1].offset;
    let resp = admin
        .get(url(&s_rdp, ""))
        .header("range", format!("bytes={from}-{}", whole - 1))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    let part = resp.bytes().await?;
    let mut reader = vigil_wire::recording::Reader::at(&part, from);
    let first = reader.next_record()?.ok_or("no record")?;
    assert_eq!((first.kind, first.t_ms), (Kind::Params, 10_000));

    // SSH: the cast, and no index.
    let resp = admin.get(url(&s_ssh, "")).send().await?;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-type"].to_str()?,
        "application/x-asciicast"
    );
    let resp = admin.get(url(&s_ssh, "/index")).send().await?;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    // Someone who may not see the session gets 404 from both; nobody logged in, 401.
    let (outsider, _) = r.login("outsider").await?;
    for tail in ["", "/index"] {
        let resp = outsider.get(url(&s_rdp, tail)).send().await?;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "outsider {tail}");
        let resp = Client::new().get(url(&s_rdp, tail)).send().await?;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "anonymous {tail}");
    }

    // A missing index file is rebuilt by scanning.
    std::fs::remove_file(r.state.hub.desktop_index_path(&s_rdp))?;
    let again: RecordingIndex = admin
        .get(url(&s_rdp, "/index"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(again, index);
    Ok(())
}

/// A relay killed mid-session leaves the session row open, the recording with a torn tail
/// and the index sidecar short: the next start ends the session, and its recording and index
/// are served (whole records only in the index) like any other.
#[tokio::test(flavor = "current_thread")]
async fn a_desktop_session_left_open_by_a_crash_is_ended_and_replayable_after_restart() -> R {
    let dir = tempfile::tempdir()?;
    let before = relay_in(dir).await?;
    let root = before.user("root", true, &[]).await?;
    let rdp = before.asset("win-1", Protocol::Rdp).await?;
    let id = before.running_session(root, rdp).await?;
    let (file, whole, idx) = desktop_file();
    let path = before.state.hub.desktop_recording_path(&id);
    std::fs::create_dir_all(path.parent().ok_or("no parent")?)?;
    std::fs::write(&path, &file)?;
    // The crash came while the second keyframe's index line was being written.
    let first_line = idx.lines().next().ok_or("no index line")?;
    std::fs::write(
        before.state.hub.desktop_index_path(&id),
        format!("{first_line}\n{{\"t_ms\":100"),
    )?;
    // The crash: nothing of the relay's shutdown runs (its serve task is never told to stop
    // and the database is gone), so the row stays open.
    let Relay {
        state,
        dir,
        _stop: stop,
        ..
    } = before;
    std::mem::forget(stop);
    state.db.close().await;

    let r = relay_in(dir).await?;
    let (admin, _) = r.login("root").await?;
    let session: Session = admin
        .get(format!("{}/sessions/{id}", r.base))
        .send()
        .await?
        .json()
        .await?;
    assert!(session.ended_at.is_some(), "{session:?}");
    assert_eq!(
        session.end_reason.map(|r| r.message).as_deref(),
        Some("relay restarted")
    );
    let ended: Vec<Session> = admin
        .get(format!("{}/sessions?state=ended", r.base))
        .send()
        .await?
        .json()
        .await?;
    assert!(ended.iter().any(|s| s.id == id), "not listed as ended");

    let index: RecordingIndex = admin
        .get(format!("{}/sessions/{id}/recording/index", r.base))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(index.size, whole);
    assert_eq!(index.keyframes.len(), 2, "the scan finds both keyframes");
    let resp = admin
        .get(format!("{}/sessions/{id}/recording", r.base))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await?.as_ref(), &file[..]);
    Ok(())
}
