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
    let cli = vigil_relay::cli::Cli::parse();
    match vigil_relay::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
