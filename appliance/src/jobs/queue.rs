//! The job queue: a PostgreSQL table that workers claim from with `FOR UPDATE SKIP LOCKED`.
//!
//! A claim is a lease: the worker holds the job until `locked_until`. A job whose worker died
//! goes back to the queue when its lease runs out (`release_expired`). A failed attempt is
//! retried after an exponential backoff with jitter, until `max_attempts`, and then the job is
//! dead: kept with its last error for an administrator to retry or discard.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Text};
use rand::Rng;
use serde_json::Value;

use crate::schema::jobs;

#[derive(Queryable, QueryableByName, Selectable, Clone, Debug)]
#[diesel(table_name = jobs)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: Value,
    pub priority: i16,
    pub state: String,
    pub run_at: DateTime<Utc>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub idempotency_key: Option<String>,
    pub ordering_key: Option<String>,
    pub locked_by: Option<String>,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl Job {
    /// True on the attempt after which a failure dead-letters the job.
    pub fn is_last_attempt(&self) -> bool {
        self.attempts >= self.max_attempts
    }
}

/// A job to queue. Built with `NewJob::new(kind, payload)` and the `with_*` refinements.
#[derive(Insertable, Clone, Debug)]
#[diesel(table_name = jobs)]
pub struct NewJob {
    pub kind: String,
    pub payload: Value,
    pub priority: i16,
    pub run_at: DateTime<Utc>,
    pub max_attempts: i32,
    pub idempotency_key: Option<String>,
    pub ordering_key: Option<String>,
}

pub const DEFAULT_MAX_ATTEMPTS: i32 = 10;

impl NewJob {
    pub fn new(kind: &str, payload: Value) -> Self {
        Self {
            kind: kind.to_owned(),
            payload,
            priority: 0,
            run_at: Utc::now(),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            idempotency_key: None,
            ordering_key: None,
        }
    }

    pub fn with_priority(mut self, priority: i16) -> Self {
        self.priority = priority;
        self
    }

    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.run_at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero());
        self
    }

    pub fn with_max_attempts(mut self, max_attempts: i32) -> Self {
        self.max_attempts = max_attempts.clamp(1, 100);
        self
    }

    /// Queuing the same kind with the same key again adds nothing.
    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Jobs with the same ordering key run one at a time, oldest first.
    pub fn with_ordering_key(mut self, key: impl Into<String>) -> Self {
        self.ordering_key = Some(key.into());
        self
    }
}

/// Queues `job`, inside the caller's transaction if there is one. Returns its id, or `None`
/// when a job of that kind with that idempotency key already exists.
pub fn enqueue(conn: &mut PgConnection, job: &NewJob) -> QueryResult<Option<i64>> {
    diesel::insert_into(jobs::table)
        .values(job)
        .on_conflict_do_nothing()
        .returning(jobs::id)
        .get_result(conn)
        .optional()
}

/// Puts jobs whose worker stopped answering back in the queue, or dead-letters them if that
/// was their last attempt. Returns how many it released.
pub fn release_expired(conn: &mut PgConnection) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE jobs SET
            state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
            finished_at = CASE WHEN attempts >= max_attempts THEN now() END,
            last_error = 'attempt ' || attempts || ' did not finish: its worker stopped before the lease ran out',
            locked_by = NULL, locked_until = NULL, run_at = now()
         WHERE state = 'running' AND locked_until < now()",
    )
    .execute(conn)
}

/// Claims the most urgent ready job for `worker`, leased for `lease`. A job waits while an
/// older job with its ordering key is unfinished. Claimed alone, the claim's commit does not
/// wait for the disk (`db::unflushed_when_alone`): a claim lost in a crash leaves the job
/// queued, and it runs again, as it would after a crash while it ran.
pub fn claim(conn: &mut PgConnection, worker: &str, lease: Duration) -> QueryResult<Option<Job>> {
    // Prepared: every idle worker asks five times a second, and planning cost more than running.
    let statement = format!(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = $1,
            locked_until = now() + make_interval(secs => $2)
         WHERE id = (
             SELECT j.id FROM jobs j
             WHERE j.state = 'queued' AND j.run_at <= now()
               AND (j.ordering_key IS NULL OR NOT EXISTS (
                   SELECT 1 FROM jobs e
                   WHERE e.ordering_key = j.ordering_key AND e.id < j.id AND e.state IN ('queued', 'running')))
             ORDER BY j.priority DESC, j.run_at, j.id
             FOR UPDATE SKIP LOCKED
             LIMIT 1){}
         RETURNING *",
        crate::db::unflushed_when_alone(conn)
    );
    crate::db::Prepared(diesel::sql_query(statement).bind::<Text, _>(worker).bind::<Double, _>(lease.as_secs_f64()))
        .get_result(conn)
        .optional()
}

/// Marks the job done, if `worker` still holds it. Returns false when the lease was lost
/// (another worker may be running it now). Marked alone, the commit does not wait for the
/// disk: what the job wrote was committed, and waited for, before; if the mark is lost in a
/// crash, the lease runs out and the job runs once more, as after a crash just before it.
pub fn succeed(conn: &mut PgConnection, job_id: i64, worker: &str) -> QueryResult<bool> {
    let statement = format!(
        "UPDATE jobs SET state = 'succeeded', finished_at = now(), locked_by = NULL, locked_until = NULL
         WHERE id = $1 AND state = 'running' AND locked_by = $2{} RETURNING id",
        crate::db::unflushed_when_alone(conn)
    );
    let marked = crate::db::Prepared(diesel::sql_query(statement).bind::<BigInt, _>(job_id).bind::<Text, _>(worker))
        .rows_returned(conn)?;
    Ok(marked == 1)
}

/// Why an attempt failed, and whether trying again could help.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    /// Retrying cannot help (a malformed payload, a refused request): dead-letter now.
    pub permanent: bool,
}

impl Failure {
    pub fn retry(message: impl Into<String>) -> Self {
        Self { message: message.into(), permanent: false }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self { message: message.into(), permanent: true }
    }
}

impl From<diesel::result::Error> for Failure {
    fn from(error: diesel::result::Error) -> Self {
        Failure::retry(format!("database: {error}"))
    }
}

impl From<crate::errors::AppError> for Failure {
    fn from(error: crate::errors::AppError) -> Self {
        Failure::retry(error.log_hidden_cause().unwrap_or_else(|| error.to_string()))
    }
}

/// Records a failed attempt: back to the queue after a backoff, or dead. Returns the state
/// the job is now in, or `None` if the lease was lost.
pub fn fail(conn: &mut PgConnection, job: &Job, worker: &str, failure: &Failure) -> QueryResult<Option<String>> {
    let dead = failure.permanent || job.is_last_attempt();
    let message: String = failure.message.chars().take(2000).collect();
    let state = if dead { "dead" } else { "queued" };
    let retry_at = Utc::now() + chrono::Duration::from_std(backoff(job.attempts)).unwrap_or(chrono::Duration::zero());
    let updated = diesel::update(jobs::table.find(job.id))
        .filter(jobs::state.eq("running"))
        .filter(jobs::locked_by.eq(worker))
        .set((
            jobs::state.eq(state),
            jobs::last_error.eq(message),
            jobs::run_at.eq(retry_at),
            jobs::finished_at.eq(if dead { Some(Utc::now()) } else { None }),
            jobs::locked_by.eq(None::<String>),
            jobs::locked_until.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)?;
    Ok((updated == 1).then(|| state.to_owned()))
}

/// Exponential backoff from 2 s, doubling per attempt, capped at an hour, with ±25 % jitter so
/// that jobs failing together (a mail server down) do not all come back at the same moment.
pub fn backoff(attempts: i32) -> Duration {
    let exponent = attempts.clamp(1, 12) - 1;
    let base = (2.0_f64 * 2.0_f64.powi(exponent)).min(3600.0);
    let jitter = rand::thread_rng().gen_range(0.75..1.25);
    Duration::from_secs_f64(base * jitter)
}

/// Puts a dead or discarded job back in the queue with fresh attempts; its last error stays
/// visible until the next attempt replaces it. Returns false if it was not dead or discarded.
pub fn retry(conn: &mut PgConnection, job_id: i64) -> QueryResult<bool> {
    let updated = diesel::update(jobs::table.find(job_id))
        .filter(jobs::state.eq_any(["dead", "discarded"]))
        .set((
            jobs::state.eq("queued"),
            jobs::attempts.eq(0),
            jobs::run_at.eq(diesel::dsl::now),
            jobs::finished_at.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)?;
    Ok(updated == 1)
}

/// Gives up on a queued or dead job: it stays listed as discarded and never runs.
/// Returns false if it was running or already finished.
pub fn discard(conn: &mut PgConnection, job_id: i64) -> QueryResult<bool> {
    let updated = diesel::update(jobs::table.find(job_id))
        .filter(jobs::state.eq_any(["queued", "dead"]))
        .set((jobs::state.eq("discarded"), jobs::finished_at.eq(diesel::dsl::now)))
        .execute(conn)?;
    Ok(updated == 1)
}

/// Removes finished jobs older than `keep`; dead jobs stay until an administrator acts.
pub fn remove_finished(conn: &mut PgConnection, keep: Duration) -> QueryResult<usize> {
    let cutoff = Utc::now() - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::days(7));
    diesel::delete(jobs::table)
        .filter(jobs::state.eq_any(["succeeded", "discarded"]))
        .filter(jobs::finished_at.lt(cutoff))
        .execute(conn)
}

/// How many jobs are in each state, for the admin page.
pub fn counts(conn: &mut PgConnection) -> QueryResult<Vec<(String, i64)>> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = Text)]
        state: String,
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let rows: Vec<Count> =
        diesel::sql_query("SELECT state, count(*) AS n FROM jobs GROUP BY state ORDER BY state").load(conn)?;
    Ok(rows.into_iter().map(|row| (row.state, row.n)).collect())
}

/// The newest jobs in `state` (or failing ones: queued with an error), newest first.
pub fn list(conn: &mut PgConnection, state: &str, limit: i64) -> QueryResult<Vec<Job>> {
    let query = jobs::table.select(Job::as_select()).order(jobs::id.desc()).limit(limit).into_boxed();
    let query = if state == "retrying" {
        query.filter(jobs::state.eq("queued")).filter(jobs::last_error.is_not_null())
    } else {
        query.filter(jobs::state.eq(state.to_owned()))
    };
    query.load(conn)
}

pub fn find(conn: &mut PgConnection, job_id: i64) -> QueryResult<Option<Job>> {
    jobs::table.find(job_id).select(Job::as_select()).first(conn).optional()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_stops_at_an_hour() {
        for attempts in 1..=20 {
            let expected = (2.0 * 2f64.powi(attempts.min(12) - 1)).min(3600.0);
            let got = backoff(attempts).as_secs_f64();
            assert!(got >= expected * 0.75 && got <= expected * 1.25, "attempt {attempts}: {got}s vs {expected}s");
        }
        let samples: std::collections::BTreeSet<u128> = (0..20).map(|_| backoff(3).as_millis()).collect();
        assert!(samples.len() > 1, "jitter spreads retries");
    }
}
