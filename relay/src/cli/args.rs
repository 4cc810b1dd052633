//! The command line's arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use vigil_wire::api::{GrantedRole, Protocol};
use vigil_wire::desktop::KeyboardLayout;

#[derive(Debug, Parser)]
#[command(name = "vigil", version, about = "Vigil privileged-session gateway")]
pub struct Cli {
    /// TOML configuration file; every key can be overridden by VIGIL_* variables.
    #[arg(long, global = true, env = "VIGIL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the relay.
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
    Emergency {
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
    Backup {
        #[arg(value_name = "DEST")]
        dest: PathBuf,
    },
    /// Restore a backup into the configured data directory (new or empty) and audit key
    /// path, after checking every file against the backup's manifest.
    Restore {
        #[arg(value_name = "SRC")]
        src: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum SessionCmd {
    /// Place a legal hold on session ID: its recording is kept whatever the retention.
    Hold {
        id: String,
        /// Why (required; recorded in the audit entry).
        #[arg(long)]
        reason: String,
    },
    /// Release session ID's legal hold: retention applies to its recording again.
    Release {
        id: String,
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
    Keygen {
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
    },
    /// Check the chain (every entry's hash, MAC and place) and every sealed recording;
    /// exits non-zero naming the first entry that was edited, deleted or reordered.
    Verify,
    /// Remove the entries up to and including seq N behind a checkpoint entry, so the
    /// chain still verifies.
    Prune {
        #[arg(long, value_name = "N")]
        through_seq: i64,
    },
}

/// `vigil emergency lock|terminate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EmergencyArg {
    Lock,
    Terminate,
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Create a user.
    Add {
        name: String,
        /// Name of the environment variable holding the password (never the password itself).
        #[arg(long, value_name = "VAR")]
        password_env: String,
        #[arg(long)]
        admin: bool,
        #[arg(long = "group", value_name = "G")]
        groups: Vec<String>,
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Disable a user: their logins end, and a running relay closes their streams and
    /// terminates their live sessions.
    Disable { name: String },
    /// Let a disabled user log in again.
    Enable { name: String },
    /// End every login of a user (a running relay closes their streams).
    EndLogins { name: String },
    /// Take a user out of a group.
    RemoveGroup { name: String, group: String },
    /// Set the keyboard layout of a user's desktop sessions: announced to RDP servers and
    /// used to read their keystrokes. Applies to sessions launched afterwards.
    SetLayout {
        name: String,
        /// en-US, en-GB, de-DE or fr-FR (or the id: 0x409, 0x809, 0x407, 0x40c).
        layout: KeyboardLayout,
    },
}

#[derive(Debug, Subcommand)]
pub enum AssetCmd {
    /// Create an asset with its managed account.
    Add {
        name: String,
        #[arg(long)]
        protocol: Protocol,
        #[arg(long)]
        host: String,
        #[arg(long)]
        port: u16,
        #[arg(long)]
        account: String,
        /// Environment variable holding the account's password.
        #[arg(long, value_name = "VAR", conflicts_with = "private_key_file")]
        password_env: Option<String>,
        /// OpenSSH private key (PEM) for the account.
        #[arg(long, value_name = "F")]
        private_key_file: Option<PathBuf>,
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
        name: String,
        /// The fingerprint being accepted, compared out of band with the target's.
        #[arg(long, value_name = "FINGERPRINT")]
        fingerprint: Option<String>,
    },
}

/// `--rdp-codec`: the values of the asset's `rdp_codec` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RdpCodecArg {
    Remotefx,
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
    Add {
        name: String,
        #[arg(long, value_name = "G")]
        group: String,
        /// requestor, approver, isa or active_session_reviewer (repeatable).
        #[arg(long = "role", value_name = "R", required = true)]
        roles: Vec<GrantedRole>,
        #[arg(long, value_name = "GLOB")]
        name_glob: Option<String>,
        #[arg(long, value_name = "P")]
        protocol: Option<Protocol>,
        #[arg(long = "tag", value_name = "T")]
        tags: Vec<String>,
        #[arg(long)]
        auto_approve: bool,
        /// Live sessions one approved request may have at once (1 to 100). Where several
        /// rules make a user a requestor on an asset, the smallest applies.
        #[arg(long, value_name = "N", default_value_t = crate::policy::SESSIONS_PER_REQUEST)]
        sessions_per_request: u32,
    },
    /// Delete a Smart Rule; what it granted is gone at once on a running relay.
    Delete { name: String },
    /// List the Smart Rules, one a line.
    List,
}
