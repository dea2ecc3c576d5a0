//! The `cleanup` scheduled job: removes what has expired, in one transaction with one audit
//! row that counts what went, and sweeps the object store for files no row points to.

use chrono::{Duration as ChronoDuration, Utc};
use diesel::prelude::*;
use serde_json::json;

use super::queue::{self, Failure};
use super::worker::Context;
use crate::attachments;
use crate::audit::{self, Actor, Change};
use crate::schema::{api_tokens, automation_runs, login_failures, sessions};

/// Revoked and expired API tokens stay listed (greyed) this long, then go.
const KEEP_DEAD_TOKENS_DAYS: i64 = 30;

/// Automation rules' execution logs reach back this far.
pub const KEEP_RULE_RUNS_DAYS: i64 = 30;

pub fn run(context: &Context) -> Result<(), Failure> {
    let config = &context.config;
    let now = Utc::now();
    let idle_cutoff = now - ChronoDuration::minutes(config.session.idle_timeout_minutes);
    let age_cutoff = now - ChronoDuration::hours(config.session.absolute_timeout_hours);
    let failures_cutoff = now - ChronoDuration::minutes(config.login.lockout_minutes);
    let tokens_cutoff = now - ChronoDuration::days(KEEP_DEAD_TOKENS_DAYS);
    let runs_cutoff = now - ChronoDuration::days(KEEP_RULE_RUNS_DAYS);
    let keep_jobs = std::time::Duration::from_secs(config.jobs.keep_finished_days * 86_400);
    // The database part runs even when the store is away; the job is retried for the sweep.
    let swept = attachments::sweep_orphans(context);
    let objects_removed = *swept.as_ref().unwrap_or(&0);
    let mut conn = context.conn()?;
    conn.transaction::<_, Failure, _>(|conn| {
        let sessions_removed = diesel::delete(
            sessions::table.filter(sessions::last_seen_at.lt(idle_cutoff).or(sessions::created_at.lt(age_cutoff))),
        )
        .execute(conn)?;
        let tokens_removed = diesel::delete(
            api_tokens::table
                .filter(api_tokens::expires_at.lt(tokens_cutoff).or(api_tokens::revoked_at.lt(tokens_cutoff))),
        )
        .execute(conn)?;
        let failures_removed =
            diesel::delete(login_failures::table.filter(login_failures::failed_at.lt(failures_cutoff)))
                .execute(conn)?;
        let jobs_removed = queue::remove_finished(conn, keep_jobs)?;
        let runs_removed =
            diesel::delete(automation_runs::table.filter(automation_runs::started_at.lt(runs_cutoff))).execute(conn)?;
        let removed =
            sessions_removed + tokens_removed + failures_removed + jobs_removed + runs_removed + objects_removed;
        if removed > 0 {
            audit::record(
                conn,
                &Actor::system(),
                Change {
                    action: "maintenance.cleaned_up",
                    entity_type: "installation",
                    entity_id: 0,
                    before: None,
                    after: Some(json!({
                        "sessions": sessions_removed,
                        "api_tokens": tokens_removed,
                        "login_failures": failures_removed,
                        "jobs": jobs_removed,
                        "automation_runs": runs_removed,
                        "orphaned_objects": objects_removed,
                    })),
                },
            )?;
        }
        Ok(())
    })?;
    swept.map(|_| ())
}
