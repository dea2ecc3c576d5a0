//! Outpost's configuration: a TOML file (`/etc/outpost/outpost.toml` on a host) whose every key
//! can be overridden by an environment variable `OUTPOST_<SECTION>_<KEY>`, e.g.
//! `OUTPOST_DATABASE_URL` or `OUTPOST_SESSION_IDLE_TIMEOUT_MINUTES`.
//!
//! Loading collects *every* problem, each named by its key, instead of stopping at the first,
//! so that `outpost check-config` can list them all at once.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use toml::{Table, Value};

use crate::tls::{self, TlsFiles};

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
    ("server.trusted_proxies", "addresses of reverse proxies whose X-Forwarded-For is believed (default none)"),
    ("database.url", "PostgreSQL connection string (URL or key=value form); required"),
    ("database.pool_size", "connections kept open to PostgreSQL (default 16)"),
    ("database.checkout_timeout_secs", "how long a request waits for a free connection (default 5)"),
    ("session.idle_timeout_minutes", "a session ends after this long without a request (default 480)"),
    ("session.absolute_timeout_hours", "a session ends this long after sign-in, whatever happens (default 168)"),
    ("login.max_failures", "failed sign-ins per account before it is locked out for a while (default 5)"),
    ("login.lockout_minutes", "how long failed sign-ins are counted and an account stays locked (default 15)"),
    ("log.level", "log filter: error, warn, info, debug, trace, or a tracing directive (default info)"),
];

#[derive(Clone, Debug)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub session: SessionConfig,
    pub login: LoginConfig,
    pub log_level: String,
}

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub bind: SocketAddr,
    pub public_url: Option<String>,
    pub workers: usize,
    pub trusted_proxies: Vec<IpAddr>,
    pub tls: Option<TlsFiles>,
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
                workers: reader.integer("server.workers", default_workers(), 1..=256) as usize,
                trusted_proxies: reader.addresses("server.trusted_proxies"),
                tls: reader.tls_files(),
            },
            database: DatabaseConfig {
                url: reader.required_string("database.url"),
                pool_size: reader.integer("database.pool_size", 16, 1..=512) as u32,
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
            log_level: reader.string("log.level", "info"),
        };
        reader.report_unknown_keys();
        if reader.problems.is_empty() {
            Ok(config)
        } else {
            Err(reader.problems)
        }
    }

    /// The configuration quickstart runs with: defaults and `env`'s `OUTPOST_*` overrides,
    /// except the database (its private cluster) and the address (loopback, `port`).
    pub fn quickstart(
        database_url: String,
        port: u16,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, Vec<String>> {
        let fixed = [
            ("OUTPOST_DATABASE_URL".to_owned(), database_url),
            ("OUTPOST_SERVER_BIND".to_owned(), format!("127.0.0.1:{port}")),
        ];
        Config::load(None, env.into_iter().chain(fixed))
    }
}

fn default_workers() -> i64 {
    std::thread::available_parallelism().map_or(2, |n| n.get() as i64)
}

struct Reader {
    table: Table,
    problems: Vec<String>,
    read: BTreeSet<String>,
}

impl Reader {
    /// `OUTPOST_DATABASE_POOL_SIZE=8` becomes `database.pool_size = "8"`; section names have no
    /// underscore, so the first one after the prefix separates section from key.
    fn apply_env(&mut self, env: impl IntoIterator<Item = (String, String)>) {
        for (name, value) in env {
            let Some(rest) = name.strip_prefix("OUTPOST_") else {
                continue;
            };
            let Some((section, key)) = rest.split_once('_') else {
                self.problems.push(format!("{name}: environment overrides look like OUTPOST_<SECTION>_<KEY>"));
                continue;
            };
            let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
            if !KEYS.iter().any(|(known, _)| *known == format!("{section}.{key}")) {
                self.problems.push(format!("{name}: no such setting ({section}.{key})"));
                continue;
            }
            let entry = self.table.entry(section).or_insert_with(|| Value::Table(Table::new()));
            if let Value::Table(section_table) = entry {
                section_table.insert(key, Value::String(value));
            }
        }
    }

    fn value(&mut self, key: &str) -> Option<Value> {
        self.read.insert(key.to_owned());
        let (section, name) = key.split_once('.')?;
        self.table.get(section)?.as_table()?.get(name).cloned()
    }

    fn string(&mut self, key: &str, default: &str) -> String {
        self.optional_string(key).unwrap_or_else(|| default.to_owned())
    }

    fn optional_string(&mut self, key: &str) -> Option<String> {
        match self.value(key)? {
            Value::String(s) => Some(s),
            other => {
                self.problems.push(format!("{key}: must be a string, not {}", other.type_str()));
                None
            }
        }
    }

    fn required_string(&mut self, key: &str) -> String {
        match self.optional_string(key) {
            Some(value) if !value.trim().is_empty() => value,
            _ => {
                self.problems.push(format!("{key}: is required"));
                String::new()
            }
        }
    }

    fn integer(&mut self, key: &str, default: i64, range: RangeInclusive<i64>) -> i64 {
        let parsed = match self.value(key) {
            None => return default,
            Some(Value::Integer(n)) => Some(n),
            Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
            Some(_) => None,
        };
        match parsed {
            Some(n) if range.contains(&n) => n,
            Some(n) => {
                self.problems.push(format!("{key}: {n} is out of range ({} to {})", range.start(), range.end()));
                default
            }
            None => {
                self.problems.push(format!("{key}: must be a whole number"));
                default
            }
        }
    }

    fn socket_addr(&mut self, key: &str, default: &str) -> SocketAddr {
        let text = self.string(key, default);
        text.parse().unwrap_or_else(|_| {
            self.problems.push(format!("{key}: \"{text}\" is not an address:port such as 127.0.0.1:8080"));
            SocketAddr::from(([127, 0, 0, 1], 8080))
        })
    }

    /// Both TLS files or neither; when both, they must load.
    fn tls_files(&mut self) -> Option<TlsFiles> {
        let certificate = self.optional_string("server.tls_certificate");
        let private_key = self.optional_string("server.tls_private_key");
        let files = match (certificate, private_key) {
            (None, None) => return None,
            (Some(certificate), Some(private_key)) => {
                TlsFiles { certificate: PathBuf::from(certificate), private_key: PathBuf::from(private_key) }
            }
            (Some(_), None) => {
                self.problems.push("server.tls_private_key: is required when server.tls_certificate is set".to_owned());
                return None;
            }
            (None, Some(_)) => {
                self.problems.push("server.tls_certificate: is required when server.tls_private_key is set".to_owned());
                return None;
            }
        };
        match tls::server_config(&files) {
            Ok(_) => Some(files),
            Err(problems) => {
                self.problems.extend(problems);
                None
            }
        }
    }

    /// A TOML array of addresses, or one string of them separated by commas (for the
    /// environment); each bad entry is its own problem.
    fn addresses(&mut self, key: &str) -> Vec<IpAddr> {
        let entries: Vec<String> = match self.value(key) {
            None => return Vec::new(),
            Some(Value::String(text)) => {
                text.split(',').map(|e| e.trim().to_owned()).filter(|e| !e.is_empty()).collect()
            }
            Some(Value::Array(items)) => {
                items.iter().map(|item| item.as_str().unwrap_or_default().to_owned()).collect()
            }
            Some(other) => {
                self.problems.push(format!("{key}: must be a list of addresses, not {}", other.type_str()));
                return Vec::new();
            }
        };
        entries
            .into_iter()
            .filter_map(|entry| match entry.parse::<IpAddr>() {
                Ok(address) => Some(address),
                Err(_) => {
                    self.problems.push(format!("{key}: \"{entry}\" is not an IP address"));
                    None
                }
            })
            .collect()
    }

    fn public_url(&mut self, key: &str) -> Option<String> {
        let url = self.optional_string(key)?;
        if url.starts_with("http://") || url.starts_with("https://") {
            Some(url.trim_end_matches('/').to_owned())
        } else {
            self.problems.push(format!("{key}: \"{url}\" must start with http:// or https://"));
            None
        }
    }

    fn report_unknown_keys(&mut self) {
        for (section, value) in &self.table {
            let Some(entries) = value.as_table() else {
                self.problems.push(format!("{section}: must be a [section] of settings"));
                continue;
            };
            for name in entries.keys() {
                let key = format!("{section}.{name}");
                if !self.read.contains(&key) {
                    self.problems.push(format!("{key}: no such setting"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml_text: &str, env: &[(&str, &str)]) -> Result<Config, Vec<String>> {
        let dir = std::env::temp_dir().join(format!("outpost-config-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).map_err(|e| vec![e.to_string()])?;
        let path = dir.join("outpost.toml");
        std::fs::write(&path, toml_text).map_err(|e| vec![e.to_string()])?;
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let result = Config::load(Some(&path), env);
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    #[test]
    fn defaults_fill_everything_but_the_database_url() {
        let config = load("[database]\nurl = \"postgres:///outpost\"\n", &[]).unwrap();
        assert_eq!(config.server.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database.pool_size, 16);
        assert_eq!(config.session.idle_timeout_minutes, 480);
        assert!(!config.server.secure_cookies());
    }

    #[test]
    fn environment_overrides_the_file() {
        let config = load(
            "[database]\nurl = \"postgres:///a\"\npool_size = 4\n",
            &[("OUTPOST_DATABASE_POOL_SIZE", "9"), ("OUTPOST_SERVER_PUBLIC_URL", "https://op.example/")],
        )
        .unwrap();
        assert_eq!(config.database.pool_size, 9);
        assert_eq!(config.server.public_url.as_deref(), Some("https://op.example"));
        assert!(config.server.secure_cookies());
    }

    #[test]
    fn every_problem_is_listed_by_key() {
        let problems = load(
            "[server]\nbind = \"nowhere\"\ncolour = \"blue\"\n[database]\npool_size = 0\n[session]\nidle_timeout_minutes = \"soon\"\n",
            &[("OUTPOST_LOGIN_MAX_FAILURES", "1000"), ("OUTPOST_NOPE_X", "1")],
        )
        .unwrap_err();
        let text = problems.join("\n");
        for expected in [
            "server.bind: \"nowhere\" is not an address:port",
            "server.colour: no such setting",
            "database.url: is required",
            "database.pool_size: 0 is out of range (1 to 512)",
            "session.idle_timeout_minutes: must be a whole number",
            "login.max_failures: 1000 is out of range (1 to 100)",
            "OUTPOST_NOPE_X: no such setting (nope.x)",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        assert_eq!(problems.len(), 7, "{text}");
    }

    #[test]
    fn trusted_proxies_come_as_a_list_or_a_string_and_bad_ones_are_named() {
        let from_file =
            load("[server]\ntrusted_proxies = [\"10.0.0.5\", \"::1\"]\n[database]\nurl = \"x\"\n", &[]).unwrap();
        assert_eq!(from_file.server.trusted_proxies.len(), 2);
        let from_env =
            load("[database]\nurl = \"x\"\n", &[("OUTPOST_SERVER_TRUSTED_PROXIES", "10.0.0.5, 10.0.0.6")]).unwrap();
        assert_eq!(from_env.server.trusted_proxies.len(), 2);
        let problems =
            load("[server]\ntrusted_proxies = [\"10.0.0.5\", \"proxy.local\"]\n[database]\nurl = \"x\"\n", &[])
                .unwrap_err();
        assert_eq!(problems, vec!["server.trusted_proxies: \"proxy.local\" is not an IP address".to_owned()]);
    }

    #[test]
    fn tls_needs_both_files_and_files_that_load() {
        let only_certificate =
            load("[server]\ntls_certificate = \"/x.pem\"\n[database]\nurl = \"x\"\n", &[]).unwrap_err();
        assert_eq!(
            only_certificate,
            vec!["server.tls_private_key: is required when server.tls_certificate is set".to_owned()]
        );
        let junk = std::env::temp_dir().join(format!("outpost-junk-{}.pem", rand::random::<u64>()));
        std::fs::write(&junk, "not a certificate").unwrap();
        let text = format!(
            "[server]\ntls_certificate = \"{0}\"\ntls_private_key = \"{0}\"\n[database]\nurl = \"x\"\n",
            junk.display()
        );
        let problems = load(&text, &[]).unwrap_err().join("\n");
        std::fs::remove_file(&junk).unwrap();
        assert!(
            problems.contains("server.tls_certificate:") && problems.contains("holds no PEM certificate"),
            "{problems}"
        );
        assert!(
            problems.contains("server.tls_private_key:") && problems.contains("no usable PEM private key"),
            "{problems}"
        );
    }

    #[test]
    fn unreadable_and_malformed_files_are_named() {
        let missing = Config::load(Some(Path::new("/nonexistent/outpost.toml")), []).unwrap_err();
        assert!(missing[0].starts_with("/nonexistent/outpost.toml: cannot be read"));
        let malformed = load("[database\n", &[]).unwrap_err();
        assert!(malformed[0].contains("is not valid TOML"), "{malformed:?}");
    }

    #[test]
    fn the_database_url_never_appears_in_debug_output() {
        let config = load("[database]\nurl = \"postgres://u:hunter2@db/outpost\"\n", &[]).unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn quickstart_keeps_its_database_and_address_but_takes_other_overrides() {
        let env = [
            ("OUTPOST_LOG_LEVEL".to_owned(), "warn".to_owned()),
            ("OUTPOST_SERVER_BIND".to_owned(), "0.0.0.0:80".to_owned()),
            ("OUTPOST_DATABASE_URL".to_owned(), "postgres://elsewhere/x".to_owned()),
        ];
        let config = Config::quickstart("host=/private dbname=outpost".to_owned(), 9000, env).unwrap();
        assert_eq!(config.log_level, "warn");
        assert_eq!(config.server.bind.to_string(), "127.0.0.1:9000");
        assert_eq!(config.database.url, "host=/private dbname=outpost");
    }

    #[test]
    fn the_shipped_config_documents_every_key_and_loads() {
        let shipped = include_str!("../../packaging/outpost.toml");
        for (key, _) in KEYS {
            let name = key.split_once('.').map(|(_, name)| name).unwrap();
            assert!(
                shipped.contains(&format!("\n{name} = ")) || shipped.contains(&format!("\n# {name} = ")),
                "packaging/outpost.toml does not document {key}"
            );
        }
        assert!(load(shipped, &[]).is_ok(), "{:?}", load(shipped, &[]).err());
    }
}
