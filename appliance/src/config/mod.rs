//! Outpost's configuration: a TOML file (`/etc/outpost/outpost.toml` on a host) whose every key
//! can be overridden by an environment variable `OUTPOST_<SECTION>_<KEY>`, e.g.
//! `OUTPOST_DATABASE_URL` or `OUTPOST_SESSION_IDLE_TIMEOUT_MINUTES`.
//!
//! Loading collects *every* problem, each named by its key, instead of stopping at the first,
//! so that `outpost check-config` can list them all at once.

mod reader;
pub mod secrets;

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use toml::Table;

use crate::integrations::networks::{TargetPolicy, DEFAULT_DENIED};
use crate::tls::TlsFiles;
use reader::Reader;

/// Every key Outpost understands, with its meaning; unknown keys are reported as problems.
pub const KEYS: &[(&str, &str)] = &[
    ("server.bind", "address and port to listen on (default 127.0.0.1:8080: loopback only)"),
    ("server.public_url", "the URL users reach Outpost at; https:// marks session cookies Secure"),
    ("server.workers", "HTTP worker threads (default: one per core)"),
    (
        "server.tls_certificate",
        "PEM certificate chain; with tls_private_key, Outpost serves HTTPS (default: plain HTTP)",
    ),
    ("server.tls_private_key", "PEM private key of tls_certificate"),
    (
        "server.redirect_http_from",
        "with TLS: an address:port (e.g. 0.0.0.0:80) that answers every plain HTTP request with a redirect to HTTPS (default none)",
    ),
    (
        "server.user",
        "started as root (to bind a port below 1024), Outpost becomes this user once its ports are bound (default outpost; root stays root, not advised)",
    ),
    ("server.trusted_proxies", "addresses of reverse proxies whose X-Forwarded-For is believed (default none)"),
    ("database.url", "PostgreSQL connection string (URL or key=value form); required"),
    (
        "database.pool_size",
        "connections serving requests; many more than the cores only makes requests take turns on the CPU (default: twice the cores)",
    ),
    ("database.checkout_timeout_secs", "how long a request waits for a free connection (default 5)"),
    ("session.idle_timeout_minutes", "a session ends after this long without a request (default 480)"),
    ("session.absolute_timeout_hours", "a session ends this long after sign-in, whatever happens (default 168)"),
    ("login.max_failures", "failed sign-ins per account before it is locked out for a while (default 5)"),
    ("login.lockout_minutes", "how long failed sign-ins are counted and an account stays locked (default 15)"),
    ("api.requests_per_minute", "API requests one account may make per minute on one node; then 429 (default 1200)"),
    ("api.requests_per_minute_per_address", "API requests one client address may make per minute on one node (default 2400)"),
    ("api.failed_tokens_per_minute", "API tokens that do not work one address may send per minute before it waits (default 20)"),
    ("ldap.url", "ldap://host:389 or ldaps://host:636 of the directory people sign in with (default: none, local accounts only)"),
    ("ldap.security", "starttls (default with ldap://), tls (ldaps://), or none (a trusted network only)"),
    ("ldap.ca_file", "PEM file of the certificate authority that signed the directory's certificate"),
    ("ldap.bind_dn", "the account Outpost searches the directory as (read-only is enough)"),
    ("ldap.bind_password", "the password of ldap.bind_dn (may be sealed: `outpost keys seal-secret ldap.bind_password`)"),
    ("ldap.user_base", "where people are, e.g. ou=people,dc=example,dc=com"),
    (
        "ldap.user_filter",
        "which entry is a person, {username} standing for the escaped user name (default (&(objectClass=inetOrgPerson)(uid={username})))",
    ),
    ("ldap.group_base", "where groups (groupOfNames) are; a group named like a team fills that team"),
    ("ldap.admin_group", "the cn of the group whose members are administrators (default: none)"),
    ("ldap.auditor_group", "the cn of the group whose members are auditors (default: none)"),
    ("oidc.issuer", "the OpenID Connect provider for single sign-on, e.g. https://idp.example.com/realms/main (default: none)"),
    ("oidc.client_id", "Outpost's client id at the provider"),
    ("oidc.client_secret", "Outpost's client secret at the provider (may be sealed: `outpost keys seal-secret oidc.client_secret`)"),
    ("oidc.redirect_url", "where the provider sends people back: the public URL followed by /login/sso/callback"),
    ("oidc.ca_file", "PEM file of the certificate authority that signed the provider's certificate"),
    ("oidc.groups_claim", "the ID token claim listing a person's groups (default groups)"),
    ("oidc.admin_group", "the group whose members are administrators (default: none)"),
    ("oidc.auditor_group", "the group whose members are auditors (default: none)"),
    ("oidc.label", "the sign-in button's words (default: Sign in with single sign-on)"),
    (
        "metrics.token",
        "a bearer token that may read /metrics from anywhere (default: loopback only; may be sealed: `outpost keys seal-secret metrics.token`)",
    ),
    ("log.level", "log filter: error, warn, info, debug, trace, or a tracing directive (default info)"),
    ("jobs.workers", "background job workers on this node (default 2; 0 leaves the work to other nodes)"),
    ("jobs.lease_seconds", "how long a job may run before another worker takes it over (default 300)"),
    ("jobs.keep_finished_days", "finished jobs stay listed this many days (default 7)"),
    (
        "schedule.cleanup",
        "cron (sec min hour day month weekday, UTC) removing expired sessions and tokens and old jobs (default every 10 minutes)",
    ),
    ("schedule.digest", "cron for the notification digest mails (default 07:00 UTC daily)"),
    ("schedule.reminders", "cron for due-date reminders (default 08:00 UTC daily)"),
    ("schedule.automation", "cron for checking which scheduled automation rules are due (default every minute)"),
    ("schedule.ldap_sync", "cron for bringing directory people up to date and deactivating the departed (default hourly)"),
    ("mail.smtp_host", "SMTP server for notification mail (default: none, no mail is sent)"),
    ("mail.smtp_port", "SMTP port (default 587; 465 with security = tls, 25 with security = none)"),
    ("mail.security", "starttls (default: required, never plain), tls (implicit TLS), or none (trusted local relay only)"),
    ("mail.username", "SMTP user name, if the server wants authentication"),
    ("mail.password", "SMTP password of mail.username (may be sealed: `outpost keys seal-secret mail.password`)"),
    ("mail.ca_file", "PEM file of the certificate authority that signed the SMTP server's certificate"),
    ("mail.from", "the sender of Outpost's mail (default outpost@localhost)"),
    (
        "webhooks.allowed_networks",
        "CIDR ranges webhooks may connect to (default: any not denied)",
    ),
    (
        "webhooks.denied_networks",
        "CIDR ranges webhooks never connect to (default: loopback, link-local, multicast, unspecified)",
    ),
    ("webhooks.timeout_seconds", "how long one webhook delivery may take (default 10)"),
    ("webhooks.ca_file", "PEM file of certificate authorities trusted for https webhook targets, besides the public ones"),
    ("storage.backend", "where attachments are kept: local (default, a folder) or s3 (MinIO or any S3-compatible server)"),
    ("storage.local_dir", "the folder of the local backend (default /var/lib/outpost/objects; quickstart: DATA/objects)"),
    ("storage.max_upload_mb", "the largest file a person may upload, in MiB (default 100)"),
    ("storage.s3_endpoint", "URL of the S3 server, e.g. https://minio.example.internal:9000; required with backend s3"),
    ("storage.s3_region", "the bucket's region (default us-east-1)"),
    ("storage.s3_bucket", "the bucket; created if missing (default outpost)"),
    ("storage.s3_access_key", "S3 access key; required with backend s3"),
    ("storage.s3_secret_key", "S3 secret key of s3_access_key (may be sealed: `outpost keys seal-secret storage.s3_secret_key`)"),
    ("storage.s3_ca_file", "PEM file of the certificate authority that signed the S3 server's certificate"),
    (
        "search.index_dir",
        "this node's search index folder, rebuilt from the database when missing (default /var/lib/outpost/search; quickstart: DATA/search)",
    ),
    ("keys.provider", "where the key-encryption key is: file, pkcs11 or command (default file)"),
    ("keys.file", "with provider file: the 256-bit key, 0600 (default /etc/outpost/kek; quickstart: DATA/kek)"),
    ("keys.pkcs11_module", "with provider pkcs11: the PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so"),
    ("keys.pkcs11_token", "with provider pkcs11: the token's label"),
    ("keys.pkcs11_pin_file", "with provider pkcs11: a file holding the user PIN (or a systemd credential's path)"),
    ("keys.pkcs11_key", "with provider pkcs11: the label of the AES key on the token"),
    ("keys.command", "with provider command: a program run as `PROGRAM wrap` / `PROGRAM unwrap` (bytes on stdin and stdout)"),
    ("keys.command_key_id", "with provider command: a name for the key the command uses"),
    ("keys.previous_files", "key files rotated away from: they still unwrap until `outpost keys rotate` has re-wrapped everything"),
    ("keys.previous_pkcs11_keys", "labels of keys on the same token rotated away from"),
    ("backup.dir", "where backup archives are written (default /var/lib/outpost/backups; quickstart: DATA/backups)"),
    (
        "backup.target",
        "folder (default: archives stay in backup.dir) or object-store (each is uploaded under backups/ in the storage.* store, then removed locally)",
    ),
    ("backup.keep_daily", "scheduled backups kept, the newest of each day, for this many days (default 7)"),
    ("backup.keep_weekly", "and the newest of each week, for this many weeks (default 4)"),
    ("backup.keep_monthly", "and the newest of each month, for this many months (default 6)"),
    (
        "backup.pg_bin_dir",
        "the folder of pg_dump and pg_restore, of the server's major version or newer (default: the newest installed)",
    ),
    ("schedule.usage", "cron for measuring the day just ended for usage metering (default 00:10 UTC daily)"),
    ("schedule.backup", "cron for the scheduled backup, its verification and the pruning of old ones (default 02:30 UTC daily)"),
    (
        "license.file",
        "a license file put in force at start-up when it differs from the installed one (default /etc/outpost/license; a missing file is no problem)",
    ),
];

#[derive(Clone, Debug)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub session: SessionConfig,
    pub login: LoginConfig,
    pub api: ApiConfig,
    /// `None`: no directory; accounts are local.
    pub ldap: Option<LdapConfig>,
    /// `None`: no single sign-on.
    pub oidc: Option<OidcConfig>,
    pub log_level: String,
    pub jobs: JobsConfig,
    pub mail: MailConfig,
    pub webhooks: WebhookConfig,
    pub storage: StorageConfig,
    pub search: SearchConfig,
    /// Where an administrator may drop a license file for start-up to install.
    pub license_file: PathBuf,
    pub keys: KeysConfig,
    pub backup: BackupConfig,
    /// The file it was read from, if any (backups keep a copy, secrets left out).
    pub source: Option<PathBuf>,
    /// Who may read `/metrics` besides loopback.
    pub metrics_token: Option<String>,
}

/// Where backups go, how many scheduled ones are kept, and the PostgreSQL tools that make them.
#[derive(Clone, Debug)]
pub struct BackupConfig {
    pub dir: PathBuf,
    /// Archives go on to the object store, and are listed, fetched and pruned there.
    pub in_object_store: bool,
    pub keep: Retention,
    pub pg_bin_dir: Option<PathBuf>,
}

/// Scheduled backups kept: the newest of each of the last `daily` days, `weekly` weeks and
/// `monthly` months.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
}

/// The customer-managed key-encryption keys: the current one and those rotated away from.
#[derive(Clone, Debug)]
pub struct KeysConfig {
    pub current: KeyProviderConfig,
    pub previous: Vec<KeyProviderConfig>,
}

#[derive(Clone, Debug)]
pub enum KeyProviderConfig {
    File { path: PathBuf },
    Pkcs11 { module: PathBuf, token_label: String, pin_file: PathBuf, key_label: String },
    Command { program: PathBuf, key_id: String },
}

#[derive(Clone, Debug)]
pub struct SearchConfig {
    pub index_dir: PathBuf,
}

/// Where attached files live, and how large one may be.
#[derive(Clone, Debug)]
pub struct StorageConfig {
    pub backend: StorageBackend,
    pub max_upload_bytes: u64,
}

#[derive(Clone, Debug)]
pub enum StorageBackend {
    Local { dir: PathBuf },
    S3(S3Settings),
}

#[derive(Clone, Debug)]
pub struct S3Settings {
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    pub ca_file: Option<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct WebhookConfig {
    pub targets: TargetPolicy,
    pub timeout_seconds: u64,
    /// Certificate authorities trusted for https targets besides the public ones.
    pub ca_file: Option<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct JobsConfig {
    pub workers: usize,
    pub lease_seconds: u64,
    pub keep_finished_days: u64,
    /// (job kind, cron expression with seconds), each checked when the config loads.
    pub schedules: Vec<(&'static str, String)>,
}

/// The scheduled jobs and their default times.
pub const SCHEDULES: &[(&str, &str)] = &[
    ("cleanup", "0 */10 * * * *"),
    ("ldap_sync", "0 15 * * * *"),
    ("digest", "0 0 7 * * *"),
    ("reminders", "0 0 8 * * *"),
    ("automation", "0 * * * * *"),
    ("backup", "0 30 2 * * *"),
    ("usage", "0 10 0 * * *"),
];

#[derive(Clone, Debug)]
pub struct MailConfig {
    /// `None`: mail is off; notifications stay in the app.
    pub smtp: Option<SmtpConfig>,
    pub from: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    StartTls,
    Tls,
    None,
}

#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<String>,
    pub ca_file: Option<PathBuf>,
}

// The password must never reach a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LdapSecurity {
    StartTls,
    Tls,
    None,
}

/// The directory people sign in with, and where Outpost finds them and their groups.
#[derive(Clone)]
pub struct LdapConfig {
    pub url: String,
    pub security: LdapSecurity,
    pub ca_file: Option<PathBuf>,
    pub bind_dn: String,
    pub bind_password: String,
    pub user_base: String,
    pub user_filter: String,
    pub group_base: String,
    pub admin_group: Option<String>,
    pub auditor_group: Option<String>,
}

/// The OpenID Connect provider people may sign in with.
#[derive(Clone)]
pub struct OidcConfig {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_url: String,
    pub ca_file: Option<PathBuf>,
    pub groups_claim: String,
    pub admin_group: Option<String>,
    pub auditor_group: Option<String>,
    pub label: String,
}

impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("redirect_url", &self.redirect_url)
            .finish()
    }
}

impl std::fmt::Debug for LdapConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapConfig")
            .field("url", &self.url)
            .field("security", &self.security)
            .field("ca_file", &self.ca_file)
            .field("bind_dn", &self.bind_dn)
            .field("bind_password", &"[redacted]")
            .field("user_base", &self.user_base)
            .field("user_filter", &self.user_filter)
            .field("group_base", &self.group_base)
            .finish()
    }
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub bind: SocketAddr,
    pub public_url: Option<String>,
    pub workers: usize,
    pub trusted_proxies: Vec<IpAddr>,
    pub tls: Option<TlsFiles>,
    /// A plain HTTP listener that only redirects to HTTPS.
    pub redirect_http_from: Option<SocketAddr>,
    /// Who a process started as root becomes once its ports are bound.
    pub user: String,
}

#[derive(Clone)]
pub struct DatabaseConfig {
    pub url: String,
    pub pool_size: u32,
    pub checkout_timeout_secs: u64,
}

// The URL may carry a password: never print it.
impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &"[redacted]")
            .field("pool_size", &self.pool_size)
            .field("checkout_timeout_secs", &self.checkout_timeout_secs)
            .finish()
    }
}

#[derive(Clone, Debug)]
pub struct SessionConfig {
    pub idle_timeout_minutes: i64,
    pub absolute_timeout_hours: i64,
}

/// How many API requests a node takes per minute, per account and per client address.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    pub requests_per_minute: u32,
    pub requests_per_minute_per_address: u32,
    pub failed_tokens_per_minute: u32,
}

#[derive(Clone, Debug)]
pub struct LoginConfig {
    pub max_failures: i64,
    pub lockout_minutes: i64,
}

impl ServerConfig {
    /// Cookies get the Secure flag when users reach Outpost over HTTPS: served here, or by a
    /// proxy in front (an https public URL).
    pub fn secure_cookies(&self) -> bool {
        self.tls.is_some() || self.public_url.as_deref().is_some_and(|url| url.starts_with("https://"))
    }
}

impl Config {
    /// Reads the file (if any), applies `OUTPOST_*` overrides from `env`, and validates.
    pub fn load(path: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Config, Vec<String>> {
        let table = match path {
            None => Table::new(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| vec![format!("{}: cannot be read: {e}", path.display())])?;
                toml::from_str::<Table>(&text)
                    .map_err(|e| vec![format!("{}: is not valid TOML: {e}", path.display())])?
            }
        };
        let mut reader = Reader { table, problems: Vec::new(), read: BTreeSet::new() };
        reader.apply_env(env);
        let config = Config {
            server: ServerConfig {
                bind: reader.socket_addr("server.bind", "127.0.0.1:8080"),
                public_url: reader.public_url("server.public_url"),
                workers: reader.integer("server.workers", cores(), 1..=256) as usize,
                trusted_proxies: reader.addresses("server.trusted_proxies"),
                tls: reader.tls_files(),
                redirect_http_from: reader
                    .optional_string("server.redirect_http_from")
                    .map(|_| reader.socket_addr("server.redirect_http_from", "0.0.0.0:80")),
                user: reader.string("server.user", "outpost"),
            },
            database: DatabaseConfig {
                url: reader.required_string("database.url"),
                pool_size: reader.integer("database.pool_size", cores() * 2, 1..=512) as u32,
                checkout_timeout_secs: reader.integer("database.checkout_timeout_secs", 5, 1..=60) as u64,
            },
            session: SessionConfig {
                idle_timeout_minutes: reader.integer("session.idle_timeout_minutes", 480, 5..=10_080),
                absolute_timeout_hours: reader.integer("session.absolute_timeout_hours", 168, 1..=8_760),
            },
            login: LoginConfig {
                max_failures: reader.integer("login.max_failures", 5, 1..=100),
                lockout_minutes: reader.integer("login.lockout_minutes", 15, 1..=1_440),
            },
            api: ApiConfig {
                requests_per_minute: reader.integer("api.requests_per_minute", 1200, 1..=1_000_000) as u32,
                requests_per_minute_per_address: reader.integer(
                    "api.requests_per_minute_per_address",
                    2400,
                    1..=1_000_000,
                ) as u32,
                failed_tokens_per_minute: reader.integer("api.failed_tokens_per_minute", 20, 1..=10_000) as u32,
            },
            log_level: reader.string("log.level", "info"),
            jobs: JobsConfig {
                workers: reader.integer("jobs.workers", 2, 0..=64) as usize,
                lease_seconds: reader.integer("jobs.lease_seconds", 300, 5..=86_400) as u64,
                keep_finished_days: reader.integer("jobs.keep_finished_days", 7, 1..=365) as u64,
                schedules: SCHEDULES
                    .iter()
                    .map(|(name, default)| (*name, reader.cron(&format!("schedule.{name}"), default)))
                    .collect(),
            },
            mail: reader.mail(),
            ldap: reader.ldap(),
            oidc: reader.oidc(),
            webhooks: WebhookConfig {
                targets: TargetPolicy {
                    allowed: reader.networks("webhooks.allowed_networks", &[]),
                    denied: reader.networks("webhooks.denied_networks", DEFAULT_DENIED),
                },
                timeout_seconds: reader.integer("webhooks.timeout_seconds", 10, 1..=120) as u64,
                ca_file: reader.certificate_file("webhooks.ca_file"),
            },
            storage: reader.storage(),
            search: SearchConfig {
                index_dir: PathBuf::from(reader.string("search.index_dir", "/var/lib/outpost/search")),
            },
            license_file: PathBuf::from(reader.string("license.file", "/etc/outpost/license")),
            keys: reader.keys(),
            backup: BackupConfig {
                dir: PathBuf::from(reader.string("backup.dir", "/var/lib/outpost/backups")),
                in_object_store: reader.choice("backup.target", &["folder", "object-store"], "folder")
                    == "object-store",
                keep: Retention {
                    daily: reader.integer("backup.keep_daily", 7, 0..=366) as u32,
                    weekly: reader.integer("backup.keep_weekly", 4, 0..=520) as u32,
                    monthly: reader.integer("backup.keep_monthly", 6, 0..=1200) as u32,
                },
                pg_bin_dir: reader.optional_string("backup.pg_bin_dir").map(PathBuf::from),
            },
            source: path.map(Path::to_path_buf),
            metrics_token: reader.optional_string("metrics.token").filter(|token| !token.is_empty()),
        };
        if config.server.redirect_http_from.is_some() && config.server.tls.is_none() {
            reader.problems.push(
                "server.redirect_http_from: redirects to HTTPS need server.tls_certificate and server.tls_private_key"
                    .to_owned(),
            );
        }
        reader.check_sealed_values();
        reader.report_unknown_keys();
        if reader.problems.is_empty() {
            Ok(config)
        } else {
            Err(reader.problems)
        }
    }

    /// The configuration quickstart runs with: defaults and `env`'s `OUTPOST_*` overrides,
    /// except the database (its private cluster), the address (loopback, `port`) and the user
    /// (the one that started it); files
    /// and the search index are kept in the data folder unless `env` says otherwise.
    pub fn quickstart(
        database_url: String,
        port: u16,
        data: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, Vec<String>> {
        let folders = [
            ("OUTPOST_STORAGE_LOCAL_DIR".to_owned(), data.join("objects").display().to_string()),
            ("OUTPOST_SEARCH_INDEX_DIR".to_owned(), data.join("search").display().to_string()),
            ("OUTPOST_KEYS_FILE".to_owned(), data.join("kek").display().to_string()),
            ("OUTPOST_BACKUP_DIR".to_owned(), data.join("backups").display().to_string()),
        ];
        let fixed = [
            ("OUTPOST_DATABASE_URL".to_owned(), database_url),
            ("OUTPOST_SERVER_BIND".to_owned(), format!("127.0.0.1:{port}")),
            // Quickstart keeps whoever started it, whose data folder it uses (for root too).
            ("OUTPOST_SERVER_USER".to_owned(), crate::privileges::ROOT.to_owned()),
        ];
        Config::load(None, folders.into_iter().chain(env).chain(fixed))
    }
}

/// The cores this process may run on: HTTP workers, request connections and the searches
/// running at once are sized by it.
pub fn cores() -> i64 {
    std::thread::available_parallelism().map_or(2, |n| n.get() as i64)
}

#[cfg(test)]
mod tests;
