//! What the installer needs to know that it cannot decide itself, from an answers file
//! (`--answers`, for unattended installs) or from the interview. One struct, validated in one
//! place, so that both paths refuse the same mistakes with the same sentences.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The example shipped as /usr/share/doc/outpost/answers.example.toml; the tests load it.
#[cfg(test)]
pub const EXAMPLE: &str = include_str!("../answers.example.toml");

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Answers {
    pub server: Server,
    #[serde(default)]
    pub database: Database,
    pub license: License,
    #[serde(default)]
    pub keys: Keys,
    #[serde(default)]
    pub tls: Tls,
    pub admin: Admin,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// The name people type; it goes into the certificate and `server.public_url`.
    pub hostname: String,
    #[serde(default = "default_port")]
    pub port: u16,
    /// Plain HTTP redirected to HTTPS on this port; 0 for none.
    #[serde(default = "default_redirect_port")]
    pub redirect_port: u16,
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: String,
}

fn default_port() -> u16 {
    443
}
fn default_redirect_port() -> u16 {
    80
}
fn default_listen() -> String {
    "0.0.0.0".to_owned()
}

#[derive(Clone, Debug, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, rename_all = "lowercase", tag = "mode")]
pub enum Database {
    /// PostgreSQL on this machine, reached over its Unix socket with peer authentication.
    #[default]
    Local,
    /// An existing server: its URL (libpq form), and optionally the CA that signed its
    /// certificate (then the connection requires TLS and checks the server's name).
    External { url: String, ca_file: Option<PathBuf> },
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct License {
    /// The license file from the vendor.
    pub file: Option<PathBuf>,
    /// Run without a license (every feature, 25 people) until one is installed.
    #[serde(default)]
    pub evaluation: bool,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "lowercase", tag = "provider")]
pub enum Keys {
    /// A key file of 32 random bytes, made when missing and never overwritten.
    File {
        #[serde(default = "default_key_file")]
        file: PathBuf,
    },
    /// An AES key on an HSM, used through its PKCS#11 module.
    Pkcs11 { module: PathBuf, token: String, pin_file: PathBuf, key: String },
    /// A program of the customer's (a KMS client) run as `PROGRAM wrap|unwrap`.
    Command { command: PathBuf, key_id: String },
}

impl Default for Keys {
    fn default() -> Keys {
        Keys::File { file: default_key_file() }
    }
}

fn default_key_file() -> PathBuf {
    PathBuf::from("/etc/outpost/kek")
}

#[derive(Clone, Debug, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// A PEM certificate chain and its key; without them a self-signed certificate is made.
    pub certificate: Option<PathBuf>,
    pub private_key: Option<PathBuf>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    #[serde(default = "default_admin")]
    pub username: String,
    pub email: String,
    /// A file whose first line is the password; without it one is generated and printed once.
    pub password_file: Option<PathBuf>,
}

fn default_admin() -> String {
    "admin".to_owned()
}

impl Answers {
    /// Reads and checks an answers file; every problem in one list, each naming its field.
    pub fn load(path: &Path) -> Result<Answers, Vec<String>> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| vec![format!("Cannot read the answers file {}: {e}.", path.display())])?;
        let answers: Answers = toml::from_str(&text)
            .map_err(|e| vec![format!("The answers file {} is not valid: {}", path.display(), e.to_string().trim())])?;
        answers.check()?;
        Ok(answers)
    }

    /// Every mistake the installer can see before changing anything.
    pub fn check(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if !valid_hostname(&self.server.hostname) {
            problems.push(format!(
                "server.hostname: “{}” is not a host name (letters, digits, hyphens and dots, as in outpost.example.com).",
                self.server.hostname
            ));
        }
        if self.server.port == 0 {
            problems.push("server.port: 0 is not a port; use 443 or another port from 1 to 65535.".to_owned());
        }
        if self.server.redirect_port == self.server.port {
            problems.push(
                "server.redirect_port: it is the same port as server.port; use 80, or 0 for no redirect.".to_owned(),
            );
        }
        if self.server.listen.parse::<std::net::IpAddr>().is_err() {
            problems.push(format!(
                "server.listen: “{}” is not an IP address; use 0.0.0.0 for every address.",
                self.server.listen
            ));
        }
        if let Database::External { url, ca_file } = &self.database {
            if url.trim().is_empty() {
                problems.push("database.url: an external database needs its URL, as in postgres://outpost@db.example.com/outpost.".to_owned());
            }
            if let Some(ca) = ca_file {
                require_file(&mut problems, "database.ca_file", ca);
            }
        }
        match (&self.license.file, self.license.evaluation) {
            (Some(_), true) => problems.push(
                "license: give either license.file or license.evaluation = true, not both.".to_owned(),
            ),
            (None, false) => problems.push(
                "license.file: no license file given; name the file from the vendor, or set license.evaluation = true to run in evaluation mode (25 people) until one is installed.".to_owned(),
            ),
            (Some(file), false) => require_file(&mut problems, "license.file", file),
            (None, true) => {}
        }
        match &self.keys {
            Keys::File { file } => {
                if !file.is_absolute() {
                    problems.push(format!("keys.file: {} is not an absolute path.", file.display()));
                }
            }
            Keys::Pkcs11 { module, pin_file, token, key } => {
                require_file(&mut problems, "keys.module", module);
                require_file(&mut problems, "keys.pin_file", pin_file);
                if token.is_empty() {
                    problems.push("keys.token: name the HSM token's label.".to_owned());
                }
                if key.is_empty() {
                    problems.push("keys.key: name the AES key's label on the token.".to_owned());
                }
            }
            Keys::Command { command, key_id } => {
                require_file(&mut problems, "keys.command", command);
                if key_id.is_empty() {
                    problems.push("keys.key_id: name the key the command uses, as it should be recorded.".to_owned());
                }
            }
        }
        match (&self.tls.certificate, &self.tls.private_key) {
            (Some(certificate), Some(key)) => {
                require_file(&mut problems, "tls.certificate", certificate);
                require_file(&mut problems, "tls.private_key", key);
            }
            (None, None) => {}
            _ => problems.push(
                "tls: give both tls.certificate and tls.private_key, or neither for a self-signed certificate."
                    .to_owned(),
            ),
        }
        if !valid_username(&self.admin.username) {
            problems.push(format!(
                "admin.username: “{}” is not a user name (letters, digits, dots, hyphens and underscores).",
                self.admin.username
            ));
        }
        if !self.admin.email.contains('@') || self.admin.email.contains(char::is_whitespace) {
            problems.push(format!("admin.email: “{}” is not an email address.", self.admin.email));
        }
        if let Some(file) = &self.admin.password_file {
            require_file(&mut problems, "admin.password_file", file);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The URL people open.
    pub fn public_url(&self) -> String {
        match self.server.port {
            443 => format!("https://{}", self.server.hostname),
            port => format!("https://{}:{port}", self.server.hostname),
        }
    }
}

fn require_file(problems: &mut Vec<String>, field: &str, path: &Path) {
    if !path.is_file() {
        problems.push(format!("{field}: {} does not exist or is not a file.", path.display()));
    }
}

pub fn valid_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

pub fn valid_username(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Answers {
        toml::from_str(EXAMPLE).unwrap()
    }

    #[test]
    fn the_shipped_example_reads_with_every_field_it_documents() {
        let answers = example();
        assert_eq!(answers.server.hostname, "outpost.example.com");
        assert_eq!(answers.server.port, 443);
        assert_eq!(answers.database, Database::Local);
        assert_eq!(answers.keys, Keys::File { file: PathBuf::from("/etc/outpost/kek") });
        assert_eq!(answers.public_url(), "https://outpost.example.com");
    }

    #[test]
    fn each_mistake_is_refused_with_a_sentence_naming_its_field() {
        let mut answers = example();
        answers.license = License { file: None, evaluation: false };
        answers.server.hostname = "not a host".to_owned();
        answers.server.redirect_port = 443;
        answers.admin.email = "nobody".to_owned();
        answers.tls.certificate = Some(PathBuf::from("/nonexistent.pem"));
        answers.keys = Keys::Pkcs11 {
            module: PathBuf::from("/nonexistent.so"),
            token: String::new(),
            pin_file: PathBuf::from("/nonexistent-pin"),
            key: "k".to_owned(),
        };
        let problems = answers.check().unwrap_err();
        for field in [
            "server.hostname",
            "server.redirect_port",
            "license.file",
            "admin.email",
            "tls:",
            "keys.module",
            "keys.token",
        ] {
            assert!(problems.iter().any(|p| p.starts_with(field)), "{field} missing from {problems:#?}");
        }
        assert!(problems.iter().all(|p| p.ends_with('.')), "{problems:#?}");
    }

    #[test]
    fn an_unknown_field_or_provider_is_refused_by_name() {
        let unknown = EXAMPLE.replace("[admin]", "[admin]\nshell = \"bash\"");
        let error = toml::from_str::<Answers>(&unknown).unwrap_err().to_string();
        assert!(error.contains("shell"), "{error}");
        let provider = EXAMPLE.replace("provider = \"file\"", "provider = \"vault\"");
        let error = toml::from_str::<Answers>(&provider).unwrap_err().to_string();
        assert!(error.contains("vault"), "{error}");
    }

    #[test]
    fn host_and_user_names() {
        assert!(valid_hostname("outpost.example.com"));
        assert!(valid_hostname("localhost"));
        assert!(!valid_hostname("-bad.example.com"));
        assert!(!valid_hostname("a..b"));
        assert!(valid_username("jane.doe"));
        assert!(!valid_username("jane doe"));
    }
}
