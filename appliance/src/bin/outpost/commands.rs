//! The `outpost` command line as clap reads it: every command, its flags and its help text
//! (the manual pages and completions are generated from these).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "outpost", version, about = "Outpost: a self-hosted, air-gap-ready work platform")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Args)]
pub struct ConfigArg {
    /// The configuration file; every key can be overridden by OUTPOST_<SECTION>_<KEY>.
    #[arg(long, short, env = "OUTPOST_CONFIG", default_value = "/etc/outpost/outpost.toml")]
    pub config: PathBuf,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run everything on this machine with nothing configured: a private PostgreSQL cluster in
    /// the data folder, the migrations, an administrator account, and the server.
    Quickstart {
        /// Where the database and everything else is kept; reused on the next run.
        #[arg(long, default_value = "outpost-data")]
        data: PathBuf,
        /// The port to listen on, on 127.0.0.1 only.
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
    /// Run the server against the PostgreSQL configured in the config file.
    Serve(ConfigArg),
    /// Check the configuration and list every problem by key.
    CheckConfig {
        #[command(flatten)]
        config: ConfigArg,
        /// Also list every setting Outpost understands.
        #[arg(long)]
        list_keys: bool,
    },
    /// Check a PostgreSQL server before using it: reachable, version 15 or newer, and a role
    /// that may create tables. The installer runs it on an external database's URL.
    CheckDatabase {
        /// The connection string (URL or libpq key=value form).
        #[arg(long, conflicts_with = "config")]
        url: Option<String>,
        /// The configuration file whose database.url to check.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Apply pending database migrations and exit.
    Migrate(ConfigArg),
    /// Rebuild the search index from the database on every node. Searches keep using the
    /// current index until the new one is complete; a stopped node rebuilds when it starts.
    Reindex {
        #[command(flatten)]
        config: ConfigArg,
        /// Why, for the audit log.
        #[arg(long, default_value = "requested with outpost reindex")]
        reason: String,
    },
    /// Administrator tasks.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Mail settings.
    #[command(subcommand)]
    Mail(MailCommand),
    /// File storage settings.
    #[command(subcommand)]
    Storage(StorageCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The license: show the one in force, check a file, install one.
    #[command(subcommand)]
    License(LicenseCommand),
    /// Customer-managed keys: status, rotation, a check of every data key.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Back up to an encrypted archive, list, verify and restore archives.
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Tools for development and benchmarking.
    #[command(subcommand)]
    Dev(DevCommand),
}

#[derive(Subcommand)]
pub enum StorageCommand {
    /// Check the configured storage.* settings: reach the store, write, read back, list and
    /// delete a test object, and say exactly which step failed.
    Check {
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Subcommand)]
pub enum BackupCommand {
    /// Write a backup now into backup.dir: the database, the stored files and the
    /// configuration (secrets left out), encrypted with the customer-managed key.
    Create {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// The archives in backup.dir, newest first, with what each header says.
    List {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Read a whole archive: it decrypts, every entry matches its manifest, and the
    /// database dump reads. Writes nothing.
    Verify {
        #[command(flatten)]
        config: ConfigArg,
        archive: PathBuf,
    },
    /// Restore an archive onto an empty installation (verified first), then every node
    /// rebuilds its search index. Stop `outpost serve` on every node first.
    Restore {
        #[command(flatten)]
        config: ConfigArg,
        archive: PathBuf,
        /// Replace an installation that holds data; asks for the database's name to confirm.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// The provider and key in use, its proof (a wrap and unwrap round trip), the data keys
    /// per key-encryption key, and the last rotation.
    Status {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Re-wrap every data key with the current key-encryption key (the previous ones must still
    /// be configured); resumable, online, the data itself untouched. Then retire the old key.
    Rotate {
        #[command(flatten)]
        config: ConfigArg,
        /// Data keys re-wrapped per transaction.
        #[arg(long, default_value_t = 500)]
        batch: i64,
    },
    /// Unwrap every data key, to prove the configured keys open all of them.
    Verify {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Seal the attached files and thumbnails stored before customer-managed keys: each is
    /// copied sealed, its row moved to the copy, the plain object removed. Resumable.
    SealFiles {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Seal a secret of the configuration (read from standard input) with the customer-managed
    /// key, and print the value to write in its place: sealed:v1:…
    SealSecret {
        #[command(flatten)]
        config: ConfigArg,
        /// The setting: mail.password, ldap.bind_password, oidc.client_secret or
        /// storage.s3_secret_key.
        setting: String,
    },
    /// Write a new random 256-bit key file (mode 0600) for provider `file`.
    CreateFile {
        /// Where; an existing file is never overwritten.
        path: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
pub enum LicenseCommand {
    /// What is in force: mode, customer, expiry, seats in use, features, this installation's id.
    Show {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Check a license file against the vendor's keys without installing it (no database needed).
    Verify {
        /// The license file.
        file: std::path::PathBuf,
    },
    /// Check a license file for this installation and put it in force; audited.
    Install {
        #[command(flatten)]
        config: ConfigArg,
        /// The license file.
        file: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Recompute the audit log's hash chain and report every edited, missing or unsealed row;
    /// exits non-zero when anything is wrong. Prints the chain's head to record for later.
    Verify {
        #[command(flatten)]
        config: ConfigArg,
        /// A head printed by an earlier run (POSITION:HASH): proves nothing up to it was
        /// rewritten since, even by someone who recomputed the hashes after it.
        #[arg(long, value_name = "POSITION:HASH")]
        expect_head: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum MailCommand {
    /// Send a test mail now with the configured mail.* settings and report what happened.
    Test {
        #[command(flatten)]
        config: ConfigArg,
        /// Where to send it.
        address: String,
    },
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create a user. The password is read from standard input with --password-stdin,
    /// otherwise generated and printed once.
    CreateUser {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// Defaults to the user name.
        #[arg(long)]
        display_name: Option<String>,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// A user who already has this name is left as they are (and succeeds), so that an
        /// installer run again converges instead of failing.
        #[arg(long)]
        existing_ok: bool,
    },
    /// Set a user's password and end all their sessions. The password is read from standard
    /// input with --password-stdin, otherwise generated and printed once.
    SetPassword {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        username: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
pub enum DevCommand {
    /// Write the manual pages and shell completions into DIR (the packages are built with it).
    Manuals { dir: PathBuf },
    /// Fill the database with realistic generated users, a project and issues (through COPY).
    Generate {
        #[command(flatten)]
        config: ConfigArg,
        /// How many issues, spread over the projects by a Zipf law (GEN1 the largest).
        #[arg(long, default_value_t = 100_000)]
        issues: u64,
        /// How many documentation pages, spread over the projects' spaces the same way.
        #[arg(long, default_value_t = 10_000)]
        pages: u64,
        /// How many users (user00001 …; any that exist are kept).
        #[arg(long, default_value_t = 1_000)]
        users: u64,
        /// How many projects (GEN1 …); the installation must not have them yet.
        #[arg(long, default_value_t = 50)]
        projects: u64,
        /// Seed of the random generator: the same seed gives the same installation.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Build a search index of generated issues and pages in a new folder and time queries
    /// on it (no database needed): indexing rate, index size, latency percentiles.
    BenchSearch {
        /// The folder to build the index in; it must not exist yet.
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        issues: u64,
        #[arg(long, default_value_t = 100_000)]
        pages: u64,
        #[arg(long, default_value_t = 500)]
        projects: u64,
        #[arg(long, default_value_t = 100)]
        spaces: u64,
        /// How many times each query runs.
        #[arg(long, default_value_t = 200)]
        rounds: usize,
        /// Time the queries on the index a previous run left in --dir, without building.
        #[arg(long)]
        reuse: bool,
        /// A search finding more than this many documents counts its facets on a sample (the
        /// default is what the server does).
        #[arg(long, default_value_t = outpost::search::engine::Effort::DEFAULT.exact_up_to)]
        exact_up_to: u64,
        /// The sample: one match in this many (at least).
        #[arg(long, default_value_t = outpost::search::engine::Effort::DEFAULT.every)]
        sample_every: u64,
        /// And at most about this many matches sampled.
        #[arg(long, default_value_t = outpost::search::engine::Effort::DEFAULT.sampled_at_most)]
        sampled_at_most: u64,
    },
}
