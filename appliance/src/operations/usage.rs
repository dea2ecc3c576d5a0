//! Usage metering: a row a day of active people, issues and pages created, stored bytes and
//! API calls. Each node counts its API calls and who called in memory (`Counter`) and adds them
//! to the day's row (`flush`); the daily `usage` job measures the rest (`measure`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::schema::{issues, pages, usage_activity, usage_days};

/// How long who-was-active-when is kept: a year and a bit, for year-on-year comparisons.
const ACTIVITY_KEPT_DAYS: i64 = 400;

/// One day's usage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema, Queryable)]
pub struct Day {
    pub day: NaiveDate,
    /// People who opened a page or called the API that day.
    pub active_users: i32,
    pub issues_created: i32,
    pub pages_created: i32,
    /// Bytes of stored files at the end of the day (or now, for today).
    pub storage_bytes: i64,
    pub api_calls: i64,
    /// When the rest was last measured; `None` while only API calls have been counted.
    pub measured_at: Option<DateTime<Utc>>,
}

/// This node's counts since its last flush.
#[derive(Default)]
pub struct Counter {
    api_calls: Mutex<BTreeMap<NaiveDate, i64>>,
    active: Mutex<BTreeSet<(NaiveDate, i64)>>,
}

impl Counter {
    /// Counts a request: an API call when `api`, and its caller as active that day.
    pub fn record(&self, at: DateTime<Utc>, api: bool, user: Option<i64>) {
        let day = at.date_naive();
        if api {
            *self.api_calls.lock().unwrap_or_else(|e| e.into_inner()).entry(day).or_default() += 1;
        }
        if let Some(user) = user {
            self.active.lock().unwrap_or_else(|e| e.into_inner()).insert((day, user));
        }
    }

    /// Adds what was counted to the database, in one transaction; counts that could not be
    /// written are kept for the next flush.
    pub fn flush(&self, conn: &mut PgConnection) -> QueryResult<()> {
        let calls = std::mem::take(&mut *self.api_calls.lock().unwrap_or_else(|e| e.into_inner()));
        let active = std::mem::take(&mut *self.active.lock().unwrap_or_else(|e| e.into_inner()));
        let written = conn.transaction(|conn| {
            for (day, n) in &calls {
                diesel::insert_into(usage_days::table)
                    .values((usage_days::day.eq(day), usage_days::api_calls.eq(n)))
                    .on_conflict(usage_days::day)
                    .do_update()
                    .set(usage_days::api_calls.eq(usage_days::api_calls + n))
                    .execute(conn)?;
            }
            // People deleted meanwhile are left out: their activity goes with them. (A
            // deletion racing this insert fails it, and the next flush leaves them out.)
            let (days, users): (Vec<NaiveDate>, Vec<i64>) = active.iter().copied().unzip();
            diesel::sql_query(
                "INSERT INTO usage_activity (day, user_id) \
                 SELECT day, user_id FROM unnest($1::date[], $2::bigint[]) AS counted (day, user_id) \
                 WHERE EXISTS (SELECT 1 FROM users WHERE users.id = counted.user_id) \
                 ON CONFLICT DO NOTHING",
            )
            .bind::<diesel::sql_types::Array<diesel::sql_types::Date>, _>(days)
            .bind::<diesel::sql_types::Array<diesel::sql_types::BigInt>, _>(users)
            .execute(conn)?;
            Ok(())
        });
        if written.is_err() {
            let mut kept = self.api_calls.lock().unwrap_or_else(|e| e.into_inner());
            for (day, n) in calls {
                *kept.entry(day).or_default() += n;
            }
            self.active.lock().unwrap_or_else(|e| e.into_inner()).extend(active);
        }
        written
    }
}

/// `day` measured now: active people, issues and pages created, and stored bytes (which for
/// a past day is the amount now, measured soon after the day ends by the job).
pub fn measure(conn: &mut PgConnection, day: NaiveDate) -> QueryResult<Day> {
    let (start, end) = bounds(day);
    let active: i64 = usage_activity::table.filter(usage_activity::day.eq(day)).count().get_result(conn)?;
    let issues_created: i64 = issues::table
        .filter(issues::created_at.ge(start))
        .filter(issues::created_at.lt(end))
        .count()
        .get_result(conn)?;
    let pages_created: i64 =
        pages::table.filter(pages::created_at.ge(start)).filter(pages::created_at.lt(end)).count().get_result(conn)?;
    let storage: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT coalesce(sum(size_bytes), 0)::bigint FROM attachments)",
    ))
    .get_result(conn)?;
    let api_calls: Option<i64> = usage_days::table.find(day).select(usage_days::api_calls).first(conn).optional()?;
    Ok(Day {
        day,
        active_users: active as i32,
        issues_created: issues_created as i32,
        pages_created: pages_created as i32,
        storage_bytes: storage,
        api_calls: api_calls.unwrap_or(0),
        measured_at: Some(Utc::now()),
    })
}

fn bounds(day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    (start, start + Duration::days(1))
}

/// Measures `day` and stores it (API calls stay as counted).
pub fn record(conn: &mut PgConnection, day: NaiveDate) -> QueryResult<Day> {
    let measured = measure(conn, day)?;
    diesel::insert_into(usage_days::table)
        .values((
            usage_days::day.eq(day),
            usage_days::active_users.eq(measured.active_users),
            usage_days::issues_created.eq(measured.issues_created),
            usage_days::pages_created.eq(measured.pages_created),
            usage_days::storage_bytes.eq(measured.storage_bytes),
            usage_days::measured_at.eq(measured.measured_at),
        ))
        .on_conflict(usage_days::day)
        .do_update()
        .set((
            usage_days::active_users.eq(measured.active_users),
            usage_days::issues_created.eq(measured.issues_created),
            usage_days::pages_created.eq(measured.pages_created),
            usage_days::storage_bytes.eq(measured.storage_bytes),
            usage_days::measured_at.eq(measured.measured_at),
        ))
        .execute(conn)?;
    Ok(measured)
}

/// The `usage` job, soon after midnight UTC: yesterday measured for good, and who-was-active
/// rows past their time removed.
pub fn daily(context: &crate::jobs::worker::Context) -> Result<(), crate::jobs::queue::Failure> {
    use crate::jobs::queue::Failure;
    let mut conn = context.pool.get().map_err(|e| Failure::retry(e.to_string()))?;
    let today = Utc::now().date_naive();
    record(&mut conn, today - Duration::days(1)).map_err(|e| Failure::retry(e.to_string()))?;
    diesel::delete(usage_activity::table.filter(usage_activity::day.lt(today - Duration::days(ACTIVITY_KEPT_DAYS))))
        .execute(&mut conn)
        .map_err(|e| Failure::retry(e.to_string()))?;
    Ok(())
}

/// The days from `from` to `to` (both included) that have a row, oldest first, and today
/// measured live when it is in the range.
pub fn days(conn: &mut PgConnection, from: NaiveDate, to: NaiveDate) -> QueryResult<Vec<Day>> {
    let today = Utc::now().date_naive();
    let mut found: Vec<Day> = usage_days::table
        .filter(usage_days::day.ge(from))
        .filter(usage_days::day.le(to.min(today - Duration::days(1))))
        .order(usage_days::day)
        .load(conn)?;
    if (from..=to).contains(&today) {
        found.push(measure(conn, today)?);
    }
    Ok(found)
}
