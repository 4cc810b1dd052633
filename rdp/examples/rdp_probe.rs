//! Connect to a real RDP server, receive for N seconds, report frames/bytes and relay decode
//! cost, and write the relay's decoded image to a PNG.
//!
//! ```text
//! cargo run -p vigil-rdp --example rdp_probe -- HOST:PORT USER [SECONDS] [rfx|bitmap] [OUT.png]
//! ```
//! The password comes from `RDP_PASSWORD` (never from the command line).

#[allow(dead_code)] // the tests use the rest
#[path = "../tests/support/connection.rs"]
mod connection;

use std::time::Duration;

use anyhow::Context as _;
use vigil_rdp::{Codec, ConnectOptions, Target};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (host, port) = args
        .first()
        .and_then(|a| a.rsplit_once(':'))
        .context("usage: rdp_probe HOST:PORT USER [SECONDS] [rfx|bitmap] [OUT.png]")?;
    let target = Target {
        host: host.to_owned(),
        port: port.parse().context("port")?,
        username: args.get(1).cloned().unwrap_or_else(|| "gwrdp".into()),
        password: vigil_secret::Secret::new(
            std::env::var("RDP_PASSWORD").context("set RDP_PASSWORD")?,
        ),
        domain: None,
    };
    let secs: u64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(10);
    let codec = match args.get(3).map(String::as_str) {
        Some("bitmap") => Codec::Bitmap,
        _ => Codec::RemoteFx,
    };
    let out = args
        .get(4)
        .cloned()
        .unwrap_or_else(|| "/tmp/vigil-rdp-probe.png".into());

    let options = ConnectOptions {
        codec,
        ..ConnectOptions::default()
    };
    let mut s = connection::Connection::connect(&target, &options).await?;
    println!(
        "connected in {} ms, nla={}, pin={}, {:?}",
        s.connect_time.as_millis(),
        s.nla,
        s.pin,
        s.params
    );
    for _ in 0..secs {
        s.pump(Duration::from_secs(1)).await?;
        if let Some(reason) = &s.ended {
            println!("session ended: {reason}");
            break;
        }
    }
    s.report("probe");
    std::fs::write(&out, s.screen.png()?)?;
    println!("wrote {out}");
    Ok(())
}
