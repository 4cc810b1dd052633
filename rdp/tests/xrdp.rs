//! Against a real xrdp (TLS, no NLA) started by scripts/targets/start-xrdp.sh.

mod support;

use support::{checks::exercise, Server, PASSWORD};
use vigil_rdp::{Codec, ConnectErrorKind, ConnectOptions};

/// One test, one server: the checks run in sequence and the server is stopped at the end.
#[tokio::test(flavor = "current_thread")]
async fn xrdp_remotefx_and_bitmap_sessions() -> anyhow::Result<()> {
    let server = Server::start("xrdp");

    let pin = exercise(&server, Codec::RemoteFx, "xrdp-rfx", None).await?;
    println!("[xrdp] learned pin {pin}");
    // The bitmap run uses the learned pin: trust on first use, then verification.
    exercise(&server, Codec::Bitmap, "xrdp-bitmap", Some(pin)).await?;

    // A different pin: refused before anything is sent over TLS.
    let wrong = ConnectOptions {
        pinned: Some(format!("sha256:{}", "0".repeat(64))),
        ..ConnectOptions::default()
    };
    let err = vigil_rdp::connect(&server.target(PASSWORD), &wrong)
        .await
        .err()
        .expect("must fail");
    println!("[xrdp] wrong pin: {err}");
    assert_eq!(err.kind, ConnectErrorKind::CertChanged);
    Ok(())
}
