//! Customer-managed keys: envelope encryption (`envelope`), the key-encryption keys the
//! customer controls (`providers`: a file, an HSM through PKCS#11, or a command), and the data
//! keys, stored only wrapped, in `data_keys` (here): made, unwrapped, counted, and re-wrapped
//! by rotation.

pub mod envelope;
pub mod providers;
pub mod sealed_text;
pub mod stream;

use chrono::Utc;
use diesel::prelude::*;
use serde_json::json;

use crate::audit::{self, Actor, Change};
use crate::config::KeysConfig;
use crate::errors::AppError;
use crate::schema::data_keys;
use envelope::DataKey;
use providers::Keks;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The provider cannot be used at all (a missing file, an HSM that refuses the PIN…).
    #[error("{0}")]
    Provider(String),
    /// This KEK did not open the data key: it is not the key that wrapped it.
    #[error("the data key does not open with key {0}")]
    Unwrap(String),
    /// Sealed data was changed, or belongs to another object.
    #[error("the encrypted data was changed or belongs to something else")]
    Tampered,
    #[error("{0}")]
    Crypto(String),
}

impl From<KeyError> for AppError {
    fn from(error: KeyError) -> AppError {
        match error {
            KeyError::Tampered => AppError::internal("encrypted data failed its integrity check"),
            other => AppError::KeysUnavailable(other.to_string()),
        }
    }
}

/// What a data key protects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    TotpSeed,
    Attachment,
    Secret,
    Backup,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::TotpSeed => "totp_seed",
            Purpose::Attachment => "attachment",
            Purpose::Secret => "secret",
            Purpose::Backup => "backup",
        }
    }
}

/// The configured KEKs, and the data keys they wrap.
pub struct Keyring {
    keks: Keks,
}

impl Keyring {
    /// Opens and proves every configured KEK; the error is the one sentence start-up stops with.
    pub fn open(config: &KeysConfig) -> Result<Keyring, KeyError> {
        Ok(Keyring { keks: Keks::open(config)? })
    }

    pub fn current_kek(&self) -> &str {
        self.keks.current.id()
    }

    /// Proves the current KEK with a wrap and unwrap round trip now (an HSM or key server
    /// can go away after start-up).
    pub fn prove(&self) -> Result<(), KeyError> {
        providers::prove(&*self.keks.current)
    }

    /// A new data key for one object, stored wrapped by the current KEK: its id and the key.
    pub fn new_data_key(&self, conn: &mut PgConnection, purpose: Purpose) -> Result<(i64, DataKey), AppError> {
        let key = DataKey::generate()?;
        let wrapped = self.keks.current.wrap(&key)?;
        let id = diesel::insert_into(data_keys::table)
            .values((
                data_keys::kek_id.eq(self.keks.current.id()),
                data_keys::wrapped.eq(&wrapped),
                data_keys::purpose.eq(purpose.as_str()),
            ))
            .returning(data_keys::id)
            .get_result(conn)?;
        Ok((id, key))
    }

    /// Data key `id`, unwrapped by whichever configured KEK wrapped it. A KEK that is gone
    /// (revoked, or retired too early) is named, and the data stays sealed.
    pub fn data_key(&self, conn: &mut PgConnection, id: i64) -> Result<DataKey, AppError> {
        let (kek_id, wrapped): (String, Vec<u8>) = data_keys::table
            .find(id)
            .select((data_keys::kek_id, data_keys::wrapped))
            .first(conn)
            .optional()?
            .ok_or_else(|| {
                AppError::KeysUnavailable(format!(
                    "data key {id} does not exist: it was destroyed, or belongs to another installation"
                ))
            })?;
        let kek = self.keks.find(&kek_id).ok_or_else(|| {
            AppError::KeysUnavailable(format!(
                "data key {id} is wrapped by key {kek_id}, which is not configured; without it the data it protects cannot be read"
            ))
        })?;
        Ok(kek.unwrap(&wrapped)?)
    }

    /// A new data key for something kept outside the database (a backup archive): the key,
    /// and the id of the KEK that wrapped it with the wrapped bytes, to store beside it.
    pub fn new_detached_key(&self) -> Result<(DataKey, String, Vec<u8>), KeyError> {
        let key = DataKey::generate()?;
        let wrapped = self.keks.current.wrap(&key)?;
        Ok((key, self.current_kek().to_owned(), wrapped))
    }

    /// Whether the KEK `kek_id` is configured, current or previous.
    pub fn knows(&self, kek_id: &str) -> bool {
        self.keks.find(kek_id).is_some()
    }

    /// Unwraps a key `new_detached_key` made, with the KEK `kek_id` if it is configured.
    pub fn open_detached_key(&self, kek_id: &str, wrapped: &[u8]) -> Result<DataKey, KeyError> {
        let kek = self.keks.find(kek_id).ok_or_else(|| {
            KeyError::Provider(format!(
                "it was sealed with key {kek_id}, which is not configured (the current one is {}); configure that key, \
                 current or among the previous ones",
                self.current_kek()
            ))
        })?;
        kek.unwrap(wrapped)
    }

    /// Seals `plaintext` for the object named `identity` with a new data key: the key's id
    /// and the sealed bytes.
    pub fn seal(
        &self,
        conn: &mut PgConnection,
        purpose: Purpose,
        identity: &str,
        plaintext: &[u8],
    ) -> Result<(i64, Vec<u8>), AppError> {
        let (id, key) = self.new_data_key(conn, purpose)?;
        Ok((id, key.seal(identity, plaintext)?))
    }

    pub fn unseal(
        &self,
        conn: &mut PgConnection,
        key_id: i64,
        identity: &str,
        sealed: &[u8],
    ) -> Result<Vec<u8>, AppError> {
        Ok(self.data_key(conn, key_id)?.open(identity, sealed)?)
    }

    /// Re-wraps every data key not yet wrapped by the current KEK, `batch` at a time, each
    /// batch committed on its own: an interrupted rotation resumes where it stopped. The data
    /// itself is not touched. Calls `progress(done, left)` after each batch; `false` stops.
    pub fn rotate(
        &self,
        conn: &mut PgConnection,
        actor: &Actor,
        batch: i64,
        mut progress: impl FnMut(i64, i64) -> bool,
    ) -> Result<i64, AppError> {
        let current = self.keks.current.id().to_owned();
        let mut done = 0;
        loop {
            let rewrapped = conn.transaction::<_, AppError, _>(|conn| {
                let rows: Vec<(i64, String, Vec<u8>)> = data_keys::table
                    .filter(data_keys::kek_id.ne(&current))
                    .order(data_keys::id)
                    .limit(batch)
                    .for_update()
                    .skip_locked()
                    .select((data_keys::id, data_keys::kek_id, data_keys::wrapped))
                    .load(conn)?;
                for (id, kek_id, wrapped) in &rows {
                    let old = self.keks.find(kek_id).ok_or_else(|| {
                        AppError::KeysUnavailable(format!(
                            "data key {id} is wrapped by key {kek_id}, which is not configured; list it among the previous keys to rotate away from it"
                        ))
                    })?;
                    let key = old.unwrap(wrapped)?;
                    diesel::update(data_keys::table.find(id))
                        .set((
                            data_keys::kek_id.eq(&current),
                            data_keys::wrapped.eq(self.keks.current.wrap(&key)?),
                            data_keys::rewrapped_at.eq(Utc::now()),
                        ))
                        .execute(conn)?;
                }
                Ok(rows.len() as i64)
            })?;
            if rewrapped == 0 {
                break;
            }
            done += rewrapped;
            let left: i64 = data_keys::table.filter(data_keys::kek_id.ne(&current)).count().get_result(conn)?;
            if !progress(done, left) {
                // Stopped on request: what was re-wrapped stays, and the next run goes on.
                return Ok(done);
            }
        }
        audit::record(
            conn,
            actor,
            Change {
                action: "keys.rotated",
                entity_type: "installation",
                entity_id: 0,
                before: None,
                after: Some(json!({ "kek": current, "rewrapped": done })),
            },
        )?;
        Ok(done)
    }

    /// Unwraps every data key: how many opened, and a sentence for each that did not.
    pub fn verify_all(&self, conn: &mut PgConnection) -> QueryResult<(i64, Vec<String>)> {
        let ids: Vec<i64> = data_keys::table.order(data_keys::id).select(data_keys::id).load(conn)?;
        let (mut opened, mut problems) = (0, Vec::new());
        for id in ids {
            match self.data_key(conn, id) {
                Ok(_) => opened += 1,
                Err(error) => problems.push(format!("data key {id}: {}", error.for_operator())),
            }
        }
        Ok((opened, problems))
    }

    /// Data keys per KEK id (current first), each with its count per purpose.
    pub fn counts(&self, conn: &mut PgConnection) -> QueryResult<Vec<KeyCounts>> {
        let rows: Vec<(String, String, i64)> = data_keys::table
            .group_by((data_keys::kek_id, data_keys::purpose))
            .select((data_keys::kek_id, data_keys::purpose, diesel::dsl::count_star()))
            .order_by((data_keys::kek_id, data_keys::purpose))
            .load(conn)?;
        let mut counts: Vec<KeyCounts> = Vec::new();
        for (kek, purpose, count) in rows {
            match counts.last_mut() {
                Some((last, purposes)) if *last == kek => purposes.push((purpose, count)),
                _ => counts.push((kek, vec![(purpose, count)])),
            }
        }
        counts.sort_by_key(|(kek, _)| kek != self.current_kek());
        Ok(counts)
    }
}

/// A KEK's id, and how many data keys it wraps for each purpose.
pub type KeyCounts = (String, Vec<(String, i64)>);

/// A KEK's data keys per purpose, as the status command and the system page say them:
/// "attachment 10, secret 2".
pub fn per_purpose(purposes: &[(String, i64)]) -> String {
    purposes.iter().map(|(purpose, n)| format!("{purpose} {n}")).collect::<Vec<_>>().join(", ")
}

/// Deletes data keys: what they sealed can never be opened again (crypto-shredding). For the
/// keys of objects deleted, or of objects that were never kept.
pub fn shred(conn: &mut PgConnection, ids: &[i64]) -> QueryResult<usize> {
    diesel::delete(data_keys::table.filter(data_keys::id.eq_any(ids))).execute(conn)
}

/// When `outpost keys rotate` last finished, from the audit log.
pub fn last_rotation(conn: &mut PgConnection) -> QueryResult<Option<chrono::DateTime<Utc>>> {
    use crate::schema::audit_log;
    audit_log::table
        .filter(audit_log::action.eq("keys.rotated"))
        .select(diesel::dsl::max(audit_log::occurred_at))
        .first(conn)
}
