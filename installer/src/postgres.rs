//! The database: a local PostgreSQL (installed from the medium's repository when there is one,
//! its cluster created or reused, a role and a database for the service user, reached over the
//! Unix socket with peer authentication), or an external server checked before it is used.

use std::path::{Path, PathBuf};

use crate::host::{Host, SERVICE_USER};
use crate::media::Media;

const SOCKET_DIR: &str = "/var/run/postgresql";
const SUPERUSER: &str = "postgres";

/// Makes sure a local server runs with a role and a database for the service user; returns the
/// connection string for the configuration.
pub fn ensure_local(host: &Host, media: Option<&Media>, systemd: bool) -> Result<String, String> {
    let family = Family::of_this_machine()?;
    let version = match newest_server(Path::new("/usr/lib/postgresql")) {
        Some(version) => {
            host.kept(&format!("PostgreSQL {version} is installed"));
            Some(version)
        }
        None => {
            host.change("install PostgreSQL", || family.install_server(host, media))?;
            newest_server(Path::new("/usr/lib/postgresql"))
        }
    };
    if host.dry_run && version.is_none() {
        host.change("create a cluster, start it, and create role and database “outpost”", || Ok(()))?;
        return Ok(connection_string(5432));
    }
    let port = match family {
        Family::Debian => {
            let version = version.ok_or("PostgreSQL was installed, yet no server is under /usr/lib/postgresql.")?;
            debian_cluster(host, version, systemd)?
        }
        Family::RedHat => redhat_cluster(host, systemd)?,
    };
    ensure_role_and_database(host, port)?;
    Ok(connection_string(port))
}

fn connection_string(port: u16) -> String {
    format!("host={SOCKET_DIR} port={port} dbname={SERVICE_USER} user={SERVICE_USER}")
}

#[derive(Clone, Copy)]
enum Family {
    Debian,
    RedHat,
}

impl Family {
    fn of_this_machine() -> Result<Family, String> {
        if Path::new("/usr/bin/apt-get").exists() {
            Ok(Family::Debian)
        } else if Path::new("/usr/bin/dnf").exists() {
            Ok(Family::RedHat)
        } else {
            Err("Neither apt-get nor dnf is here, so PostgreSQL cannot be installed; use an external database (database.mode = \"external\").".to_owned())
        }
    }

    fn install_server(self, host: &Host, media: Option<&Media>) -> Result<(), String> {
        match (self, media) {
            (Family::Debian, Some(media)) => media.apt_install(host, &["postgresql"]),
            (Family::Debian, None) => {
                host.run("apt-get", &["install", "-y", "--no-install-recommends", "postgresql"]).map(|_| ())
            }
            (Family::RedHat, _) => host.run("dnf", &["install", "-y", "postgresql-server"]).map(|_| ()),
        }
    }
}

/// The newest major version with a server under Debian's versioned folders, if ≥ 15.
fn newest_server(root: &Path) -> Option<u32> {
    std::fs::read_dir(root)
        .ok()?
        .flatten()
        .filter_map(|entry| entry.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|version| *version >= 15 && root.join(version.to_string()).join("bin/postgres").is_file())
        .max()
}

/// Reuses Debian's cluster of `version` (the package makes `main`), creating and starting it
/// when needed; returns its port.
fn debian_cluster(host: &Host, version: u32, systemd: bool) -> Result<u16, String> {
    let listed = host.run("pg_lsclusters", &["--no-header"])?;
    let name = version.to_string();
    let cluster =
        listed.lines().map(|l| l.split_whitespace().collect::<Vec<_>>()).find(|f| f.first() == Some(&name.as_str()));
    let (cluster_name, port, online) = match cluster {
        Some(fields) => {
            host.kept(&format!("PostgreSQL cluster {version}/{}", fields.get(1).unwrap_or(&"main")));
            let port = fields.get(2).and_then(|p| p.parse().ok()).unwrap_or(5432);
            (fields.get(1).unwrap_or(&"main").to_string(), port, fields.get(3) == Some(&"online"))
        }
        None => {
            host.change(&format!("create PostgreSQL cluster {version}/main"), || {
                host.run("pg_createcluster", &[&name, "main"]).map(|_| ())
            })?;
            ("main".to_owned(), 5432, false)
        }
    };
    if online {
        host.kept("PostgreSQL is running");
    } else if systemd {
        host.change("enable and start PostgreSQL", || {
            host.run("systemctl", &["enable", "--now", &format!("postgresql@{version}-{cluster_name}")]).map(|_| ())
        })?;
    } else {
        host.change("start PostgreSQL", || host.run("pg_ctlcluster", &[&name, &cluster_name, "start"]).map(|_| ()))?;
    }
    Ok(port)
}

fn redhat_cluster(host: &Host, systemd: bool) -> Result<u16, String> {
    if Path::new("/var/lib/pgsql/data/PG_VERSION").exists() {
        host.kept("PostgreSQL cluster /var/lib/pgsql/data");
    } else {
        host.change("create the PostgreSQL cluster", || host.run("postgresql-setup", &["--initdb"]).map(|_| ()))?;
    }
    if !systemd {
        return Err(
            "On RHEL-family systems the installer starts PostgreSQL with systemd; install without --no-systemd."
                .to_owned(),
        );
    }
    host.change("enable and start PostgreSQL", || {
        host.run("systemctl", &["enable", "--now", "postgresql"]).map(|_| ())
    })?;
    Ok(5432)
}

fn ensure_role_and_database(host: &Host, port: u16) -> Result<(), String> {
    let port = port.to_string();
    // Read-only queries, so a dry run asks them too; its cluster may not run yet, though.
    let ask = |query: &str| -> Result<bool, String> {
        match host.run_as(SUPERUSER, "psql", &["-p", &port, "-h", SOCKET_DIR, "-XAtqc", query], None) {
            Ok(said) => Ok(said.trim() == "1"),
            Err(_) if host.dry_run => Ok(false),
            Err(e) => Err(e),
        }
    };
    if ask(&format!("SELECT 1 FROM pg_roles WHERE rolname = '{SERVICE_USER}'"))? {
        host.kept(&format!("database role {SERVICE_USER}"));
    } else {
        host.change(&format!("create database role {SERVICE_USER} (peer authentication: no password)"), || {
            host.run_as(
                SUPERUSER,
                "psql",
                &["-p", &port, "-h", SOCKET_DIR, "-XAtqc", &format!("CREATE ROLE {SERVICE_USER} LOGIN")],
                None,
            )
            .map(|_| ())
        })?;
    }
    if ask(&format!("SELECT 1 FROM pg_database WHERE datname = '{SERVICE_USER}'"))? {
        host.kept(&format!("database {SERVICE_USER}"));
    } else {
        host.change(&format!("create database {SERVICE_USER}, owned by {SERVICE_USER}"), || {
            host.run_as(
                SUPERUSER,
                "createdb",
                &["-p", &port, "-h", SOCKET_DIR, "-O", SERVICE_USER, "-E", "UTF8", "-T", "template0", SERVICE_USER],
                None,
            )
            .map(|_| ())
        })?;
    }
    Ok(())
}

/// The connection string with TLS required and the server checked against `ca_file`.
pub fn with_ca(url: &str, ca_file: &Path) -> String {
    let settings = format!("sslmode=verify-full sslrootcert={}", ca_file.display());
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}{}", settings.replace(' ', "&"))
    } else {
        format!("{url} {settings}")
    }
}

/// Checks an external server with the `outpost` program itself (the client that will use it,
/// with the same TLS settings): reachable, version 15 or newer, a role that may create tables.
pub fn check_external(host: &Host, outpost: &Path, url: &str) -> Result<String, String> {
    host.run(&outpost.to_string_lossy(), &["check-database", "--url", url])
        .map(|said| said.trim().to_owned())
        .map_err(|e| e.lines().skip(1).collect::<Vec<_>>().join(" ").trim().to_owned())
}

/// The CA file the service reads, in the configuration folder.
pub fn installed_ca_path() -> PathBuf {
    PathBuf::from("/etc/outpost/database-ca.pem")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_makes_tls_required_in_either_form_of_url() {
        let ca = Path::new("/etc/outpost/database-ca.pem");
        assert_eq!(
            with_ca("postgres://o@db/outpost", ca),
            "postgres://o@db/outpost?sslmode=verify-full&sslrootcert=/etc/outpost/database-ca.pem"
        );
        assert_eq!(with_ca("postgres://o@db/outpost?connect_timeout=5", ca).matches('?').count(), 1);
        assert_eq!(
            with_ca("host=db dbname=outpost", ca),
            "host=db dbname=outpost sslmode=verify-full sslrootcert=/etc/outpost/database-ca.pem"
        );
    }

    #[test]
    fn only_servers_of_version_15_or_newer_are_found() {
        let root = std::env::temp_dir().join(format!("outpost-installer-versions-{}", rand::random::<u64>()));
        for version in ["13", "15", "16"] {
            std::fs::create_dir_all(root.join(version).join("bin")).unwrap();
        }
        std::fs::write(root.join("13/bin/postgres"), "").unwrap();
        std::fs::write(root.join("15/bin/postgres"), "").unwrap();
        assert_eq!(newest_server(&root), Some(15), "16 has no server program");
        std::fs::remove_dir_all(root).unwrap();
    }
}
