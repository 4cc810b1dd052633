//! Against a real FreeRDP shadow server with NLA, started by scripts/targets/start-shadow.sh.

mod support;

use support::{checks::exercise, target, Server};
use vigil_rdp::{Codec, ConnectErrorKind, ConnectOptions};
use vigil_testkit::free_port;

#[tokio::test(flavor = "current_thread")]
async fn shadow_nla_sessions_and_auth_failure() -> anyhow::Result<()> {
    let server = Server::start("shadow");

    let pin = exercise(&server, Codec::RemoteFx, "shadow-rfx", None).await?;
    exercise(&server, Codec::Bitmap, "shadow-bitmap", Some(pin)).await?;

    let err = vigil_rdp::connect(
        &target(&server, "wrong-password"),
        &ConnectOptions::default(),
    )
    .await
    .err()
    .expect("a wrong password must fail");
    println!("[shadow] wrong password: {err}");
    assert_eq!(err.kind, ConnectErrorKind::AuthFailed);
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn nothing_listening_is_target_unreachable() {
    let mut target = vigil_rdp::Target {
        host: "127.0.0.1".into(),
        port: free_port(),
        username: "u".into(),
        password: vigil_secret::Secret::new("p"),
        domain: None,
    };
    let err = vigil_rdp::connect(&target, &ConnectOptions::default())
        .await
        .err()
        .expect("fails");
    assert_eq!(err.kind, ConnectErrorKind::TargetUnreachable);
    target.host = "host.invalid".into();
    let err = vigil_rdp::connect(&target, &ConnectOptions::default())
        .await
        .err()
        .expect("fails");
    assert_eq!(err.kind, ConnectErrorKind::TargetUnreachable);
}
