//! `cargo xtask dist [--dev] [--bench]`: builds Vigil's browser bundle into `dist/`.
//!
//! 1. `cargo build -p vigil-app -p vigil-decode-worker --lib --target wasm32-unknown-unknown`
//!    (`--profile wasm-release`, or the dev profile with `--dev`): the page and its RDP
//!    decode worker, two wasm modules;
//! 2. wasm-bindgen through its library, pinned by the workspace lock (target `web`, out
//!    names `vigil_app` and `vigil_decode_worker`);
//! 3. wasm-opt from npm binaryen (`node_modules/.bin/wasm-opt`, version 116 or later;
//!    skipped with `--dev`);
//! 4. copies `public/*`, `style/*.css` and the xterm.js assets from `node_modules`;
//! 5. gives every file but the pages (`index.html`, `login.html`) and `robots.txt` a
//!    content-hashed name and rewrites the references to it ([`hashed`]);
//! 6. writes `.br` and `.gz` copies beside each compressible file ([`compress`]);
//! 7. prints raw, gzip and brotli sizes, writes them to `<target>/xtask/<bundle>.sizes.json`
//!    (read by `bench-all`), and fails when a file's brotli size passes its budget
//!    ([`budget`]).
//!
//! Nothing is downloaded: the tools come from Cargo.lock and package-lock.json.
//!
//! `--bench` builds the benchmark bundle instead: the app with its `bench` feature (the
//! decode benchmark page and the hidden timing figures that the end-to-end tests and the
//! benchmarks read), into `<target>/dist-bench/`, compiled in `<target>/bench/` so that
//! it never replaces the production build's output. `dist/` is left as it is.

mod budget;
mod compress;
mod hashed;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};

/// The wasm packages of the bundle; each is bound and optimised under its crate name.
const WASM_PACKAGES: &[&str] = &["vigil-app", "vigil-decode-worker"];
const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// Older binaryen (Debian's 108) silently corrupts the externref table export.
const MIN_WASM_OPT: u32 = 116;
/// Rust 1.95 emits these wasm features; wasm-opt must be told it may keep them.
const WASM_OPT_FLAGS: &[&str] = &[
    "-Oz",
    "--enable-bulk-memory",
    "--enable-nontrapping-float-to-int",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-reference-types",
    "--enable-multivalue",
];
/// Files taken from `node_modules` (source, name in `dist/`).
const NPM_ASSETS: &[(&str, &str)] = &[
    ("@xterm/xterm/lib/xterm.js", "xterm.js"),
    ("@xterm/xterm/css/xterm.css", "xterm.css"),
    ("@xterm/addon-fit/lib/addon-fit.js", "addon-fit.js"),
];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("dist") => {
            let (mut dev, mut bench) = (false, false);
            for a in &args[1..] {
                match a.as_str() {
                    "--dev" => dev = true,
                    "--bench" => bench = true,
                    other => bail!("unknown option `{other}` for dist\n\n{USAGE}"),
                }
            }
            dist(dev, bench)
        }
        Some("-h" | "--help" | "help") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}

const USAGE: &str = "usage: cargo xtask dist [--dev] [--bench]\n\
    \n  dist          build the browser bundle into dist/ (wasm-release profile + wasm-opt)\
    \n  dist --dev    fast build: dev profile, no wasm-opt\
    \n  dist --bench  the benchmark bundle (decode benchmark page, hidden timing figures)\
    \n                into <target>/dist-bench/, for the end-to-end tests and the benchmarks";

/// The workspace the xtask was run from. Read at run time: one built xtask binary may
/// serve several checkouts that share a target directory.
fn workspace_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// The target directory as cargo resolves it (honours CARGO_TARGET_DIR and config).
fn target_dir(root: &Path) -> Result<PathBuf> {
    let out = Command::new(cargo())
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("running cargo metadata")?;
    ensure!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("parsing cargo metadata")?;
    let dir = meta
        .get("target_directory")
        .and_then(|v| v.as_str())
        .context("cargo metadata has no target_directory")?;
    Ok(PathBuf::from(dir))
}

fn dist(dev: bool, bench: bool) -> Result<()> {
    let started = Instant::now();
    let root = workspace_root();
    let node_modules = root.join("node_modules");
    let wasm_opt = node_modules.join(".bin").join("wasm-opt");
    ensure!(
        node_modules.join("@xterm/xterm").is_dir(),
        "{} is missing the xterm.js packages: run `npm ci` in {} first",
        node_modules.display(),
        root.display()
    );
    if !dev {
        ensure!(
            wasm_opt.exists(),
            "{} not found: run `npm ci` in {} first (binaryen provides wasm-opt)",
            wasm_opt.display(),
            root.display()
        );
        check_wasm_opt_version(&wasm_opt)?;
    }

    // 1. cargo build
    let profile = if dev { "dev" } else { "wasm-release" };
    let profile_dir = if dev { "debug" } else { "wasm-release" };
    let target = target_dir(&root)?;
    // Both builds share the target dir: only vigil-app differs between them (its `bench`
    // feature changes no dependency's features), so a fresh machine compiles the wasm
    // dependencies once. Cargo places the last build's output under the same name; it is
    // read straight after the build.
    let dist = if bench {
        target.join("dist-bench")
    } else {
        root.join("dist")
    };
    println!(
        "xtask: building {} ({profile}, {WASM_TARGET}{})",
        WASM_PACKAGES.join(", "),
        if bench {
            ", feature vigil-app/bench"
        } else {
            ""
        }
    );
    let mut build = Command::new(cargo());
    build.current_dir(&root).arg("build");
    for p in WASM_PACKAGES {
        build.args(["-p", p]);
    }
    if bench {
        build.args(["--features", "vigil-app/bench"]);
    }
    let status = build
        .args(["--lib", "--target", WASM_TARGET, "--profile", profile])
        .status()
        .context("running cargo build")?;
    ensure!(status.success(), "cargo build of the wasm packages failed");
    let out_dir = target.join(WASM_TARGET).join(profile_dir);

    if dist.exists() {
        std::fs::remove_dir_all(&dist).with_context(|| format!("removing {}", dist.display()))?;
    }
    std::fs::create_dir_all(&dist)?;
    let mut wasms = Vec::new();
    for package in WASM_PACKAGES {
        let name = package.replace('-', "_");
        let input = out_dir.join(format!("{name}.wasm"));
        ensure!(input.exists(), "cargo did not produce {}", input.display());
        wasms.push(bind_and_optimise(&input, &name, &dist, dev, &wasm_opt)?);
    }

    // 4. static files
    copy_dir_files(&root.join("public"), &dist, |_| true)?;
    copy_dir_files(&root.join("style"), &dist, |p| {
        p.extension().is_some_and(|e| e == "css")
    })?;
    for (src, name) in NPM_ASSETS {
        let from = node_modules.join(src);
        std::fs::copy(&from, dist.join(name))
            .with_context(|| format!("copying {} (run `npm ci`?)", from.display()))?;
    }

    // 5.-7. hashed names, precompressed copies, sizes and the budget
    let names = hash_and_compress(&dist, &target)?;
    report_wasm(&dist, &wasms, &names)?;
    println!(
        "xtask: dist ready in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// wasm-bindgen (and, unless `dev`, wasm-opt) of one module into `dist` as `name`.
/// Returns the output file and its size straight after wasm-bindgen.
fn bind_and_optimise(
    input: &Path,
    name: &str,
    dist: &Path,
    dev: bool,
    wasm_opt: &Path,
) -> Result<(PathBuf, u64)> {
    println!("xtask: wasm-bindgen {name} → {}", dist.display());
    let t = Instant::now();
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(input)
        .web(true)?
        .out_name(name)
        // The library defaults to `true`, which leaves `init()` without a default URL.
        .omit_default_module_path(false)
        .typescript(false)
        .debug(dev)
        .keep_debug(dev)
        .remove_name_section(!dev)
        .remove_producers_section(!dev)
        .generate(dist)
        .with_context(|| format!("wasm-bindgen of {name}"))?;
    println!("xtask:   done in {:.1}s", t.elapsed().as_secs_f64());
    let wasm = dist.join(format!("{name}_bg.wasm"));
    let bindgen_size = file_size(&wasm)?;
    if dev {
        println!("xtask: --dev: skipping wasm-opt");
    } else {
        println!("xtask: wasm-opt {name} {}", WASM_OPT_FLAGS.join(" "));
        let t = Instant::now();
        let status = Command::new(wasm_opt)
            .args(WASM_OPT_FLAGS)
            .arg(&wasm)
            .arg("-o")
            .arg(&wasm)
            .status()
            .with_context(|| format!("running {}", wasm_opt.display()))?;
        ensure!(status.success(), "wasm-opt of {name} failed");
        println!("xtask:   done in {:.1}s", t.elapsed().as_secs_f64());
    }
    Ok((wasm, bindgen_size))
}

fn check_wasm_opt_version(wasm_opt: &Path) -> Result<()> {
    let out = Command::new(wasm_opt)
        .arg("--version")
        .output()
        .with_context(|| format!("running {} --version", wasm_opt.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "wasm-opt version 132 (version_132)"
    let version = text
        .split_whitespace()
        .skip_while(|w| *w != "version")
        .nth(1)
        .and_then(|v| v.split('.').next())
        .and_then(|v| v.parse::<u32>().ok())
        .with_context(|| {
            format!(
                "cannot read the version of {} from {text:?}",
                wasm_opt.display()
            )
        })?;
    ensure!(
        version >= MIN_WASM_OPT,
        "{} is version {version}; need {MIN_WASM_OPT} or later (older versions corrupt the output). Run `npm ci`.",
        wasm_opt.display()
    );
    Ok(())
}

fn copy_dir_files(from: &Path, to: &Path, keep: impl Fn(&Path) -> bool) -> Result<()> {
    if !from.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let path = entry?.path();
        if path.is_file() && keep(&path) {
            if let Some(name) = path.file_name() {
                std::fs::copy(&path, to.join(name))
                    .with_context(|| format!("copying {}", path.display()))?;
            }
        }
    }
    Ok(())
}

fn file_size(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len())
}

/// One file of the bundle: its name before hashing and its sizes (the compressed ones
/// when it is compressible).
struct Row {
    file: String,
    raw: u64,
    gz: Option<u64>,
    br: Option<u64>,
}

/// Renames the files of `dist` by content, writes their `.br` and `.gz` copies, prints the
/// sizes, writes them to the sizes report ([`write_sizes`]) and checks the budget. Returns
/// plain name → hashed name.
fn hash_and_compress(dist: &Path, target: &Path) -> Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dist)? {
        let path = entry?.path();
        if path.is_file() {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.insert(name, std::fs::read(&path)?);
            std::fs::remove_file(&path)?;
        }
    }
    let hashed = hashed::hash_names(files)?;
    let plain: BTreeMap<&str, &str> = hashed
        .names
        .iter()
        .map(|(p, h)| (h.as_str(), p.as_str()))
        .collect();
    let t = Instant::now();
    let mut rows = Vec::new();
    for (name, bytes) in &hashed.files {
        std::fs::write(dist.join(name), bytes)?;
        let (mut gz, mut br) = (None, None);
        if compress::is_compressible(name) {
            let g = compress::gzip(bytes)?;
            let b = compress::brotli(bytes)?;
            std::fs::write(dist.join(format!("{name}.gz")), &g)?;
            std::fs::write(dist.join(format!("{name}.br")), &b)?;
            (gz, br) = (Some(g.len() as u64), Some(b.len() as u64));
        }
        let file = plain.get(name.as_str()).copied().unwrap_or(name);
        rows.push(Row {
            file: file.to_owned(),
            raw: bytes.len() as u64,
            gz,
            br,
        });
    }
    println!(
        "xtask: compressed (brotli 11, gzip 9) in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let show = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    println!(
        "xtask: {:<28} {:>10} {:>10} {:>10} {:>10}",
        "file", "raw", "gzip -9", "brotli", "budget"
    );
    for Row { file, raw, gz, br } in &rows {
        let budget = budget::BUDGETS
            .iter()
            .find(|(n, _)| n == file)
            .map(|(_, b)| *b);
        println!(
            "xtask: {file:<28} {raw:>10} {:>10} {:>10} {:>10}",
            show(*gz),
            show(*br),
            show(budget)
        );
    }
    let total = |f: fn(&Row) -> u64| rows.iter().map(f).sum::<u64>();
    println!(
        "xtask: total: {} bytes raw, {} gzip, {} brotli ({} files)",
        total(|r| r.raw),
        total(|r| r.gz.unwrap_or(r.raw)),
        total(|r| r.br.unwrap_or(r.raw)),
        rows.len()
    );
    write_sizes(dist, target, &rows)?;
    let over = budget::check(
        rows.iter()
            .filter_map(|r| r.br.map(|b| (r.file.as_str(), b))),
    );
    if !over.is_empty() {
        let list: Vec<String> = over.iter().map(ToString::to_string).collect();
        bail!("size budget exceeded:\n  {}", list.join("\n  "));
    }
    Ok(hashed.names)
}

/// Writes `<target>/xtask/<bundle>.sizes.json`: per file its name before hashing, its raw,
/// gzip and brotli sizes and its budget. `bench-all` reads it for its size-budget rows.
fn write_sizes(dist: &Path, target: &Path, rows: &[Row]) -> Result<()> {
    let bundle = dist
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dist".to_owned());
    let files: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "file": r.file,
                "raw": r.raw,
                "gzip": r.gz,
                "brotli": r.br,
                "budget": budget::BUDGETS.iter().find(|(n, _)| *n == r.file).map(|(_, b)| *b),
            })
        })
        .collect();
    let dir = target.join("xtask");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{bundle}.sizes.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(&files)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn report_wasm(
    dist: &Path,
    wasms: &[(PathBuf, u64)],
    names: &BTreeMap<String, String>,
) -> Result<()> {
    for (wasm, bindgen_size) in wasms {
        let wasm_name = wasm
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(hashed) = names.get(&wasm_name) {
            let raw = file_size(&dist.join(hashed))?;
            println!("xtask: {wasm_name} → {hashed}: {raw} bytes raw (after wasm-bindgen: {bindgen_size} raw)");
        }
    }
    Ok(())
}
