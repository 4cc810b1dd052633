//! The command line: `vigil [--config FILE] serve | user … | asset … | rule add|delete|list | audit … | emergency | session hold|release | retention run | backup | restore | config check`.
//! Bootstrap commands open the database directly; the server need not run. The
//! arguments are in `args`, the user, asset and rule commands in `commands`.

use anyhow::{bail, Context};

use crate::app;
use crate::config::Config;
use crate::store;

mod args;
mod audit;
mod commands;
mod config_check;
#[cfg(test)]
mod help_tests;
mod retain;
#[cfg(test)]
mod tests;

pub use args::{
    AssetCmd, AuditCmd, Cli, Command, EmergencyArg, RdpCodecArg, RetentionCmd, RuleCmd, SessionCmd,
    UserCmd,
};
use commands::{asset, rule, user};
pub use config_check::ConfigCmd;

pub(super) fn secret_from_env(var: &str) -> anyhow::Result<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Ok(v),
        Ok(_) => bail!("environment variable {var} is empty"),
        Err(_) => bail!("environment variable {var} is not set"),
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    // `config check` reports what loading the configuration finds wrong itself.
    if let Command::Config { cmd } = &cli.command {
        return config_check::run(cli.config.as_deref(), cmd);
    }
    let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
    match cli.command {
        Command::Serve => serve(config).await,
        Command::User { cmd } => user(config, cmd).await,
        Command::Asset { cmd } => asset(config, cmd).await,
        Command::Rule { cmd } => rule(config, cmd).await,
        Command::Audit { cmd } => audit::run(config, cmd).await,
        Command::Emergency {
            action,
            user,
            asset,
        } => emergency(config, action, user, asset).await,
        Command::Config { cmd } => config_check::run(cli.config.as_deref(), &cmd),
        Command::Session { cmd } => retain::session(config, cmd).await,
        Command::Retention { cmd } => retain::retention(config, cmd).await,
        Command::Backup { dest } => retain::backup(config, &dest).await,
        Command::Restore { src } => retain::restore(config, &src).await,
    }
}

async fn emergency(
    config: Config,
    action: EmergencyArg,
    user: Option<String>,
    asset: Option<String>,
) -> anyhow::Result<()> {
    use vigil_wire::api::{EmergencyAction, EmergencyScope};
    let (scope, name) = match (user, asset) {
        (Some(u), None) => (EmergencyScope::User, u),
        (None, Some(a)) => (EmergencyScope::Asset, a),
        _ => bail!("name exactly one of --user or --asset"),
    };
    let action = match action {
        EmergencyArg::Lock => EmergencyAction::Lock,
        EmergencyArg::Terminate => EmergencyAction::Terminate,
    };
    let db = app::open_storage(&config).await?;
    let id = store::emergency::queue(&db, scope, &name, action, "cli").await?;
    for _ in 0..50 {
        if let Some(n) = store::emergency::outcome(&db, id).await? {
            println!(
                "emergency {} of {} {name}: {n} session(s)",
                action.as_str(),
                scope.as_str()
            );
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    println!(
        "emergency {} of {} {name} queued, but no running relay applied it within 5 s (a relay that starts later closes it: it starts with no live session)",
        action.as_str(),
        scope.as_str()
    );
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let bind = config.bind;
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let state = app::start(config).await.context("starting the relay")?;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding {bind}"))?;
    tracing::info!(address = %listener.local_addr()?, "Vigil relay listening");
    println!("vigil: serving on {scheme}://{}", listener.local_addr()?);
    app::serve(state, listener, app::shutdown_signal()).await
}
