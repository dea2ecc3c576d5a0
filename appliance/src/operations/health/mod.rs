//! The health of each part of the installation, each green, amber or red with the sentence
//! that says why: what an administrator looks at first when something is wrong, and what they
//! check now and then so that nothing goes wrong (a certificate or license about to expire, a
//! disk filling up, jobs piling up, a key rotation left half-way).

mod services;
mod stored;

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Text};
use serde::Serialize;
use utoipa::ToSchema;

use crate::web::AppState;
pub use services::certificate;
use services::{disk, mail, mail_server, storage};
use stored::{backup, database, jobs, keys_check, license, mail_queue, search, MailQueue};

/// How a part is doing. Ordered: the worst of several is their maximum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = HealthLevel)]
pub enum Level {
    /// Working as it should.
    Green,
    /// Working, but needs attention soon.
    Amber,
    /// Not working, or about to stop.
    Red,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Green => "green",
            Level::Amber => "amber",
            Level::Red => "red",
        }
    }

    /// The word shown beside the colour, so the colour is never the only sign.
    pub fn word(self) -> &'static str {
        match self {
            Level::Green => "OK",
            Level::Amber => "Attention",
            Level::Red => "Failing",
        }
    }
}

/// One part's health.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = HealthCheck)]
pub struct Check {
    /// A stable name: database, storage, search, jobs, mail, license, certificate, keys, backup,
    /// disk.
    pub part: &'static str,
    pub title: &'static str,
    pub level: Level,
    /// Why it is this colour, in a sentence.
    pub reason: String,
    /// What else there is to know.
    pub facts: Vec<Fact>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = HealthFact)]
pub struct Fact {
    pub label: String,
    pub value: String,
}

fn fact(label: &str, value: impl ToString) -> Fact {
    Fact { label: label.to_owned(), value: value.to_string() }
}

impl Check {
    fn new(part: &'static str, title: &'static str, level: Level, reason: impl Into<String>) -> Check {
        Check { part, title, level, reason: reason.into(), facts: Vec::new() }
    }

    fn with(mut self, facts: Vec<Fact>) -> Check {
        self.facts.extend(facts);
        self
    }
}

/// A statement from `pg_stat_statements`, slowest on average first.
#[derive(Debug, Serialize, ToSchema, QueryableByName)]
pub struct SlowQuery {
    #[diesel(sql_type = Text)]
    pub query: String,
    #[diesel(sql_type = BigInt)]
    pub calls: i64,
    #[diesel(sql_type = Double)]
    pub mean_ms: f64,
}

/// The whole installation as this node sees it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SystemReport)]
pub struct Report {
    pub version: String,
    pub started_at: DateTime<Utc>,
    pub checked_at: DateTime<Utc>,
    /// The worst level of any part.
    pub level: Level,
    pub checks: Vec<Check>,
    /// The slowest statements on average, when the database has `pg_stat_statements` loaded.
    pub slowest_queries: Vec<SlowQuery>,
    /// Why there are no slowest queries, when there are none.
    pub slowest_queries_note: Option<String>,
}

/// A certificate this close to expiry is amber, and red closer still.
pub const CERTIFICATE_WARNING_DAYS: i64 = 30;
pub const CERTIFICATE_FAILING_DAYS: i64 = 7;
/// Free space under a data folder below either limit (a share of the file system, or bytes)
/// is amber, then red: a share alone would alarm on a large disk with plenty left.
const DISK_WARNING: (f64, u64) = (10.0, 5 * GIB);
const DISK_FAILING: (f64, u64) = (3.0, GIB);
const GIB: u64 = 1024 * 1024 * 1024;
/// The newest backup older than these is amber, then red (the schedule makes one a day).
const BACKUP_AGE_WARNING: chrono::Duration = chrono::Duration::hours(36);
const BACKUP_AGE_FAILING: chrono::Duration = chrono::Duration::hours(72);
/// Ready jobs waiting longer than these are amber, then red: the workers are behind or stopped.
const JOB_WAIT_WARNING: Duration = Duration::from_secs(120);
const JOB_WAIT_FAILING: Duration = Duration::from_secs(900);
/// Outbox events not yet in this node's search index before it is amber.
const SEARCH_LAG_WARNING: i64 = 1_000;
/// How long the object store and the mail server get to answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Checks every part, the slow ones (object store, mail server, database) at the same time.
pub async fn report(state: &AppState) -> Report {
    let config = state.config.clone();
    let smtp_config = config.clone();
    let (from_database, storage, mail_server) = futures_util::join!(
        database_checks(state),
        storage(&state.storage),
        actix_web::web::block(move || mail_server(&smtp_config)),
    );
    let FromDatabase { mut checks, slowest_queries, slowest_queries_note, mail_queue } = from_database;
    checks.push(mail(&config, mail_server.unwrap_or_else(|e| Some(Err(e.to_string()))), mail_queue));
    checks.push(storage);
    checks.push(certificate(state.certificate.as_deref(), &config, Utc::now()));
    checks.push(disk(&config));
    checks.sort_by_key(|check| std::cmp::Reverse(check.level));
    Report {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at: state.started_at,
        checked_at: Utc::now(),
        level: checks.iter().map(|check| check.level).max().unwrap_or(Level::Green),
        checks,
        slowest_queries,
        slowest_queries_note,
    }
}

/// What the checks that read the database found.
struct FromDatabase {
    checks: Vec<Check>,
    slowest_queries: Vec<SlowQuery>,
    slowest_queries_note: Option<String>,
    mail_queue: Result<MailQueue, String>,
}

/// The checks that read the database, on one connection of the blocking pool. When the
/// database cannot be reached, each says so.
async fn database_checks(state: &AppState) -> FromDatabase {
    let (search_index, keys, config) = (state.search.clone(), state.keys.clone(), state.config.clone());
    let pool_state = state.pool.state();
    let checked = crate::db::run(&state.pool, move |conn| {
        let (database, slowest_queries, slowest_queries_note) = database(conn, pool_state, config.database.pool_size);
        Ok(FromDatabase {
            checks: vec![
                database,
                search(conn, &search_index),
                jobs(conn, config.jobs.workers),
                license(conn),
                keys_check(conn, &keys, &config),
                backup(conn, &config, Utc::now()),
            ],
            slowest_queries,
            slowest_queries_note,
            mail_queue: mail_queue(conn).map_err(|e| e.to_string()),
        })
    })
    .await;
    checked.unwrap_or_else(|error| {
        let unreachable =
            |part, title| Check::new(part, title, Level::Red, "It cannot be checked: the database cannot be reached.");
        FromDatabase {
            checks: vec![
                Check::new(
                    "database",
                    "Database",
                    Level::Red,
                    format!("PostgreSQL cannot be reached: {}", error.for_operator()),
                ),
                unreachable("search", "Search index"),
                unreachable("jobs", "Background jobs"),
                unreachable("license", "License"),
                unreachable("keys", "Customer-managed key"),
                unreachable("backup", "Backups"),
            ],
            slowest_queries: Vec::new(),
            slowest_queries_note: None,
            mail_queue: Err("the database cannot be reached".to_owned()),
        }
    })
}

/// "1 job failed", "3 jobs failed".
pub fn counted(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Bytes in the unit a person reads: 1.5 GiB, 320 MiB, 12 KiB.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{n} bytes"),
        _ if value < 10.0 => format!("{value:.1} {}", UNITS[unit]),
        _ => format!("{value:.0} {}", UNITS[unit]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_a_person_would_say_them() {
        assert_eq!(bytes(0), "0 bytes");
        assert_eq!(bytes(1023), "1023 bytes");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(320 * 1024 * 1024), "320 MiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024 / 2), "1.5 GiB");
    }

    #[test]
    fn the_worst_level_wins() {
        assert_eq!([Level::Green, Level::Red, Level::Amber].into_iter().max(), Some(Level::Red));
        assert_eq!([Level::Green, Level::Amber].into_iter().max(), Some(Level::Amber));
    }
}
