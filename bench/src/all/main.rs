//! `bench-all`: runs every benchmark and prints one table of the performance goals: each
//! figure, its baseline from the same run, the ratio, and the goal with ✓ or ✗.
//!
//! Each program reports its figures as typed rows ([`vigil_bench::rows`]) to a file named
//! by `$VIGIL_BENCH_ROWS`; its own report is printed as it runs. The size-budget rows come
//! from the sizes report of `cargo xtask dist --bench`.
//!
//! Before running, it builds what the programs use in its own profile: the benchmark
//! binaries, the relay (`vigil`) unless `$VIGIL_BIN` names one, and (unless `--short`) the
//! benchmark bundle.
//!
//! Usage: `bench-all [--short] [--only NAME]...`
//! - `--short`: the size budget and a small run of each program that needs no RDP target,
//!   for CI; exits non-zero only when a file is over its size budget.
//! - `--only NAME`: run only these programs (for example `--only bench-lock`).
//!
//! Without `--short` it exits non-zero when a program failed or a file is over its budget;
//! a goal missed is a ✗ in the table, not a failure. Needs root for the RDP targets.

mod programs;
mod sizes;
mod table;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use vigil_bench::rows::{self, Verdict, ROWS_ENV};

use programs::{Program, PROGRAMS};
use table::Missing;

struct Args {
    short: bool,
    only: Vec<String>,
}

fn args() -> Result<Args> {
    let mut out = Args {
        short: false,
        only: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--short" => out.short = true,
            "--only" => {
                let name = it.next().context("--only needs a program name")?;
                if programs::find(&name).is_none() {
                    let names: Vec<_> = PROGRAMS.iter().map(|p| p.name).collect();
                    bail!("no program {name}; programs: {}", names.join(", "));
                }
                out.only.push(name);
            }
            "-h" | "--help" => {
                println!("usage: bench-all [--short] [--only NAME]...");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}; usage: bench-all [--short] [--only NAME]..."),
        }
    }
    Ok(out)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(workspace_root());
    c
}

fn run_checked(mut cmd: Command, what: &str) -> Result<()> {
    let status = cmd.status().with_context(|| format!("running {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// Builds the benchmark binaries, and the relay unless `$VIGIL_BIN` names one, in the
/// profile `bench-all` was built in. Each package is built on its own, as `scripts/setup.sh`
/// and `cargo run -p vigil-bench` build them, so that no dependency is rebuilt with other
/// features.
fn build(bin_dir: &Path, relay: bool, bundle: bool) -> Result<()> {
    let release = bin_dir.file_name().is_some_and(|n| n == "release");
    let mut packages = vec![["-p", "vigil-bench", "--bins"]];
    if relay {
        packages.push(["-p", "vigil-relay", "--bin=vigil"]);
    }
    for package in packages {
        let mut c = cargo();
        c.args(["build", "--locked"]).args(package);
        if release {
            c.arg("--release");
        }
        println!("== bench-all: cargo build {} ==", package.join(" "));
        run_checked(c, "cargo build")?;
    }
    if bundle {
        println!("== bench-all: building the benchmark bundle ==");
        let mut c = cargo();
        c.args(["xtask", "dist", "--bench"]);
        run_checked(c, "cargo xtask dist --bench")?;
    }
    Ok(())
}

/// Runs one program; returns its rows, or why it has none.
fn run(program: &Program, bin_dir: &Path, short: bool) -> Result<Vec<rows::Row>, String> {
    let args = if short {
        program.short.unwrap_or(program.full)
    } else {
        program.full
    };
    println!("\n== bench-all: {} {} ==", program.name, args.join(" "));
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let rows_file = dir.path().join("rows.jsonl");
    let status = Command::new(bin_dir.join(program.name))
        .args(args)
        .env(ROWS_ENV, &rows_file)
        .status()
        .map_err(|e| format!("{} did not start: {e}", program.name))?;
    let text = std::fs::read_to_string(&rows_file).unwrap_or_default();
    let rows = rows::read(&text).map_err(|e| format!("{}: {e}", program.name))?;
    if !status.success() {
        // Rows it wrote before failing are kept; the others are shown as not measured.
        eprintln!("bench-all: {} failed ({status})", program.name);
        if rows.is_empty() {
            return Err(format!("{} {status}", program.name));
        }
    }
    Ok(rows)
}

fn main() -> Result<()> {
    let args = args()?;
    let exe = std::env::current_exe()?;
    let bin_dir = exe
        .parent()
        .context("bench-all has no directory")?
        .to_owned();
    let target = bin_dir.parent().context("no target directory")?.to_owned();
    let relay_given = std::env::var_os("VIGIL_BIN").is_some();
    build(&bin_dir, !relay_given, !args.short)?;
    if !relay_given {
        std::env::set_var("VIGIL_BIN", bin_dir.join("vigil"));
    }

    let chosen: Vec<&Program> = PROGRAMS
        .iter()
        .filter(|p| args.only.is_empty() || args.only.iter().any(|n| n == p.name))
        .filter(|p| !args.short || (p.short.is_some() && !p.needs_rdp))
        .collect();
    let mut all_rows = Vec::new();
    let mut missing = Vec::new();
    let mut failed = Vec::new();
    for program in &chosen {
        match run(program, &bin_dir, args.short) {
            Ok(rows) => {
                for m in program.rows {
                    if !rows.iter().any(|r| r.measure == *m) {
                        missing.push(Missing {
                            measure: *m,
                            why: format!("{} did not report it", program.name),
                        });
                    }
                }
                all_rows.extend(rows);
            }
            Err(why) => {
                failed.push(program.name);
                missing.extend(program.rows.iter().map(|m| Missing {
                    measure: *m,
                    why: why.clone(),
                }));
            }
        }
    }
    let sizes = target.join("xtask").join("dist-bench.sizes.json");
    let budget = sizes::budget_rows(&sizes)?;
    let over: Vec<String> = budget
        .iter()
        .filter(|r| r.verdict() != Verdict::Met)
        .map(|r| r.label.clone())
        .collect();
    all_rows.extend(budget);

    println!(
        "\n== bench-all: the performance goals ({}{}) ==",
        if args.short {
            "short runs"
        } else {
            "full runs"
        },
        if cfg!(debug_assertions) {
            ", debug build: figures are not the goals' figures"
        } else {
            ""
        }
    );
    print!("{}", table::render(&all_rows, &missing));
    let (met, not) = table::summary(&all_rows, &missing);
    println!("{met} met, {not} not met or not measured");
    if args.short {
        let skipped: Vec<_> = PROGRAMS
            .iter()
            .filter(|p| !chosen.iter().any(|c| c.name == p.name))
            .flat_map(|p| p.rows.iter().map(move |m| (p.name, *m)))
            .collect();
        for (name, m) in skipped {
            println!("not run with --short: {} ({name})", table::title(m));
        }
    }
    if !over.is_empty() {
        bail!("over the size budget: {}", over.join(", "));
    }
    if !args.short && !failed.is_empty() {
        bail!("failed: {}", failed.join(", "));
    }
    Ok(())
}
