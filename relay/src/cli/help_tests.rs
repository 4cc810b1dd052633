//! `vigil --help` is complete: every command, argument and value has help text.

use clap::CommandFactory;

use super::Cli;

/// Everything in `cmd` (and below) without help, as `vigil user add --admin`-like paths.
fn missing_help(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        if matches!(id, "help" | "version") {
            continue;
        }
        if arg.get_help().is_none() && arg.get_long_help().is_none() {
            missing.push(format!("{path} <{id}>"));
        }
        if arg.get_action().takes_values() && !arg.is_hide_possible_values_set() {
            for value in arg.get_possible_values() {
                if value.get_help().is_none() {
                    missing.push(format!("{path} <{id}> value {}", value.get_name()));
                }
            }
        }
    }
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let sub_path = format!("{path} {}", sub.get_name());
        if sub.get_about().is_none() && sub.get_long_about().is_none() {
            missing.push(sub_path.clone());
        }
        missing_help(sub, &sub_path, &mut *missing);
    }
}

#[test]
fn every_command_argument_and_value_has_help() {
    let mut cmd = Cli::command();
    cmd.build();
    cmd.clone().debug_assert();
    let mut missing = Vec::new();
    missing_help(&cmd, "vigil", &mut missing);
    assert!(
        missing.is_empty(),
        "without help text (add a /// doc comment): {missing:#?}"
    );
}

#[test]
fn the_main_commands_show_examples() {
    let mut cmd = Cli::command();
    cmd.build();
    let help = cmd.render_long_help().to_string();
    assert!(help.contains("Examples:"), "{help}");
    for path in [
        &["serve"][..],
        &["user", "add"],
        &["asset", "add"],
        &["rule", "add"],
        &["config", "check"],
        &["audit", "keygen"],
    ] {
        let mut sub = &cmd;
        for name in path {
            sub = sub
                .find_subcommand(name)
                .unwrap_or_else(|| panic!("vigil {}", path.join(" ")));
        }
        let after = sub
            .get_after_help()
            .map(|h| h.to_string())
            .unwrap_or_default();
        assert!(
            after.contains("Example") && after.contains(&path.join(" ")),
            "vigil {} --help shows no example: {after:?}",
            path.join(" ")
        );
    }
}
