use clap::Parser;
use tracing_subscriber::EnvFilter;

#[global_allocator]
static ALLOCATOR: vigil_alloc::Allocator = vigil_alloc::ALLOCATOR;

fn main() -> std::process::ExitCode {
    // Before the runtime's threads exist (see `vigil_alloc::configure`).
    let allocator = vigil_alloc::configure();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run(allocator)),
        Err(e) => {
            eprintln!("vigil: error: cannot start the async runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(allocator: std::io::Result<()>) -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(error) = allocator {
        tracing::warn!(%error, "Could not turn transparent huge pages off; the relay may use more memory");
    }
    tokio::spawn(log_heap());
    tokio::spawn(give_back());
    let cli = vigil_relay::cli::Cli::parse();
    match vigil_relay::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Returns the allocator's free memory to the system at a steady pace, so that the resident
/// set follows the live sessions (`vigil_alloc::give_back`).
async fn give_back() {
    let mut every = tokio::time::interval(vigil_alloc::GIVE_BACK_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        // A trim walks the arenas under their locks: off the runtime's threads.
        if tokio::task::spawn_blocking(vigil_alloc::give_back)
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Every 10 s, at debug level (`RUST_LOG=vigil::memory=debug`), the bytes the relay holds:
/// beside its RSS, a leak (both grow) is told from memory the allocator keeps (`bench-soak`).
async fn log_heap() {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(10));
    loop {
        every.tick().await;
        tracing::debug!(target: "vigil::memory", heap_kib = vigil_alloc::heap_bytes() / 1024, "Relay heap");
    }
}
