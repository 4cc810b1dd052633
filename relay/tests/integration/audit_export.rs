//! Audit export to real sinks: a real `rsyslogd` over UDP, TCP and TLS, and an HTTPS
//! webhook receiver that checks the HMAC signature, down and refusing while the relay
//! keeps serving, a relay restart in between, and nothing lost or out of order.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use vigil_relay::export::config::{
    AuditExport, Facility, SinkConfig, SyslogConfig, Transport, WebhookConfig,
    DEFAULT_ENTERPRISE_ID,
};
use vigil_relay::export::export_floor;
use vigil_relay::store;
use vigil_wire::api::{Protocol, SessionKind};
use vigil_wire::audit::{AuditAction, AuditEntry, AuditQuery};

use crate::export_sinks::{certs, Mode, Receiver, Rsyslog};
use crate::support::{post, relay_with, start, Relay, R};

async fn entries(r: &Relay) -> R<Vec<AuditEntry>> {
    Ok(store::audit::page_after(&r.state.db, &AuditQuery::default(), 0, 100_000).await?)
}

/// Audited actions through the API, each answered at once: root disables and enables
/// bob and ends his logins, and bob is refused root's session (`access_denied`).
async fn act(r: &Relay, round: u32) -> R {
    let b = &r.base;
    let (root, csrf) = r.login("root").await?;
    for what in ["disable", "enable", "end-logins"] {
        let started = Instant::now();
        let resp = post(&root, format!("{b}/users/bob/{what}"), &csrf, json!({})).await?;
        assert_eq!(
            resp.status(),
            StatusCode::NO_CONTENT,
            "{what} (round {round})"
        );
        assert!(started.elapsed() < Duration::from_secs(2), "{what} waited");
    }
    let asset = r.asset(&format!("web-{round}"), Protocol::Ssh).await?;
    let root_id = store::users::by_name(&r.state.db, "root")
        .await?
        .ok_or("root")?
        .id;
    let hidden = r.session(root_id, asset, SessionKind::Admin, None).await?;
    let (bob, _) = r.login("bob").await?;
    let resp = bob.get(format!("{b}/sessions/{hidden}")).send().await?;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    Ok(())
}

async fn seed(r: &Relay) -> R {
    r.user("root", true, &[]).await?;
    r.user("bob", false, &["ops"]).await?;
    Ok(())
}

fn syslog(transport: Transport, port: u16, ca: &Path) -> AuditExport {
    AuditExport {
        sink: SinkConfig::Syslog(SyslogConfig {
            transport,
            address: format!("127.0.0.1:{port}"),
            ca_file: Some(ca.to_path_buf()),
            server_name: Some("localhost".into()),
            facility: Facility::Authpriv,
            hostname: Some("vigil-test".into()),
            enterprise_id: DEFAULT_ENTERPRISE_ID,
            max_datagram: 8192,
        }),
        batch_size: 3,
        backlog_warn: 10_000,
    }
}

/// The seq in a message's structured data.
fn seq_of(line: &str) -> Option<i64> {
    let rest = line.split(" seq=\"").nth(1)?;
    rest.split('"').next()?.parse().ok()
}

#[tokio::test]
async fn syslog_over_udp_tcp_and_tls_carries_every_entry() -> R {
    let dir = tempfile::tempdir()?;
    let certs = certs(dir.path())?;
    let rsyslog = Rsyslog::start(dir.path(), &certs)?;
    for (transport, port, name) in [
        (Transport::Udp, rsyslog.udp, "udp"),
        (Transport::Tcp, rsyslog.tcp, "tcp"),
        (Transport::Tls, rsyslog.tls, "tls"),
    ] {
        let r = relay_with(|c| c.audit_export = Some(syslog(transport, port, &certs.ca))).await?;
        seed(&r).await?;
        act(&r, 0).await?;
        let want = entries(&r).await?;
        assert!(want.len() >= 4, "{name}: the actions were audited");
        let lines = arrived(&rsyslog, name, &want, 30).await?;
        let pid = std::process::id();
        for e in &want {
            let line = lines
                .iter()
                .find(|l| seq_of(l) == Some(e.seq))
                .ok_or("line")?;
            // authpriv (10): warning 84, notice 85, informational 86.
            let pri = match e.action {
                AuditAction::AccessDenied => 84,
                AuditAction::UserDisable | AuditAction::UserEnable | AuditAction::UserEndLogins => {
                    85
                }
                _ => 0,
            };
            if pri != 0 {
                assert!(line.starts_with(&format!("<{pri}>1 ")), "{name}: {line}");
            }
            let head = format!(
                " vigil-test vigil {pid} {} [vigil@32473 seq=\"{}\" actor=\"{}\"",
                e.action, e.seq, e.actor
            );
            assert!(line.contains(&head), "{name}: {line} lacks {head}");
            let hash = format!(" hash=\"{}\"]", e.hash);
            assert!(line.contains(&hash), "{name}: {line}");
            if let Some(session) = &e.session_id {
                assert!(line.contains(&format!(" session=\"{session}\"")), "{line}");
            }
            let json = &line[line.find(&hash).ok_or("sd")? + hash.len()..];
            let carried: AuditEntry = serde_json::from_str(json.trim_start())?;
            assert_eq!(&carried, e, "{name}: MSG is the entry");
        }
        for action in [AuditAction::AccessDenied, AuditAction::UserDisable] {
            assert!(want.iter().any(|e| e.action == action), "{action} audited");
        }
        floor_reaches(&r, want.last().map(|e| e.seq), 10, name).await?;
        r.stop(Duration::from_secs(10)).await?;
    }
    Ok(())
}

/// Waits until rsyslog's `name` file holds every seq of `want`.
async fn arrived(rsyslog: &Rsyslog, name: &str, want: &[AuditEntry], secs: u64) -> R<Vec<String>> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let lines = rsyslog.lines(name);
        let got: std::collections::BTreeSet<i64> = lines.iter().filter_map(|l| seq_of(l)).collect();
        if want.iter().all(|e| got.contains(&e.seq)) {
            return Ok(lines);
        }
        assert!(
            Instant::now() < deadline,
            "{name}: rsyslog received {got:?}, the log holds {:?}",
            want.iter().map(|e| e.seq).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn syslog_over_tcp_and_tls_survives_a_restart_of_rsyslog() -> R {
    let dir = tempfile::tempdir()?;
    let certs = certs(dir.path())?;
    let mut rsyslog = Rsyslog::start(dir.path(), &certs)?;
    let (tcp, tls) = (rsyslog.tcp, rsyslog.tls);
    let r_tcp =
        relay_with(|c| c.audit_export = Some(syslog(Transport::Tcp, tcp, &certs.ca))).await?;
    let r_tls =
        relay_with(|c| c.audit_export = Some(syslog(Transport::Tls, tls, &certs.ca))).await?;
    for r in [&r_tcp, &r_tls] {
        seed(r).await?;
        act(r, 1).await?;
    }
    arrived(&rsyslog, "tcp", &entries(&r_tcp).await?, 30).await?;
    arrived(&rsyslog, "tls", &entries(&r_tls).await?, 30).await?;
    // rsyslogd goes away with the relays' connections open; entries keep coming.
    rsyslog.stop();
    for r in [&r_tcp, &r_tls] {
        act(r, 2).await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for r in [&r_tcp, &r_tls] {
        let head = entries(r).await?.last().ok_or("entries")?.seq;
        assert!(
            export_floor(&r.state.db).await? < Some(head),
            "not counted delivered"
        );
    }
    rsyslog.restart()?;
    arrived(&rsyslog, "tcp", &entries(&r_tcp).await?, 60).await?;
    arrived(&rsyslog, "tls", &entries(&r_tls).await?, 60).await?;
    for r in [r_tcp, r_tls] {
        r.stop(Duration::from_secs(10)).await?;
    }
    Ok(())
}

fn webhook(url: String, secret_file: &Path, ca: &Path) -> AuditExport {
    AuditExport {
        sink: SinkConfig::Webhook(WebhookConfig {
            url,
            secret_file: secret_file.to_path_buf(),
            ca_file: Some(ca.to_path_buf()),
        }),
        batch_size: 5,
        backlog_warn: 10_000,
    }
}

/// Waits until `cond` holds on the receiver, for at most `secs`.
/// Waits up to `secs` for the export cursor to reach `want`: the exporter stores it once
/// the sink has taken a batch, so a receiver may see the batch first.
async fn floor_reaches(r: &Relay, want: Option<i64>, secs: u64, what: &str) -> R {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let floor = export_floor(&r.state.db).await?;
        if floor == want {
            return Ok(());
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the export cursor is {floor:?}, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn until(
    rx: &Receiver,
    secs: u64,
    what: &str,
    cond: impl Fn(&crate::export_sinks::Received) -> bool,
) -> R {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !rx.with(&cond) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {:?}",
            rx.with(|r| (r.batches.len(), r.refused, r.bad_signatures))
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[tokio::test]
async fn webhook_outage_and_restart_lose_nothing() -> R {
    let files = tempfile::tempdir()?;
    let certs = certs(files.path())?;
    let secret_file = files.path().join("webhook.secret");
    std::fs::write(&secret_file, "s3cret-for-the-siem\n")?;
    let mut rx = Receiver::start(&certs, b"s3cret-for-the-siem", Mode::Unavailable).await?;
    let config = webhook(rx.url(), &secret_file, &certs.ca);

    // The receiver answers 503: the relay keeps serving, retries, and skips nothing.
    let c = config.clone();
    let r = relay_with(move |cfg| cfg.audit_export = Some(c)).await?;
    seed(&r).await?;
    act(&r, 1).await?;
    until(&rx, 20, "retries", |got| got.refused >= 2).await?;
    assert!(rx.with(|got| got.batches.is_empty()));
    assert_eq!(
        export_floor(&r.state.db).await?,
        Some(0),
        "nothing counted delivered"
    );
    let before_restart = entries(&r).await?.len();

    // The receiver goes away entirely, and the relay restarts meanwhile.
    rx.down();
    let dir = r.stop_keeping_dir(Duration::from_secs(10)).await?;
    let c = config.clone();
    let r = start(dir, move |cfg| cfg.audit_export = Some(c)).await?;
    act(&r, 2).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let want = entries(&r).await?;
    assert!(want.len() > before_restart);
    assert_eq!(export_floor(&r.state.db).await?, Some(0));

    // Back: every entry arrives, in seq order, none missing, each as stored.
    rx.set_mode(Mode::Accept);
    rx.up().await?;
    let head = want.last().ok_or("entries")?.seq;
    until(&rx, 60, "every entry", |got| {
        got.batches.iter().flatten().any(|e| e.seq == head)
    })
    .await?;
    let delivered: Vec<AuditEntry> = rx.with(|got| got.batches.iter().flatten().cloned().collect());
    assert!(
        rx.with(|got| got.batches.iter().all(|b| b.len() <= 5)),
        "batches of batch_size at most"
    );
    let seqs: Vec<i64> = delivered.iter().map(|e| e.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] <= w[1]),
        "in seq order: {seqs:?}"
    );
    let mut unique = delivered.clone();
    unique.dedup_by_key(|e| e.seq);
    assert_eq!(
        unique, want,
        "every entry, once de-duplicated by seq, as stored"
    );
    assert_eq!(rx.with(|got| got.bad_signatures), 0);
    floor_reaches(&r, Some(head), 10, "after the outage and restart").await?;

    // New entries keep flowing.
    act(&r, 3).await?;
    let head = entries(&r).await?.last().ok_or("entries")?.seq;
    until(&rx, 20, "the new entries", |got| {
        got.batches.iter().flatten().any(|e| e.seq == head)
    })
    .await?;
    r.stop(Duration::from_secs(10)).await?;
    Ok(())
}

#[tokio::test]
async fn a_wrong_webhook_secret_is_refused_and_nothing_is_skipped() -> R {
    let files = tempfile::tempdir()?;
    let certs = certs(files.path())?;
    let secret_file = files.path().join("webhook.secret");
    std::fs::write(&secret_file, "not-the-receivers-secret")?;
    let rx = Receiver::start(&certs, b"the-receivers-secret", Mode::Accept).await?;
    let config = webhook(rx.url(), &secret_file, &certs.ca);
    let r = relay_with(move |cfg| cfg.audit_export = Some(config)).await?;
    seed(&r).await?;
    act(&r, 1).await?;
    until(&rx, 20, "signed attempts", |got| got.bad_signatures >= 2).await?;
    assert!(rx.with(|got| got.batches.is_empty()), "none accepted");
    assert_eq!(export_floor(&r.state.db).await?, Some(0), "none skipped");
    r.stop(Duration::from_secs(10)).await?;
    Ok(())
}

#[tokio::test]
async fn a_webhook_certificate_from_another_authority_is_refused() -> R {
    let files = tempfile::tempdir()?;
    let certs = certs(files.path())?;
    let other = tempfile::tempdir()?;
    let other_ca = crate::export_sinks::certs(other.path())?.ca;
    let secret_file = files.path().join("webhook.secret");
    std::fs::write(&secret_file, "k")?;
    let rx = Receiver::start(&certs, b"k", Mode::Accept).await?;
    let config = webhook(rx.url(), &secret_file, &other_ca);
    let r = relay_with(move |cfg| cfg.audit_export = Some(config)).await?;
    seed(&r).await?;
    act(&r, 1).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        rx.with(|got| got.batches.is_empty() && got.bad_signatures == 0 && got.refused == 0),
        "no request reached the receiver"
    );
    assert_eq!(export_floor(&r.state.db).await?, Some(0));
    r.stop(Duration::from_secs(10)).await?;
    Ok(())
}

#[tokio::test]
async fn two_relays_on_one_database_export_each_entry_once() -> R {
    let files = tempfile::tempdir()?;
    let certs = certs(files.path())?;
    let secret_file = files.path().join("webhook.secret");
    std::fs::write(&secret_file, "shared")?;
    let rx = Receiver::start(&certs, b"shared", Mode::Accept).await?;
    let config = webhook(rx.url(), &secret_file, &certs.ca);
    let c = config.clone();
    let a = relay_with(move |cfg| cfg.audit_export = Some(c)).await?;
    seed(&a).await?;
    let (data, key) = (a.dir.path().join("data"), a.dir.path().join("audit.key"));
    let b = relay_with(move |cfg| {
        cfg.data_dir = data;
        cfg.audit_key_file = Some(key);
        cfg.audit_export = Some(config);
    })
    .await?;
    for round in 1..=3 {
        act(&a, round).await?;
        act(&b, round + 10).await?;
    }
    let want = entries(&a).await?;
    let head = want.last().ok_or("entries")?.seq;
    until(&rx, 30, "every entry", |got| {
        got.batches.iter().flatten().any(|e| e.seq == head)
    })
    .await?;
    // Both relays tried; the lease let one deliver, so nothing came twice.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let delivered: Vec<AuditEntry> = rx.with(|got| got.batches.iter().flatten().cloned().collect());
    assert_eq!(
        delivered, want,
        "each entry once, in order, from the shared log"
    );
    b.stop(Duration::from_secs(10)).await?;
    a.stop(Duration::from_secs(10)).await?;
    Ok(())
}
