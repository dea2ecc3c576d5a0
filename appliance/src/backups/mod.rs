//! Backups: one encrypted archive holding a consistent dump of the database (`pg_dump`, custom
//! format), every stored file, the configuration with its secrets left out, and which keys the
//! data keys are wrapped by (never a key). The search index is not in it: it is rebuilt.
//! `create` writes one (`archive`), `restore` verifies and restores one, `retention` picks the
//! scheduled ones to keep, and the `backup` job does all three on a schedule.
//!
//! These run on the caller's thread and block on the database: the command line, or a job
//! thread with a runtime of its own, never an HTTP worker.

pub mod archive;
pub mod commands;
mod connection;
pub mod remote;
pub mod restore;
pub mod retention;

use std::path::{Path, PathBuf};

use base64::Engine;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, Actor, Change};
use crate::config::Config;
use crate::db::DbPool;
use crate::errors::AppError;
use crate::keys::{stream, Keyring};
use crate::schema::{attachments, backups, data_keys};
use crate::storage::{ObjectKey, ObjectStore, Storage, StorageError};
use archive::{EntrySum, Header};

/// What made a backup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Command,
    Schedule,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Command => "command",
            Trigger::Schedule => "schedule",
        }
    }
}

/// The last entry of every archive.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub created_at: DateTime<Utc>,
    pub outpost_version: String,
    pub installation_id: String,
    /// The migrations the dumped database had, oldest first.
    pub migrations: Vec<String>,
    /// Every entry before this one, in order.
    pub entries: Vec<EntrySum>,
    /// Files that were deleted between the dump and their copy: their rows were being deleted.
    pub missing_objects: Vec<String>,
    /// The audit log's last position and hash when the dump began, to check after a restore.
    pub audit_head: Option<(i64, String)>,
    /// Data keys in the dump per KEK id: the keys a restore needs configured.
    pub data_keys: Vec<(String, i64)>,
}

/// Names of the entries besides the files (`objects/<key>`).
pub const DATABASE_ENTRY: &str = "database.dump";
pub const CONFIG_ENTRY: &str = "outpost.toml";
pub const MANIFEST_ENTRY: &str = "manifest.json";
pub const OBJECTS_PREFIX: &str = "objects/";

/// A backup written.
#[derive(Debug)]
pub struct Created {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub objects: u64,
    pub missing_objects: Vec<String>,
    pub id: i64,
}

/// Writes a backup archive into `backup.dir` and records it; on failure nothing that looks like
/// an archive is left.
pub async fn create(
    config: &Config,
    pool: &DbPool,
    keys: &Keyring,
    storage: &Storage,
    trigger: Trigger,
) -> Result<Created, String> {
    let started_at = Utc::now();
    let (pg_dump, _) = crate::pgcluster::find_dump_tools(config.backup.pg_bin_dir.as_deref())?;
    let folder = &config.backup.dir;
    create_folder(folder)?;
    let mut conn = pool.get().map_err(|e| format!("cannot connect to the database: {e}"))?;
    let installation_id = crate::license::installation_id(&mut conn).map_err(|e| e.to_string())?;
    let (key, kek_id, wrapped) = keys.new_detached_key().map_err(|e| format!("the customer-managed key: {e}"))?;
    let header = Header {
        created_at: started_at,
        outpost_version: env!("CARGO_PKG_VERSION").to_owned(),
        installation_id: installation_id.clone(),
        trigger: trigger.as_str().to_owned(),
        kek_id,
        wrapped_key: base64::engine::general_purpose::STANDARD.encode(wrapped),
    };
    let header_line = serde_json::to_string(&header).map_err(|e| e.to_string())?;
    let path = folder.join(format!("outpost-{}{}", started_at.format("%Y%m%d-%H%M%S-%3f"), archive::SUFFIX));

    let (entries, body) = archive::Entries::channel();
    let contents = Contents {
        pg_dump,
        database_url: config.database.url.clone(),
        pool: pool.clone(),
        storage: storage.clone(),
        config_text: redacted_config(config)?,
        created_at: started_at,
        installation_id,
    };
    let producer = tokio::spawn(contents.write(entries));
    let (sealed, _) = stream::seal(&key, &archive::identity(&header_line), body).map_err(|e| e.to_string())?;
    let written = archive::write(&path, &header_line, sealed).await;
    let produced = producer.await.map_err(|e| format!("the backup stopped: {e}"))?;
    let manifest = produced?;
    let (size, sha256) = written.map_err(|e| format!("cannot write {}: {e}", path.display()))?;

    let objects = manifest.entries.iter().filter(|entry| entry.name.starts_with(OBJECTS_PREFIX)).count() as u64;
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let id = conn
        .transaction::<_, AppError, _>(|conn| {
            let id: i64 = diesel::insert_into(backups::table)
                .values((
                    backups::file_name.eq(&file_name),
                    backups::trigger.eq(trigger.as_str()),
                    backups::started_at.eq(started_at),
                    backups::finished_at.eq(Utc::now()),
                    backups::size_bytes.eq(size as i64),
                    backups::sha256.eq(&sha256),
                    backups::objects.eq(objects as i64),
                ))
                .returning(backups::id)
                .get_result(conn)?;
            audit::record(
                conn,
                &Actor::system(),
                Change {
                    action: "backup.created",
                    entity_type: "backup",
                    entity_id: id,
                    before: None,
                    after: Some(json!({ "file": file_name, "size": size, "sha256": sha256, "objects": objects })),
                },
            )?;
            Ok(id)
        })
        .map_err(|e| format!("the archive {} was written, but not recorded: {e}", path.display()))?;
    Ok(Created { path, size, sha256, objects, missing_objects: manifest.missing_objects, id })
}

/// The backup folder, made readable by the service alone.
fn create_folder(folder: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(folder)
        .map_err(|e| format!("backup.dir: cannot create {}: {e}", folder.display()))
}

/// What goes into an archive, gathered while the archive is written.
struct Contents {
    pg_dump: PathBuf,
    database_url: String,
    pool: DbPool,
    storage: Storage,
    config_text: Option<String>,
    created_at: DateTime<Utc>,
    installation_id: String,
}

impl Contents {
    /// Adds every entry, then the manifest; on a failure the body is stopped with it, so the
    /// archive being written is abandoned.
    async fn write(self, mut entries: archive::Entries) -> Result<Manifest, String> {
        match self.add_all(&mut entries).await {
            Ok(manifest) => match entries.finish().await {
                Ok(()) => Ok(manifest),
                Err(e) => Err(e.to_string()),
            },
            Err(problem) => {
                entries.fail(std::io::Error::other(problem.clone())).await;
                Err(problem)
            }
        }
    }

    async fn add_all(&self, entries: &mut archive::Entries) -> Result<Manifest, String> {
        // The dump first: its snapshot is the moment the backup is of. Files are copied after,
        // so every file a dumped row names was stored before the snapshot.
        let (mut command, _passfile) = connection::command(&self.pg_dump, &self.database_url)?;
        let mut dump = command
            .args(["--format=custom", "--compress=6"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.pg_dump.display()))?;
        let stdout = dump.stdout.take().ok_or("pg_dump gave no output")?;
        let added = entries.add(DATABASE_ENTRY, Box::pin(tokio_util::io::ReaderStream::new(stdout))).await;
        let finished = dump.wait_with_output().await.map_err(|e| format!("pg_dump: {e}"))?;
        if !finished.status.success() {
            return Err(format!("pg_dump failed: {}", String::from_utf8_lossy(&finished.stderr).trim()));
        }
        added.map_err(|e| format!("cannot read pg_dump's output: {e}"))?;

        let pool = self.pool.clone();
        let facts = tokio::task::spawn_blocking(move || database_facts(&pool)).await.map_err(|e| e.to_string())??;
        let mut missing_objects = Vec::new();
        for key in &facts.object_keys {
            let object = ObjectKey::new(key).map_err(|e| format!("stored file {key}: {e}"))?;
            match self.storage.get(&object).await {
                Ok(body) => {
                    entries
                        .add(&format!("{OBJECTS_PREFIX}{key}"), body)
                        .await
                        .map_err(|e| format!("cannot copy the stored file {key}: {e}"))?;
                }
                Err(StorageError::NotFound(_)) => missing_objects.push(key.clone()),
                Err(e) => return Err(format!("cannot read the stored file {key}: {e}")),
            }
        }
        if let Some(text) = &self.config_text {
            entries.add_bytes(CONFIG_ENTRY, text.clone().into_bytes()).await.map_err(|e| e.to_string())?;
        }
        let manifest = Manifest {
            created_at: self.created_at,
            outpost_version: env!("CARGO_PKG_VERSION").to_owned(),
            installation_id: self.installation_id.clone(),
            migrations: facts.migrations,
            entries: entries.written.clone(),
            missing_objects,
            audit_head: facts.audit_head,
            data_keys: facts.data_keys,
        };
        let text = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
        entries.add_bytes(MANIFEST_ENTRY, text).await.map_err(|e| e.to_string())?;
        Ok(manifest)
    }
}

struct DatabaseFacts {
    object_keys: Vec<String>,
    migrations: Vec<String>,
    audit_head: Option<(i64, String)>,
    data_keys: Vec<(String, i64)>,
}

fn database_facts(pool: &DbPool) -> Result<DatabaseFacts, String> {
    let mut conn = pool.get().map_err(|e| format!("cannot connect to the database: {e}"))?;
    let conn = &mut conn;
    let failed = |e: diesel::result::Error| e.to_string();
    let files: Vec<(String, Option<String>)> = attachments::table
        .order(attachments::id)
        .select((attachments::object_key, attachments::thumbnail_key))
        .load(conn)
        .map_err(failed)?;
    let object_keys = files.into_iter().flat_map(|(file, thumbnail)| std::iter::once(file).chain(thumbnail)).collect();
    let migrations = applied_migrations(conn).map_err(failed)?;
    let audit_head = crate::audit::chain::head(conn).map_err(failed)?;
    let data_keys = data_keys::table
        .group_by(data_keys::kek_id)
        .select((data_keys::kek_id, diesel::dsl::count_star()))
        .order_by(data_keys::kek_id)
        .load(conn)
        .map_err(failed)?;
    Ok(DatabaseFacts { object_keys, migrations, audit_head, data_keys })
}

/// The migrations applied to a database, oldest first.
pub fn applied_migrations(conn: &mut PgConnection) -> QueryResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Version {
        #[diesel(sql_type = diesel::sql_types::Text)]
        version: String,
    }
    let rows: Vec<Version> =
        diesel::sql_query("SELECT version FROM __diesel_schema_migrations ORDER BY version").load(conn)?;
    Ok(rows.into_iter().map(|row| row.version).collect())
}

/// The configuration file as it was read, with every secret written in the clear left out
/// (sealed ones stay: they open only with the key and the database they were sealed with).
fn redacted_config(config: &Config) -> Result<Option<String>, String> {
    let Some(path) = &config.source else { return Ok(None) };
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut table: toml::Table = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let left_out = toml::Value::String("left out of the backup".to_owned());
    for setting in crate::config::secrets::SEALABLE.iter().chain(["database.url"].iter()) {
        let Some((section, name)) = setting.split_once('.') else { continue };
        if let Some(value) = table.get_mut(section).and_then(|s| s.as_table_mut()).and_then(|s| s.get_mut(name)) {
            let sealed = value.as_str().is_some_and(crate::keys::sealed_text::is_sealed);
            if !sealed {
                *value = left_out.clone();
            }
        }
    }
    let mut out = format!(
        "# The configuration of {}, secrets written in the clear left out. Settings from the\n# environment (OUTPOST_*) are not in it.\n",
        path.display()
    );
    out.push_str(&toml::to_string(&table).map_err(|e| e.to_string())?);
    Ok(Some(out))
}

/// An archive in the backup folder, as `backup list` shows it.
#[derive(Debug)]
pub struct Listed {
    pub path: PathBuf,
    pub size: u64,
    /// `None` when the header cannot be read.
    pub header: Option<Header>,
}

/// The archives in `folder`, newest first; partial ones left by an interrupted backup are
/// removed.
pub async fn list(folder: &Path) -> Result<Vec<Listed>, String> {
    let mut found = Vec::new();
    let mut entries = match tokio::fs::read_dir(folder).await {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(format!("backup.dir: cannot read {}: {e}", folder.display())),
    };
    while let Some(entry) = entries.next_entry().await.map_err(|e| e.to_string())? {
        let name = entry.file_name().to_string_lossy().into_owned();
        if archive::is_partial_name(&name) {
            let _ = tokio::fs::remove_file(entry.path()).await;
            continue;
        }
        if !archive::is_archive_name(&name) {
            continue;
        }
        let size = entry.metadata().await.map(|m| m.len()).unwrap_or(0);
        let header = archive::open(&entry.path()).await.ok().map(|opened| opened.header);
        found.push(Listed { path: entry.path(), size, header });
    }
    found.sort_by(|a, b| b.path.cmp(&a.path));
    Ok(found)
}

/// The archives where `backup.target` keeps them, newest first.
pub async fn listed(config: &Config, storage: &Storage) -> Result<Vec<Listed>, String> {
    match config.backup.in_object_store {
        true => remote::list(storage).await,
        false => list(&config.backup.dir).await,
    }
}

/// Removes the scheduled archives that retention does not keep, where they are kept.
async fn prune(config: &Config, storage: &Storage) -> Result<(), String> {
    let scheduled: Vec<(PathBuf, DateTime<Utc>)> = listed(config, storage)
        .await?
        .into_iter()
        .filter_map(|listed| {
            let header = listed.header?;
            (header.trigger == Trigger::Schedule.as_str()).then_some((listed.path, header.created_at))
        })
        .collect();
    for path in retention::to_remove(&scheduled, config.backup.keep) {
        match config.backup.in_object_store {
            true => remote::remove(storage, &path.display().to_string()).await?,
            false => std::fs::remove_file(&path).map_err(|e| format!("cannot remove {}: {e}", path.display()))?,
        }
        tracing::info!(archive = %path.display(), "removed a scheduled backup no longer kept");
    }
    Ok(())
}

/// Records how verifying the archive at `path` went (`problem` is `None` when it passed), on
/// the row of the backup that wrote it, if this installation wrote it.
pub fn record_verification(conn: &mut PgConnection, path: &Path, problem: Option<&str>) -> QueryResult<usize> {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else { return Ok(0) };
    diesel::update(backups::table.filter(backups::file_name.eq(name)))
        .set((backups::verified_at.eq(Utc::now()), backups::verify_problem.eq(problem)))
        .execute(conn)
}

/// The `backup` job: a backup, its verification, and the pruning of scheduled backups no
/// longer kept. A failed verification is recorded, and fails the job so it shows.
///
/// A large backup may outlast the job's lease, and another worker then takes the job over:
/// a lock held for the whole run makes that worker find the backup running and leave it.
pub fn scheduled(context: &crate::jobs::worker::Context) -> Result<(), crate::jobs::queue::Failure> {
    use crate::jobs::queue::Failure;
    let mut guard = context.pool.get().map_err(|e| Failure::retry(e.to_string()))?;
    guard
        .transaction::<_, diesel::result::Error, _>(|guard| {
            if !crate::db::try_transaction_lock(guard, crate::db::lock_key("outpost.backup"))? {
                tracing::info!("a scheduled backup is already running on another worker; leaving it to finish");
                return Ok(Ok(()));
            }
            Ok(back_up_verify_and_prune(context))
        })
        .map_err(|e| Failure::retry(e.to_string()))?
}

/// The job's work, with one store and one runtime. The job's configuration is the serving
/// one, whose sealed secrets start-up opened.
fn back_up_verify_and_prune(context: &crate::jobs::worker::Context) -> Result<(), crate::jobs::queue::Failure> {
    use crate::jobs::queue::Failure;
    let config = &context.config;
    let (_, pg_restore) =
        crate::pgcluster::find_dump_tools(config.backup.pg_bin_dir.as_deref()).map_err(Failure::permanent)?;
    crate::attachments::with_storage(context, async |storage| {
        let created =
            create(config, &context.pool, &context.keys, &storage, Trigger::Schedule).await.map_err(Failure::retry)?;
        let verified = restore::verify(&created.path, &context.keys, &pg_restore).await;
        let mut conn = context.pool.get().map_err(|e| Failure::retry(e.to_string()))?;
        record_verification(&mut conn, &created.path, verified.as_ref().err().map(String::as_str))
            .map_err(|e| Failure::retry(e.to_string()))?;
        if let Err(problem) = verified {
            return Err(Failure::permanent(format!(
                "the backup {} does not verify: {problem}",
                created.path.display()
            )));
        }
        if config.backup.in_object_store {
            remote::upload(&storage, &created.path).await.map_err(Failure::retry)?;
        }
        prune(config, &storage).await.map_err(Failure::retry)?;
        tracing::info!(archive = %created.path.display(), size = created.size, "backup written and verified");
        Ok(())
    })
}
