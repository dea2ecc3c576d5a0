//! `/etc/outpost/outpost.toml` as the answers make it: written only after the appliance's own
//! configuration reader accepts it, atomically, root:outpost 0640. A file that differs (edited
//! by hand, or from other answers) is kept beside it, never lost.

use std::path::Path;

use toml::{Table, Value};

use crate::answers::{Answers, Keys};
use crate::host::{write_atomically, Host};
use crate::trust;

pub const CONFIG_FILE: &str = "/etc/outpost/outpost.toml";
pub const DATA: &str = "/var/lib/outpost";

/// The folders under `DATA` the service writes, as the configuration names them.
pub const DATA_FOLDERS: [&str; 3] = ["objects", "search", "backups"];

/// The configuration file's text for these answers and database connection string.
pub fn render(answers: &Answers, database_url: &str) -> String {
    let mut server = Table::new();
    let listen = &answers.server.listen;
    server.insert("bind".into(), format!("{listen}:{}", answers.server.port).into());
    server.insert("tls_certificate".into(), crate::probe::CERTIFICATE.into());
    server.insert("tls_private_key".into(), trust::PRIVATE_KEY.into());
    if answers.server.redirect_port != 0 {
        server.insert("redirect_http_from".into(), format!("{listen}:{}", answers.server.redirect_port).into());
    }
    server.insert("public_url".into(), answers.public_url().into());
    server.insert("user".into(), crate::host::SERVICE_USER.into());

    let mut keys = Table::new();
    match &answers.keys {
        Keys::File { file } => {
            keys.insert("provider".into(), "file".into());
            keys.insert("file".into(), file.display().to_string().into());
        }
        Keys::Pkcs11 { module, token, pin_file, key } => {
            keys.insert("provider".into(), "pkcs11".into());
            keys.insert("pkcs11_module".into(), module.display().to_string().into());
            keys.insert("pkcs11_token".into(), token.clone().into());
            keys.insert("pkcs11_pin_file".into(), pin_file.display().to_string().into());
            keys.insert("pkcs11_key".into(), key.clone().into());
        }
        Keys::Command { command, key_id } => {
            keys.insert("provider".into(), "command".into());
            keys.insert("command".into(), command.display().to_string().into());
            keys.insert("command_key_id".into(), key_id.clone().into());
        }
    }

    let table = |pairs: &[(&str, &str)]| -> Value {
        Value::Table(pairs.iter().map(|(k, v)| ((*k).to_owned(), Value::from(*v))).collect())
    };
    let mut document = Table::new();
    document.insert("server".into(), Value::Table(server));
    document.insert("database".into(), table(&[("url", database_url)]));
    document.insert("storage".into(), table(&[("backend", "local"), ("local_dir", &format!("{DATA}/objects"))]));
    document.insert("search".into(), table(&[("index_dir", &format!("{DATA}/search"))]));
    document.insert("keys".into(), Value::Table(keys));
    document.insert("backup".into(), table(&[("dir", &format!("{DATA}/backups"))]));
    document.insert("license".into(), table(&[("file", trust::LICENSE_FILE)]));
    format!(
        "# Written by outpost-installer. Every setting, with its default and meaning, is in\n\
         # /usr/share/doc/outpost/outpost.toml.example; `outpost check-config` checks this file.\n\n{}",
        toml::to_string(&document).unwrap_or_default()
    )
}

/// Writes `text` as the configuration unless it is already so; a different file is kept
/// beside it first.
pub fn write(host: &Host, text: &str) -> Result<(), String> {
    let path = Path::new(CONFIG_FILE);
    let existing = std::fs::read_to_string(path).ok();
    if existing.as_deref() == Some(text) {
        host.kept(CONFIG_FILE);
        return Ok(());
    }
    if !host.dry_run {
        check(text)?;
    }
    let owner = trust::service_readable(host)?;
    if existing.is_some() {
        let aside = format!("{CONFIG_FILE}.{}", chrono::Utc::now().format("%Y%m%d-%H%M%S"));
        host.change(&format!("keep the previous configuration as {aside}"), || {
            std::fs::copy(path, &aside).map(|_| ()).map_err(|e| format!("Cannot copy {CONFIG_FILE} to {aside}: {e}."))
        })?;
    }
    host.change(&format!("write {CONFIG_FILE} (root:outpost, 0640)"), || {
        write_atomically(path, text.as_bytes(), owner, 0o640)
    })
}

/// A setting of the installed configuration file, as text.
fn installed_setting(section: &str, key: &str) -> Option<String> {
    let table: Table = std::fs::read_to_string(CONFIG_FILE).ok()?.parse().ok()?;
    Some(table.get(section)?.get(key)?.as_str()?.to_owned())
}

/// The port the installed configuration serves on.
pub fn installed_port() -> Option<u16> {
    installed_setting("server", "bind")?.rsplit(':').next()?.parse().ok()
}

pub fn installed_database_url() -> Option<String> {
    installed_setting("database", "url")
}

/// The appliance's configuration reader on the text, before it replaces anything.
fn check(text: &str) -> Result<(), String> {
    let draft = std::env::temp_dir().join(format!("outpost-draft-{}.toml", std::process::id()));
    std::fs::write(&draft, text).map_err(|e| format!("Cannot write {}: {e}.", draft.display()))?;
    let loaded = outpost::config::Config::load(Some(&draft), std::iter::empty());
    let _ = std::fs::remove_file(&draft);
    loaded.map(|_| ()).map_err(|problems| {
        format!("The configuration made from the answers is not valid (a fault of the installer's; nothing was written): {}", problems.join(" "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rendered_configuration_reads_back_as_the_appliance_reads_it() {
        let mut answers: Answers = toml::from_str(crate::answers::EXAMPLE).unwrap();
        answers.server.port = 8443;
        answers.server.hostname = "outpost.example.org".to_owned();
        let text = render(&answers, "host=/var/run/postgresql port=5432 dbname=outpost user=outpost");
        let draft = std::env::temp_dir().join(format!("outpost-render-{}.toml", rand::random::<u64>()));
        std::fs::write(&draft, &text).unwrap();
        // The certificate files do not exist here: only they may be missing (and the redirect,
        // which needs them).
        let problems = outpost::config::Config::load(Some(&draft), std::iter::empty()).err().unwrap_or_default();
        std::fs::remove_file(&draft).unwrap();
        let about_certificates = |p: &String| p.starts_with("server.tls_") || p.contains("need server.tls_certificate");
        assert!(problems.iter().all(about_certificates), "{problems:#?}");
        let parsed: Table = toml::from_str(&text).unwrap();
        assert_eq!(parsed["server"]["bind"].as_str(), Some("0.0.0.0:8443"));
        assert_eq!(parsed["server"]["public_url"].as_str(), Some("https://outpost.example.org:8443"));
        assert_eq!(parsed["server"]["redirect_http_from"].as_str(), Some("0.0.0.0:80"));
        assert_eq!(parsed["keys"]["file"].as_str(), Some("/etc/outpost/kek"));
    }
}
