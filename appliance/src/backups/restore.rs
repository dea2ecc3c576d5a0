//! Reading archives back: `verify` (the whole body decrypts, every entry matches the manifest,
//! the database dump reads) and `restore` (onto an empty installation, after a verify).

use std::path::Path;

use base64::Engine;
use bytes::Bytes;
use diesel::prelude::*;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::archive::{self, EntryReader, EntrySum, Header};
use super::{Manifest, CONFIG_ENTRY, DATABASE_ENTRY, MANIFEST_ENTRY, OBJECTS_PREFIX};
use crate::audit::{self, Actor, Change};
use crate::config::Config;
use crate::db::DbPool;
use crate::keys::{stream, Keyring};
use crate::storage::{ObjectKey, ObjectStore, Storage};

/// What a verified archive holds.
#[derive(Debug)]
pub struct Verified {
    pub header: Header,
    pub manifest: Manifest,
    /// Items in the database dump's table of contents, as `pg_restore --list` read them.
    pub dump_items: usize,
    pub objects: usize,
}

/// Opens the body of the archive at `path` with the configured keys.
async fn open_body(
    path: &Path,
    keys: &Keyring,
) -> Result<(Header, EntryReader<impl tokio::io::AsyncRead + Unpin>), String> {
    let opened = archive::open(path).await?;
    let wrapped = base64::engine::general_purpose::STANDARD
        .decode(&opened.header.wrapped_key)
        .map_err(|_| format!("{}: the archive's header is damaged (its key is not base64)", path.display()))?;
    let key = keys
        .open_detached_key(&opened.header.kek_id, &wrapped)
        .map_err(|e| format!("{}: the archive cannot be opened: {e}", path.display()))?;
    let body = stream::open(&key, &archive::identity(&opened.header_line), opened.sealed).map_err(|e| e.to_string())?;
    Ok((opened.header, EntryReader::new(tokio_util::io::StreamReader::new(body))))
}

/// Reads the whole archive: every chunk decrypts (so it is whole and unchanged), every entry's
/// size and SHA-256 match the manifest, and `pg_restore` reads the database dump's table of
/// contents. Nothing is written anywhere.
pub async fn verify(path: &Path, keys: &Keyring, pg_restore: &Path) -> Result<Verified, String> {
    let (header, mut reader) = open_body(path, keys).await?;
    let damaged = |e: std::io::Error| format!("{}: the archive is damaged or incomplete: {e}", path.display());
    let mut sums: Vec<EntrySum> = Vec::new();
    let mut manifest: Option<Manifest> = None;
    let mut dump_items = None;
    while let Some(name) = reader.next_entry().await.map_err(damaged)? {
        if name == MANIFEST_ENTRY {
            let text = reader.read_entry(64 * 1024 * 1024).await.map_err(damaged)?;
            manifest = Some(serde_json::from_slice(&text).map_err(|e| format!("the manifest is damaged: {e}"))?);
            continue;
        }
        let mut list = None;
        if name == DATABASE_ENTRY {
            list = Some(
                tokio::process::Command::new(pg_restore)
                    .arg("--list")
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .kill_on_drop(true)
                    .spawn()
                    .map_err(|e| format!("cannot run {}: {e}", pg_restore.display()))?,
            );
        }
        let (mut size, mut hasher) = (0u64, Sha256::new());
        while let Some(chunk) = reader.chunk().await.map_err(damaged)? {
            size += chunk.len() as u64;
            hasher.update(&chunk);
            if let Some(child) = list.as_mut() {
                // pg_restore --list may stop reading once it has the table of contents: its
                // exit status, not the pipe, says whether the dump read.
                if let Some(stdin) = child.stdin.as_mut() {
                    if stdin.write_all(&chunk).await.is_err() {
                        drop(child.stdin.take());
                    }
                }
            }
        }
        if let Some(mut child) = list {
            drop(child.stdin.take());
            let listed = child.wait_with_output().await.map_err(|e| e.to_string())?;
            if !listed.status.success() {
                return Err(format!(
                    "the database dump in the archive does not read: {}",
                    String::from_utf8_lossy(&listed.stderr).trim()
                ));
            }
            let text = String::from_utf8_lossy(&listed.stdout);
            dump_items = Some(text.lines().filter(|line| !line.starts_with(';') && !line.trim().is_empty()).count());
        }
        sums.push(EntrySum { name, size, sha256: hex::encode(hasher.finalize()) });
    }
    let manifest = manifest.ok_or("the archive has no manifest: it is incomplete")?;
    if manifest.entries != sums {
        let differing: Vec<&str> = manifest
            .entries
            .iter()
            .filter(|listed| !sums.contains(listed))
            .map(|listed| listed.name.as_str())
            .collect();
        return Err(format!("entries differ from the manifest: {}", differing.join(", ")));
    }
    let dump_items = dump_items.ok_or("the archive has no database dump")?;
    let objects = sums.iter().filter(|sum| sum.name.starts_with(OBJECTS_PREFIX)).count();
    Ok(Verified { header, manifest, dump_items, objects })
}

/// Whether the installation holds anything a restore would replace: a sentence saying what,
/// or `None` when it is empty (no tables yet, or no people and no projects).
pub fn holds_data(pool: &DbPool) -> Result<Option<String>, String> {
    let mut conn = pool.get().map_err(|e| format!("cannot connect to the database: {e}"))?;
    #[derive(QueryableByName)]
    struct Counts {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        users: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        projects: i64,
    }
    let migrated: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
        "to_regclass('public.users') IS NOT NULL AND to_regclass('public.projects') IS NOT NULL",
    ))
    .get_result(&mut conn)
    .map_err(|e| e.to_string())?;
    if !migrated {
        return Ok(None);
    }
    let counts: Counts =
        diesel::sql_query("SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM projects) AS projects")
            .get_result(&mut conn)
            .map_err(|e| e.to_string())?;
    Ok((counts.users > 0 || counts.projects > 0)
        .then(|| format!("the database holds {} people and {} projects", counts.users, counts.projects)))
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    pub verified: Verified,
    pub objects: usize,
    pub migrations_applied: Vec<String>,
    pub rebuild_generation: i64,
}

/// Restores the archive at `path` into the configured database and object store: verifies it
/// first, refuses keys it would need but does not have and a database that is not empty unless
/// `replace`, then loads the dump (replacing what is there), puts the files back, applies newer
/// migrations and asks every node to rebuild its search index.
pub async fn restore(
    path: &Path,
    config: &Config,
    pool: &DbPool,
    keys: &Keyring,
    storage: &Storage,
    replace: bool,
) -> Result<Restored, String> {
    let (_, pg_restore) = crate::pgcluster::find_dump_tools(config.backup.pg_bin_dir.as_deref())?;
    let verified = verify(path, keys, &pg_restore).await?;
    let known = crate::db::known_migrations();
    let unknown: Vec<&str> = verified
        .manifest
        .migrations
        .iter()
        .map(String::as_str)
        .filter(|version| !known.iter().any(|k| k == version))
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "the archive was made by a newer Outpost ({}, with migrations this one does not have: {}); restore it with \
             that version or newer",
            verified.manifest.outpost_version,
            unknown.join(", ")
        ));
    }
    let missing_keys: Vec<&str> =
        verified.manifest.data_keys.iter().map(|(kek, _)| kek.as_str()).filter(|kek| !keys.knows(kek)).collect();
    if !missing_keys.is_empty() {
        return Err(format!(
            "the archive's data keys are wrapped by {}, which this installation does not have configured; without \
             it the restored files and secrets could not be read. Configure it (keys.* or keys.previous_*) first",
            missing_keys.join(", ")
        ));
    }
    if let Some(holding) = holds_data(pool)? {
        if !replace {
            return Err(format!(
                "{holding}: a restore goes onto an empty installation. To replace everything in it with the \
                 archive, give --force"
            ));
        }
    }

    let (_, mut reader) = open_body(path, keys).await?;
    let damaged = |e: std::io::Error| format!("{}: the archive is damaged: {e}", path.display());
    let mut objects = 0;
    while let Some(name) = reader.next_entry().await.map_err(damaged)? {
        if name == DATABASE_ENTRY {
            let (mut command, _passfile) = super::connection::command(&pg_restore, &config.database.url)?;
            let mut child = command
                .args([
                    "--clean",
                    "--if-exists",
                    "--no-owner",
                    "--no-privileges",
                    "--single-transaction",
                    "--exit-on-error",
                ])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("cannot run {}: {e}", pg_restore.display()))?;
            let mut stdin = child.stdin.take().ok_or("pg_restore took no input")?;
            while let Some(chunk) = reader.chunk().await.map_err(damaged)? {
                if stdin.write_all(&chunk).await.is_err() {
                    break; // pg_restore stopped: its own message says why.
                }
            }
            drop(stdin);
            let done = child.wait_with_output().await.map_err(|e| e.to_string())?;
            if !done.status.success() {
                return Err(format!(
                    "pg_restore failed, and the database was left as it was: {}",
                    String::from_utf8_lossy(&done.stderr).trim()
                ));
            }
        } else if let Some(key) = name.strip_prefix(OBJECTS_PREFIX) {
            let key = ObjectKey::new(key).map_err(|e| format!("the archive names a bad file key: {e}"))?;
            let (sender, receiver) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
            let body = futures_util::stream::unfold(receiver, |mut receiver| async move {
                receiver.recv().await.map(|item| (item, receiver))
            });
            let target = storage.clone();
            let put =
                tokio::spawn(
                    async move { target.put(&key, Box::pin(body), u64::MAX, "application/octet-stream").await },
                );
            while let Some(chunk) = reader.chunk().await.map_err(damaged)? {
                if sender.send(Ok(chunk)).await.is_err() {
                    break;
                }
            }
            drop(sender);
            put.await.map_err(|e| e.to_string())?.map_err(|e| format!("cannot store {name}: {e}"))?;
            objects += 1;
        } else if name == CONFIG_ENTRY || name == MANIFEST_ENTRY {
            // Kept in the archive for the administrator; a restore does not apply them.
        }
    }

    let pool = pool.clone();
    let file = path.display().to_string();
    let (migrations_applied, rebuild_generation) = tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().map_err(|e| format!("cannot connect to the database: {e}"))?;
        let applied = crate::db::migrate(&mut conn)?;
        let generation = crate::search::request_rebuild(&mut conn, &Actor::system(), &format!("restored from {file}"))
            .map_err(|e| e.for_operator())?;
        audit::record(
            &mut conn,
            &Actor::system(),
            Change {
                action: "backup.restored",
                entity_type: "installation",
                entity_id: 0,
                before: None,
                after: Some(json!({ "file": file })),
            },
        )
        .map_err(|e| e.to_string())?;
        Ok::<_, String>((applied, generation))
    })
    .await
    .map_err(|e| e.to_string())??;
    Ok(Restored { verified, objects, migrations_applied, rebuild_generation })
}
