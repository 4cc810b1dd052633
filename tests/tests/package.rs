//! The Debian package, installed into a throw-away Debian 12 root (a minbase debootstrap
//! that `scripts/setup.sh` keeps in `target/debootstrap/`), so the machine itself is
//! untouched: `dpkg -i` there, the files, modes and the `vigil` system user it makes,
//! `vigil config check` on the packaged config, then the installed relay started as the
//! vigil user with that config (systemd does not run here) and a login over HTTP; then a
//! reinstall keeps the key, the data and an edited config, and `dpkg --purge` removes what
//! the package made.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use anyhow::{bail, ensure, Context, Result};
use vigil_testkit::{
    dist_dir, free_port, poll_until, secs, step, target_dir, unique, workspace_root, Api,
};

/// The root's tar, made by scripts/setup.sh ("Debian 12 root for the package test").
fn root_tar() -> PathBuf {
    target_dir().join("debootstrap/bookworm-minbase.tar")
}

/// The packaged configuration, as the relay in the root reads it.
const CONFIG: &str = "/etc/vigil/vigil.toml";

/// The unit's hardening, each line as the package must ship it.
const HARDENING: &[&str] = &[
    "User=vigil",
    "ProtectSystem=strict",
    "ReadWritePaths=/var/lib/vigil",
    "NoNewPrivileges=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectHome=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    "RestrictNamespaces=yes",
    "LockPersonality=yes",
    "MemoryDenyWriteExecute=yes",
    "RestrictRealtime=yes",
    "RestrictSUIDSGID=yes",
    "SystemCallArchitectures=native",
    "SystemCallFilter=@system-service",
    "CapabilityBoundingSet=",
    "UMask=0077",
    "Restart=on-failure",
    "LimitNOFILE=65536",
    "ExecStart=/usr/bin/vigil --config /etc/vigil/vigil.toml serve",
];

/// A Debian root unpacked into a temporary directory, with `/proc` mounted. Dropping it
/// unmounts `/proc` and then deletes the directory (never across a mount that is still
/// there), whether the test passed or not.
struct Root {
    dir: PathBuf,
    proc_mounted: bool,
}

impl Root {
    fn unpack(tar: &Path) -> Result<Root> {
        let dir = std::env::temp_dir().join(unique("vigil-package-root-"));
        std::fs::create_dir_all(&dir).with_context(|| format!("mkdir {}", dir.display()))?;
        let mut root = Root {
            dir,
            proc_mounted: false,
        };
        run(Command::new("tar")
            .arg("-xf")
            .arg(tar)
            .arg("-C")
            .arg(&root.dir)
            .arg("--numeric-owner"))
        .context("unpacking the Debian root")?;
        run(Command::new("mount")
            .args(["-t", "proc", "proc"])
            .arg(root.dir.join("proc")))
        .context("mounting /proc in the root")?;
        root.proc_mounted = true;
        Ok(root)
    }

    /// `path` (absolute, as seen inside the root) from outside.
    fn path(&self, path: &str) -> PathBuf {
        self.dir.join(path.trim_start_matches('/'))
    }

    /// `chroot ROOT args…` with an empty environment but PATH (and `env`).
    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new("chroot");
        cmd.arg(&self.dir)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("LANG", "C.UTF-8")
            .envs(env.iter().copied());
        cmd
    }

    /// Runs `args` in the root as root; fails with its output unless it succeeds.
    fn run(&self, args: &[&str]) -> Result<Output> {
        run(&mut self.command(args, &[]))
    }

    /// `args` in the root as the vigil user (its own group), through `setpriv`.
    fn as_vigil(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut all = vec![
            "setpriv",
            "--reuid=vigil",
            "--regid=vigil",
            "--init-groups",
            "--",
        ];
        all.extend_from_slice(args);
        self.command(&all, env)
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        if self.proc_mounted {
            let unmounted = Command::new("umount")
                .arg(self.dir.join("proc"))
                .status()
                .is_ok_and(|s| s.success());
            if !unmounted {
                eprintln!(
                    "package test: could not unmount {}/proc; leaving the root in place",
                    self.dir.display()
                );
                return;
            }
        }
        // --one-file-system: never into anything still mounted below the root.
        let removed = Command::new("rm")
            .args(["-rf", "--one-file-system"])
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !removed {
            eprintln!("package test: could not remove {}", self.dir.display());
        }
    }
}

/// The relay started in the root; killed (by its PID) when dropped.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `cmd`; its output, or an error holding what it printed.
fn run(cmd: &mut Command) -> Result<Output> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    ensure!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(out)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The tools this test drives on the machine itself, each said missing clearly.
fn require_tools() -> Result<()> {
    let uid = Command::new("id").arg("-u").output()?;
    ensure!(
        text(&uid.stdout).trim() == "0",
        "the package test needs root (chroot, mount, dpkg in the throw-away root)"
    );
    for tool in ["chroot", "tar", "mount", "umount", "dpkg-deb"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ensure!(found, "`{tool}` is missing; run scripts/setup.sh");
    }
    let deb = Command::new("cargo")
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    ensure!(deb, "cargo-deb is missing; run scripts/setup.sh");
    ensure!(
        root_tar().is_file(),
        "{} is missing: the Debian 12 root is made by scripts/setup.sh (step \"Debian 12 root for the package test\"); run scripts/setup.sh",
        root_tar().display()
    );
    Ok(())
}

/// `bash scripts/package.sh` for the dev binary and the test's app bundle; the .deb's path.
fn build_package() -> Result<PathBuf> {
    let out = run(Command::new("bash")
        .arg(workspace_root().join("scripts/package.sh"))
        .current_dir(workspace_root())
        .env("VIGIL_PACKAGE_PROFILE", "dev")
        .env("VIGIL_PACKAGE_DIST", dist_dir()))?;
    let stdout = text(&out.stdout);
    let deb = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
    let name = deb
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    ensure!(
        name.starts_with("vigil_") && name.ends_with("_amd64.deb") && deb.is_file(),
        "package.sh printed no vigil_<version>_amd64.deb: {stdout:?}"
    );
    Ok(deb)
}

/// uid, gid, home and shell of `name` in the root, from its `getent passwd`.
fn passwd(root: &Root, name: &str) -> Result<(u32, u32, String, String)> {
    let out = root.run(&["getent", "passwd", name])?;
    let line = text(&out.stdout);
    let f: Vec<&str> = line.trim().split(':').collect();
    ensure!(f.len() == 7, "getent passwd {name}: {line:?}");
    Ok((
        f[2].parse()?,
        f[3].parse()?,
        f[5].to_string(),
        f[6].to_string(),
    ))
}

fn assert_owned(path: &Path, mode: u32, uid: u32) -> Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    let got = meta.permissions().mode() & 0o7777;
    ensure!(
        got == mode,
        "{} has mode {got:o}, expected {mode:o}",
        path.display()
    );
    ensure!(
        meta.uid() == uid,
        "{} is owned by uid {}, expected {uid}",
        path.display(),
        meta.uid()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_package_installs_into_debian_and_its_relay_logs_in() -> Result<()> {
    require_tools()?;
    step("build the package (scripts/package.sh, dev binary)");
    let deb = build_package()?;
    step("unpack the Debian 12 root");
    let root = Root::unpack(&root_tar())?;
    std::fs::copy(&deb, root.path("/tmp/vigil.deb")).context("copying the .deb in")?;

    step("dpkg -i in the root");
    root.run(&["dpkg", "-i", "/tmp/vigil.deb"])?;
    let status = root.run(&["dpkg-query", "-W", "-f=${Status} ${Conffiles}", "vigil"])?;
    let status = text(&status.stdout);
    ensure!(
        status.starts_with("install ok installed"),
        "dpkg-query: {status}"
    );
    ensure!(
        status.contains("/etc/vigil/vigil.toml"),
        "the config is not a conffile: {status}"
    );

    step("files, modes and the vigil system user");
    let (uid, gid, home, shell) = passwd(&root, "vigil")?;
    ensure!(
        (100..1000).contains(&uid),
        "vigil is not a system user: uid {uid}"
    );
    ensure!(home == "/var/lib/vigil", "vigil's home is {home}");
    ensure!(shell.ends_with("nologin"), "vigil's shell is {shell}");
    let group = text(&root.run(&["getent", "group", "vigil"])?.stdout);
    ensure!(
        group.split(':').nth(2) == Some(gid.to_string().as_str()),
        "the vigil group is not vigil's primary group: {group:?}"
    );
    assert_owned(&root.path("/usr/bin/vigil"), 0o755, 0)?;
    ensure!(
        root.path("/usr/share/vigil/dist/index.html").is_file(),
        "no /usr/share/vigil/dist/index.html"
    );
    assert_owned(&root.path("/etc/vigil/vigil.toml"), 0o644, 0)?;
    assert_owned(&root.path("/var/lib/vigil"), 0o700, uid)?;
    assert_owned(&root.path("/etc/vigil/audit.key"), 0o600, uid)?;
    let unit = std::fs::read_to_string(root.path("/lib/systemd/system/vigil.service"))
        .context("the systemd unit")?;
    let lines: Vec<&str> = unit.lines().map(str::trim).collect();
    for directive in HARDENING {
        ensure!(
            lines.contains(directive),
            "the unit lacks `{directive}`:\n{unit}"
        );
    }

    step("vigil config check on the packaged config, and on a bad one");
    let ok = run(&mut root.as_vigil(&["vigil", "--config", CONFIG, "config", "check"], &[]))?;
    ensure!(
        text(&ok.stdout).trim() == format!("config ok: {CONFIG}"),
        "config check: {}",
        text(&ok.stdout)
    );
    let packaged = std::fs::read_to_string(root.path(CONFIG))?;
    std::fs::write(
        root.path("/tmp/bad.toml"),
        // At the top: the packaged file ends inside its `[retention]` table.
        format!("listen = \"0.0.0.0:80\"\n{packaged}"),
    )?;
    let bad = root
        .as_vigil(&["vigil", "config", "check", "/tmp/bad.toml"], &[])
        .output()?;
    let stderr = text(&bad.stderr);
    ensure!(!bad.status.success(), "a bad config passed the check");
    ensure!(
        stderr.contains("unknown key `listen`"),
        "config check did not name the bad key: {stderr}"
    );

    step("an admin user, then the installed relay as the vigil user");
    let password = unique("pw-");
    run(&mut root.as_vigil(
        &[
            "vigil",
            "--config",
            CONFIG,
            "user",
            "add",
            "admin",
            "--password-env",
            "ADMIN_PW",
            "--admin",
        ],
        &[("ADMIN_PW", &password)],
    ))?;
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let log = std::env::temp_dir().join(unique("vigil-package-relay-"));
    let child = root
        .as_vigil(
            &["/usr/bin/vigil", "--config", CONFIG, "serve"],
            &[("VIGIL_BIND", &bind)],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .context("starting the relay in the root")?;
    let mut served = Served(child);
    let base = format!("http://{bind}");
    let client = reqwest::Client::new();
    let index = poll_until("the packaged relay to serve its app", secs(30.0), || {
        let (client, base) = (&client, &base);
        async move {
            match client.get(format!("{base}/")).send().await {
                Ok(r) if r.status().is_success() => Ok(Some(r.text().await?)),
                Ok(r) => bail!("GET / gave {}", r.status()),
                Err(e) => Err(e.into()),
            }
        }
    })
    .await;
    let index = match index {
        Ok(i) => i,
        Err(e) => {
            let exited = served.0.try_wait().ok().flatten();
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            let _ = std::fs::remove_file(&log);
            bail!("{e:#}; relay exit: {exited:?}; its log:\n{log_text}");
        }
    };
    let _ = std::fs::remove_file(&log);
    let packaged_index = std::fs::read_to_string(root.path("/usr/share/vigil/dist/index.html"))?;
    ensure!(
        index == packaged_index,
        "GET / is not the packaged index.html"
    );
    let api = Api::new(&base)?;
    let me = api.login("admin", &password).await?;
    ensure!(me.username == "admin" && me.is_admin, "/api/v1/me: {me:?}");
    let db = root.path("/var/lib/vigil/vigil.db");
    ensure!(db.is_file(), "the relay made no database in /var/lib/vigil");
    ensure!(
        std::fs::metadata(&db)?.uid() == uid,
        "the database is not the vigil user's"
    );
    served.0.kill().context("stopping the relay")?;
    served.0.wait()?;
    drop(served);

    step("reinstalling (as an upgrade does) keeps the key, the data and an edited config");
    let key = std::fs::read(root.path("/etc/vigil/audit.key"))?;
    let edited = format!("{packaged}\n# edited by the administrator\n");
    std::fs::write(root.path(CONFIG), &edited)?;
    root.run(&["dpkg", "-i", "/tmp/vigil.deb"])?;
    ensure!(
        std::fs::read(root.path("/etc/vigil/audit.key"))? == key,
        "the audit key was replaced"
    );
    ensure!(
        std::fs::read_to_string(root.path(CONFIG))? == edited,
        "the edited config was replaced"
    );
    ensure!(db.is_file(), "the database is gone after reinstalling");
    assert_owned(&root.path("/var/lib/vigil"), 0o700, uid)?;

    step("dpkg --purge removes the data, the key and the user");
    root.run(&["dpkg", "--purge", "vigil"])?;
    for gone in ["/usr/bin/vigil", "/var/lib/vigil", "/etc/vigil"] {
        ensure!(
            !root.path(gone).exists(),
            "{gone} is still there after purge"
        );
    }
    for db in ["passwd", "group"] {
        let entry = root.command(&["getent", db, "vigil"], &[]).output()?;
        ensure!(
            !entry.status.success(),
            "vigil is still in {db} after purge"
        );
    }
    Ok(())
}
