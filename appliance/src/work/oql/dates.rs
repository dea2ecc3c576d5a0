//! Dates in OQL: absolute (`2026-11-01`, `2026-11-01T14:30`, UTC), relative (`-7d`) and the
//! date functions (`now()`, `startOfDay(-1d)`, …).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

use super::compile::oql_error;
use super::syntax::{DateUnit, Span, Value, ValueKind};
use crate::errors::AppError;

/// A date value: a whole day, or an instant.
pub enum Moment {
    Day(DateTime<Utc>),
    Instant(DateTime<Utc>),
}

/// A date value: `2026-11-01`, `2026-11-01T10:30`, a relative date (`-7d`), or `now()`,
/// `startOfDay()`, `startOfWeek()`, `startOfMonth()` with an optional relative offset.
pub fn moment(now: DateTime<Utc>, value: &Value) -> Result<Moment, AppError> {
    match &value.kind {
        ValueKind::RelativeDate { amount, unit } => Ok(Moment::Instant(shift(now, *amount, *unit, value.span)?)),
        ValueKind::Word(text) | ValueKind::Quoted(text) => parse_moment(text).ok_or_else(|| {
            oql_error(
                value.span,
                format!("\"{text}\" is not a date; write 2026-11-01, 2026-11-01T14:30 or a relative date like -7d"),
            )
        }),
        ValueKind::Function { name, args } => {
            let offset = match args.as_slice() {
                [] => None,
                [Value { kind: ValueKind::RelativeDate { amount, unit }, span }] => Some((*amount, *unit, *span)),
                _ => {
                    return Err(oql_error(
                        value.span,
                        format!("{name}() takes at most one relative date, like {name}(-1d)"),
                    ))
                }
            };
            let today = now.date_naive();
            let start = match name.to_lowercase().as_str() {
                "now" => now,
                "startofday" => midnight(today),
                "startofweek" => midnight(today - Duration::days(i64::from(today.weekday().num_days_from_monday()))),
                "startofmonth" => midnight(today.with_day(1).unwrap_or(today)),
                _ => {
                    return Err(oql_error(
                        value.span,
                        format!(
                            "Unknown date function {name}(); use now(), startOfDay(), startOfWeek() or startOfMonth()"
                        ),
                    ))
                }
            };
            match offset {
                Some((amount, unit, span)) => Ok(Moment::Instant(shift(start, amount, unit, span)?)),
                None => Ok(Moment::Instant(start)),
            }
        }
    }
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_time(NaiveTime::MIN))
}

fn parse_moment(text: &str) -> Option<Moment> {
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(Moment::Day(midnight(day)));
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|instant| Moment::Instant(Utc.from_utc_datetime(&instant)))
}

fn shift(from: DateTime<Utc>, amount: i64, unit: DateUnit, span: Span) -> Result<DateTime<Utc>, AppError> {
    let minutes = match unit {
        DateUnit::Minutes => Some(amount),
        DateUnit::Hours => amount.checked_mul(60),
        DateUnit::Days => amount.checked_mul(24 * 60),
        DateUnit::Weeks => amount.checked_mul(7 * 24 * 60),
    };
    minutes
        .and_then(Duration::try_minutes)
        .and_then(|d| from.checked_add_signed(d))
        .filter(|instant| instant.year().abs() < 10_000)
        .ok_or_else(|| oql_error(span, "That relative date is too far away".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::work::oql::syntax::parse;

    fn value(text: &str) -> Value {
        match parse(&format!("updated = {text}")).unwrap().filter {
            Some(crate::work::oql::syntax::Expr::Compare { value, .. }) => value,
            other => panic!("{other:?}"),
        }
    }

    fn instant(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn dates_days_and_functions_resolve_against_now() {
        // A Wednesday afternoon.
        let now = instant("2026-11-25T15:30:00Z");
        let at = |text: &str| match moment(now, &value(text)).unwrap() {
            Moment::Instant(at) => ("instant", at),
            Moment::Day(at) => ("day", at),
        };
        assert_eq!(at("2026-11-01"), ("day", instant("2026-11-01T00:00:00Z")));
        assert_eq!(at("2026-11-01T10:15"), ("instant", instant("2026-11-01T10:15:00Z")));
        assert_eq!(at("-7d"), ("instant", instant("2026-11-18T15:30:00Z")));
        assert_eq!(at("2w"), ("instant", instant("2026-12-09T15:30:00Z")));
        assert_eq!(at("startOfDay(-1d)"), ("instant", instant("2026-11-24T00:00:00Z")));
        assert_eq!(at("startOfWeek()"), ("instant", instant("2026-11-23T00:00:00Z")));
        assert_eq!(at("startOfMonth()"), ("instant", instant("2026-11-01T00:00:00Z")));
        assert_eq!(at("now()"), ("instant", now));
    }

    #[test]
    fn impossible_dates_are_refused_by_column() {
        let now = instant("2026-11-25T15:30:00Z");
        for (text, message) in [
            ("yesterday", "\"yesterday\" is not a date"),
            ("2026-02-30", "is not a date"),
            ("lastWeek()", "Unknown date function lastWeek()"),
            ("startOfDay(1d, 2d)", "takes at most one relative date"),
            ("-99999999999w", "too far away"),
        ] {
            let error = moment(now, &value(text)).err().unwrap_or_else(|| panic!("{text} should be refused"));
            assert_eq!(error.field(), Some("oql"), "{text}");
            assert!(
                error.to_string().contains(message) && error.to_string().contains("(at column 11)"),
                "{text}: {error}"
            );
        }
    }
}
