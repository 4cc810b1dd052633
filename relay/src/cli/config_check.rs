//! `vigil config check [FILE]`: reads a configuration the way the relay does
//! ([`Config::load`], so every section is validated, whoever added it), then checks the
//! files it names without the relay running: the audit key (present, 0600, outside the
//! data directory, well-formed), the TLS certificate and key (a usable pair) and the app
//! bundle (`index.html`). Every problem names its key and, when the key is in the file,
//! its line.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use clap::Subcommand;

use crate::audit::AuditKey;
use crate::config::{Config, ConfigError};

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Check a configuration file without starting the relay.
    #[command(
        long_about = "Check a configuration file without starting the relay: every key and \
                      value (VIGIL_* variables applied, as the relay does), then the files it \
                      names: the audit key (present, mode 0600, outside the data directory), \
                      the TLS certificate and key (readable, a matching pair) and the app \
                      bundle (index.html in dist_dir).\n\nPrints `config ok: FILE`, or each \
                      problem as FILE:LINE: key `NAME`: what is wrong, and exits non-zero.",
        after_help = "Examples:\n  vigil config check /etc/vigil/vigil.toml\n  \
                      vigil --config /etc/vigil/vigil.toml config check"
    )]
    Check {
        /// The file to check; default: the global --config (or VIGIL_CONFIG). Without any,
        /// the defaults and VIGIL_* variables are checked.
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
    },
}

/// One thing wrong with a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The dotted key (`bind`, `retention.audit_days`), if one is to blame.
    pub key: Option<String>,
    /// 1-based line and column in the file, when the key is written there.
    pub at: Option<(usize, usize)>,
    pub what: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((line, column)) = self.at {
            write!(f, "{line}:{column}: ")?;
        }
        match &self.key {
            Some(key) => write!(f, "key `{key}`: {}", self.what),
            None => f.write_str(&self.what),
        }
    }
}

/// What `config check` found wrong.
#[derive(Debug, thiserror::Error)]
#[error("configuration {source_name}: {} problem(s)", problems.len())]
pub struct CheckFailed {
    pub source_name: String,
    pub problems: Vec<Problem>,
}

/// `vigil config …`; `global` is the global `--config`.
pub fn run(global: Option<&Path>, cmd: &ConfigCmd) -> anyhow::Result<()> {
    match cmd {
        ConfigCmd::Check { file } => {
            let file = file.as_deref().or(global);
            let name = source_name(file);
            match check(file, |k| std::env::var(k).ok()) {
                Ok(_) => {
                    println!("config ok: {name}");
                    Ok(())
                }
                Err(failed) => {
                    for p in &failed.problems {
                        match p.at {
                            Some(_) => eprintln!("{name}:{p}"),
                            None => eprintln!("{name}: {p}"),
                        }
                    }
                    Err(failed.into())
                }
            }
        }
    }
}

fn source_name(file: Option<&Path>) -> String {
    match file {
        Some(f) => f.display().to_string(),
        None => "(no file: defaults and VIGIL_* variables)".into(),
    }
}

/// Loads and checks `file` (with `env` for the `VIGIL_*` overrides).
pub fn check(
    file: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Config, CheckFailed> {
    let fail = |problems| CheckFailed {
        source_name: source_name(file),
        problems,
    };
    // The text and its layout, to place what `Config::load` reports.
    let text = file.and_then(|f| std::fs::read_to_string(f).ok());
    let layout = match text.as_deref().map(toml_edit::ImDocument::parse) {
        Some(Ok(doc)) => Some(Layout::of(&doc)),
        Some(Err(syntax)) => {
            let at = syntax
                .span()
                .map(|s| line_column(text.as_deref().unwrap_or_default(), s.start));
            return Err(fail(vec![Problem {
                key: None,
                at,
                what: format!("not valid TOML: {}", syntax.message()),
            }]));
        }
        None => None,
    };
    let place = |key: &str| {
        let at = layout
            .as_ref()
            .and_then(|l| l.find(key))
            .map(|e| line_column(text.as_deref().unwrap_or_default(), e.key.start));
        (Some(key.to_string()), at)
    };
    let config = match Config::load_with(file, &env) {
        Ok(config) => config,
        Err(e) => {
            return Err(fail(vec![load_problem(
                &e,
                &env,
                text.as_deref(),
                layout.as_ref(),
                &place,
            )]))
        }
    };
    let mut problems = Vec::new();
    let mut file_problem = |key: &str, what: String| {
        let (key, at) = place(key);
        problems.push(Problem { key, at, what });
    };
    if let Err(e) = AuditKey::load(config.audit_key_file.as_deref(), &config.data_dir) {
        file_problem("audit_key_file", e.to_string());
    }
    if let Some(tls) = &config.tls {
        for (key, path) in [("tls_cert", &tls.cert), ("tls_key", &tls.key)] {
            if let Err(e) = std::fs::File::open(path) {
                file_problem(key, format!("cannot read {}: {e}", path.display()));
            }
        }
        if tls.cert.is_file() && tls.key.is_file() {
            if let Err(e) = crate::tls::acceptor(&tls.cert, &tls.key) {
                file_problem("tls_cert", e.to_string());
            }
        }
    }
    if let Some(export) = &config.audit_export {
        // Opening the sink reads its CA and secret files, as `vigil serve` does at start.
        if let Err(e) = crate::export::sink::Sink::open(&export.sink) {
            file_problem("audit_export", e.to_string());
        }
    }
    let index = config.dist_dir.join("index.html");
    if !index.is_file() {
        file_problem(
            "dist_dir",
            format!(
                "{} has no index.html (the app bundle is not there)",
                config.dist_dir.display()
            ),
        );
    }
    if config.data_dir.exists() && !config.data_dir.is_dir() {
        file_problem(
            "data_dir",
            format!("{} is not a directory", config.data_dir.display()),
        );
    }
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(fail(problems))
    }
}

/// The problem behind a [`ConfigError`], named by its key.
fn load_problem(
    e: &ConfigError,
    env: &impl Fn(&str) -> Option<String>,
    text: Option<&str>,
    layout: Option<&Layout>,
    place: &impl Fn(&str) -> (Option<String>, Option<(usize, usize)>),
) -> Problem {
    // A value from a VIGIL_* variable wins over the file: say so rather than point at a line.
    let by_key = |key: &str, var: &str| {
        if env(var).is_some_and(|v| !v.is_empty()) {
            Problem {
                key: Some(key.into()),
                at: None,
                what: format!("{e} (from {var})"),
            }
        } else {
            let (key, at) = place(key);
            Problem {
                key,
                at,
                what: e.to_string(),
            }
        }
    };
    match e {
        ConfigError::Parse { source, .. } => {
            let text = text.unwrap_or_default();
            let at = source.span().map(|s| line_column(text, s.start));
            let found = source
                .span()
                .and_then(|s| layout.and_then(|l| l.at(s.start)));
            match found {
                // The error points at a key itself: with `deny_unknown_fields`, one that
                // is not known.
                Some((path, Part::Key)) => Problem {
                    key: Some(path.clone()),
                    at,
                    what: format!("unknown key `{path}` ({})", source.message()),
                },
                Some((path, Part::Value)) => Problem {
                    key: Some(path),
                    at,
                    what: format!("bad value: {}", source.message()),
                },
                None => Problem {
                    key: None,
                    at,
                    what: source.message().to_string(),
                },
            }
        }
        ConfigError::Bind(_) => by_key("bind", "VIGIL_BIND"),
        ConfigError::Origin(_) => by_key("public_origin", "VIGIL_PUBLIC_ORIGIN"),
        ConfigError::TlsPair => {
            let cert = place("tls_cert");
            if cert.1.is_some() {
                by_key("tls_cert", "VIGIL_TLS_CERT")
            } else {
                by_key("tls_key", "VIGIL_TLS_KEY")
            }
        }
        other => Problem {
            key: None,
            at: None,
            what: other.to_string(),
        },
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Which part of an entry a position falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Key,
    Value,
}

/// One key of the file: its dotted path and where its key and its value are.
#[derive(Debug, Clone)]
struct Entry {
    path: String,
    key: Range<usize>,
    value: Option<Range<usize>>,
}

/// Every key of a parsed file with its spans, tables and inline tables included.
#[derive(Debug, Default)]
struct Layout {
    entries: Vec<Entry>,
}

impl Layout {
    fn of(doc: &toml_edit::ImDocument<&str>) -> Layout {
        let mut layout = Layout::default();
        layout.table(doc.as_table(), "");
        layout
    }

    fn table(&mut self, table: &toml_edit::Table, prefix: &str) {
        for (name, _) in table.iter() {
            if let Some((key, item)) = table.get_key_value(name) {
                self.item(key, item, prefix);
            }
        }
    }

    fn inline(&mut self, table: &toml_edit::InlineTable, prefix: &str) {
        for (name, _) in table.iter() {
            if let Some((key, item)) = table.get_key_value(name) {
                self.item(key, item, prefix);
            }
        }
    }

    fn item(&mut self, key: &toml_edit::Key, item: &toml_edit::Item, prefix: &str) {
        let path = if prefix.is_empty() {
            key.get().to_string()
        } else {
            format!("{prefix}.{}", key.get())
        };
        if let Some(span) = key.span() {
            self.entries.push(Entry {
                path: path.clone(),
                key: span,
                value: item.span(),
            });
        }
        match item {
            toml_edit::Item::Table(t) => self.table(t, &path),
            toml_edit::Item::ArrayOfTables(a) => {
                for t in a.iter() {
                    self.table(t, &path);
                }
            }
            toml_edit::Item::Value(toml_edit::Value::InlineTable(t)) => self.inline(t, &path),
            _ => {}
        }
    }

    /// The first entry for `path`.
    fn find(&self, path: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.path == path)
    }

    /// The innermost entry whose key or value holds byte `offset`.
    fn at(&self, offset: usize) -> Option<(String, Part)> {
        let mut best: Option<(&Entry, Part, usize)> = None;
        for e in &self.entries {
            let hit = if e.key.contains(&offset) {
                Some((Part::Key, e.key.len()))
            } else {
                e.value
                    .as_ref()
                    .filter(|v| v.contains(&offset))
                    .map(|v| (Part::Value, v.len()))
            };
            if let Some((part, len)) = hit {
                if best.as_ref().is_none_or(|(_, _, l)| len <= *l) {
                    best = Some((e, part, len));
                }
            }
        }
        best.map(|(e, part, _)| (e.path.clone(), part))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A directory with a good configuration: data dir, app bundle, audit key beside.
    struct Fixture {
        dir: tempfile::TempDir,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().expect("tempdir");
            std::fs::create_dir(dir.path().join("dist")).expect("dist");
            std::fs::write(dir.path().join("dist/index.html"), "<html></html>").expect("index");
            AuditKey::generate(&dir.path().join("audit.key")).expect("audit key");
            Fixture { dir }
        }

        fn path(&self, p: &str) -> PathBuf {
            self.dir.path().join(p)
        }

        /// The good file's text, with `extra` lines appended.
        fn write(&self, extra: &str) -> PathBuf {
            let file = self.path("vigil.toml");
            let text = format!(
                "bind = \"127.0.0.1:8080\"\ndata_dir = \"{}\"\ndist_dir = \"{}\"\naudit_key_file = \"{}\"\n{extra}",
                self.path("data").display(),
                self.path("dist").display(),
                self.path("audit.key").display()
            );
            std::fs::write(&file, text).expect("write config");
            file
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn only(failed: CheckFailed) -> Problem {
        assert_eq!(failed.problems.len(), 1, "{:?}", failed.problems);
        failed.problems.into_iter().next().expect("one problem")
    }

    #[test]
    fn a_good_file_passes() {
        let f = Fixture::new();
        let file = f.write("max_connections = 100\n");
        let config = check(Some(&file), no_env).expect("good config");
        assert_eq!(config.max_connections, 100);
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let f = Fixture::new();
        let file = f.write("max_connections = 100\nnonsense = 1\n");
        let p = only(check(Some(&file), no_env).expect_err("unknown key"));
        assert_eq!(p.key.as_deref(), Some("nonsense"));
        assert_eq!(p.at, Some((6, 1)));
        assert!(p.what.starts_with("unknown key `nonsense`"), "{}", p.what);
        assert!(
            p.to_string()
                .starts_with("6:1: key `nonsense`: unknown key `nonsense`"),
            "{p}"
        );
    }

    #[test]
    fn a_bad_value_is_named() {
        let f = Fixture::new();
        let file = f.write("max_connections = \"many\"\n");
        let p = only(check(Some(&file), no_env).expect_err("bad type"));
        assert_eq!(p.key.as_deref(), Some("max_connections"));
        assert_eq!(p.at.map(|a| a.0), Some(5));
        assert!(p.what.starts_with("bad value"), "{}", p.what);

        let file = f.write("public_origin = \"ftp://x\"\n");
        let p = only(check(Some(&file), no_env).expect_err("bad origin"));
        assert_eq!(p.key.as_deref(), Some("public_origin"));
        assert_eq!(p.at, Some((5, 1)));
    }

    #[test]
    fn a_bad_bind_is_named_in_the_file_or_in_the_environment() {
        let f = Fixture::new();
        let file = f.path("vigil.toml");
        std::fs::write(&file, "\nbind = \"nowhere\"\n").expect("write");
        let p = only(check(Some(&file), no_env).expect_err("bad bind"));
        assert_eq!(p.key.as_deref(), Some("bind"));
        assert_eq!(p.at, Some((2, 1)));
        let good = f.write("");
        let env: HashMap<&str, &str> = [("VIGIL_BIND", "nope")].into();
        let p =
            only(check(Some(&good), |k| env.get(k).map(|v| v.to_string())).expect_err("env bind"));
        assert_eq!(p.key.as_deref(), Some("bind"));
        assert_eq!(p.at, None);
        assert!(p.what.ends_with("(from VIGIL_BIND)"), "{}", p.what);
    }

    #[test]
    fn bad_toml_gives_its_line() {
        let f = Fixture::new();
        let file = f.write("max_connections = = 3\n");
        let p = only(check(Some(&file), no_env).expect_err("syntax"));
        assert_eq!(p.key, None);
        assert_eq!(p.at.map(|a| a.0), Some(5));
        assert!(p.what.starts_with("not valid TOML"), "{}", p.what);
    }

    #[test]
    fn the_audit_exports_files_are_checked() {
        let f = Fixture::new();
        let file = f.write(&format!(
            "[audit_export]\nkind = \"webhook\"\n[audit_export.webhook]\nurl = \"https://siem.example\"\nsecret_file = \"{}\"\n",
            f.path("missing.secret").display()
        ));
        let p = only(check(Some(&file), no_env).expect_err("no secret file"));
        assert_eq!(p.key.as_deref(), Some("audit_export"));
        assert_eq!(p.at, Some((5, 2)), "the table name in its header");
        assert!(p.what.contains("missing.secret"), "{}", p.what);
    }

    #[test]
    fn the_files_it_names_are_checked() {
        use std::os::unix::fs::PermissionsExt;
        let f = Fixture::new();
        let file = f.write("");
        std::fs::set_permissions(f.path("audit.key"), std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        std::fs::remove_file(f.path("dist/index.html")).expect("rm index");
        let failed = check(Some(&file), no_env).expect_err("two problems");
        let keys: Vec<_> = failed.problems.iter().map(|p| p.key.clone()).collect();
        assert_eq!(
            keys,
            [
                Some("audit_key_file".to_string()),
                Some("dist_dir".to_string())
            ]
        );
        assert_eq!(failed.problems[0].at, Some((4, 1)));
        assert!(
            failed.problems[0].what.contains("chmod 600"),
            "{:?}",
            failed.problems
        );

        // TLS files that are not there, then ones that are not PEM.
        let file = f.write(&format!(
            "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
            f.path("cert.pem").display(),
            f.path("key.pem").display()
        ));
        std::fs::set_permissions(f.path("audit.key"), std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
        std::fs::write(f.path("dist/index.html"), "<html></html>").expect("index");
        let failed = check(Some(&file), no_env).expect_err("no TLS files");
        let keys: Vec<_> = failed.problems.iter().map(|p| p.key.clone()).collect();
        assert_eq!(
            keys,
            [Some("tls_cert".to_string()), Some("tls_key".to_string())]
        );
        std::fs::write(f.path("cert.pem"), "not pem").expect("cert");
        std::fs::write(f.path("key.pem"), "not pem").expect("key");
        let p = only(check(Some(&file), no_env).expect_err("bad TLS files"));
        assert_eq!(p.key.as_deref(), Some("tls_cert"));
        assert_eq!(p.at, Some((5, 1)));
    }

    #[test]
    fn keys_in_tables_are_found_by_position() {
        let text = "top = 1\n[section]\ninner = \"x\"\nnested = { deep = 2 }\n";
        let doc = toml_edit::ImDocument::parse(text).expect("toml");
        let layout = Layout::of(&doc);
        let at = |needle: &str| text.find(needle).expect("needle");
        assert_eq!(layout.at(at("top")), Some(("top".into(), Part::Key)));
        assert_eq!(
            layout.at(at("inner")),
            Some(("section.inner".into(), Part::Key))
        );
        assert_eq!(
            layout.at(at("\"x\"")),
            Some(("section.inner".into(), Part::Value))
        );
        assert_eq!(
            layout.at(at("deep")),
            Some(("section.nested.deep".into(), Part::Key))
        );
        assert_eq!(
            layout.at(at("2 }")),
            Some(("section.nested.deep".into(), Part::Value))
        );
        assert_eq!(line_column(text, at("inner")), (3, 1));
    }
}

/// The example configuration the Debian package installs as /etc/vigil/vigil.toml.
#[cfg(test)]
mod packaged {
    use crate::config::Config;

    const EXAMPLE: &str = include_str!("../../../packaging/debian/vigil.toml");

    fn load(text: &str) -> Config {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("vigil.toml");
        std::fs::write(&file, text).expect("write");
        Config::load_with(Some(&file), |_| None).expect("the example loads")
    }

    #[test]
    fn the_packaged_example_loads_with_its_paths() {
        let c = load(EXAMPLE);
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, std::path::Path::new("/var/lib/vigil"));
        assert_eq!(c.dist_dir, std::path::Path::new("/usr/share/vigil/dist"));
        assert_eq!(
            c.audit_key_file.as_deref(),
            Some(std::path::Path::new("/etc/vigil/audit.key"))
        );
        assert!(c.tls.is_none());
    }

    /// Every commented-out `# key = value` line is a real key with a valid value.
    #[test]
    fn the_examples_commented_keys_are_valid() {
        let uncommented: String = EXAMPLE
            .lines()
            .map(|l| {
                let rest = l.strip_prefix("# ").unwrap_or(l);
                let is_key = rest
                    .split_once(" = ")
                    .is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
                if is_key {
                    rest
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let c = load(&uncommented);
        assert!(c.tls.is_some(), "tls_cert and tls_key were uncommented");
        assert_eq!(
            c.public_origin.as_deref(),
            Some("https://vigil.example.com")
        );
        assert_eq!(c.session_ttl_minutes, 720);
        assert_eq!(c.retention.recordings_days, Some(90));
        assert!(c.metrics.enabled);
    }
}
