//! `outpost-installer upgrade PACKAGE|MEDIUM`: the new release's signature, a backup, stop,
//! install, migrate, start, health check. When anything after the stop fails, the previous
//! package is put back and the database restored from the backup just taken, automatically,
//! and the outcome says exactly what happened.

use std::path::{Path, PathBuf};

use outpost::license::{release_signature, vendor_keys};

use crate::host::{self, Host, SERVICE_USER};
use crate::media::{unpack_iso, Media, Unpacked};
use crate::probe;
use crate::service::Manager;
use crate::settings::{self, CONFIG_FILE};

/// The installer's own state, removed by `uninstall --purge`.
pub const INSTALLER_STATE: &str = "/var/lib/outpost-installer";
/// Every package installed through the installer, kept to roll back to.
pub const RELEASES: &str = "/var/lib/outpost-installer/releases";

pub struct Options {
    /// A .deb or .rpm with its `.sig` beside it, or an installer medium: the .iso file or the
    /// folder it is mounted on.
    pub source: PathBuf,
    pub manager: Manager,
    pub outpost: PathBuf,
}

/// The release to upgrade to, checked.
struct Release {
    package: PathBuf,
    version: String,
    media: Option<Media>,
    /// An .iso file's contents, kept while the release is used.
    _unpacked: Option<Unpacked>,
}

pub fn run(options: &Options) -> Result<(), String> {
    if !host::is_root() {
        return Err("An upgrade replaces a package and restarts a service: run it as root.".to_owned());
    }
    if !Path::new(CONFIG_FILE).is_file() {
        return Err(format!(
            "Outpost is not installed here ({CONFIG_FILE} is missing): use `outpost-installer install`."
        ));
    }
    let host = Host::new(false);
    let package_kind = if Path::new("/usr/bin/dpkg").exists() { "deb" } else { "rpm" };

    println!("[1/6] The new release");
    let release = open_release(&host, &options.source, package_kind)?;
    let installed = installed_version(&host, package_kind)?;
    println!("      → {} → {}", installed, release.version);
    if release.version == installed {
        println!("Outpost {installed} is already installed; nothing to do.");
        return Ok(());
    }
    if !newer(&host, package_kind, &release.version, &installed)? {
        return Err(format!(
            "{} is older than the installed {installed}; a downgrade is a restore: `outpost backup restore` with a backup made by that version.",
            release.version
        ));
    }
    let previous = kept_package(&installed, package_kind)?;

    println!("[2/6] Backup");
    let archive = backup(&host, &options.outpost)?;
    println!("      → {archive}");

    println!("[3/6] Stop");
    options.manager.halt(&host)?;

    let port = settings::installed_port().ok_or_else(|| format!("{CONFIG_FILE} names no server.bind port."))?;
    let upgraded = (|| {
        println!("[4/6] Install {}", release.version);
        install(&host, &release.package, release.media.as_ref(), package_kind)?;
        println!("[5/6] Migrate");
        migrate(&host, &options.outpost)?;
        println!("[6/6] Start and check health");
        let pin = probe::fingerprint(Path::new(probe::CERTIFICATE)).ok();
        options.manager.start(&host, &options.outpost, true, port, pin)
    })();
    match upgraded {
        Ok(()) => {
            keep(&release.package)?;
            println!("\nOutpost {} is running; the backup from before the upgrade is {archive}.", release.version);
            Ok(())
        }
        Err(failure) => {
            println!("\nThe upgrade failed: {failure}\nRolling back to {installed}:");
            match roll_back(&host, options, &previous, &archive, package_kind, port) {
                Ok(()) => Err(format!(
                    "The upgrade to {} failed and was rolled back: {installed} is reinstalled, the database is restored from {archive}, and Outpost {installed} is running again. What failed: {failure}",
                    release.version
                )),
                Err(rollback) => Err(format!(
                    "The upgrade to {} failed ({failure}), and so did the rollback ({rollback}). By hand: install {}, then `outpost backup restore --force --config {CONFIG_FILE} {archive}` as user {SERVICE_USER}, then start the service.",
                    release.version,
                    previous.display()
                )),
            }
        }
    }
}

fn open_release(host: &Host, source: &Path, kind: &str) -> Result<Release, String> {
    let (package, media, unpacked) = if source.is_dir() || source.extension().is_some_and(|e| e == "iso") {
        let unpacked = match source.is_dir() {
            true => None,
            false => Some(unpack_iso(source)?),
        };
        let media = Media::open(unpacked.as_ref().map_or(source, |u| u.dir.as_path()))?;
        println!("      the medium's {} files match SHA256SUMS, signed with key {}", media.files, media.signed_by);
        (media.package(kind)?, Some(media), unpacked)
    } else {
        let bytes = std::fs::read(source).map_err(|e| format!("Cannot read {}: {e}.", source.display()))?;
        let signature_file = PathBuf::from(format!("{}.sig", source.display()));
        let signature = std::fs::read_to_string(&signature_file).map_err(|e| {
            format!(
                "{} cannot be read ({e}): a package is only installed with the vendor's signature beside it.",
                signature_file.display()
            )
        })?;
        let key = release_signature::verify(&bytes, &signature, &vendor_keys::trusted())
            .map_err(|e| format!("{} is not trusted: {e}", source.display()))?;
        println!("      {} is signed with key {key}", source.display());
        (source.to_owned(), None, None)
    };
    let version = match kind {
        "deb" => host.run("dpkg-deb", &["--field", &package.to_string_lossy(), "Version"])?,
        _ => host.run("rpm", &["-qp", "--queryformat", "%{VERSION}-%{RELEASE}", &package.to_string_lossy()])?,
    };
    Ok(Release { package, version: version.trim().to_owned(), media, _unpacked: unpacked })
}

fn installed_version(host: &Host, kind: &str) -> Result<String, String> {
    let said = match kind {
        "deb" => host.run("dpkg-query", &["--showformat=${Version}", "--show", "outpost"]),
        _ => host.run("rpm", &["-q", "--queryformat", "%{VERSION}-%{RELEASE}", "outpost"]),
    };
    said.map(|v| v.trim().to_owned())
        .map_err(|_| "The outpost package is not installed: use `outpost-installer install`.".to_owned())
}

fn newer(host: &Host, kind: &str, candidate: &str, installed: &str) -> Result<bool, String> {
    match kind {
        "deb" => Ok(host.run("dpkg", &["--compare-versions", candidate, "gt", installed]).is_ok()),
        _ => {
            let compare = format!("%{{lua:print(rpm.vercmp('{candidate}', '{installed}'))}}");
            Ok(host.run("rpm", &["--eval", &compare])?.trim() == "1")
        }
    }
}

/// The package of the installed version, to roll back to: kept by the installer, or in apt's
/// cache when the package was installed by hand.
fn kept_package(version: &str, kind: &str) -> Result<PathBuf, String> {
    // outpost_0.1.0-1_amd64.deb, outpost-0.1.0-1.x86_64.rpm
    let marker = match kind {
        "deb" => format!("_{version}_"),
        _ => format!("-{version}."),
    };
    let candidates = [PathBuf::from(RELEASES), PathBuf::from("/var/cache/apt/archives")];
    candidates
        .iter()
        .filter_map(|folder| std::fs::read_dir(folder).ok())
        .flat_map(|entries| entries.flatten().map(|entry| entry.path()))
        .find(|path| {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            name.starts_with("outpost") && name.ends_with(&format!(".{kind}")) && name.contains(&marker)
        })
        .ok_or_else(|| {
            format!(
                "There is no copy of the installed package (outpost {version}) to roll back to, so the upgrade was not started; put it in {RELEASES}/ and run the upgrade again."
            )
        })
}

/// Keeps a package the installer installed, to roll back to later.
pub fn keep(package: &Path) -> Result<(), String> {
    let folder = Path::new(RELEASES);
    std::fs::create_dir_all(folder).map_err(|e| format!("Cannot create {RELEASES}: {e}."))?;
    let name = package.file_name().ok_or_else(|| format!("{} names no file.", package.display()))?;
    std::fs::copy(package, folder.join(name))
        .map(|_| ())
        .map_err(|e| format!("Cannot keep {} in {RELEASES}: {e}.", package.display()))
}

fn backup(host: &Host, outpost: &Path) -> Result<String, String> {
    let said = host
        .run_as(SERVICE_USER, &outpost.to_string_lossy(), &["backup", "create", "--config", CONFIG_FILE], None)
        .map_err(|e| format!("The backup before the upgrade failed, so nothing was changed: {e}"))?;
    let written = said
        .lines()
        .find_map(|line| line.strip_prefix("Wrote "))
        .and_then(|rest| rest.split(" (").next())
        .ok_or_else(|| format!("The backup command did not say what it wrote: {said}"))?;
    // Uploaded to the object store, the archive is restored by its name.
    if said.contains("Uploaded it to") {
        return Ok(Path::new(written).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    }
    Ok(written.to_owned())
}

fn install(host: &Host, package: &Path, media: Option<&Media>, kind: &str) -> Result<(), String> {
    let path = package.to_string_lossy();
    match (kind, media) {
        ("deb", Some(media)) => media.apt_install(host, &[&path]),
        ("deb", None) => host.run("dpkg", &["--install", &path]).map(|_| ()),
        _ => host.run("rpm", &["--upgrade", "--oldpackage", "--replacepkgs", &path]).map(|_| ()),
    }
}

fn migrate(host: &Host, outpost: &Path) -> Result<(), String> {
    let said = host.run_as(SERVICE_USER, &outpost.to_string_lossy(), &["migrate", "--config", CONFIG_FILE], None)?;
    println!("      {}", said.trim());
    Ok(())
}

fn roll_back(
    host: &Host,
    options: &Options,
    previous: &Path,
    archive: &str,
    kind: &str,
    port: u16,
) -> Result<(), String> {
    options.manager.halt(host)?;
    println!("      reinstall {}", previous.display());
    match kind {
        "deb" => host.run("dpkg", &["--install", &previous.to_string_lossy()]).map(|_| ())?,
        _ => {
            host.run("rpm", &["--upgrade", "--oldpackage", "--replacepkgs", &previous.to_string_lossy()]).map(|_| ())?
        }
    }
    println!("      restore the database from {archive}");
    let url = settings::installed_database_url().ok_or_else(|| format!("{CONFIG_FILE} names no database.url."))?;
    let database = database_name(&url);
    host.run_as(
        SERVICE_USER,
        &options.outpost.to_string_lossy(),
        &["backup", "restore", "--force", "--config", CONFIG_FILE, archive],
        Some(&format!("{database}\n")),
    )?;
    println!("      start the previous version");
    let pin = probe::fingerprint(Path::new(probe::CERTIFICATE)).ok();
    options.manager.start(host, &options.outpost, true, port, pin)
}

/// The database a connection string names (URL or key=value form); `outpost` by default.
pub fn database_name(url: &str) -> String {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let path = url.split('?').next().unwrap_or(url);
        let after_host = path.splitn(4, '/').nth(3).unwrap_or_default();
        if !after_host.is_empty() {
            return after_host.to_owned();
        }
    } else if let Some(name) = url.split_whitespace().find_map(|pair| pair.strip_prefix("dbname=")) {
        return name.trim_matches('\'').to_owned();
    }
    SERVICE_USER.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_in_either_form_of_connection_string() {
        assert_eq!(database_name("host=/var/run/postgresql port=5432 dbname=outpost user=outpost"), "outpost");
        assert_eq!(database_name("postgres://o@db.example.com:5432/work?sslmode=verify-full"), "work");
        assert_eq!(database_name("postgres://o@db.example.com"), "outpost");
        assert_eq!(database_name("host=db dbname='tracker'"), "tracker");
    }

    #[test]
    fn a_package_without_its_signature_is_refused_before_anything_runs() {
        let dir = std::env::temp_dir().join(format!("outpost-upgrade-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let package = dir.join("outpost_9.9.9-1_amd64.deb");
        std::fs::write(&package, b"not really").unwrap();
        let refusal = open_release(&Host::new(false), &package, "deb").err().unwrap();
        assert!(refusal.contains("only installed with the vendor's signature beside it"), "{refusal}");
        std::fs::write(dir.join("outpost_9.9.9-1_amd64.deb.sig"), "Key: nobody\nSignature: AAAA\n").unwrap();
        let refusal = open_release(&Host::new(false), &package, "deb").err().unwrap();
        assert!(refusal.contains("is not trusted"), "{refusal}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
