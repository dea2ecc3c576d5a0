//! Scheduled jobs: cron expressions from the config (`schedule.*`), fired by
//! `tokio-cron-scheduler` on every node, turned into one queued job per scheduled time for the
//! whole installation.
//!
//! Every node's scheduler fires; each firing takes a PostgreSQL advisory lock for the schedule
//! and queues the job with the scheduled time as its idempotency key. The first node queues
//! it, the others find it queued, so a tick runs exactly once however many nodes share the
//! database, and whichever worker is free runs it.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use diesel::prelude::*;
use serde_json::json;
use tokio_cron_scheduler::{Job as CronJob, JobScheduler};

use super::queue::{self, NewJob};
use super::worker::{Context, Stop};
use crate::db;

/// Parses a cron expression the way the scheduler will: six fields, seconds first.
pub fn parse_cron(text: &str) -> Result<Cron, String> {
    if text.split_whitespace().count() != 6 {
        return Err("needs six fields: second minute hour day-of-month month day-of-week".to_owned());
    }
    CronParser::builder().seconds(Seconds::Required).build().parse(text).map_err(|e| format!("is not valid cron: {e}"))
}

/// Clocks of nodes sharing a database differ by less than this (NTP keeps them far closer).
const CLOCK_TOLERANCE_SECONDS: i64 = 30;

/// The scheduled time a firing at `now` belongs to: the first occurrence at or after
/// `now - tolerance`. Nodes whose clocks disagree by less than the tolerance name the same one.
pub fn slot(cron: &Cron, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.find_next_occurrence(&(now - ChronoDuration::seconds(CLOCK_TOLERANCE_SECONDS)), true).ok()
}

/// Queues the `kind` job for the scheduled time `slot`, once for the installation. Returns
/// whether this call queued it.
pub fn enqueue_tick(conn: &mut PgConnection, kind: &str, slot: DateTime<Utc>) -> QueryResult<bool> {
    conn.transaction(|conn| {
        if !db::try_transaction_lock(conn, db::lock_key(&format!("outpost.schedule.{kind}")))? {
            return Ok(false);
        }
        let job = NewJob::new(kind, json!({ "scheduled_for": slot }))
            .with_idempotency_key(slot.to_rfc3339())
            .with_max_attempts(3);
        Ok(queue::enqueue(conn, &job)?.is_some())
    })
}

/// Runs the scheduler on its own thread (with a small runtime of its own) until `stop`.
pub fn spawn(context: Context, stop: Stop) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("outpost-scheduler".to_owned()).spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_time().build() {
            Ok(runtime) => runtime,
            Err(e) => {
                tracing::error!(error = %e, "the scheduler cannot start");
                return;
            }
        };
        runtime.block_on(async move {
            if let Err(e) = run(context, stop).await {
                tracing::error!(error = %e, "the scheduler stopped");
            }
        });
    })
}

async fn run(context: Context, stop: Stop) -> Result<(), String> {
    let mut scheduler = JobScheduler::new().await.map_err(|e| e.to_string())?;
    for (kind, expression) in context.config.jobs.schedules.clone() {
        let cron = parse_cron(&expression)?;
        let context = context.clone();
        let job = CronJob::new_async(expression.as_str(), move |_, _| {
            let context = context.clone();
            let cron = cron.clone();
            Box::pin(async move {
                let Some(slot) = slot(&cron, Utc::now()) else { return };
                let queued = tokio::task::spawn_blocking(move || {
                    let mut conn = context.pool.get().map_err(|e| e.to_string())?;
                    enqueue_tick(&mut conn, kind, slot).map_err(|e| e.to_string())
                })
                .await;
                match queued {
                    Ok(Ok(true)) => tracing::info!(kind, %slot, "queued a scheduled job"),
                    Ok(Ok(false)) => tracing::debug!(kind, %slot, "another node queued this scheduled job"),
                    Ok(Err(e)) => tracing::warn!(kind, error = %e, "cannot queue a scheduled job"),
                    Err(e) => tracing::warn!(kind, error = %e, "cannot queue a scheduled job"),
                }
            })
        })
        .map_err(|e| format!("schedule.{kind}: {e}"))?;
        scheduler.add(job).await.map_err(|e| e.to_string())?;
    }
    scheduler.start().await.map_err(|e| e.to_string())?;
    while !stop.requested() {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    scheduler.shutdown().await.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn nodes_with_slightly_different_clocks_name_the_same_slot() {
        let cron = parse_cron("0 */10 * * * *").unwrap();
        let tick = Utc.with_ymd_and_hms(2026, 11, 23, 10, 20, 0).unwrap();
        for skew in [-20, -1, 0, 1, 25] {
            assert_eq!(slot(&cron, tick + ChronoDuration::seconds(skew)), Some(tick), "skew {skew}s");
        }
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        assert!(parse_cron("*/5 * * * *").unwrap_err().contains("six fields"));
        assert!(parse_cron("0 61 * * * *").unwrap_err().contains("not valid cron"));
        assert!(parse_cron("0 0 7 * * MON-FRI").is_ok());
    }
}
