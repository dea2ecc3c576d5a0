//! The secrets a configuration file holds, which may be written sealed with the customer-managed
//! key (`outpost keys seal-secret SETTING` prints the value) instead of in the clear. A sealed
//! value is bound to its setting's name, and opens only once the key and the database are up.

use diesel::{Connection, PgConnection};
use serde_json::json;

use super::{Config, StorageBackend};
use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::keys::{sealed_text, Keyring};

/// The settings whose values may be sealed.
pub const SEALABLE: &[&str] =
    &["mail.password", "ldap.bind_password", "oidc.client_secret", "storage.s3_secret_key", "metrics.token"];

/// What a sealed setting's value is bound to.
pub fn identity(setting: &str) -> String {
    format!("config:{setting}")
}

/// Seals `secret` as the value of `setting`, one of `SEALABLE`; audited, without the secret.
pub fn seal(
    conn: &mut PgConnection,
    keys: &Keyring,
    actor: &Actor,
    setting: &str,
    secret: &str,
) -> Result<String, AppError> {
    conn.transaction(|conn| {
        let sealed = sealed_text::seal(conn, keys, &identity(setting), secret)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "config.secret_sealed",
                entity_type: "installation",
                entity_id: 0,
                before: None,
                after: Some(json!({ "setting": setting, "kek": keys.current_kek() })),
            },
        )?;
        Ok(sealed)
    })
}

impl Config {
    /// The secret settings in use, by name.
    fn secrets_mut(&mut self) -> Vec<(&'static str, &mut String)> {
        let mut found = Vec::new();
        if let Some(password) = self.mail.smtp.as_mut().and_then(|smtp| smtp.password.as_mut()) {
            found.push(("mail.password", password));
        }
        if let Some(ldap) = self.ldap.as_mut() {
            found.push(("ldap.bind_password", &mut ldap.bind_password));
        }
        if let Some(oidc) = self.oidc.as_mut() {
            found.push(("oidc.client_secret", &mut oidc.client_secret));
        }
        if let StorageBackend::S3(s3) = &mut self.storage.backend {
            found.push(("storage.s3_secret_key", &mut s3.secret_key));
        }
        if let Some(token) = self.metrics_token.as_mut() {
            found.push(("metrics.token", token));
        }
        found
    }

    /// Whether any secret in use is still sealed: then the key and the database must be
    /// opened before the setting can be used.
    pub fn has_sealed_secrets(&self) -> bool {
        self.clone().secrets_mut().iter().any(|(_, value)| sealed_text::is_sealed(value))
    }

    /// The secret settings written in the clear, for start-up to suggest sealing them.
    pub fn plain_secrets(&self) -> Vec<&'static str> {
        let mut config = self.clone();
        config
            .secrets_mut()
            .into_iter()
            .filter(|(_, value)| !sealed_text::is_sealed(value))
            .map(|(name, _)| name)
            .collect()
    }

    /// Replaces every sealed secret by what it opens to. Each that does not open is one
    /// sentence naming its setting, and nothing is replaced.
    pub fn open_sealed_secrets(&mut self, conn: &mut PgConnection, keys: &Keyring) -> Result<(), Vec<String>> {
        let mut opened = Vec::new();
        let mut problems = Vec::new();
        for (setting, value) in self.secrets_mut() {
            if !sealed_text::is_sealed(value) {
                continue;
            }
            match sealed_text::open(conn, keys, &identity(setting), value) {
                Ok(plain) => opened.push((value, plain)),
                Err(error) => problems.push(format!(
                    "{setting}: the sealed value does not open ({}); seal the secret again with `outpost keys seal-secret {setting}`",
                    error.for_operator()
                )),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        for (value, plain) in opened {
            *value = plain;
        }
        Ok(())
    }
}
