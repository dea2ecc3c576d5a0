//! The parts whose health is read from the database: PostgreSQL itself, the search index's
//! place in the outbox, the job queue, the mail queue, the license, the data keys and the
//! backups.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Int4, Nullable, Text};

use super::{
    bytes, counted, fact, Check, Level, SlowQuery, BACKUP_AGE_FAILING, BACKUP_AGE_WARNING, JOB_WAIT_FAILING,
    JOB_WAIT_WARNING, SEARCH_LAG_WARNING,
};
use crate::config::{Config, KeyProviderConfig};
use crate::license::{self, Mode};
use crate::search::{self, SearchIndex};

#[derive(QueryableByName)]
struct DatabaseFacts {
    #[diesel(sql_type = Text)]
    version: String,
    #[diesel(sql_type = Int4)]
    major: i32,
    #[diesel(sql_type = BigInt)]
    size: i64,
    #[diesel(sql_type = BigInt)]
    connections: i64,
    #[diesel(sql_type = BigInt)]
    max_connections: i64,
}

pub(super) fn database(
    conn: &mut PgConnection,
    pool: diesel::r2d2::State,
    pool_size: u32,
) -> (Check, Vec<SlowQuery>, Option<String>) {
    let facts = diesel::sql_query(
        "SELECT current_setting('server_version') AS version, \
                current_setting('server_version_num')::int / 10000 AS major, \
                pg_database_size(current_database()) AS size, \
                (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()) AS connections, \
                current_setting('max_connections')::bigint AS max_connections",
    )
    .get_result::<DatabaseFacts>(conn);
    let facts = match facts {
        Ok(facts) => facts,
        Err(e) => {
            return (
                Check::new("database", "Database", Level::Red, format!("PostgreSQL does not answer: {e}")),
                Vec::new(),
                None,
            )
        }
    };
    let share = facts.connections as f64 * 100.0 / facts.max_connections.max(1) as f64;
    let (level, reason) = if facts.major < 15 {
        (Level::Amber, format!("PostgreSQL {} is older than 15, the oldest Outpost supports.", facts.version))
    } else if share >= 80.0 {
        (
            Level::Amber,
            format!(
                "{} of PostgreSQL's {} connections are in use; raise max_connections or lower database.pool_size.",
                facts.connections, facts.max_connections
            ),
        )
    } else {
        (Level::Green, format!("PostgreSQL {} answers.", facts.version))
    };
    let (slowest, note) = match slowest_queries(conn) {
        Ok(slowest) if slowest.is_empty() => (slowest, Some("pg_stat_statements has recorded nothing yet.".to_owned())),
        Ok(slowest) => (slowest, None),
        Err(note) => (Vec::new(), Some(note)),
    };
    let check = Check::new("database", "Database", level, reason).with(vec![
        fact("Size", bytes(facts.size.max(0) as u64)),
        fact("Connections", format!("{} of {} (all clients)", facts.connections, facts.max_connections)),
        fact(
            "This node's pool",
            format!("{} open, {} idle, at most {pool_size}", pool.connections, pool.idle_connections),
        ),
    ]);
    (check, slowest, note)
}

/// The slowest statements on average, or why they cannot be shown.
fn slowest_queries(conn: &mut PgConnection) -> Result<Vec<SlowQuery>, String> {
    let installed: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
        "EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements')",
    ))
    .get_result(conn)
    .map_err(|e| e.to_string())?;
    if !installed {
        return Err("Install the pg_stat_statements extension (CREATE EXTENSION pg_stat_statements, with it in \
                    shared_preload_libraries) to see the slowest queries here."
            .to_owned());
    }
    // A failed statement would end the connection's transaction; a savepoint keeps it usable.
    conn.transaction(|conn| {
        diesel::sql_query(
            "SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 400) AS query, calls, mean_exec_time AS mean_ms \
             FROM pg_stat_statements \
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             ORDER BY mean_exec_time DESC LIMIT 5",
        )
        .load::<SlowQuery>(conn)
    })
    .map_err(|_| {
        "pg_stat_statements is installed but not loaded: add it to shared_preload_libraries and restart PostgreSQL."
            .to_owned()
    })
}

pub(super) fn search(conn: &mut PgConnection, index: &SearchIndex) -> Check {
    let title = "Search index";
    let newest: i64 = match crate::schema::outbox::table
        .select(diesel::dsl::max(crate::schema::outbox::id))
        .first::<Option<i64>>(conn)
    {
        Ok(newest) => newest.unwrap_or(0),
        Err(e) => return Check::new("search", title, Level::Red, format!("The outbox cannot be read: {e}")),
    };
    let last_rebuild: Option<(i64, DateTime<Utc>, String)> = crate::schema::search_rebuilds::table
        .order(crate::schema::search_rebuilds::generation.desc())
        .select((
            crate::schema::search_rebuilds::generation,
            crate::schema::search_rebuilds::requested_at,
            crate::schema::search_rebuilds::reason,
        ))
        .first(conn)
        .optional()
        .unwrap_or(None);
    let mut facts = vec![fact("Folder", index.root().display())];
    if let Some((generation, at, reason)) = last_rebuild {
        facts.push(fact(
            "Last rebuild requested",
            format!("#{generation} on {} ({reason})", at.format("%Y-%m-%d %H:%M UTC")),
        ));
    }
    let (level, reason) = match (index.status(), index.live(), index.indexed()) {
        (search::Status::Failed(why), _, _) => (Level::Red, format!("The indexer failed: {why}")),
        (search::Status::Ready, Some(live), Some(stamp)) => {
            let lag = (newest - stamp.position).max(0);
            facts.insert(0, fact("Documents", live.documents()));
            facts.insert(1, fact("Changes not yet indexed", lag));
            if lag >= SEARCH_LAG_WARNING {
                (Level::Amber, format!("{lag} changes are not searchable yet: the indexer is behind."))
            } else {
                (Level::Green, format!("{} documents; searches see changes within seconds.", live.documents()))
            }
        }
        _ => (Level::Amber, index.unavailable_reason()),
    };
    Check::new("search", title, level, reason).with(facts)
}

#[derive(QueryableByName)]
struct JobFacts {
    #[diesel(sql_type = BigInt)]
    ready: i64,
    #[diesel(sql_type = BigInt)]
    running: i64,
    #[diesel(sql_type = BigInt)]
    retrying: i64,
    #[diesel(sql_type = BigInt)]
    dead_today: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    oldest_wait_seconds: Option<i64>,
}

pub(super) fn jobs(conn: &mut PgConnection, workers: usize) -> Check {
    let title = "Background jobs";
    let facts = diesel::sql_query(
        "SELECT count(*) FILTER (WHERE state = 'queued' AND run_at <= now()) AS ready, \
                count(*) FILTER (WHERE state = 'running') AS running, \
                count(*) FILTER (WHERE state = 'queued' AND last_error IS NOT NULL) AS retrying, \
                count(*) FILTER (WHERE state = 'dead' AND finished_at > now() - interval '1 day') AS dead_today, \
                extract(epoch FROM now() - min(run_at) FILTER (WHERE state = 'queued' AND run_at <= now()))::bigint \
                  AS oldest_wait_seconds \
         FROM jobs",
    )
    .get_result::<JobFacts>(conn);
    let facts = match facts {
        Ok(facts) => facts,
        Err(e) => return Check::new("jobs", title, Level::Red, format!("The job queue cannot be read: {e}")),
    };
    let wait = Duration::from_secs(facts.oldest_wait_seconds.unwrap_or(0).max(0) as u64);
    let minutes = wait.as_secs() / 60;
    let (level, reason) = if wait >= JOB_WAIT_FAILING {
        (
            Level::Red,
            format!("A job has waited {minutes} minutes to run: are the workers of every node stopped (jobs.workers)?"),
        )
    } else if wait >= JOB_WAIT_WARNING {
        (Level::Amber, format!("A job has waited {minutes} minutes to run: the workers are behind."))
    } else if facts.dead_today > 0 {
        (
            Level::Amber,
            format!(
                "{} for good in the last day; Administration → Jobs shows why.",
                counted(facts.dead_today, "job failed", "jobs failed")
            ),
        )
    } else {
        (Level::Green, "Jobs run as they come due.".to_owned())
    };
    Check::new("jobs", title, level, reason).with(vec![
        fact("Ready to run", facts.ready),
        fact("Running", facts.running),
        fact("Retrying after an error", facts.retrying),
        fact("Failed for good in the last day", facts.dead_today),
        fact("Workers on this node", workers),
    ])
}

/// Mails waiting to be sent, and those that failed in the last day.
pub(super) struct MailQueue {
    pub pending: i64,
    pub failed_today: i64,
}

pub(super) fn mail_queue(conn: &mut PgConnection) -> QueryResult<MailQueue> {
    use crate::schema::mail_messages::dsl::*;
    let pending = mail_messages.filter(state.eq("pending")).count().get_result(conn)?;
    let failed_today = mail_messages
        .filter(state.eq("failed"))
        .filter(created_at.gt(Utc::now() - chrono::Duration::days(1)))
        .count()
        .get_result(conn)?;
    Ok(MailQueue { pending, failed_today })
}

pub(super) fn license(conn: &mut PgConnection) -> Check {
    let title = "License";
    let (status, used) = match license::current(conn).and_then(|status| Ok((status, license::seats_used(conn)?))) {
        Ok(found) => found,
        Err(e) => return Check::new("license", title, Level::Red, format!("The license cannot be read: {e}")),
    };
    let limit = status.seat_limit();
    let mut facts = vec![fact("Seats", format!("{used} of {limit} in use"))];
    if let Some(license) = &status.license {
        facts.push(fact("Customer", &license.payload.customer_name));
        facts.push(fact("Expires", license.payload.expires_at.format("%Y-%m-%d %H:%M UTC")));
    }
    let (level, reason) = match (&status.mode, status.notice(true, Utc::now())) {
        (Mode::Grace { .. } | Mode::ReadOnly { .. }, Some(notice)) => (Level::Red, notice),
        (_, Some(notice)) => (Level::Amber, notice),
        _ if used >= limit => (Level::Amber, format!("All {limit} seats are taken: nobody more can be added.")),
        _ => (Level::Green, "The license is in force.".to_owned()),
    };
    Check::new("license", title, level, reason).with(facts)
}

/// The provider in words, without secrets.
fn provider(config: &KeyProviderConfig) -> String {
    match config {
        KeyProviderConfig::File { path } => format!("key file {}", path.display()),
        KeyProviderConfig::Pkcs11 { token_label, key_label, .. } => {
            format!("HSM token {token_label}, key {key_label} (PKCS#11)")
        }
        KeyProviderConfig::Command { program, key_id } => format!("command {} (key {key_id})", program.display()),
    }
}

pub(super) fn keys_check(conn: &mut PgConnection, keys: &crate::keys::Keyring, config: &Config) -> Check {
    let title = "Customer-managed key";
    let mut facts = vec![fact("Provider", provider(&config.keys.current)), fact("Key", keys.current_kek())];
    let counts = keys.counts(conn).unwrap_or_default();
    for (kek, purposes) in &counts {
        facts.push(fact(&format!("Data keys wrapped by {kek}"), crate::keys::per_purpose(purposes)));
    }
    if let Ok(Some(at)) = crate::keys::last_rotation(conn) {
        facts.push(fact("Last rotation", at.format("%Y-%m-%d %H:%M UTC")));
    }
    let behind: i64 = counts
        .iter()
        .filter(|(kek, _)| kek != keys.current_kek())
        .flat_map(|(_, purposes)| purposes.iter().map(|(_, n)| n))
        .sum();
    let (level, reason) = match keys.prove() {
        Err(e) => {
            (Level::Red, format!("The key cannot be used now: {e}. Encrypted files and secrets cannot be opened."))
        }
        Ok(()) if behind > 0 => (
            Level::Amber,
            format!(
                "{} still wrapped by a previous key; `outpost keys rotate` finishes the rotation.",
                counted(behind, "data key is", "data keys are")
            ),
        ),
        Ok(()) => (Level::Green, "A wrap and unwrap round trip worked just now.".to_owned()),
    };
    Check::new("keys", title, level, reason).with(facts)
}

/// The newest backup: how old it is, and whether it verified.
pub(super) fn backup(conn: &mut PgConnection, config: &Config, now: DateTime<Utc>) -> Check {
    use crate::schema::backups::dsl::*;
    let title = "Backups";
    type Row = (String, String, DateTime<Utc>, i64, i64, Option<DateTime<Utc>>, Option<String>);
    let newest: Option<Row> = match backups
        .order(finished_at.desc())
        .select((file_name, trigger, finished_at, size_bytes, objects, verified_at, verify_problem))
        .first(conn)
        .optional()
    {
        Ok(newest) => newest,
        Err(e) => return Check::new("backup", title, Level::Red, format!("The backup records cannot be read: {e}")),
    };
    let folder = fact("Folder", config.backup.dir.display());
    let Some((name, made_by, finished, size, files, verified, problem)) = newest else {
        return Check::new(
            "backup",
            title,
            Level::Amber,
            "No backup has been made yet: run `outpost backup create`, or let schedule.backup make one.",
        )
        .with(vec![folder]);
    };
    let when = finished.format("%Y-%m-%d %H:%M UTC");
    let hours = (now - finished).num_hours();
    let (level, reason) = if let Some(problem) = &problem {
        (Level::Red, format!("The newest backup ({name}) does not verify: {problem}"))
    } else if now - finished > BACKUP_AGE_FAILING {
        (Level::Red, format!("The newest backup is {} days old ({when}): is schedule.backup failing?", hours / 24))
    } else if now - finished > BACKUP_AGE_WARNING {
        (Level::Amber, format!("The newest backup is {hours} hours old ({when})."))
    } else if verified.is_none() {
        (Level::Amber, format!("The newest backup ({when}) has not been verified: `outpost backup verify`."))
    } else {
        (Level::Green, format!("The newest backup, of {when}, verified."))
    };
    Check::new("backup", title, level, reason).with(vec![
        fact("Newest", format!("{name} ({}, {files} stored files, by {made_by})", bytes(size.max(0) as u64))),
        fact(
            "Verified",
            verified.map_or_else(|| "not yet".to_owned(), |at| at.format("%Y-%m-%d %H:%M UTC").to_string()),
        ),
        folder,
    ])
}
