//! `outpost-installer install`: the steps in order, each with a progress line and its outcome.
//! Every step looks before it changes, so a second run converges on the same installation and
//! a run stopped half-way is completed by the next one.

use std::path::{Path, PathBuf};

use crate::answers::{Answers, Database};
use crate::host::{self, Host, Owner, SERVICE_USER};
use crate::media::Media;
use crate::postgres;
use crate::preflight;
use crate::probe;
use crate::service::{Manager, LOG_FILE};
use crate::settings::{self, CONFIG_FILE, DATA, DATA_FOLDERS};
use crate::trust;

pub struct Options {
    pub answers: Answers,
    pub dry_run: bool,
    pub manager: Manager,
    /// The installer medium (the mounted ISO), whose packages and repository are used.
    pub media: Option<PathBuf>,
    /// The `outpost` program.
    pub outpost: PathBuf,
}

const STEPS: usize = 9;

struct Progress(usize);

impl Progress {
    fn next(&mut self, title: &str) {
        self.0 += 1;
        println!("[{}/{STEPS}] {title}", self.0);
    }
}

fn outcome(text: &str) {
    println!("      → {text}");
}

pub fn run(options: &Options) -> Result<(), String> {
    let host = Host::new(options.dry_run);
    let answers = &options.answers;
    let mut progress = Progress(0);
    if options.dry_run {
        println!("Dry run: this is the plan; nothing is changed.");
    }

    progress.next("Preflight");
    let checks = preflight::run(&preflight::Options { answers, systemd: options.manager == Manager::Systemd });
    let mut failed = Vec::new();
    for check in &checks {
        match &check.outcome {
            Ok(found) => println!("      ok    {}: {found}", check.name),
            Err(fix) => {
                println!("      FAIL  {}: {fix}", check.name);
                failed.push(fix.clone());
            }
        }
    }
    match trust::check_license(answers) {
        Ok(license) => println!("      ok    license: {license}"),
        Err(refusal) => {
            println!("      FAIL  license: {refusal}");
            failed.push(refusal);
        }
    }
    if !failed.is_empty() {
        return Err(format!("Preflight found {} problem(s), listed above; nothing was changed.", failed.len()));
    }

    progress.next("Outpost's packages");
    let media = match &options.media {
        Some(root) => {
            let media = Media::open(root)?;
            outcome(&format!(
                "the medium's {} files match SHA256SUMS, signed with key {}",
                media.files, media.signed_by
            ));
            Some(media)
        }
        None => None,
    };
    install_package(&host, media.as_ref(), &options.outpost)?;

    progress.next("System user and folders");
    service_user_and_folders(&host)?;

    progress.next("PostgreSQL");
    let database_url = match &answers.database {
        Database::Local => {
            let url = postgres::ensure_local(&host, media.as_ref(), options.manager == Manager::Systemd)?;
            outcome(&format!("local, over the Unix socket with peer authentication as {SERVICE_USER}"));
            url
        }
        Database::External { url, ca_file } => {
            let url = match ca_file {
                Some(ca) => {
                    let installed = postgres::installed_ca_path();
                    let bytes = std::fs::read(ca)
                        .map_err(|e| format!("database.ca_file: cannot read {}: {e}.", ca.display()))?;
                    host.change(&format!("put the database's CA in {}", installed.display()), || {
                        host::write_atomically(&installed, &bytes, Owner::ROOT, 0o644)
                    })?;
                    postgres::with_ca(url, &installed)
                }
                None => url.clone(),
            };
            if host.dry_run {
                outcome("external; it is checked when the installer runs for real");
            } else {
                outcome(&postgres::check_external(&host, &options.outpost, &url)?);
            }
            url
        }
    };

    progress.next("License");
    outcome(&trust::license(&host, answers)?);

    progress.next("Customer-managed key");
    outcome(&trust::customer_key(&host, &answers.keys)?);

    progress.next("TLS certificate");
    let fingerprint = trust::certificate(&host, answers)?;
    outcome(&format!("SHA-256 fingerprint {fingerprint}"));

    progress.next("Configuration, database schema and first administrator");
    settings::write(&host, &settings::render(answers, &database_url))?;
    let outpost = options.outpost.to_string_lossy().into_owned();
    host.converge("apply pending migrations", "database schema up to date", || {
        let said = host.run_as(SERVICE_USER, &outpost, &["migrate", "--config", CONFIG_FILE], None)?;
        print_indented(&said);
        Ok(!said.starts_with("0 migration"))
    })?;
    let password = first_admin(&host, answers, &outpost)?;

    progress.next("Service");
    let pin = if host.dry_run { None } else { Some(probe::fingerprint(Path::new(probe::CERTIFICATE))?) };
    // A new license, key, certificate or configuration is read at start: restart on any change.
    let changed = host.changed_anything();
    options.manager.start(&host, &options.outpost, changed, answers.server.port, pin)?;
    if host.dry_run {
        println!("\nDry run finished: nothing was changed.");
        return Ok(());
    }
    outcome("ready: /health/ready answers");

    println!("\nOutpost is installed and running.");
    println!("  Open            {}", answers.public_url());
    println!("  Administrator   {}", answers.admin.username);
    match password {
        Some(password) => println!("  Password        {password}   (shown this once: keep it somewhere safe)"),
        None => println!("  Password        unchanged (the account already existed, or came from admin.password_file)"),
    }
    println!("  Certificate     SHA-256 {fingerprint}");
    println!("  Configuration   {CONFIG_FILE}");
    println!(
        "  Logs            {}",
        match options.manager {
            Manager::Systemd => "journalctl -u outpost",
            Manager::Background => LOG_FILE,
        }
    );
    println!("\nNext: sign in and change the password; back up the key in [keys] apart from the backups;");
    println!("set up mail (`outpost mail test`), and see `outpost-installer status` at any time.");
    Ok(())
}

/// The `outpost` package: from the medium when there is one (apt resolves its dependencies
/// from the medium's repository), else it must already be installed.
fn install_package(host: &Host, media: Option<&Media>, outpost: &Path) -> Result<(), String> {
    let Some(media) = media else {
        if outpost.is_file() {
            host.kept(&format!("{} is installed", outpost.display()));
            return Ok(());
        }
        return Err(format!(
            "{} is not installed: install the outpost package first (apt install ./outpost_*.deb), or run the installer from the ISO.",
            outpost.display()
        ));
    };
    if Path::new("/usr/bin/dnf").exists() {
        let package = media.package("rpm")?;
        return host.change(&format!("install {}", package.display()), || {
            host.run("dnf", &["install", "-y", &package.to_string_lossy()])?;
            crate::upgrade::keep(&package)
        });
    }
    let package = media.package("deb")?;
    let wanted = host.run("dpkg-deb", &["--field", &package.to_string_lossy(), "Version"])?;
    let installed = host.run("dpkg-query", &["--showformat=${Version}", "--show", "outpost"]).unwrap_or_default();
    if installed.trim() == wanted.trim() && outpost.is_file() {
        host.kept(&format!("outpost {} is installed", wanted.trim()));
        return Ok(());
    }
    host.change(&format!("install outpost {} from the medium", wanted.trim()), || {
        media.apt_install(host, &[&package.to_string_lossy()])?;
        // The package to roll back to, should an upgrade fail.
        crate::upgrade::keep(&package)
    })
}

/// The packages' maintainer scripts make these too; the installer makes sure, since it may run
/// where the package was unpacked by hand.
fn service_user_and_folders(host: &Host) -> Result<(), String> {
    if host::user_exists(SERVICE_USER) {
        host.kept(&format!("system user {SERVICE_USER}"));
    } else {
        host.change(&format!("create system user and group {SERVICE_USER}"), || {
            host.run(
                "useradd",
                &[
                    "--system",
                    "--user-group",
                    "--home-dir",
                    DATA,
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    SERVICE_USER,
                ],
            )
            .map(|_| ())
        })?;
    }
    if host.dry_run && !host::user_exists(SERVICE_USER) {
        host.change("create /etc/outpost, /var/lib/outpost and its folders, /var/log/outpost", || Ok(()))?;
        return Ok(());
    }
    let account = host::account(SERVICE_USER)?;
    let service = Owner { uid: account.uid, gid: account.gid };
    let config = Owner { uid: 0, gid: account.gid };
    let mut folders = vec![
        (PathBuf::from("/etc/outpost"), config, 0o750),
        (PathBuf::from(DATA), service, 0o750),
        (PathBuf::from("/var/log/outpost"), service, 0o750),
    ];
    folders.extend(DATA_FOLDERS.iter().map(|name| (Path::new(DATA).join(name), service, 0o750)));
    for (folder, owner, mode) in folders {
        if host::folder_is(&folder, owner, mode) {
            host.kept(&folder.display().to_string());
        } else {
            host.change(&format!("make {} ({mode:o})", folder.display()), || host::make_folder(&folder, owner, mode))?;
        }
    }
    Ok(())
}

/// Creates the first administrator unless that account exists; the generated password, when
/// one was made.
fn first_admin(host: &Host, answers: &Answers, outpost: &str) -> Result<Option<String>, String> {
    let admin = &answers.admin;
    let (password, generated) = match &admin.password_file {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("admin.password_file: cannot read {}: {e}.", file.display()))?;
            (text.lines().next().unwrap_or_default().to_owned(), false)
        }
        None => (generate_password(), true),
    };
    let mut created = false;
    let account = format!("administrator {}", admin.username);
    host.converge(&format!("create {account}"), &account, || {
        let said = host.run_as(
            SERVICE_USER,
            outpost,
            &[
                "admin",
                "create-user",
                "--config",
                CONFIG_FILE,
                "--username",
                &admin.username,
                "--email",
                &admin.email,
                "--admin",
                "--password-stdin",
                "--existing-ok",
            ],
            Some(&format!("{password}\n")),
        )?;
        created = said.starts_with("Created");
        Ok(created)
    })?;
    Ok((created && generated).then_some(password))
}

fn generate_password() -> String {
    use rand::Rng;
    // No look-alikes (0/O, 1/l/I), so that it can be read off a screen and typed.
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut random = rand::thread_rng();
    (0..20).map(|_| ALPHABET[random.gen_range(0..ALPHABET.len())] as char).collect()
}

fn print_indented(text: &str) {
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        println!("      {line}");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_passwords_are_long_and_differ() {
        let (a, b) = (super::generate_password(), super::generate_password());
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
    }
}
