//! Which scheduled backups to keep: the newest of each of the last `daily` days that have one,
//! of the last `weekly` weeks, and of the last `monthly` months (as restic's keep-daily and
//! friends). Backups made with the command are the administrator's, and never pruned.

use std::collections::BTreeSet;
use std::path::PathBuf;

use chrono::{DateTime, Datelike, Utc};

use crate::config::Retention;

/// What names a day, a week or a month: the year and the day, week or month in it.
type Period = fn(&DateTime<Utc>) -> (i32, u32);

/// The archives of `scheduled` (path and time) that `keep` does not keep.
pub fn to_remove(scheduled: &[(PathBuf, DateTime<Utc>)], keep: Retention) -> Vec<PathBuf> {
    let mut newest_first: Vec<&(PathBuf, DateTime<Utc>)> = scheduled.iter().collect();
    newest_first.sort_by_key(|(_, at)| std::cmp::Reverse(*at));
    let mut kept: BTreeSet<&PathBuf> = BTreeSet::new();
    let periods: [(u32, Period); 3] = [
        (keep.daily, |at| (at.year(), at.ordinal())),
        (keep.weekly, |at| (at.iso_week().year(), at.iso_week().week())),
        (keep.monthly, |at| (at.year(), at.month())),
    ];
    for (count, period) in periods {
        let mut seen = BTreeSet::new();
        for (path, at) in &newest_first {
            if seen.len() as u32 >= count {
                break;
            }
            // The first (newest) archive of a period is the one kept for it.
            if seen.insert(period(at)) {
                kept.insert(path);
            }
        }
    }
    newest_first.into_iter().filter(|(path, _)| !kept.contains(path)).map(|(path, _)| path.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32, month: u32, hour: u32) -> (PathBuf, DateTime<Utc>) {
        let time = Utc.with_ymd_and_hms(2026, month, day, hour, 30, 0).unwrap();
        (PathBuf::from(format!("{month:02}-{day:02}-{hour:02}")), time)
    }

    #[test]
    fn the_newest_of_each_day_week_and_month_is_kept_and_the_rest_goes() {
        // Daily at 02:30 from 1 September to 30 November, plus a second one on 30 November.
        let mut all: Vec<(PathBuf, DateTime<Utc>)> = Vec::new();
        for month in 9..=11 {
            for day in 1..=30 {
                all.push(at(day, month, 2));
            }
        }
        all.push(at(30, 11, 14));
        let removed = to_remove(&all, Retention { daily: 3, weekly: 2, monthly: 3 });
        let kept: BTreeSet<String> = all
            .iter()
            .map(|(p, _)| p.display().to_string())
            .filter(|p| !removed.iter().any(|r| r.display().to_string() == *p))
            .collect();
        let expected: BTreeSet<String> = [
            "11-30-14", // the newest of 30 Nov (its 02:30 one goes), of its week and of November
            "11-29-02", // 29 Nov, also the newest of the week before (ISO weeks start on Monday, 30 Nov is one)
            "11-28-02", "10-30-02", // the newest of October
            "09-30-02", // and of September
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        assert_eq!(kept, expected);
        assert_eq!(removed.len(), all.len() - expected.len());
    }

    #[test]
    fn keeping_nothing_removes_everything_and_nothing_scheduled_removes_nothing() {
        let all = vec![at(1, 9, 2), at(2, 9, 2)];
        assert_eq!(to_remove(&all, Retention { daily: 0, weekly: 0, monthly: 0 }).len(), 2);
        assert!(to_remove(&[], Retention { daily: 7, weekly: 4, monthly: 6 }).is_empty());
    }
}
