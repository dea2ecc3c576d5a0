//! The `outpost` command: the server and the administrator's tools.

use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use outpost::admin::{generate, quickstart};
use outpost::audit::Actor;
use outpost::config::{Config, KEYS};
use outpost::identity::passwords;
use outpost::identity::roles::GlobalRole;
use outpost::identity::users::{self, NewUser};
use outpost::notify::mail;
use outpost::{db, server, telemetry};

mod commands;

use commands::{
    AdminCommand, AuditCommand, BackupCommand, Cli, Command, ConfigArg, DevCommand, KeysCommand, LicenseCommand,
    MailCommand, StorageCommand,
};

/// The password from standard input's first line, or a generated one (and `true`).
fn password_from(stdin: bool) -> Result<(String, bool), String> {
    if !stdin {
        return Ok((passwords::generate(), true));
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| format!("cannot read the password: {e}"))?;
    Ok((line.trim_end_matches(['\r', '\n']).to_owned(), false))
}

/// Domain errors name fields; on the command line the fields are flags.
fn as_flag_error(error: outpost::errors::AppError) -> String {
    match error.field() {
        Some(field) => format!("--{}: {error}", field.replace('_', "-")),
        None => error.to_string(),
    }
}

fn load(config: &Path) -> Result<Config, String> {
    Config::load(Some(config), std::env::vars()).map_err(|problems| {
        format!("{} has {} problem(s):\n  {}", config.display(), problems.len(), problems.join("\n  "))
    })
}

fn connect(config: &Config) -> Result<db::DbPool, String> {
    let pool = db::pool(&config.database);
    db::wait_until_reachable(&pool, Duration::from_secs(30))?;
    Ok(pool)
}

/// Opens the configuration's sealed secrets for a command that uses them; a configuration
/// without any needs neither the key nor the database.
fn open_sealed_secrets(config: &mut Config) -> Result<(), String> {
    if !config.has_sealed_secrets() {
        return Ok(());
    }
    let keyring = outpost::keys::Keyring::open(&config.keys)
        .map_err(|e| format!("the key-encryption key cannot be used: {e}"))?;
    let pool = connect(config)?;
    let mut conn = pool.get().map_err(|e| format!("cannot connect to the database: {e}"))?;
    config.open_sealed_secrets(&mut conn, &keyring).map_err(|problems| problems.join("\n"))
}

fn migrate(pool: &db::DbPool) -> Result<Vec<String>, String> {
    let mut conn = pool.get().map_err(|e| format!("cannot reach PostgreSQL: {e}"))?;
    db::migrate(&mut conn)
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Quickstart { data, port } => quickstart::run(&data, port),
        Command::Serve(ConfigArg { config }) => {
            let config = load(&config)?;
            telemetry::init(&config.log_level);
            let ports = server::bind_ports_and_drop_root(&config)?;
            let pool = connect(&config)?;
            let ran = migrate(&pool)?;
            if !ran.is_empty() {
                tracing::info!(migrations = ?ran, "applied migrations");
            }
            actix_web::rt::System::new().block_on(server::serve(config, pool, ports))
        }
        Command::CheckConfig { config, list_keys } => {
            if list_keys {
                for (key, meaning) in KEYS {
                    println!("{key:34} {meaning}");
                }
            }
            load(&config.config)?;
            println!("{}: no problems found.", config.config.display());
            Ok(())
        }
        Command::CheckDatabase { url, config } => {
            let url = match (url, config) {
                (Some(url), _) => url,
                (None, Some(config)) => load(&config)?.database.url,
                (None, None) => return Err("give --url URL or --config FILE".to_owned()),
            };
            println!("{}", outpost::db::check_server(&url)?);
            Ok(())
        }
        Command::Migrate(ConfigArg { config }) => {
            let config = load(&config)?;
            telemetry::init(&config.log_level);
            let pool = connect(&config)?;
            let ran = migrate(&pool)?;
            println!("{} migration(s) applied.", ran.len());
            Ok(())
        }
        Command::Reindex { config, reason } => {
            let config = load(&config.config)?;
            let pool = connect(&config)?;
            let mut conn = pool.get().map_err(|e| format!("cannot connect to the database: {e}"))?;
            let generation =
                outpost::search::request_rebuild(&mut conn, &Actor::system(), &reason).map_err(|e| e.to_string())?;
            println!(
                "Rebuild {generation} requested. Each running node builds a new search index from the database within a \
                 few seconds and switches to it when it is complete; searches use the current index meanwhile. \
                 The log says \"search: the index is built\" with the count and rate."
            );
            Ok(())
        }
        Command::Admin(AdminCommand::CreateUser {
            config,
            username,
            email,
            display_name,
            admin,
            password_stdin,
            existing_ok,
        }) => {
            let config = load(&config.config)?;
            let pool = connect(&config)?;
            let (password, generated) = password_from(password_stdin)?;
            if existing_ok {
                let mut conn = pool.get().map_err(|e| e.to_string())?;
                if users::find_by_username(&mut conn, &username).map_err(|e| e.to_string())?.is_some() {
                    println!("User {username} already exists; left as it is.");
                    return Ok(());
                }
            }
            let new = NewUser {
                display_name: display_name.unwrap_or_else(|| username.clone()),
                username,
                email,
                password: password.clone(),
                role: if admin { GlobalRole::Admin } else { GlobalRole::User },
                is_service: false,
            };
            let mut conn = pool.get().map_err(|e| e.to_string())?;
            let user = users::create(&mut conn, &Actor::system(), new).map_err(as_flag_error)?;
            println!(
                "Created user {} (id {}){}.",
                user.username,
                user.id,
                if user.is_admin { ", an administrator" } else { "" }
            );
            if generated {
                println!("Password (shown this once): {password}");
            }
            Ok(())
        }
        Command::Admin(AdminCommand::SetPassword { config, username, password_stdin }) => {
            let config = load(&config.config)?;
            let pool = connect(&config)?;
            let (password, generated) = password_from(password_stdin)?;
            let mut conn = pool.get().map_err(|e| e.to_string())?;
            let user =
                users::set_password(&mut conn, &Actor::system(), &username, &password, false).map_err(as_flag_error)?;
            println!("Set the password of {} and ended their sessions.", user.username);
            if generated {
                println!("Password (shown this once): {password}");
            }
            Ok(())
        }
        Command::Mail(MailCommand::Test { config, address }) => {
            let mut config = load(&config.config)?;
            open_sealed_secrets(&mut config)?;
            println!("{}", mail::send_test(&config, &address)?);
            Ok(())
        }
        Command::License(command) => license_command(command),
        Command::Keys(command) => keys_command(command),
        Command::Backup(command) => backup_command(command),
        Command::Audit(AuditCommand::Verify { config, expect_head }) => {
            let expected = match expect_head.as_deref() {
                None => None,
                Some(text) => {
                    let (position, hash) = text
                        .split_once(':')
                        .and_then(|(position, hash)| Some((position.parse::<i64>().ok()?, hash)))
                        .filter(|(_, hash)| hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit()))
                        .ok_or("--expect-head: write it as POSITION:HASH, as `outpost audit verify` printed it")?;
                    Some((position, hash))
                }
            };
            let config = load(&config.config)?;
            let pool = connect(&config)?;
            let mut conn = pool.get().map_err(|e| format!("cannot connect to the database: {e}"))?;
            let found = outpost::audit::chain::verify(&mut conn, expected).map_err(|e| e.to_string())?;
            if found.sealed_first > 0 {
                println!("Sealed {} row(s) that were waiting to be sealed.", found.sealed_first);
            }
            for problem in &found.problems {
                println!("{problem}");
            }
            match &found.head {
                Some((position, hash)) => println!("Checked {} audit rows. Head: {position}:{hash}", found.rows),
                None => println!("The audit log is empty."),
            }
            if found.written_since > 0 {
                println!("{} row(s) written during the check are not sealed yet.", found.written_since);
            }
            match found.problems.len() {
                0 => Ok(()),
                n => Err(format!("the audit log failed verification: {n} problem(s), listed above")),
            }
        }
        Command::Storage(StorageCommand::Check { config }) => {
            let mut config = load(&config.config)?;
            open_sealed_secrets(&mut config)?;
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            let passed = runtime.block_on(outpost::storage::check::run(&config.storage))?;
            for line in passed {
                println!("ok: {line}");
            }
            println!("Storage works.");
            Ok(())
        }
        Command::Dev(DevCommand::Manuals { dir }) => {
            use clap::CommandFactory;
            outpost::manuals::write(&dir, Cli::command())
        }
        Command::Dev(DevCommand::Generate { config, issues, pages, users, projects, seed }) => {
            let config = load(&config.config)?;
            let pool = connect(&config)?;
            let mut conn = pool.get().map_err(|e| e.to_string())?;
            let plan = generate::Plan { issues, pages, users, projects, seed };
            let summary = generate::run(&mut conn, &plan).map_err(|e| e.to_string())?;
            println!("{summary}");
            Ok(())
        }
        Command::Dev(DevCommand::BenchSearch {
            dir,
            issues,
            pages,
            projects,
            spaces,
            rounds,
            reuse,
            exact_up_to,
            sample_every,
            sampled_at_most,
        }) => {
            if dir.exists() && !reuse {
                return Err(format!("{} exists already; give a folder that does not.", dir.display()));
            }
            if projects == 0 || spaces == 0 || rounds == 0 || sample_every == 0 || sampled_at_most == 0 {
                return Err(
                    "--projects, --spaces, --rounds, --sample-every and --sampled-at-most must be at least 1.".into()
                );
            }
            let effort = outpost::search::engine::Effort { exact_up_to, every: sample_every, sampled_at_most };
            let plan = outpost::search::bench::Plan { issues, pages, projects, spaces, rounds, reuse, effort };
            outpost::search::bench::run(&dir, &plan)
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("outpost: {message}");
            ExitCode::FAILURE
        }
    }
}

fn read_license(file: &std::path::Path) -> Result<String, String> {
    std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))
}

fn license_command(command: LicenseCommand) -> Result<(), String> {
    use outpost::license;
    match command {
        LicenseCommand::Verify { file } => {
            let text = read_license(&file)?;
            let found = license::signed::verify(&text, &license::vendor_keys::trusted()).map_err(|e| e.to_string())?;
            let now = chrono::Utc::now();
            license::signed::check_not_before(&found, now).map_err(|e| e.to_string())?;
            for line in license::describe(&found) {
                println!("{line}");
            }
            if found.payload.expires_at <= now {
                return Err(license::signed::Refusal::Expired(license::signed::day_and_time(found.payload.expires_at))
                    .to_string());
            }
            println!("The signature and dates check out.");
            Ok(())
        }
        LicenseCommand::Show { config } => {
            let config = load(&config.config)?;
            let pool = connect(&config)?;
            let mut conn = pool.get().map_err(|e| format!("cannot connect to the database: {e}"))?;
            let status = license::current(&mut conn).map_err(|e| e.to_string())?;
            let used = license::seats_used(&mut conn).map_err(|e| e.to_string())?;
            println!("Installation id: {}", status.installation_id);
            if let Some(problem) = &status.problem {
                println!("{problem}");
            }
            match &status.license {
                None => println!("Evaluation mode: every feature, up to {} people.", license::EVALUATION_SEATS),
                Some(found) => license::describe(found).iter().for_each(|line| println!("{line}")),
            }
            println!("Seats in use: {used} of {}", status.seat_limit());
            if let Some(notice) = status.notice(true, chrono::Utc::now()) {
                println!("{notice}");
            }
            Ok(())
        }
        LicenseCommand::Install { config, file } => {
            let text = read_license(&file)?;
            let config = load(&config.config)?;
            let pool = connect(&config)?;
            let mut conn = pool.get().map_err(|e| format!("cannot connect to the database: {e}"))?;
            let found = license::install(&mut conn, &Actor::system(), &text).map_err(|e| e.to_string())?;
            for line in license::describe(&found) {
                println!("{line}");
            }
            println!("Installed; it is in force on every node now.");
            Ok(())
        }
    }
}

fn backup_command(command: BackupCommand) -> Result<(), String> {
    use outpost::backups::commands;
    match command {
        BackupCommand::Create { config } => commands::create(&load(&config.config)?),
        BackupCommand::List { config } => commands::list(&load(&config.config)?),
        BackupCommand::Verify { config, archive } => commands::verify(&load(&config.config)?, &archive),
        BackupCommand::Restore { config, archive, force } => commands::restore(&load(&config.config)?, &archive, force),
    }
}

fn keys_command(command: KeysCommand) -> Result<(), String> {
    use outpost::keys::{providers::FileKek, Keyring};
    let open = |config: &ConfigArg| -> Result<(outpost::db::DbPool, Keyring), String> {
        let config = load(&config.config)?;
        let keyring = Keyring::open(&config.keys).map_err(|e| format!("the key-encryption key cannot be used: {e}"))?;
        Ok((connect(&config)?, keyring))
    };
    match command {
        KeysCommand::CreateFile { path } => {
            FileKek::create(&path).map_err(|e| e.to_string())?;
            println!("Wrote a new 256-bit key to {} (mode 0600).", path.display());
            Ok(())
        }
        KeysCommand::Status { config } => {
            let (pool, keyring) = open(&config)?;
            let mut conn = pool.get().map_err(|e| format!("cannot connect to the database: {e}"))?;
            println!("Current key: {} (a wrap and unwrap round trip worked)", keyring.current_kek());
            for (kek, purposes) in keyring.counts(&mut conn).map_err(|e| e.to_string())? {
                let total: i64 = purposes.iter().map(|(_, count)| count).sum();
                println!("  {total} data keys wrapped by {kek} ({})", outpost::keys::per_purpose(&purposes));
            }
            match outpost::keys::last_rotation(&mut conn).map_err(|e| e.to_string())? {
                Some(at) => println!("Last rotation: {}", at.format("%Y-%m-%d %H:%M UTC")),
                None => println!("Never rotated."),
            }
            Ok(())
        }
        KeysCommand::Rotate { config, batch } => {
            if !(1..=10_000).contains(&batch) {
                return Err("--batch: give a number from 1 to 10000".into());
            }
            let (pool, keyring) = open(&config)?;
            let mut conn = pool.get().map_err(|e| format!("cannot connect to the database: {e}"))?;
            let done = keyring
                .rotate(&mut conn, &Actor::system(), batch, |done, left| {
                    println!("re-wrapped {done}, {left} to go");
                    true
                })
                .map_err(|e| e.for_operator())?;
            println!(
                "Every data key is wrapped by {} now ({done} re-wrapped); the previous keys can be retired.",
                keyring.current_kek()
            );
            Ok(())
        }
        KeysCommand::SealFiles { config } => {
            let mut loaded = load(&config.config)?;
            open_sealed_secrets(&mut loaded)?;
            let (pool, keyring) = open(&config)?;
            let keyring = std::sync::Arc::new(keyring);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start a runtime: {e}"))?;
            let sealed = runtime.block_on(async {
                let storage =
                    outpost::storage::Storage::open(&loaded.storage).await.map_err(|e| format!("file storage: {e}"))?;
                outpost::attachments::sealing::seal_plain_files(&storage, &pool, &keyring, |done| {
                    if done % 100 == 0 {
                        println!("sealed {done}");
                    }
                })
                .await
                .map_err(|e| e.for_operator())
            })?;
            println!("Sealed {sealed} stored objects; every file is sealed now.");
            Ok(())
        }
        KeysCommand::SealSecret { config, setting } => {
            use outpost::config::secrets::{self, SEALABLE};
            if !SEALABLE.contains(&setting.as_str()) {
                return Err(format!(
                    "SETTING: \"{setting}\" is not a secret that can be sealed; give one of {}",
                    SEALABLE.join(", ")
                ));
            }
            let mut secret = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut secret)
                .map_err(|e| format!("cannot read the secret from standard input: {e}"))?;
            let secret = secret.strip_suffix('\n').map(|s| s.strip_suffix('\r').unwrap_or(s)).unwrap_or(&secret);
            if secret.is_empty() {
                return Err("standard input: give the secret to seal on standard input, e.g. `outpost keys seal-secret mail.password < file`".into());
            }
            let (pool, keyring) = open(&config)?;
            let mut conn = pool.get().map_err(|e| format!("cannot connect to the database: {e}"))?;
            let sealed =
                secrets::seal(&mut conn, &keyring, &Actor::system(), &setting, secret).map_err(|e| e.for_operator())?;
            println!("{sealed}");
            eprintln!("Write this value as {setting} in the configuration; it opens only with this installation's key and database.");
            Ok(())
        }
        KeysCommand::Verify { config } => {
            let (pool, keyring) = open(&config)?;
            let mut conn = pool.get().map_err(|e| format!("cannot connect to the database: {e}"))?;
            let (opened, problems) = keyring.verify_all(&mut conn).map_err(|e| e.to_string())?;
            for problem in &problems {
                println!("{problem}");
            }
            println!("{opened} data keys open.");
            match problems.len() {
                0 => Ok(()),
                n => Err(format!("{n} data keys do not open with the configured keys")),
            }
        }
    }
}
