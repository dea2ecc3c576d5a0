//! After the install: `status` and `uninstall`.

use std::io::BufRead;
use std::path::Path;

use crate::host::{self, Host, SERVICE_USER};
use crate::probe;
use crate::service::Manager;
use crate::settings::{self, CONFIG_FILE, DATA};

/// Versions, service state, health and license, each on its line; never changes anything.
pub fn status(manager: Manager, outpost: &Path) -> Result<(), String> {
    let host = Host::new(true);
    println!("installer       {}", env!("CARGO_PKG_VERSION"));
    let version = host.run(&outpost.to_string_lossy(), &["--version"]).unwrap_or_else(|_| "not installed".to_owned());
    println!("outpost         {}", version.trim());
    println!("service         {}", manager.state(&host));
    let port = settings::installed_port();
    let health = match port {
        None => format!("unknown: {CONFIG_FILE} is missing or names no server.bind"),
        Some(port) => {
            let pin = probe::fingerprint(Path::new(probe::CERTIFICATE)).ok();
            match probe::get(port, "/health/ready", pin) {
                Ok((200, _)) => format!("ready on port {port}"),
                Ok((status, body)) => format!("not ready on port {port} ({status}): {}", body.trim()),
                Err(e) => format!("not answering on port {port}: {e}"),
            }
        }
    };
    println!("health          {health}");
    if Path::new(CONFIG_FILE).is_file() && host::user_exists(SERVICE_USER) {
        match host.run_as(SERVICE_USER, &outpost.to_string_lossy(), &["license", "show", "--config", CONFIG_FILE], None)
        {
            Ok(said) => {
                for line in said.lines() {
                    println!("license         {line}");
                }
            }
            Err(e) => println!("license         cannot be read: {}", e.lines().last().unwrap_or_default()),
        }
    }
    Ok(())
}

/// Stops the service and removes the package. Without `purge`, the configuration, the keys,
/// the data and the database stay for a later install.
pub fn uninstall(manager: Manager, purge: bool, confirmed: bool) -> Result<(), String> {
    if !host::is_root() {
        return Err("Uninstalling removes a package and a service: run it as root.".to_owned());
    }
    if purge && !confirmed {
        println!("--purge deletes /etc/outpost (with the key file), {DATA} (files, index, backups), the kept packages, the database and the user {SERVICE_USER}.");
        println!("Without the key and the backups nothing of this installation can be recovered. Type PURGE to go on:");
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(|e| format!("Cannot read the answer: {e}."))?;
        if line.trim() != "PURGE" {
            return Err("Not confirmed; nothing was changed.".to_owned());
        }
    }
    let host = Host::new(false);
    manager.stop(&host)?;
    let database_url = settings::installed_database_url();
    if Path::new("/usr/bin/dpkg").exists() && host.run("dpkg-query", &["--show", "outpost"]).is_ok() {
        let action = if purge { "--purge" } else { "--remove" };
        host.change("remove the outpost package", || host.run("dpkg", &[action, "outpost"]).map(|_| ()))?;
    } else if Path::new("/usr/bin/rpm").exists() && host.run("rpm", &["-q", "outpost"]).is_ok() {
        host.change("remove the outpost package", || host.run("rpm", &["-e", "outpost"]).map(|_| ()))?;
    }
    if !purge {
        println!(
            "Kept: {CONFIG_FILE}, the key, {DATA} and the database; `outpost-installer install` picks them up again."
        );
        return Ok(());
    }
    if database_url.as_deref().is_some_and(|url| url.contains("host=/var/run/postgresql")) {
        for statement in
            [format!("DROP DATABASE IF EXISTS {SERVICE_USER}"), format!("DROP ROLE IF EXISTS {SERVICE_USER}")]
        {
            host.change(&format!("{statement} (local PostgreSQL)"), || {
                host.run_as("postgres", "psql", &["-h", "/var/run/postgresql", "-XAtqc", &statement], None).map(|_| ())
            })?;
        }
    }
    for folder in ["/etc/outpost", DATA, "/var/log/outpost", crate::upgrade::INSTALLER_STATE] {
        if Path::new(folder).exists() {
            host.change(&format!("delete {folder}"), || {
                std::fs::remove_dir_all(folder).map_err(|e| format!("Cannot delete {folder}: {e}."))
            })?;
        }
    }
    if host::user_exists(SERVICE_USER) {
        host.change(&format!("delete the user {SERVICE_USER}"), || host.run("userdel", &[SERVICE_USER]).map(|_| ()))?;
    }
    println!("Outpost was removed and its data deleted.");
    Ok(())
}
