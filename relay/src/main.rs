use clap::Parser;
use vigil_relay::config::Config;
use vigil_relay::logging::{self, LogFormat};

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
    let cli = vigil_relay::cli::Cli::parse();
    // The log format is configuration (`log_format`, `VIGIL_LOG_FORMAT`): read before
    // anything logs, for every command. A configuration that does not load logs as text;
    // the command then reports why it does not load.
    let format = Config::load(cli.config.as_deref()).map_or(LogFormat::Text, |c| c.log_format);
    logging::init(format);
    if let Err(error) = allocator {
        tracing::warn!(%error, "Could not turn transparent huge pages off; the relay may use more memory");
    }
    raise_file_limit();
    tokio::spawn(log_heap());
    tokio::spawn(give_back());
    match vigil_relay::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Raises the soft limit on open files to the hard limit: a watched SSH session holds
/// five descriptors (the user's and an observer's WebSocket, the target's socket, the
/// recording and the keystroke log), so the usual soft limit of 1,024 would refuse
/// connections past ~200 sessions. A relay that cannot raise it runs with the limit it has.
#[cfg(unix)]
fn raise_file_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(error) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::warn!(%error, soft, hard, "Could not raise the open-file limit");
            }
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "Could not read the open-file limit"),
    }
}

#[cfg(not(unix))]
fn raise_file_limit() {}

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
