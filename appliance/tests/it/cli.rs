//! The `outpost` command as an administrator runs it.

use std::process::{Command, Stdio};

use diesel::prelude::*;

use crate::support::cli::{outpost, text};
use crate::support::TestDb;

fn config_file(contents: &str) -> tempfile_path::TempFile {
    tempfile_path::TempFile::with(contents)
}

/// `outpost serve` with `config` stops at once, saying `sentence`.
fn serve_refuses(config: &tempfile_path::TempFile, sentence: &str) {
    let refused = outpost(&["serve", "--config", config.arg()], None);
    assert!(!refused.status.success());
    assert!(text(&refused).contains(sentence), "{}", text(&refused));
}

/// A file under the system temp folder, removed on drop.
mod tempfile_path {
    pub struct TempFile(pub std::path::PathBuf);

    impl TempFile {
        pub fn with(contents: &str) -> TempFile {
            let path = std::env::temp_dir().join(format!("outpost-test-{}.toml", rand::random::<u64>()));
            std::fs::write(&path, contents).unwrap();
            TempFile(path)
        }

        pub fn arg(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[test]
fn every_command_has_help() {
    let top = outpost(&["--help"], None);
    assert!(top.status.success());
    for command in ["quickstart", "serve", "check-config", "migrate", "admin", "dev"] {
        assert!(text(&top).contains(command), "{command} missing from --help");
    }
    for args in [
        &["quickstart", "--help"][..],
        &["admin", "create-user", "--help"],
        &["dev", "generate", "--help"],
        &["serve", "--help"],
    ] {
        let output = outpost(args, None);
        assert!(output.status.success(), "{args:?}: {}", text(&output));
    }
}

#[test]
fn bench_search_refuses_zero_counts_and_an_existing_folder_writing_nothing() {
    let dir = std::env::temp_dir().join(format!("outpost-bench-search-{}", rand::random::<u64>()));
    let folder = dir.to_str().unwrap();
    for zero in ["--sample-every", "--sampled-at-most", "--rounds", "--projects", "--spaces"] {
        let refused = outpost(&["dev", "bench-search", "--dir", folder, zero, "0"], None);
        assert!(!refused.status.success(), "{zero}");
        let said = text(&refused);
        let sentence = "--projects, --spaces, --rounds, --sample-every and --sampled-at-most must be at least 1.";
        assert!(said.contains(sentence), "{said}");
        assert!(!dir.exists(), "{zero} 0 left {folder} behind");
    }
    std::fs::create_dir_all(&dir).unwrap();
    let refused = outpost(&["dev", "bench-search", "--dir", folder], None);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("exists already; give a folder that does not."), "{}", text(&refused));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "nothing was written into the existing folder");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_config_lists_every_problem_by_key_and_fails() {
    let file = config_file("[server]\nbind = \"everywhere\"\n[database]\npool_size = 0\n[color]\nx = 1\n");
    let output = outpost(&["check-config", "--config", file.arg()], None);
    assert!(!output.status.success());
    let said = text(&output);
    for problem in [
        "server.bind: \"everywhere\" is not an address:port",
        "database.url: is required",
        "database.pool_size: 0 is out of range",
        "color.x: no such setting",
    ] {
        assert!(said.contains(problem), "missing {problem:?} in {said}");
    }

    let good = config_file("[database]\nurl = \"host=/nowhere dbname=x\"\n");
    let output = outpost(&["check-config", "--config", good.arg()], None);
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&outpost(&["check-config", "--config", "/nonexistent.toml"], None))
        .contains("/nonexistent.toml: cannot be read"));
}

#[test]
fn migrate_create_user_and_generate_work_against_a_real_database() {
    let db = TestDb::empty();
    let file = config_file(&format!("[database]\nurl = \"{}\"\n", db.url));
    let migrated = outpost(&["migrate", "--config", file.arg()], None);
    assert!(migrated.status.success(), "{}", text(&migrated));
    let shipped = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations")).unwrap().count();
    assert!(text(&migrated).contains(&format!("{shipped} migration(s) applied.")), "{}", text(&migrated));

    // The account the rest of this test creates, with one further flag each time.
    let create_ops = |flag: &str, stdin: Option<&str>| {
        outpost(
            &["admin", "create-user", "--config", file.arg(), "--username", "ops", "--email", "ops@example.test", flag],
            stdin,
        )
    };
    let weak = create_ops("--password-stdin", Some("short\n"));
    assert!(!weak.status.success());
    assert!(text(&weak).contains("--password: Password must be at least 12 characters long."), "{}", text(&weak));
    let bad_name = outpost(
        &["admin", "create-user", "--config", file.arg(), "--username", "Bad Name", "--email", "x@example.test"],
        None,
    );
    assert!(text(&bad_name).contains("--username: User name must be"), "{}", text(&bad_name));

    let created = create_ops("--admin", None);
    assert!(created.status.success(), "{}", text(&created));
    assert!(text(&created).contains("Created user ops") && text(&created).contains("Password (shown this once): "));
    let again = outpost(
        &["admin", "create-user", "--config", file.arg(), "--username", "ops", "--email", "other@example.test"],
        None,
    );
    assert!(text(&again).contains("A user named ops already exists."));
    // The installer's second run: the account is left as it is, and that is a success.
    let converged = create_ops("--existing-ok", None);
    assert!(converged.status.success(), "{}", text(&converged));
    assert_eq!(text(&converged).trim(), "User ops already exists; left as it is.");

    let refused = outpost(&["dev", "generate", "--config", file.arg(), "--projects", "0"], None);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("--projects must be between 1 and 9,999."), "{}", text(&refused));

    let args = ["--issues", "5000", "--pages", "300", "--users", "25", "--projects", "5"];
    let generated = outpost(&[&["dev", "generate", "--config", file.arg()][..], &args[..]].concat(), None);
    assert!(generated.status.success(), "{}", text(&generated));
    let said = text(&generated);
    assert!(said.contains("Generated 5 projects, 25 users, 5,000 issues ("), "{said}");
    assert!(said.contains("Largest projects: GEN1 (2,193), GEN2 (1,094), GEN3 (729)"), "{said}");
    let again = outpost(&[&["dev", "generate", "--config", file.arg()][..], &args[..]].concat(), None);
    assert!(!again.status.success());
    assert!(
        text(&again).contains("already has generated projects (GEN1 …); generate into a fresh one"),
        "{}",
        text(&again)
    );

    let mut conn = db.connect();
    let count = |conn: &mut PgConnection, table: &str| -> i64 {
        diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!("SELECT count(*) FROM {table}"))
            .get_result(conn)
            .unwrap()
    };
    assert_eq!(count(&mut conn, "issues"), 5000);
    assert_eq!(count(&mut conn, "pages"), 300);
    assert_eq!(count(&mut conn, "users"), 26, "25 generated and ops");
    let comments = count(&mut conn, "comments");
    assert!((12_000..18_000).contains(&comments), "about 3 comments an issue: {comments}");
    assert!(count(&mut conn, "page_versions") > 300, "some pages have earlier versions");
    assert!(count(&mut conn, "issue_watchers") >= 5000, "every issue has its reporter watching");
    // Every number once per project, and the next issue takes the next number.
    let (issues_max, next): (i64, i64) = diesel::dsl::sql::<(diesel::sql_types::BigInt, diesel::sql_types::BigInt)>(
        "SELECT max(number), min(next_issue_number) FROM issues JOIN projects p ON p.id = project_id WHERE p.key = 'GEN1'",
    )
    .get_result(&mut conn)
    .unwrap();
    assert_eq!((issues_max, next), (2193, 2194));
    // The history went into the audit chain like any other record, and the chain holds.
    let verified = outpost(&["audit", "verify", "--config", file.arg()], None);
    assert!(verified.status.success(), "{}", text(&verified));
}

#[test]
fn serve_runs_against_an_existing_database_and_stops_cleanly_on_sigterm() {
    let db = TestDb::empty();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let index = std::env::temp_dir().join(format!("outpost-cli-search-{}", std::process::id()));
    let kek = std::env::temp_dir().join(format!("outpost-cli-kek-{}", rand::random::<u64>()));
    let settings = |kek: &std::path::Path| {
        config_file(&format!(
            "[server]\nbind = \"127.0.0.1:{port}\"\nuser = \"root\"\n[database]\nurl = \"{}\"\n[search]\nindex_dir = \"{}\"\n[keys]\nfile = \"{}\"\n",
            db.url,
            index.display(),
            kek.display()
        ))
    };
    // A key-encryption key that cannot be used stops start-up with one sentence.
    let without_key = settings(&kek);
    serve_refuses(&without_key, &format!("the customer-managed key cannot be used: the key file {}", kek.display()));
    outpost::keys::providers::FileKek::create(&kek).unwrap();
    // So does a sealed secret in the configuration that does not open.
    let unopened = config_file(&format!(
        "{}[mail]\nsmtp_host = \"127.0.0.1\"\nusername = \"outpost\"\npassword = \"sealed:v1:999:AAAA\"\n",
        std::fs::read_to_string(&settings(&kek).0).unwrap()
    ));
    serve_refuses(
        &unopened,
        "mail.password: the sealed value does not open (data key 999 does not exist: it was destroyed, or belongs to another installation)",
    );
    let file = settings(&kek);
    let server = Command::new(env!("CARGO_BIN_EXE_outpost"))
        .args(["serve", "--config", file.arg()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let ready = loop {
        if let Ok(response) = ureq::get(&format!("http://127.0.0.1:{port}/health/ready")).call() {
            break response.into_string().unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "serve did not become ready");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(ready.contains("\"database\":\"ok\""), "{ready}");
    // It migrated the empty database on start.
    let tables: i64 = outpost::schema::projects::table.count().get_result(&mut db.connect()).unwrap();
    assert_eq!(tables, 0);

    let stopped = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(stopped.success());
    let output = server.wait_with_output().unwrap();
    assert!(output.status.success(), "serve exits cleanly on SIGTERM: {}", String::from_utf8_lossy(&output.stderr));
    let _ = std::fs::remove_dir_all(index);
    let _ = std::fs::remove_file(kek);
}

#[test]
fn set_password_replaces_the_password_and_ends_sessions() {
    let db = TestDb::new();
    let file = config_file(&format!("[database]\nurl = \"{}\"\n", db.url));
    let created = outpost(
        &["admin", "create-user", "--config", file.arg(), "--username", "ops", "--email", "ops@example.test"],
        None,
    );
    assert!(created.status.success(), "{}", text(&created));
    diesel::sql_query("INSERT INTO sessions (token_hash, user_id, csrf_token) SELECT '\\x00', id, 'x' FROM users")
        .execute(&mut db.connect())
        .unwrap();

    let weak = outpost(
        &["admin", "set-password", "--config", file.arg(), "--username", "ops", "--password-stdin"],
        Some("short\n"),
    );
    assert!(text(&weak).contains("--password: Password must be at least 12 characters long."), "{}", text(&weak));
    let common = outpost(
        &["admin", "set-password", "--config", file.arg(), "--username", "ops", "--password-stdin"],
        Some("Password2024!\n"),
    );
    assert!(!common.status.success());
    assert!(text(&common).contains("--password: That password is one of the most used"), "{}", text(&common));
    let nobody = outpost(&["admin", "set-password", "--config", file.arg(), "--username", "ghost"], None);
    assert!(!nobody.status.success());
    assert!(text(&nobody).contains("--username: There is no user named ghost."), "{}", text(&nobody));

    let set = outpost(
        &["admin", "set-password", "--config", file.arg(), "--username", "ops", "--password-stdin"],
        Some("a brand new passphrase\n"),
    );
    assert!(set.status.success(), "{}", text(&set));
    let mut conn = db.connect();
    let hash: String =
        outpost::schema::users::table.select(outpost::schema::users::password_hash).first(&mut conn).unwrap();
    assert!(outpost::identity::passwords::verify("a brand new passphrase", &hash));
    let sessions: i64 = outpost::schema::sessions::table.count().get_result(&mut conn).unwrap();
    assert_eq!(sessions, 0, "every session made with the old password is gone");
    let audited: Option<serde_json::Value> = outpost::schema::audit_log::table
        .filter(outpost::schema::audit_log::action.eq("user.password_changed"))
        .select(outpost::schema::audit_log::after_state)
        .first(&mut conn)
        .unwrap();
    assert_eq!(audited.unwrap()["sessions_ended"], 1);
}

/// The vendor's tool makes a key and signs a license; `outpost license` verifies it offline,
/// refuses a changed copy with the reason, installs it into a real database and shows it.
#[test]
fn licenses_are_issued_verified_installed_and_shown_from_the_command_line() {
    let dir = std::env::temp_dir().join(format!("outpost-license-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("vendor.key");
    let vendor = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_outpost-license")).args(args).output().unwrap();
    let made = vendor(&["keygen", "--id", "cli-test", "--out", key.to_str().unwrap()]);
    assert!(made.status.success(), "{}", text(&made));
    let public = String::from_utf8(made.stdout).unwrap().trim().to_owned();
    assert!(public.starts_with("cli-test:") && public.len() == "cli-test:".len() + 64, "{public}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600, "the private key is owner-only");
    let issued = vendor(&[
        "issue",
        "--key",
        key.to_str().unwrap(),
        "--id",
        "cli-test",
        "--customer-id",
        "C-7",
        "--customer-name",
        "Example Corp",
        "--seats",
        "40",
        "--days",
        "365",
        "--features",
        "ldap,sso",
    ]);
    assert!(issued.status.success(), "{}", text(&issued));
    let license = dir.join("license");
    std::fs::write(&license, &issued.stdout).unwrap();
    let with_key = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_outpost")).args(args).env("TEST_VENDOR_LICENSE_KEY", &public).output().unwrap()
    };
    let checked = with_key(&["license", "verify", license.to_str().unwrap()]);
    assert!(checked.status.success(), "{}", text(&checked));
    assert!(
        text(&checked).contains("for Example Corp (C-7)") && text(&checked).contains("Seats: 40; features: ldap, sso")
    );
    let unknown = outpost(&["license", "verify", license.to_str().unwrap()], None);
    assert!(!unknown.status.success());
    assert!(
        text(&unknown).contains("signed with key “cli-test”, which this version of Outpost does not know"),
        "{}",
        text(&unknown)
    );
    let changed = dir.join("changed");
    let original = String::from_utf8(issued.stdout.clone()).unwrap();
    std::fs::write(&changed, original.replacen("Key: cli-test\ney", "Key: cli-test\nez", 1)).unwrap();
    let refused = with_key(&["license", "verify", changed.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("does not match its contents"), "{}", text(&refused));

    let db = TestDb::new();
    let file = config_file(&format!("[database]\nurl = \"{}\"\n", db.url));
    let installed = with_key(&["license", "install", "--config", file.arg(), license.to_str().unwrap()]);
    assert!(installed.status.success(), "{}", text(&installed));
    let shown = with_key(&["license", "show", "--config", file.arg()]);
    assert!(text(&shown).contains("Seats in use: 0 of 40"), "{}", text(&shown));
    assert!(text(&shown).contains("Installation id: "), "{}", text(&shown));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn started_as_root_serve_binds_a_low_port_then_becomes_the_service_user() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: only a process started as root can drop root (CI runs as root)");
        return;
    }
    let nobody = nix::unistd::User::from_name("nobody").unwrap().expect("Debian has user nobody");
    let db = TestDb::empty();
    let dir = crate::support::TempDir(std::env::temp_dir().join(format!("outpost-drop-{}", rand::random::<u64>())));
    std::fs::create_dir_all(&dir.0).unwrap();
    // What the service user must own, as the packages arrange: its key and its data folder.
    let kek = dir.0.join("kek");
    outpost::keys::providers::FileKek::create(&kek).unwrap();
    let data = dir.0.join("data");
    std::fs::create_dir(&data).unwrap();
    for path in [&kek, &data, &dir.0] {
        std::os::unix::fs::chown(path, Some(nobody.uid.as_raw()), Some(nobody.gid.as_raw())).unwrap();
    }
    // The service user reaches the database over TCP (the test cluster's socket is for its
    // owner only), as it would the socket of a packaged PostgreSQL: socat, run as root here,
    // forwards to the cluster's socket.
    let socket_dir = db.url.split('\'').nth(1).expect("host='…' in the test URL").to_owned();
    let forwarded = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut socat = Command::new("socat")
        .arg(format!("TCP-LISTEN:{forwarded},bind=127.0.0.1,fork,reuseaddr"))
        .arg(format!("UNIX-CONNECT:{socket_dir}/.s.PGSQL.5432"))
        .spawn()
        .expect("socat must be installed");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let database = db.url.split("dbname=").nth(1).unwrap().trim().to_owned();
    let tcp_url = format!("host=127.0.0.1 port={forwarded} user=outpost dbname={database}");
    // A port below 1024, which only root may bind.
    let port = (900..1000).find(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok()).unwrap();
    let settings = |user: &str| {
        config_file(&format!(
            "[server]\nbind = \"127.0.0.1:{port}\"\nuser = \"{user}\"\n[database]\nurl = \"{}\"\n[search]\nindex_dir = \"{}\"\n\
             [storage]\nlocal_dir = \"{}\"\n[keys]\nfile = \"{}\"\n[jobs]\nworkers = 0\n",
            tcp_url,
            data.join("search").display(),
            data.join("objects").display(),
            kek.display()
        ))
    };

    let unknown = settings("outpost-no-such-user");
    serve_refuses(
        &unknown,
        "server.user: Outpost was started as root and becomes user outpost-no-such-user once its ports are bound, but there is no such user",
    );
    assert!(!data.join("objects").exists(), "nothing was made as root");

    let file = settings("nobody");
    let server = Command::new(env!("CARGO_BIN_EXE_outpost"))
        .args(["serve", "--config", file.arg()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while ureq::get(&format!("http://127.0.0.1:{port}/health/ready")).call().is_err() {
        assert!(std::time::Instant::now() < deadline, "serve did not become ready");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.id())).unwrap();
    let ids = |field: &str| {
        status
            .lines()
            .find(|line| line.starts_with(field))
            .unwrap()
            .split_whitespace()
            .skip(1)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids("Uid:"), vec![nobody.uid.to_string(); 4], "real, effective, saved and file-system uid");
    assert_eq!(ids("Gid:"), vec![nobody.gid.to_string(); 4]);
    // The folders it made, it made as the service user.
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(data.join("objects")).unwrap().uid(), nobody.uid.as_raw());

    Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    let output = server.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("dropped root: serving as the service user"));
    let _ = socat.kill();
    let _ = socat.wait();
}

#[test]
fn check_database_reports_the_server_and_refuses_a_role_that_cannot_create_tables() {
    let db = TestDb::new();
    let checked = outpost(&["check-database", "--url", &db.url], None);
    assert!(checked.status.success(), "{}", text(&checked));
    assert!(text(&checked).starts_with("PostgreSQL 1"), "{}", text(&checked));

    // A role that may connect but create nothing (PostgreSQL 15 gives PUBLIC no CREATE on
    // the database nor on schema public).
    let role = format!("reader_{}", rand::random::<u32>());
    let mut conn = db.connect();
    diesel::sql_query(format!("CREATE ROLE {role} LOGIN")).execute(&mut conn).unwrap();
    let as_reader = db.url.replacen("user=outpost", &format!("user={role}"), 1);
    assert_ne!(as_reader, db.url);
    let refused = outpost(&["check-database", "--url", &as_reader], None);
    assert!(!refused.status.success());
    assert!(
        text(&refused)
            .contains("database.url: the role may not create tables in this database; make it the database's owner"),
        "{}",
        text(&refused)
    );

    let unreachable = outpost(&["check-database", "--url", "host=/nonexistent dbname=outpost"], None);
    assert!(text(&unreachable).contains("database.url: cannot connect"), "{}", text(&unreachable));
    diesel::sql_query(format!("DROP ROLE {role}")).execute(&mut conn).unwrap();
}

/// The installer's external database with a CA file: TLS with the server's name checked. A
/// PostgreSQL of its own here, on loopback TCP with `ssl = on` and a certificate for localhost.
#[test]
fn check_database_over_tls_trusts_the_given_ca_and_refuses_a_server_it_does_not_vouch_for() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let binaries = outpost::pgcluster::find_binaries().unwrap();
    let served = crate::support::self_signed::SelfSigned::make(30);
    let other = crate::support::self_signed::SelfSigned::make(30);
    let root = std::env::temp_dir().join(format!("outpost-tls-pg-{}", rand::random::<u64>()));
    let data = root.join("data");
    std::fs::create_dir_all(&data).unwrap();
    // PostgreSQL will not run as root: as the postgres user the package made, when we are root.
    let owner = nix::unistd::User::from_name("postgres").unwrap().filter(|_| nix::unistd::Uid::effective().is_root());
    let as_owner = |command: &mut Command| {
        if let Some(user) = &owner {
            command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        }
    };
    std::fs::copy(served.path("cert.pem"), data.join("server.crt")).unwrap();
    std::fs::copy(served.path("key.pem"), data.join("server.key")).unwrap();
    std::fs::set_permissions(data.join("server.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    if let Some(user) = &owner {
        for path in [data.clone(), data.join("server.crt"), data.join("server.key")] {
            nix::unistd::chown(&path, Some(user.uid), Some(user.gid)).unwrap();
        }
    }
    // initdb wants an empty folder: the key pair waits beside it.
    let pgdata = data.join("pg");
    std::fs::create_dir_all(&pgdata).unwrap();
    if let Some(user) = &owner {
        nix::unistd::chown(&pgdata, Some(user.uid), Some(user.gid)).unwrap();
    }
    let mut initdb = Command::new(&binaries.initdb);
    initdb.arg("-D").arg(&pgdata).args(["-U", "outpost", "--auth", "trust", "--no-sync"]).current_dir(&root);
    as_owner(&mut initdb);
    let made = initdb.output().unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut postgres = Command::new(&binaries.postgres);
    postgres
        .arg("-D")
        .arg(&pgdata)
        .args(["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "ssl=on"])
        .args(["-p", &port.to_string()])
        .arg("-c")
        .arg(format!("ssl_cert_file={}", data.join("server.crt").display()))
        .arg("-c")
        .arg(format!("ssl_key_file={}", data.join("server.key").display()))
        .current_dir(&root)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    as_owner(&mut postgres);
    let mut server = postgres.spawn().unwrap();
    let url = |ca: &str| {
        format!("host=localhost port={port} user=outpost dbname=postgres sslmode=verify-full sslrootcert={ca} connect_timeout=5")
    };
    let mut checked = outpost(&["check-database", "--url", &url(&served.path("cert.pem"))], None);
    for _ in 0..50 {
        if checked.status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        checked = outpost(&["check-database", "--url", &url(&served.path("cert.pem"))], None);
    }
    assert!(checked.status.success(), "{}", text(&checked));
    assert!(text(&checked).contains("the role may create tables"), "{}", text(&checked));

    let refused = outpost(&["check-database", "--url", &url(&other.path("cert.pem"))], None);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("database.url: cannot connect"), "{}", text(&refused));
    assert!(text(&refused).contains("certificate verify failed"), "{}", text(&refused));

    server.kill().unwrap();
    server.wait().unwrap();
    std::fs::remove_dir_all(root).unwrap();
}
