//! `outpost backup create|list|verify|restore`, as an administrator runs them: each prints what
//! it did, or fails with one sentence.

use std::io::BufRead;
use std::path::Path;
use std::time::Duration;

use diesel::prelude::*;

use super::{restore, Trigger};
use crate::config::Config;
use crate::db::{self, DbPool};
use crate::keys::Keyring;
use crate::operations::health::bytes;
use crate::storage::Storage;

/// What every command but `list` needs: the database, the keys (with the configuration's
/// sealed secrets opened), and a runtime for the object store.
struct Opened {
    config: Config,
    pool: DbPool,
    keys: Keyring,
    runtime: tokio::runtime::Runtime,
}

fn open(config: &Config) -> Result<Opened, String> {
    let keys = Keyring::open(&config.keys).map_err(|e| format!("the key-encryption key cannot be used: {e}"))?;
    let pool = db::pool(&config.database);
    db::wait_until_reachable(&pool, Duration::from_secs(30))?;
    let mut config = config.clone();
    let mut conn = pool.get().map_err(|e| format!("cannot connect to the database: {e}"))?;
    config.open_sealed_secrets(&mut conn, &keys).map_err(|problems| problems.join("\n"))?;
    drop(conn);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    Ok(Opened { config, pool, keys, runtime })
}

async fn storage(config: &Config) -> Result<Storage, String> {
    Storage::open(&config.storage).await.map_err(|e| format!("file storage: {e}"))
}

pub fn create(config: &Config) -> Result<(), String> {
    let opened = open(config)?;
    let (created, uploaded) = opened.runtime.block_on(async {
        let storage = storage(&opened.config).await?;
        let created = super::create(&opened.config, &opened.pool, &opened.keys, &storage, Trigger::Command).await?;
        let uploaded = match opened.config.backup.in_object_store {
            true => Some(super::remote::upload(&storage, &created.path).await?),
            false => None,
        };
        Ok::<_, String>((created, uploaded))
    })?;
    println!(
        "Wrote {} ({}, {} stored files, SHA-256 {}).",
        created.path.display(),
        bytes(created.size),
        created.objects,
        created.sha256
    );
    if let Some(place) = uploaded {
        println!("Uploaded it to {place}, and removed the local copy.");
    }
    if !created.missing_objects.is_empty() {
        println!(
            "{} files were deleted while the backup ran and are not in it: {}",
            created.missing_objects.len(),
            created.missing_objects.join(", ")
        );
    }
    println!("Copy it off this machine; it opens only with the customer-managed key.");
    Ok(())
}

pub fn list(config: &Config) -> Result<(), String> {
    let opened = open(config)?;
    let archives = opened.runtime.block_on(async {
        let storage = storage(&opened.config).await?;
        super::listed(&opened.config, &storage).await
    })?;
    if archives.is_empty() {
        match config.backup.in_object_store {
            true => println!("No backups in the object store."),
            false => println!("No backups in {}.", config.backup.dir.display()),
        }
    }
    for archive in archives {
        match archive.header {
            Some(header) => println!(
                "{}  {}  {:>10}  by {}  key {}  Outpost {}",
                archive.path.display(),
                header.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
                bytes(archive.size),
                header.trigger,
                header.kek_id,
                header.outpost_version
            ),
            None => {
                println!("{}  (its header cannot be read: not an Outpost archive, or damaged)", archive.path.display())
            }
        }
    }
    Ok(())
}

/// A local copy of `archive`: itself when it is a file here, else the archive of that name
/// fetched from the object store (`true`: a download, to remove after).
fn local_copy(opened: &Opened, archive: &Path) -> Result<(std::path::PathBuf, bool), String> {
    if archive.is_file() || !opened.config.backup.in_object_store {
        return Ok((archive.to_owned(), false));
    }
    let name = archive.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    std::fs::create_dir_all(&opened.config.backup.dir).map_err(|e| format!("backup.dir: {e}"))?;
    let fetched = opened.runtime.block_on(async {
        let storage = storage(&opened.config).await?;
        super::remote::fetch(&storage, &name, &opened.config.backup.dir).await
    })?;
    Ok((fetched, true))
}

pub fn verify(config: &Config, archive: &Path) -> Result<(), String> {
    let opened = open(config)?;
    let (_, pg_restore) = crate::pgcluster::find_dump_tools(config.backup.pg_bin_dir.as_deref())?;
    let (copy, fetched) = local_copy(&opened, archive)?;
    let verified = opened.runtime.block_on(restore::verify(&copy, &opened.keys, &pg_restore));
    if fetched {
        let _ = std::fs::remove_file(&copy);
    }
    let mut conn = opened.pool.get().map_err(|e| format!("cannot connect to the database: {e}"))?;
    // An archive from elsewhere, or a database not yet migrated, has no row to record it on.
    if let Err(e) = super::record_verification(&mut conn, archive, verified.as_ref().err().map(String::as_str)) {
        eprintln!("(the verification was not recorded: {e})");
    }
    let verified = verified?;
    println!(
        "{} is sound: made {} by Outpost {}, {} stored files, a database dump of {} items, every entry as its manifest says.",
        archive.display(),
        verified.header.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
        verified.header.outpost_version,
        verified.objects,
        verified.dump_items
    );
    Ok(())
}

pub fn restore(config: &Config, archive: &Path, force: bool) -> Result<(), String> {
    let opened = open(config)?;
    if force {
        if let Some(holding) = restore::holds_data(&opened.pool)? {
            let mut conn = opened.pool.get().map_err(|e| e.to_string())?;
            let name: String = diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>("current_database()"))
                .get_result(&mut conn)
                .map_err(|e| e.to_string())?;
            println!("{holding}; the restore replaces all of it. Type the database's name ({name}) to go on:");
            let mut answer = String::new();
            std::io::stdin().lock().read_line(&mut answer).map_err(|e| e.to_string())?;
            if answer.trim() != name {
                return Err(format!("--force: the answer was not {name}; nothing was changed"));
            }
        }
    }
    let (copy, fetched) = local_copy(&opened, archive)?;
    let restored = opened.runtime.block_on(async {
        let storage = storage(&opened.config).await?;
        restore::restore(&copy, &opened.config, &opened.pool, &opened.keys, &storage, force).await
    });
    if fetched {
        let _ = std::fs::remove_file(&copy);
    }
    let restored = restored?;
    println!(
        "Restored {} (made {} by Outpost {}): the database and {} stored files.",
        archive.display(),
        restored.verified.header.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
        restored.verified.header.outpost_version,
        restored.objects
    );
    if !restored.migrations_applied.is_empty() {
        println!("Applied {} newer migrations.", restored.migrations_applied.len());
    }
    println!(
        "Search rebuild {} requested: each node rebuilds its index when it starts or within seconds if it runs.",
        restored.rebuild_generation
    );
    if let Some((position, hash)) = restored.verified.manifest.audit_head {
        println!("Check the audit log with: outpost audit verify --config FILE --expect-head {position}:{hash}");
    }
    Ok(())
}
