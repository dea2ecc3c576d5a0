//! Reading settings out of the TOML table, collecting every problem by key.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;

use toml::{Table, Value};

use super::secrets::SEALABLE;
use super::{
    KeyProviderConfig, KeysConfig, LdapConfig, LdapSecurity, MailConfig, OidcConfig, S3Settings, SmtpConfig,
    SmtpSecurity, StorageBackend, StorageConfig, KEYS,
};
use crate::integrations::networks::Network;
use crate::keys::sealed_text;
use crate::tls::{self, TlsFiles};

pub(super) struct Reader {
    pub(super) table: Table,
    pub(super) problems: Vec<String>,
    pub(super) read: BTreeSet<String>,
}

impl Reader {
    /// `OUTPOST_DATABASE_POOL_SIZE=8` becomes `database.pool_size = "8"`; section names have no
    /// underscore, so the first one after the prefix separates section from key.
    pub(super) fn apply_env(&mut self, env: impl IntoIterator<Item = (String, String)>) {
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

    pub(super) fn value(&mut self, key: &str) -> Option<Value> {
        self.read.insert(key.to_owned());
        let (section, name) = key.split_once('.')?;
        self.table.get(section)?.as_table()?.get(name).cloned()
    }

    pub(super) fn string(&mut self, key: &str, default: &str) -> String {
        self.optional_string(key).unwrap_or_else(|| default.to_owned())
    }

    /// One of `choices`; anything else is a problem naming them, and `default` stands in.
    pub(super) fn choice(&mut self, key: &str, choices: &[&str], default: &str) -> String {
        let value = self.string(key, default);
        if choices.contains(&value.as_str()) {
            return value;
        }
        self.problems.push(format!("{key}: \"{value}\" must be {}", choices.join(" or ")));
        default.to_owned()
    }

    pub(super) fn optional_string(&mut self, key: &str) -> Option<String> {
        match self.value(key)? {
            Value::String(s) => Some(s),
            other => {
                self.problems.push(format!("{key}: must be a string, not {}", other.type_str()));
                None
            }
        }
    }

    /// A PEM file of CA certificates: one that cannot be read, or holds no certificate, is a
    /// problem now rather than a failed delivery later.
    pub(super) fn certificate_file(&mut self, key: &str) -> Option<PathBuf> {
        let path = PathBuf::from(self.optional_string(key)?);
        match std::fs::read_to_string(&path) {
            Err(e) => self.problems.push(format!("{key}: {} cannot be read: {e}", path.display())),
            Ok(text) if !text.contains("-----BEGIN CERTIFICATE-----") => {
                self.problems.push(format!("{key}: {} holds no PEM certificate", path.display()))
            }
            Ok(_) => {}
        }
        Some(path)
    }

    pub(super) fn required_string(&mut self, key: &str) -> String {
        match self.optional_string(key) {
            Some(value) if !value.trim().is_empty() => value,
            _ => {
                self.problems.push(format!("{key}: is required"));
                String::new()
            }
        }
    }

    pub(super) fn integer(&mut self, key: &str, default: i64, range: RangeInclusive<i64>) -> i64 {
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

    pub(super) fn socket_addr(&mut self, key: &str, default: &str) -> SocketAddr {
        let text = self.string(key, default);
        text.parse().unwrap_or_else(|_| {
            self.problems.push(format!("{key}: \"{text}\" is not an address:port such as 127.0.0.1:8080"));
            SocketAddr::from(([127, 0, 0, 1], 8080))
        })
    }

    /// Both TLS files or neither; when both, they must load.
    pub(super) fn tls_files(&mut self) -> Option<TlsFiles> {
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
    pub(super) fn addresses(&mut self, key: &str) -> Vec<IpAddr> {
        self.list(key, "addresses", &[])
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

    /// Address ranges in CIDR form, as a list like `addresses`; an empty string means none.
    pub(super) fn networks(&mut self, key: &str, default: &[&str]) -> Vec<Network> {
        self.list(key, "address ranges", default)
            .into_iter()
            .filter_map(|entry| match entry.parse::<Network>() {
                Ok(network) => Some(network),
                Err(problem) => {
                    self.problems.push(format!("{key}: {problem}"));
                    None
                }
            })
            .collect()
    }

    fn list(&mut self, key: &str, what: &str, default: &[&str]) -> Vec<String> {
        match self.value(key) {
            None => default.iter().map(|entry| (*entry).to_owned()).collect(),
            Some(Value::String(text)) => {
                text.split(',').map(|e| e.trim().to_owned()).filter(|e| !e.is_empty()).collect()
            }
            Some(Value::Array(items)) => {
                items.iter().map(|item| item.as_str().unwrap_or_default().to_owned()).collect()
            }
            Some(other) => {
                self.problems.push(format!("{key}: must be a list of {what}, not {}", other.type_str()));
                Vec::new()
            }
        }
    }

    pub(super) fn public_url(&mut self, key: &str) -> Option<String> {
        let url = self.optional_string(key)?;
        if url.starts_with("http://") || url.starts_with("https://") {
            Some(url.trim_end_matches('/').to_owned())
        } else {
            self.problems.push(format!("{key}: \"{url}\" must start with http:// or https://"));
            None
        }
    }

    pub(super) fn report_unknown_keys(&mut self) {
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

impl Reader {
    /// A cron expression with a seconds field, as the scheduler reads them.
    pub(super) fn cron(&mut self, key: &str, default: &str) -> String {
        let text = self.string(key, default);
        match crate::jobs::schedule::parse_cron(&text) {
            Ok(_) => text,
            Err(problem) => {
                self.problems.push(format!("{key}: \"{text}\" {problem}"));
                default.to_owned()
            }
        }
    }

    pub(super) fn mail(&mut self) -> MailConfig {
        let from = self.string("mail.from", "outpost@localhost");
        if from.parse::<lettre::message::Mailbox>().is_err() {
            self.problems
                .push(format!("mail.from: \"{from}\" is not a mail address such as Outpost <outpost@example.com>"));
        }
        let security = match self.string("mail.security", "starttls").as_str() {
            "starttls" => SmtpSecurity::StartTls,
            "tls" => SmtpSecurity::Tls,
            "none" => SmtpSecurity::None,
            other => {
                self.problems.push(format!("mail.security: \"{other}\" must be starttls, tls or none"));
                SmtpSecurity::StartTls
            }
        };
        let default_port = match security {
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::None => 25,
        };
        let port = self.integer("mail.smtp_port", default_port, 1..=65_535) as u16;
        let username = self.optional_string("mail.username");
        let password = self.optional_string("mail.password");
        if username.is_some() != password.is_some() {
            self.problems.push("mail.password: mail.username and mail.password go together".to_owned());
        }
        let ca_file = self.certificate_file("mail.ca_file");
        let host = self.optional_string("mail.smtp_host").filter(|host| !host.trim().is_empty());
        let smtp = host.map(|host| SmtpConfig { host, port, security, username, password, ca_file });
        MailConfig { smtp, from }
    }

    pub(super) fn ldap(&mut self) -> Option<LdapConfig> {
        let url = self.optional_string("ldap.url").filter(|url| !url.trim().is_empty());
        let default_security =
            if url.as_deref().is_some_and(|url| url.starts_with("ldaps://")) { "tls" } else { "starttls" };
        let security = match self.string("ldap.security", default_security).as_str() {
            "starttls" => LdapSecurity::StartTls,
            "tls" => LdapSecurity::Tls,
            "none" => LdapSecurity::None,
            other => {
                self.problems.push(format!("ldap.security: \"{other}\" must be starttls, tls or none"));
                LdapSecurity::StartTls
            }
        };
        let ca_file = self.certificate_file("ldap.ca_file");
        let bind_dn = self.optional_string("ldap.bind_dn");
        let bind_password = self.optional_string("ldap.bind_password");
        let user_base = self.optional_string("ldap.user_base");
        let user_filter = self.string("ldap.user_filter", "(&(objectClass=inetOrgPerson)(uid={username}))");
        let group_base = self.optional_string("ldap.group_base");
        let admin_group = self.optional_string("ldap.admin_group");
        let auditor_group = self.optional_string("ldap.auditor_group");
        let url = url?;
        let scheme_fits = match security {
            LdapSecurity::Tls => url.starts_with("ldaps://"),
            LdapSecurity::StartTls | LdapSecurity::None => url.starts_with("ldap://"),
        };
        if !scheme_fits {
            self.problems.push(format!(
                "ldap.url: \"{url}\" does not fit ldap.security: ldaps:// goes with tls, ldap:// with starttls or none"
            ));
        }
        if !user_filter.contains("{username}") {
            self.problems.push("ldap.user_filter: must contain {username}, where the user name goes".to_owned());
        }
        let mut required = |key: &str, value: Option<String>| {
            value.filter(|v| !v.trim().is_empty()).unwrap_or_else(|| {
                self.problems.push(format!("{key}: is required when ldap.url is set"));
                String::new()
            })
        };
        Some(LdapConfig {
            bind_dn: required("ldap.bind_dn", bind_dn),
            bind_password: required("ldap.bind_password", bind_password),
            user_base: required("ldap.user_base", user_base),
            group_base: required("ldap.group_base", group_base),
            url,
            security,
            ca_file,
            user_filter,
            admin_group,
            auditor_group,
        })
    }

    pub(super) fn oidc(&mut self) -> Option<OidcConfig> {
        let issuer = self.optional_string("oidc.issuer").filter(|issuer| !issuer.trim().is_empty());
        let client_id = self.optional_string("oidc.client_id");
        let client_secret = self.optional_string("oidc.client_secret");
        let redirect_url = self.optional_string("oidc.redirect_url");
        let ca_file = self.certificate_file("oidc.ca_file");
        let groups_claim = self.string("oidc.groups_claim", "groups");
        let admin_group = self.optional_string("oidc.admin_group");
        let auditor_group = self.optional_string("oidc.auditor_group");
        let label = self.string("oidc.label", "Sign in with single sign-on");
        let issuer = issuer?.trim_end_matches('/').to_owned();
        if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
            self.problems
                .push(format!("oidc.issuer: \"{issuer}\" must start with https:// (or http:// on a trusted network)"));
        }
        let mut required = |key: &str, value: Option<String>| {
            value.filter(|v| !v.trim().is_empty()).unwrap_or_else(|| {
                self.problems.push(format!("{key}: is required when oidc.issuer is set"));
                String::new()
            })
        };
        Some(OidcConfig {
            client_id: required("oidc.client_id", client_id),
            client_secret: required("oidc.client_secret", client_secret),
            redirect_url: required("oidc.redirect_url", redirect_url),
            issuer,
            ca_file,
            groups_claim,
            admin_group,
            auditor_group,
            label,
        })
    }

    pub(super) fn storage(&mut self) -> StorageConfig {
        let max_upload_bytes = self.integer("storage.max_upload_mb", 100, 1..=102_400) as u64 * 1024 * 1024;
        let local_dir = PathBuf::from(self.string("storage.local_dir", "/var/lib/outpost/objects"));
        let backend = match self.string("storage.backend", "local").as_str() {
            "local" => StorageBackend::Local { dir: local_dir },
            "s3" => StorageBackend::S3(self.s3_settings()),
            other => {
                self.problems.push(format!("storage.backend: \"{other}\" must be local or s3"));
                StorageBackend::Local { dir: local_dir }
            }
        };
        StorageConfig { backend, max_upload_bytes }
    }

    fn s3_settings(&mut self) -> S3Settings {
        let endpoint = self.required_string("storage.s3_endpoint");
        if !endpoint.is_empty() && !endpoint.starts_with("http://") && !endpoint.starts_with("https://") {
            self.problems.push(format!("storage.s3_endpoint: \"{endpoint}\" must start with http:// or https://"));
        }
        let access_key = self.required_string("storage.s3_access_key");
        let secret_key = self.required_string("storage.s3_secret_key");
        S3Settings {
            endpoint,
            region: self.string("storage.s3_region", "us-east-1"),
            bucket: self.string("storage.s3_bucket", "outpost"),
            access_key,
            secret_key,
            ca_file: self.certificate_file("storage.s3_ca_file"),
        }
    }

    pub(super) fn keys(&mut self) -> KeysConfig {
        let file = PathBuf::from(self.string("keys.file", "/etc/outpost/kek"));
        let pkcs11 = |reader: &mut Self, key_label: String| KeyProviderConfig::Pkcs11 {
            module: PathBuf::from(reader.required_string("keys.pkcs11_module")),
            token_label: reader.required_string("keys.pkcs11_token"),
            pin_file: PathBuf::from(reader.required_string("keys.pkcs11_pin_file")),
            key_label,
        };
        let current = match self.string("keys.provider", "file").as_str() {
            "file" => KeyProviderConfig::File { path: file },
            "pkcs11" => {
                let label = self.required_string("keys.pkcs11_key");
                pkcs11(self, label)
            }
            "command" => KeyProviderConfig::Command {
                program: PathBuf::from(self.required_string("keys.command")),
                key_id: self.required_string("keys.command_key_id"),
            },
            other => {
                self.problems.push(format!("keys.provider: \"{other}\" must be file, pkcs11 or command"));
                KeyProviderConfig::File { path: file }
            }
        };
        let mut previous: Vec<KeyProviderConfig> = self
            .list("keys.previous_files", "key files", &[])
            .into_iter()
            .map(|path| KeyProviderConfig::File { path: PathBuf::from(path) })
            .collect();
        for label in self.list("keys.previous_pkcs11_keys", "key labels", &[]) {
            previous.push(pkcs11(self, label));
        }
        KeysConfig { current, previous }
    }

    /// A sealed value must read as `outpost keys seal-secret` printed it, and only secrets
    /// are sealed: whether it opens is known only once the key and the database are up.
    pub(super) fn check_sealed_values(&mut self) {
        for (section, settings) in &self.table {
            let Some(settings) = settings.as_table() else { continue };
            for (name, value) in settings {
                let Some(text) = value.as_str().filter(|text| sealed_text::is_sealed(text)) else { continue };
                let setting = format!("{section}.{name}");
                if !SEALABLE.contains(&setting.as_str()) {
                    self.problems.push(format!(
                        "{setting}: only secrets can be sealed ({}); write this setting in the clear",
                        SEALABLE.join(", ")
                    ));
                } else if let Err(why) = sealed_text::parse(text) {
                    self.problems.push(format!("{setting}: {why}"));
                }
            }
        }
    }
}
