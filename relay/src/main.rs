use clap::Parser;
use tracing_subscriber::EnvFilter;

/// mimalloc rather than the system allocator: glibc keeps the pages freed by ended
/// sessions in its per-thread arenas, so a relay's resident memory crept up with every
/// few thousand sessions while its live heap stayed flat (measured by the soak,
/// `bench-soak`, and a heap profile of it). mimalloc returns freed pages to the system.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    small_pages_only();
    let cli = vigil_relay::cli::Cli::parse();
    match vigil_relay::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Turns transparent huge pages off for this process. Where the kernel's setting is `always`
/// (Debian's default), every 2 MiB-aligned stretch of heap the relay touches becomes one
/// resident 2 MiB page, so many small per-session buffers, and the allocator's freed but not
/// yet returned blocks, cost far more memory than they hold. A relay moves small messages for
/// many sessions and gains nothing from huge pages. Measured with a hostile server filling
/// its 8 MiB fragment bound (`tests/tests/hostile.rs`): the relay's growth at its peak fell
/// from about +60 MiB to about +40 MiB.
fn small_pages_only() {
    #[cfg(target_os = "linux")]
    if let Err(e) = nix::sys::prctl::set_thp_disable(true) {
        tracing::warn!(error = %e, "could not turn transparent huge pages off; the relay may use more memory");
    }
}
