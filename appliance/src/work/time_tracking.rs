//! Time tracking: estimates and logged work, written as durations like `1w 2d 3h 30m`. As in
//! other trackers, a day is 8 hours of work and a week 5 days.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::issues::Issue;
use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::identity::users::UserRef;
use crate::schema::{issues, users, work_logs};

const MINUTES_PER_DAY: i64 = 8 * 60;
const MINUTES_PER_WEEK: i64 = 5 * MINUTES_PER_DAY;
pub const MAX_MINUTES: i64 = 5_000_000;
pub const NOTE_MAX: usize = 1000;

/// Parses `1w 2d 3h 30m` (any subset, any order, spaces optional) or a bare number of
/// minutes into minutes; `field` names the input in the error.
pub fn parse_duration(field: &str, text: &str) -> Result<i32, AppError> {
    let refuse = || {
        AppError::invalid(
            field,
            format!("\"{}\" is not a duration; write it like 1w 2d 3h 30m (a day is 8 hours).", text.trim()),
        )
    };
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_lowercase();
    if compact.is_empty() {
        return Err(refuse());
    }
    if let Ok(minutes) = compact.parse::<i64>() {
        return bounded(field, minutes);
    }
    let (mut total, mut number) = (0_i64, String::new());
    for c in compact.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'w' => MINUTES_PER_WEEK,
            'd' => MINUTES_PER_DAY,
            'h' => 60,
            'm' => 1,
            _ => return Err(refuse()),
        };
        let amount: i64 = number.parse().map_err(|_| refuse())?;
        total = amount.checked_mul(unit).and_then(|m| total.checked_add(m)).ok_or_else(refuse)?;
        number.clear();
    }
    if !number.is_empty() {
        return Err(refuse());
    }
    bounded(field, total)
}

fn bounded(field: &str, minutes: i64) -> Result<i32, AppError> {
    if !(0..=MAX_MINUTES).contains(&minutes) {
        return Err(AppError::invalid(
            field,
            format!("A duration must be from 0m to {}.", format_duration(MAX_MINUTES)),
        ));
    }
    Ok(minutes as i32)
}

/// `2790` → `1w 4d 6h 30m`; zero is `0m`.
pub fn format_duration(minutes: i64) -> String {
    if minutes == 0 {
        return "0m".to_owned();
    }
    let mut rest = minutes;
    let mut parts = Vec::new();
    for (unit, suffix) in [(MINUTES_PER_WEEK, "w"), (MINUTES_PER_DAY, "d"), (60, "h"), (1, "m")] {
        if rest >= unit {
            parts.push(format!("{}{suffix}", rest / unit));
            rest %= unit;
        }
    }
    parts.join(" ")
}

#[derive(Clone, Debug, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = work_logs)]
pub struct WorkLog {
    pub id: i64,
    #[serde(skip)]
    pub issue_id: i64,
    #[serde(skip)]
    pub author_id: i64,
    pub minutes: i32,
    pub note: String,
    pub logged_at: DateTime<Utc>,
}

/// Records `minutes` of work on `issue`, with its audit row, and touches the issue.
pub fn log_work(
    conn: &mut PgConnection,
    actor: &Actor,
    issue: &Issue,
    author_id: i64,
    minutes: i32,
    note: &str,
) -> Result<WorkLog, AppError> {
    if minutes < 1 {
        return Err(AppError::invalid("time_spent", "Log at least one minute of work."));
    }
    if note.chars().count() > NOTE_MAX {
        return Err(AppError::invalid("note", format!("A work note must be at most {NOTE_MAX} characters.")));
    }
    conn.transaction(|conn| {
        let log: WorkLog = diesel::insert_into(work_logs::table)
            .values((
                work_logs::issue_id.eq(issue.id),
                work_logs::author_id.eq(author_id),
                work_logs::minutes.eq(minutes),
                work_logs::note.eq(note.trim()),
            ))
            .returning(WorkLog::as_returning())
            .get_result(conn)?;
        diesel::update(issues::table.find(issue.id)).set(issues::updated_at.eq(Utc::now())).execute(conn)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "issue.work_logged",
                entity_type: "issue",
                entity_id: issue.id,
                before: None,
                after: Some(json!({ "time_spent": format_duration(i64::from(minutes)), "note": log.note })),
            },
        )?;
        Ok(log)
    })
}

/// An issue's work log, oldest first, with who logged each entry.
pub fn logs_of(conn: &mut PgConnection, issue_id: i64) -> QueryResult<Vec<(WorkLog, UserRef)>> {
    work_logs::table
        .inner_join(users::table)
        .filter(work_logs::issue_id.eq(issue_id))
        .order((work_logs::logged_at.asc(), work_logs::id.asc()))
        .select((WorkLog::as_select(), UserRef::as_select()))
        .load(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_working_days_and_weeks() {
        assert_eq!(parse_duration("estimate", "1w 2d 3h 30m").unwrap(), 2400 + 960 + 180 + 30);
        assert_eq!(parse_duration("estimate", "90").unwrap(), 90);
        assert_eq!(parse_duration("estimate", "2H15M").unwrap(), 135);
        assert_eq!(format_duration(2400 + 960 + 180 + 30), "1w 2d 3h 30m");
        assert_eq!(format_duration(60), "1h");
        for bad in ["", "soon", "3x", "h", "5h 3", "-2h", "99999999999w"] {
            let error = parse_duration("estimate", bad).unwrap_err();
            assert_eq!(error.field(), Some("estimate"), "{bad}");
        }
    }
}
