//! The parts this node reaches or serves: the object store, the mail server, the TLS
//! certificate and the disk under its data folders.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::stored::MailQueue;
use super::{
    bytes, counted, fact, Check, Level, CERTIFICATE_FAILING_DAYS, CERTIFICATE_WARNING_DAYS, DISK_FAILING, DISK_WARNING,
    PROBE_TIMEOUT,
};
use crate::config::{Config, StorageBackend};
use crate::tls::ServedCertificate;

pub(super) async fn storage(store: &crate::storage::Storage) -> Check {
    let title = "Object store";
    match tokio::time::timeout(PROBE_TIMEOUT, crate::storage::check::exercise(store)).await {
        Ok(Ok(_)) => {
            Check::new("storage", title, Level::Green, "A test object was written, read back, listed and deleted.")
                .with(vec![fact("Store", store.describe())])
        }
        Ok(Err(step)) => {
            Check::new("storage", title, Level::Red, format!("{step}.")).with(vec![fact("Store", store.describe())])
        }
        Err(_) => Check::new(
            "storage",
            title,
            Level::Red,
            format!(
                "The object store did not finish a test write and read within {} seconds.",
                PROBE_TIMEOUT.as_secs()
            ),
        )
        .with(vec![fact("Store", store.describe())]),
    }
}

/// Whether the SMTP server answers and takes the credentials; `None` when mail is off.
pub(super) fn mail_server(config: &Config) -> Option<Result<(), String>> {
    let smtp = config.mail.smtp.as_ref()?;
    Some(crate::notify::mail::check_connection(smtp, PROBE_TIMEOUT))
}

pub(super) fn mail(config: &Config, server: Option<Result<(), String>>, queue: Result<MailQueue, String>) -> Check {
    let title = "Mail";
    let Some(smtp) = &config.mail.smtp else {
        return Check::new(
            "mail",
            title,
            Level::Amber,
            "Mail is off (mail.smtp_host is not set): notifications stay in the app, and nobody can reset a password by mail.",
        );
    };
    let mut facts = vec![fact("Server", format!("{}:{}", smtp.host, smtp.port))];
    if let Ok(queue) = &queue {
        facts.push(fact("Waiting to be sent", queue.pending));
        facts.push(fact("Failed in the last day", queue.failed_today));
    }
    let (level, reason) = match (server, queue) {
        (Some(Err(why)), _) => (Level::Red, format!("The mail server does not take mail: {why}")),
        (_, Ok(queue)) if queue.failed_today > 0 => (
            Level::Amber,
            format!(
                "The server answers, but {} in the last day; Administration → Jobs shows why.",
                counted(queue.failed_today, "mail failed", "mails failed")
            ),
        ),
        _ => (Level::Green, "The mail server answers and accepts Outpost's sign-in.".to_owned()),
    };
    Check::new("mail", title, level, reason).with(facts)
}

/// The served certificate's expiry, or how HTTPS reaches the users without one.
pub fn certificate(served: Option<&ServedCertificate>, config: &Config, now: DateTime<Utc>) -> Check {
    let title = "TLS certificate";
    let Some(served) = served else {
        let https_in_front = config.server.public_url.as_deref().is_some_and(|url| url.starts_with("https://"));
        return if https_in_front {
            Check::new("certificate", title, Level::Green, "HTTPS ends at a proxy in front of Outpost (server.public_url is https); its certificate is watched there.")
        } else if config.server.bind.ip().is_loopback() {
            Check::new("certificate", title, Level::Green, "Plain HTTP on loopback only: nothing crosses the network.")
        } else {
            Check::new(
                "certificate",
                title,
                Level::Amber,
                "Plain HTTP on the network: passwords and sessions cross it unencrypted. Set server.tls_certificate and server.tls_private_key, or put an HTTPS proxy in front.",
            )
        };
    };
    let facts = match served.facts() {
        Ok(facts) => facts,
        Err(why) => return Check::new("certificate", title, Level::Red, why),
    };
    let days = (facts.not_after - now).num_days();
    let until = facts.not_after.format("%Y-%m-%d %H:%M UTC");
    let (level, reason) = if facts.not_after <= now {
        (
            Level::Red,
            format!("The certificate expired on {until}: browsers refuse it. Replace the files and reload Outpost."),
        )
    } else if days < CERTIFICATE_FAILING_DAYS {
        (
            Level::Red,
            format!("The certificate expires in {days} days, on {until}. Replace the files and reload Outpost."),
        )
    } else if days < CERTIFICATE_WARNING_DAYS {
        (Level::Amber, format!("The certificate expires in {days} days, on {until}. Renew it soon."))
    } else {
        (Level::Green, format!("Valid until {until} ({days} days)."))
    };
    Check::new("certificate", title, level, reason).with(vec![
        fact("Subject", &facts.subject),
        fact("Names", if facts.names.is_empty() { "none".to_owned() } else { facts.names.join(", ") }),
        fact("Issuer", &facts.issuer),
        fact("File", &facts.file),
        fact("Renewing", "replace the files, then `systemctl reload outpost` (SIGHUP): open connections carry on"),
    ])
}

/// Free space where this node writes: the local object store, the search index and backups.
pub(super) fn disk(config: &Config) -> Check {
    let title = "Disk space";
    let mut folders = vec![("Search index", config.search.index_dir.clone()), ("Backups", config.backup.dir.clone())];
    if let StorageBackend::Local { dir } = &config.storage.backend {
        folders.insert(0, ("Files", dir.clone()));
    }
    let mut level = Level::Green;
    let mut worst: Option<String> = None;
    let mut facts = Vec::new();
    for (what, folder) in folders {
        let measured = existing_ancestor(&folder)
            .ok_or_else(|| "no part of the path exists".to_owned())
            .and_then(|at| nix::sys::statvfs::statvfs(&at).map_err(|e| e.to_string()));
        match measured {
            Err(why) => {
                level = Level::Red;
                worst = Some(format!("{} cannot be measured: {why}.", folder.display()));
                facts.push(fact(what, format!("{}: cannot be measured", folder.display())));
            }
            Ok(stat) => {
                let block = stat.fragment_size();
                let (free, total) = (stat.blocks_available() * block, stat.blocks() * block);
                let percent = free as f64 * 100.0 / total.max(1) as f64;
                let below = |(share, least): (f64, u64)| percent < share || free < least;
                let this = if below(DISK_FAILING) {
                    Level::Red
                } else if below(DISK_WARNING) {
                    Level::Amber
                } else {
                    Level::Green
                };
                if this > level || (this == level && this != Level::Green && worst.is_none()) {
                    worst = Some(format!(
                        "Only {} ({percent:.0}%) is free where {} are kept ({}).",
                        bytes(free),
                        what.to_lowercase(),
                        folder.display()
                    ));
                }
                level = level.max(this);
                facts.push(fact(
                    what,
                    format!("{}: {} free of {} ({percent:.0}%)", folder.display(), bytes(free), bytes(total)),
                ));
            }
        }
    }
    let reason = worst.unwrap_or_else(|| "Every data folder has room.".to_owned());
    Check::new("disk", title, level, reason).with(facts)
}

/// The folder itself, or its nearest parent that exists (a folder not made yet lives there).
fn existing_ancestor(folder: &Path) -> Option<PathBuf> {
    folder.ancestors().find(|path| path.exists()).map(Path::to_path_buf)
}
