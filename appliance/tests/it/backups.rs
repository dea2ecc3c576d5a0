//! Backups as an administrator makes them, and the restore drill: an installation with
//! issues, pages, files, people and an audit trail is backed up with the command, restored into
//! a fresh database and object store, and compared row for row and byte for byte, with the
//! audit chain checked against the head it had. Then the refusals, and a backup cut short.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use outpost::identity::roles::GlobalRole;
use serde_json::json;

use crate::access::{call, person, private_project};
use crate::support::cli::{outpost, text};
use crate::support::{TempDir, TestApp, TestDb, PASSWORD, PNG};

fn temp_dir(what: &str) -> TempDir {
    let dir = TempDir(std::env::temp_dir().join(format!("outpost-{what}-{}", rand::random::<u64>())));
    std::fs::create_dir_all(&dir.0).unwrap();
    dir
}

/// A configuration file for the command line: this database, files, key and backup folder.
fn config_file(dir: &Path, name: &str, database: &str, objects: &Path, kek: &str, backups: &Path) -> String {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "[database]\nurl = \"{database}\"\n[storage]\nlocal_dir = \"{}\"\n[keys]\nfile = \"{kek}\"\n\
             [backup]\ndir = \"{}\"\n[mail]\npassword = \"hunter2\"\nusername = \"outpost\"\n",
            objects.display(),
            backups.display()
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// Every row of the tables a person's work lives in, as text, table by table.
fn contents(url: &str) -> Vec<(String, String)> {
    use diesel::{Connection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct Rows {
        #[diesel(sql_type = diesel::sql_types::Text)]
        rows: String,
    }
    let mut conn = diesel::PgConnection::establish(url).unwrap();
    [
        "users",
        "projects",
        "issues",
        "comments",
        "spaces",
        "pages",
        "attachments",
        "data_keys",
        "audit_log",
        "project_role_grants",
        "page_versions",
        "installation_settings",
        "sessions",
    ]
    .iter()
    .map(|table| {
        let rows: Rows = diesel::sql_query(format!(
            "SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') AS rows FROM {table} t"
        ))
        .get_result(&mut conn)
        .unwrap_or_else(|e| panic!("{table}: {e}"));
        ((*table).to_owned(), rows.rows)
    })
    .collect()
}

/// The files under `root`, by path relative to it, with their bytes.
fn files(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            if entry.file_type().unwrap().is_dir() {
                folders.push(entry.path());
            } else {
                found.push((entry.path().strip_prefix(root).unwrap().to_owned(), std::fs::read(entry.path()).unwrap()));
            }
        }
    }
    found.sort();
    found
}

fn archives(folder: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> =
        std::fs::read_dir(folder).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    found.sort();
    found
}

#[test]
fn the_restore_drill_brings_back_everything_and_the_refusals_change_nothing() {
    let app = TestApp::start();
    let mut api = app.client();
    let root = person(&app, "root", GlobalRole::Admin);
    private_project(&mut api, &root);
    let mona = person(&app, "mona", GlobalRole::User);
    assert_eq!(
        call(&mut api, &root, "POST", "/api/v1/projects/SEC/roles", Some(json!({ "role": "member", "user": "mona" })))
            .0,
        201
    );
    for title in ["Rotate the vault keys", "Audit the firewall"] {
        assert_eq!(
            call(&mut api, &root, "POST", "/api/v1/projects/SEC/issues", Some(json!({ "title": title }))).0,
            201
        );
    }
    assert_eq!(call(&mut api, &mona, "POST", "/api/v1/issues/SEC-1/comments", Some(json!({ "body": "On it" }))).0, 201);
    assert_eq!(
        call(&mut api, &root, "POST", "/api/v1/spaces", Some(json!({ "key": "OPS", "name": "Operations" }))).0,
        201
    );
    assert_eq!(
        call(
            &mut api,
            &root,
            "POST",
            "/api/v1/spaces/OPS/pages",
            Some(json!({ "title": "Runbook", "body": "Restart it" }))
        )
        .0,
        201
    );
    let mut browser = app.client();
    assert_eq!(browser.sign_in("root", PASSWORD).status, 303);
    let token = browser.session_csrf();
    let attached =
        browser.post_files("/issues/SEC-1/attachments", &[("csrf_token", &token)], &[("files", "p.png", PNG)]);
    assert_eq!(attached.status, 303, "{}", attached.body);
    app.run_jobs(); // the thumbnail
    let source_rows = contents(&app.config.database.url);
    let source_files = files(&app.objects.0);
    assert!(source_files.len() >= 2, "a file and its thumbnail: {source_files:?}");

    let work = temp_dir("backup-drill");
    let backups = work.0.join("backups");
    let source =
        config_file(&work.0, "source.toml", &app.config.database.url, &app.objects.0, &app.kek_file(), &backups);
    let verified_head = outpost(&["audit", "verify", "--config", &source], None);
    assert!(verified_head.status.success(), "{}", text(&verified_head));
    let head = text(&verified_head).split("Head: ").nth(1).unwrap().trim().to_owned();

    let created = outpost(&["backup", "create", "--config", &source], None);
    assert!(created.status.success(), "{}", text(&created));
    let archive = archives(&backups).pop().expect("an archive");
    assert!(archive.file_name().unwrap().to_string_lossy().ends_with(".backup"));
    let bytes = std::fs::read(&archive).unwrap();
    for secret in [b"hunter2".as_slice(), b"Rotate the vault keys", b"Runbook"] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret),
            "{} is not in the clear",
            String::from_utf8_lossy(secret)
        );
    }
    let listed = outpost(&["backup", "list", "--config", &source], None);
    assert!(
        text(&listed).contains(&archive.display().to_string()) && text(&listed).contains("by command"),
        "{}",
        text(&listed)
    );
    let verified = outpost(&["backup", "verify", "--config", &source, archive.to_str().unwrap()], None);
    assert!(verified.status.success() && text(&verified).contains("is sound"), "{}", text(&verified));

    // Restored into a database that has never seen Outpost and an empty folder, with the key.
    let fresh = TestDb::empty();
    let target_objects = work.0.join("restored-objects");
    let target = config_file(&work.0, "target.toml", &fresh.url, &target_objects, &app.kek_file(), &backups);
    let restored = outpost(&["backup", "restore", "--config", &target, archive.to_str().unwrap()], None);
    assert!(restored.status.success(), "{}", text(&restored));
    assert!(text(&restored).contains("and 2 stored files"), "{}", text(&restored));
    let restored_rows = contents(&fresh.url);
    for ((table, before), (_, after)) in source_rows.iter().zip(&restored_rows) {
        if table == "audit_log" {
            // Every row backed up, and besides them the restore's own and its search rebuild.
            let (before, after): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
            let added: Vec<&&str> = after.iter().filter(|row| !before.contains(row)).collect();
            assert_eq!(after.len(), before.len() + 2, "audit_log");
            assert!(added.iter().any(|row| row.contains("backup.restored")), "{added:?}");
            assert!(added.iter().any(|row| row.contains("search.rebuild_requested")), "{added:?}");
        } else {
            assert_eq!(before, after, "{table} is restored as it was");
        }
    }
    assert_eq!(files(&target_objects), source_files, "every stored file, byte for byte");
    let chain = outpost(&["audit", "verify", "--config", &target, "--expect-head", &head], None);
    assert!(chain.status.success(), "the audit chain verifies up to the old head: {}", text(&chain));
    let keys = outpost(&["keys", "verify", "--config", &target], None);
    assert!(keys.status.success(), "every data key opens: {}", text(&keys));

    // Refusals, each changing nothing: onto an installation with data; --force answered wrong;
    // without the key; an archive changed, cut short, or with its header edited.
    let before = contents(&fresh.url);
    let again = outpost(&["backup", "restore", "--config", &target, archive.to_str().unwrap()], None);
    assert!(!again.status.success());
    assert!(text(&again).contains("the database holds 2 people and 1 projects: a restore goes onto an empty installation. To replace everything in it with the archive, give --force"), "{}", text(&again));
    let wrong =
        outpost(&["backup", "restore", "--config", &target, "--force", archive.to_str().unwrap()], Some("nope\n"));
    assert!(!wrong.status.success() && text(&wrong).contains("--force: the answer was not"), "{}", text(&wrong));
    assert_eq!(contents(&fresh.url), before);
    let forced = outpost(
        &["backup", "restore", "--config", &target, "--force", archive.to_str().unwrap()],
        Some(&format!("{}\n", database_name(&fresh.url))),
    );
    assert!(forced.status.success(), "{}", text(&forced));

    let stranger_kek = work.0.join("stranger.kek");
    outpost::keys::providers::FileKek::create(&stranger_kek).unwrap();
    let elsewhere =
        config_file(&work.0, "elsewhere.toml", &fresh.url, &target_objects, stranger_kek.to_str().unwrap(), &backups);
    let refused = outpost(&["backup", "verify", "--config", &elsewhere, archive.to_str().unwrap()], None);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("the archive cannot be opened: it was sealed with key file:"),
        "{}",
        text(&refused)
    );

    let damaged = |name: &str, change: &dyn Fn(&mut Vec<u8>)| {
        let mut copy = bytes.clone();
        change(&mut copy);
        let path = work.0.join(name);
        std::fs::write(&path, copy).unwrap();
        let output = outpost(&["backup", "verify", "--config", &source, path.to_str().unwrap()], None);
        assert!(!output.status.success(), "{name} must not verify");
        text(&output)
    };
    let middle = bytes.len() / 2;
    assert!(damaged("flipped.backup", &|b| b[middle] ^= 1).contains("the archive is damaged or incomplete"));
    assert!(damaged("cut.backup", &|b| b.truncate(middle)).contains("the archive is damaged or incomplete"));
    let edited = damaged("edited.backup", &|b| {
        let at = b.windows(8).position(|w| w == b"\"command").unwrap();
        b[at + 1..at + 8].copy_from_slice(b"Command");
    });
    assert!(edited.contains("the archive is damaged or incomplete"), "{edited}");
    assert!(damaged("other.backup", &|b| b[0] = b'X').contains("is not an Outpost backup archive"));
}

fn database_name(url: &str) -> String {
    use diesel::{Connection, RunQueryDsl};
    let mut conn = diesel::PgConnection::establish(url).unwrap();
    diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>("current_database()")).get_result(&mut conn).unwrap()
}

/// A stand-in pg_dump that writes part of a dump and then fails, or hangs (to be killed).
fn broken_tools(dir: &Path, then: &str) -> PathBuf {
    let bin = dir.join(format!("bin-{then}"));
    std::fs::create_dir_all(&bin).unwrap();
    let body = format!("#!/bin/sh\nhead -c 300000 /dev/urandom\n{then}\n");
    for name in ["pg_dump", "pg_restore"] {
        std::fs::write(bin.join(name), &body).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(bin.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

#[test]
fn a_backup_cut_short_leaves_nothing_that_looks_like_an_archive() {
    let app = TestApp::start();
    person(&app, "root", GlobalRole::Admin);
    let work = temp_dir("backup-cut");
    let backups = work.0.join("backups");
    let with_tools = |bin: &Path| {
        let file =
            config_file(&work.0, "cut.toml", &app.config.database.url, &app.objects.0, &app.kek_file(), &backups);
        let mut text = std::fs::read_to_string(&file).unwrap();
        text = text.replace("[backup]\n", &format!("[backup]\npg_bin_dir = \"{}\"\n", bin.display()));
        std::fs::write(&file, text).unwrap();
        file
    };

    // The dump fails half-way: the command says so, and the folder holds nothing.
    let failing = with_tools(&broken_tools(&work.0, "echo 'pg_dump: error: connection lost' >&2; exit 1"));
    let failed = outpost(&["backup", "create", "--config", &failing], None);
    assert!(!failed.status.success());
    assert!(text(&failed).contains("pg_dump failed: pg_dump: error: connection lost"), "{}", text(&failed));
    assert!(archives(&backups).is_empty(), "{:?}", archives(&backups));

    // The process is killed mid-way: a hidden partial file stays, which is no archive; listing
    // removes it.
    let hanging = with_tools(&broken_tools(&work.0, "sleep 60"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_outpost"))
        .args(["backup", "create", "--config", &hanging])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !archives(&backups).iter().any(|p| std::fs::metadata(p).map(|m| m.len() > 100_000).unwrap_or(false)) {
        assert!(std::time::Instant::now() < deadline, "the backup did not start writing");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let left = archives(&backups);
    assert_eq!(left.len(), 1);
    assert!(left[0].file_name().unwrap().to_string_lossy().ends_with(".backup.partial"), "{left:?}");
    let listed = outpost(&["backup", "list", "--config", &hanging], None);
    assert!(text(&listed).contains("No backups in"), "{}", text(&listed));
    assert!(archives(&backups).is_empty());
}

#[test]
fn the_scheduled_backup_verifies_prunes_and_shows_on_the_system_page() {
    let folder = temp_dir("backup-schedule");
    let dir = folder.0.display().to_string();
    let app = TestApp::start_with(&[
        ("OUTPOST_BACKUP_DIR", &dir),
        ("OUTPOST_BACKUP_KEEP_DAILY", "1"),
        ("OUTPOST_BACKUP_KEEP_WEEKLY", "0"),
        ("OUTPOST_BACKUP_KEEP_MONTHLY", "0"),
    ]);
    let root = person(&app, "root", GlobalRole::Admin);
    let report = |app: &TestApp| {
        let reply = app.client().api("GET", "/api/v1/admin/system", Some(&root.token), None).json();
        let check = reply["checks"].as_array().unwrap().iter().find(|c| c["part"] == "backup").unwrap().clone();
        (check["level"].as_str().unwrap().to_owned(), check["reason"].as_str().unwrap().to_owned())
    };
    let (level, reason) = report(&app);
    assert_eq!(level, "amber");
    assert!(reason.starts_with("No backup has been made yet"), "{reason}");

    // An archive made with the command is the administrator's: the schedule never prunes it.
    let config =
        config_file(&folder.0, "cfg.toml", &app.config.database.url, &app.objects.0, &app.kek_file(), &folder.0);
    assert!(outpost(&["backup", "create", "--config", &config], None).status.success());
    for _ in 0..2 {
        app.sql("INSERT INTO jobs (kind, payload) VALUES ('backup', '{}')");
        assert_eq!(app.run_jobs(), 1);
    }
    let complete = || -> Vec<PathBuf> {
        archives(&folder.0).into_iter().filter(|p| p.to_string_lossy().ends_with(".backup")).collect()
    };
    assert_eq!(complete().len(), 2, "the command's archive and the newest scheduled one: {:?}", complete());
    assert_eq!(app.value("SELECT count(*)::text FROM backups WHERE trigger = 'schedule' AND verified_at IS NOT NULL AND verify_problem IS NULL"), "2");
    let (level, reason) = report(&app);
    assert_eq!(level, "green", "{reason}");
    assert!(reason.starts_with("The newest backup, of ") && reason.ends_with("verified."), "{reason}");

    // A run that finds a backup already running (its lease ran out and the job was taken
    // over) leaves it to finish and writes nothing.
    {
        use diesel::Connection;
        let mut holder = app.conn();
        holder
            .transaction::<_, diesel::result::Error, _>(|holder| {
                use diesel::RunQueryDsl;
                diesel::sql_query(format!("SELECT pg_advisory_xact_lock({})", outpost::db::lock_key("outpost.backup")))
                    .execute(holder)?;
                app.sql("INSERT INTO jobs (kind, payload) VALUES ('backup', '{}')");
                app.run_jobs();
                Ok(())
            })
            .unwrap();
    }
    assert_eq!(app.count("backups"), 3, "no backup was made while the other ran");
    assert_eq!(app.count("jobs WHERE kind = 'backup' AND state = 'succeeded'"), 3);

    // A verification that failed, or a backup too old, turns it red.
    app.sql("UPDATE backups SET verify_problem = 'the archive is damaged' WHERE id = (SELECT max(id) FROM backups)");
    let (level, reason) = report(&app);
    assert_eq!(level, "red");
    assert!(reason.contains("does not verify: the archive is damaged"), "{reason}");
    app.sql("UPDATE backups SET verify_problem = NULL, finished_at = now() - interval '4 days'");
    let (level, reason) = report(&app);
    assert_eq!(level, "red");
    assert!(reason.starts_with("The newest backup is 4 days old"), "{reason}");
}

#[test]
fn archives_can_live_in_the_object_store_instead_of_the_folder() {
    use crate::support::s3::{S3Server, ACCESS_KEY, SECRET_KEY};
    let server = S3Server::start();
    let db = TestDb::new();
    let work = temp_dir("backup-s3");
    let kek = work.0.join("kek");
    outpost::keys::providers::FileKek::create(&kek).unwrap();
    let config = work.0.join("s3.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"{}\"\n[keys]\nfile = \"{}\"\n[storage]\nbackend = \"s3\"\ns3_endpoint = \"{}\"\n\
             s3_bucket = \"kept\"\ns3_access_key = \"{ACCESS_KEY}\"\ns3_secret_key = \"{SECRET_KEY}\"\n\
             [backup]\ndir = \"{}\"\ntarget = \"object-store\"\n",
            db.url,
            kek.display(),
            server.endpoint(),
            work.0.join("local").display()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let created = outpost(&["backup", "create", "--config", config], None);
    assert!(created.status.success(), "{}", text(&created));
    assert!(text(&created).contains("Uploaded it to bucket kept at"), "{}", text(&created));
    assert!(archives(&work.0.join("local")).is_empty(), "no local copy stays");

    let listed = outpost(&["backup", "list", "--config", config], None);
    let name = text(&listed).split_whitespace().next().unwrap_or_default().to_owned();
    assert!(name.starts_with("outpost-") && name.ends_with(".backup"), "{}", text(&listed));
    assert!(text(&listed).contains("by command"), "{}", text(&listed));
    let verified = outpost(&["backup", "verify", "--config", config, &name], None);
    assert!(verified.status.success() && text(&verified).contains("is sound"), "{}", text(&verified));
    assert!(archives(&work.0.join("local")).is_empty(), "the download is removed");
    let missing = outpost(&["backup", "verify", "--config", config, "outpost-20200101-000000-000.backup"], None);
    assert!(!missing.status.success());
    assert!(text(&missing).contains("outpost-20200101-000000-000.backup:"), "{}", text(&missing));
}
