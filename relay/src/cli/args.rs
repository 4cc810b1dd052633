//! The command line's arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use vigil_wire::api::{GrantedRole, Protocol};
use vigil_wire::desktop::KeyboardLayout;

/// Examples at the end of `vigil --help`.
const EXAMPLES: &str = "Examples:
  vigil audit keygen --out /etc/vigil/audit.key
  vigil --config /etc/vigil/vigil.toml config check
  ADMIN_PW=... vigil --config /etc/vigil/vigil.toml user add alice --password-env ADMIN_PW --admin
  vigil --config /etc/vigil/vigil.toml serve

Every command takes --config FILE (or VIGIL_CONFIG); every key of the file can be
overridden by a VIGIL_* variable, such as VIGIL_BIND=0.0.0.0:8443.";

#[derive(Debug, Parser)]
#[command(
    name = "vigil",
    version,
    about = "Vigil privileged-session gateway",
    long_about = "Vigil privileged-session gateway: users open RDP and SSH sessions through \
                  it; monitors watch, lock, terminate and replay them; every monitor action \
                  goes into a tamper-evident audit chain.\n\n`vigil serve` runs the relay. \
                  The other commands set Vigil up and take access away without the relay \
                  running; they open the database directly, and a running relay applies \
                  what they change within a second.",
    after_help = EXAMPLES
)]
pub struct Cli {
    /// TOML configuration file; every key can be overridden by VIGIL_* variables.
    #[arg(long, global = true, env = "VIGIL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the relay: the web app, the REST and WebSocket API and the sessions.
    #[command(
        long_about = "Run the relay: the web app, the REST and WebSocket API and the \
                      sessions, on `bind` (HTTPS with tls_cert and tls_key). Needs the audit \
                      key (audit_key_file); creates the data directory on first start. \
                      SIGTERM or Ctrl-C ends it.",
        after_help = "Examples:\n  vigil --config /etc/vigil/vigil.toml serve\n  \
                      VIGIL_BIND=127.0.0.1:9000 vigil --config /etc/vigil/vigil.toml serve"
    )]
    Serve,
    /// Manage users.
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
    /// Manage assets.
    Asset {
        #[command(subcommand)]
        cmd: AssetCmd,
    },
    /// Manage Smart Rules.
    Rule {
        #[command(subcommand)]
        cmd: RuleCmd,
    },
    /// The tamper-evident audit log: make its key, check it, prune it.
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
    /// Lock or terminate every live session of one user or one asset, on the running
    /// relay (which applies it within a second and reports how many sessions).
    #[command(after_help = "Examples:\n  vigil emergency lock --user alice\n  \
                      vigil emergency terminate --asset db-prod")]
    Emergency {
        /// What to do to the sessions.
        #[arg(value_enum)]
        action: EmergencyArg,
        /// Every live session of this user.
        #[arg(
            long,
            value_name = "NAME",
            conflicts_with = "asset",
            required_unless_present = "asset"
        )]
        user: Option<String>,
        /// Every live session on this asset.
        #[arg(long, value_name = "NAME")]
        asset: Option<String>,
    },
    /// Check a configuration file.
    Config {
        #[command(subcommand)]
        cmd: super::config_check::ConfigCmd,
    },
    /// Place or release a session's legal hold (retention keeps a held recording).
    Session {
        #[command(subcommand)]
        cmd: SessionCmd,
    },
    /// Retention of recordings and audit entries (the `[retention]` settings).
    Retention {
        #[command(subcommand)]
        cmd: RetentionCmd,
    },
    /// Copy the database (an online, consistent copy), the recordings, the credential key
    /// and the audit key into DEST, a new or empty directory, with a manifest of hashes.
    /// The relay may be running. Store the keys apart from the rest.
    #[command(
        after_help = "Example:\n  vigil --config /etc/vigil/vigil.toml backup /srv/backups/vigil-2026-12-02\n\n\
The copy holds secret.key and the audit key: store those apart from the rest."
    )]
    Backup {
        /// Directory to write the backup into: it must not exist, or be empty.
        #[arg(value_name = "DEST")]
        dest: PathBuf,
    },
    /// Restore a backup into the configured data directory (new or empty) and audit key
    /// path, after checking every file against the backup's manifest.
    Restore {
        /// A directory written by `vigil backup` (its manifest is checked first).
        #[arg(value_name = "SRC")]
        src: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum SessionCmd {
    /// Place a legal hold on session ID: its recording is kept whatever the retention.
    Hold {
        /// The session's id (as in Active Sessions, Replay Sessions and the API).
        id: String,
        /// Why (required; recorded in the audit entry).
        #[arg(long)]
        reason: String,
    },
    /// Release session ID's legal hold: retention applies to its recording again.
    Release {
        /// The session's id.
        id: String,
        /// Why it is released (optional; recorded in the audit entry).
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RetentionCmd {
    /// Run one retention pass now, as the relay's background task does, and print what
    /// it deleted and pruned.
    Run,
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Write a new audit key (32 random bytes, mode 0600) to PATH, outside the data
    /// directory; an existing file is never overwritten.
    #[command(after_help = "Example:\n  vigil audit keygen --out /etc/vigil/audit.key")]
    Keygen {
        /// Where to write the key (a new file; name it as audit_key_file).
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
    },
    /// Check the chain (every entry's hash, MAC and place) and every sealed recording;
    /// exits non-zero naming the first entry that was edited, deleted or reordered.
    Verify,
    /// Remove the entries up to and including seq N behind a checkpoint entry, so the
    /// chain still verifies.
    Prune {
        /// The last seq to remove (see `vigil audit verify` and the Audit page).
        #[arg(long, value_name = "N")]
        through_seq: i64,
    },
}

/// `vigil emergency lock|terminate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EmergencyArg {
    /// Freeze the sessions: their users see a locked screen until a monitor unlocks them.
    Lock,
    /// End the sessions.
    Terminate,
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Create a user.
    #[command(
        after_help = "Examples:\n  ADMIN_PW=... vigil user add alice --password-env ADMIN_PW --admin\n  \
                      PW=... vigil user add bob --password-env PW --group ops --display-name 'Bob B.'"
    )]
    Add {
        /// The login name.
        name: String,
        /// Name of the environment variable holding the password (never the password itself).
        #[arg(long, value_name = "VAR")]
        password_env: String,
        /// Make the user an administrator (users, assets, rules, the audit log).
        #[arg(long)]
        admin: bool,
        /// A group the user belongs to (repeatable); Smart Rules grant roles to groups.
        #[arg(long = "group", value_name = "G")]
        groups: Vec<String>,
        /// The name the app shows; default: the login name.
        #[arg(long, value_name = "TEXT")]
        display_name: Option<String>,
    },
    /// Disable a user: their logins end, and a running relay closes their streams and
    /// terminates their live sessions.
    Disable {
        /// The user's login name.
        name: String,
    },
    /// Let a disabled user log in again.
    Enable {
        /// The user's login name.
        name: String,
    },
    /// End every login of a user (a running relay closes their streams).
    EndLogins {
        /// The user's login name.
        name: String,
    },
    /// Take a user out of a group.
    RemoveGroup {
        /// The user's login name.
        name: String,
        /// The group to leave.
        group: String,
    },
    /// Set the keyboard layout of a user's desktop sessions: announced to RDP servers and
    /// used to read their keystrokes. Applies to sessions launched afterwards.
    SetLayout {
        /// The user's login name.
        name: String,
        /// en-US, en-GB, de-DE or fr-FR (or the id: 0x409, 0x809, 0x407, 0x40c).
        layout: KeyboardLayout,
    },
}

#[derive(Debug, Subcommand)]
pub enum AssetCmd {
    /// Create an asset with its managed account.
    #[command(
        after_help = "Examples:\n  PW=... vigil asset add web1 --protocol ssh --host 10.0.0.5 --port 22 \\\n      \
                      --account root --password-env PW --tag prod\n  \
                      vigil asset add desk --protocol rdp --host 10.0.0.9 --port 3389 \\\n      \
                      --account admin --password-env PW --rdp-size 1920x1080"
    )]
    Add {
        /// The asset's name, unique.
        name: String,
        /// ssh or rdp.
        #[arg(long, value_name = "P")]
        protocol: Protocol,
        /// The target's host name or address, as the relay reaches it.
        #[arg(long)]
        host: String,
        /// The target's port (22 for SSH, 3389 for RDP, usually).
        #[arg(long)]
        port: u16,
        /// The managed account the relay logs in as; users never see its credential.
        #[arg(long)]
        account: String,
        /// Environment variable holding the account's password.
        #[arg(long, value_name = "VAR", conflicts_with = "private_key_file")]
        password_env: Option<String>,
        /// OpenSSH private key (PEM) for the account.
        #[arg(long, value_name = "F")]
        private_key_file: Option<PathBuf>,
        /// A tag, for Smart Rules to select the asset by (repeatable).
        #[arg(long = "tag", value_name = "T")]
        tags: Vec<String>,
        /// How an RDP target is asked to encode graphics.
        #[arg(long, value_enum, default_value = "remotefx")]
        rdp_codec: RdpCodecArg,
        /// The desktop size an RDP target is asked for, WIDTHxHEIGHT (640x480 to
        /// 5120x2880); default 1024x768.
        #[arg(long, value_name = "WxH")]
        rdp_size: Option<vigil_hub::RdpSize>,
        /// The expected host identity, enforced from the first connection: for SSH the
        /// host key's fingerprint as `ssh-keygen -lf` prints it (SHA256:…), for RDP the
        /// certificate key pin (sha256:<hex> of its SubjectPublicKeyInfo). Without it the
        /// first connection pins what it meets.
        #[arg(long, value_name = "FINGERPRINT")]
        host_key: Option<String>,
    },
    /// Show the pinned and the offered host key of an asset, or, with --fingerprint,
    /// accept the offered one (it must be the fingerprint the target offered).
    AcceptHostKey {
        /// The asset's name.
        name: String,
        /// The fingerprint being accepted, compared out of band with the target's.
        #[arg(long, value_name = "FINGERPRINT")]
        fingerprint: Option<String>,
    },
}

/// `--rdp-codec`: the values of the asset's `rdp_codec` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RdpCodecArg {
    /// RemoteFX progressive tiles (the default).
    Remotefx,
    /// Plain bitmaps, for servers without RemoteFX.
    Bitmap,
}

impl From<RdpCodecArg> for vigil_hub::RdpCodec {
    fn from(c: RdpCodecArg) -> Self {
        match c {
            RdpCodecArg::Remotefx => vigil_hub::RdpCodec::RemoteFx,
            RdpCodecArg::Bitmap => vigil_hub::RdpCodec::Bitmap,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum RuleCmd {
    /// Create a Smart Rule granting roles on the assets it selects to one group.
    #[command(
        long_about = "Create a Smart Rule granting roles on the assets it selects to one \
                      group. An asset is selected when it matches every selector given \
                      (--name-glob, --protocol, each --tag); without selectors, every asset.",
        after_help = "Examples:\n  vigil rule add ops-ssh --group ops --role requestor --protocol ssh --tag prod\n  \
                      vigil rule add leads --group leads --role approver --role active_session_reviewer"
    )]
    Add {
        /// The rule's name, unique.
        name: String,
        /// The group whose members get the roles.
        #[arg(long, value_name = "G")]
        group: String,
        /// requestor, approver, isa or active_session_reviewer (repeatable).
        #[arg(long = "role", value_name = "R", required = true)]
        roles: Vec<GrantedRole>,
        /// Select assets whose name matches this glob (such as `db-*`).
        #[arg(long, value_name = "GLOB")]
        name_glob: Option<String>,
        /// Select assets of this protocol (ssh or rdp).
        #[arg(long, value_name = "P")]
        protocol: Option<Protocol>,
        /// Select assets carrying this tag (repeatable: all of them).
        #[arg(long = "tag", value_name = "T")]
        tags: Vec<String>,
        /// Requests under this rule are approved at once, without an approver.
        #[arg(long)]
        auto_approve: bool,
        /// Live sessions one approved request may have at once (1 to 100). Where several
        /// rules make a user a requestor on an asset, the smallest applies.
        #[arg(long, value_name = "N", default_value_t = crate::policy::SESSIONS_PER_REQUEST)]
        sessions_per_request: u32,
    },
    /// Delete a Smart Rule; what it granted is gone at once on a running relay.
    Delete {
        /// The rule's name.
        name: String,
    },
    /// List the Smart Rules, one a line.
    List,
}
