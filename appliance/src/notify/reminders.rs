//! The `reminders` scheduled job: tells each assignee which of their unfinished issues are
//! due tomorrow, in one notification per person per run.

use std::collections::BTreeMap;

use chrono::{Days, Utc};
use diesel::prelude::*;

use super::events::{deliver, Plan};
use super::Reason;
use crate::jobs::queue::{Failure, Job};
use crate::jobs::worker::Context;
use crate::schema::{issues, projects, users, workflow_statuses};
use crate::work::kinds::StatusCategory;

pub fn run(context: &Context, job: &Job) -> Result<(), Failure> {
    let mut conn = context.conn()?;
    let tomorrow =
        Utc::now().date_naive().checked_add_days(Days::new(1)).ok_or_else(|| Failure::permanent("date overflow"))?;
    let due: Vec<(i64, String)> = issues::table
        .inner_join(projects::table)
        .inner_join(workflow_statuses::table)
        .inner_join(users::table.on(users::id.nullable().eq(issues::assignee_id)))
        .filter(issues::due_date.eq(tomorrow))
        .filter(workflow_statuses::category.ne(StatusCategory::Done))
        .filter(users::is_active.eq(true))
        .order((users::id, projects::key, issues::number))
        .select((users::id, projects::key, issues::number))
        .load::<(i64, String, i64)>(&mut conn)?
        .into_iter()
        .map(|(user, project, number)| (user, format!("{project}-{number}")))
        .collect();
    let mut by_user: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (user, key) in due {
        by_user.entry(user).or_default().push(key);
    }
    for (user, keys) in by_user {
        let link = if keys.len() == 1 { format!("/issues/{}", keys[0]) } else { "/".to_owned() };
        let mut plan = Plan::new(format!("Due tomorrow: {}", keys.join(", ")), link);
        let summary = match keys.len() {
            1 => format!("{} is due tomorrow", keys[0]),
            n => format!("{n} of your issues are due tomorrow"),
        };
        plan.add(user, Reason::DueSoon, &summary);
        // Reminders come from a job, not an event: the job's id, negated so it can never be
        // an outbox id, keeps a retried run from reminding twice.
        deliver(&mut conn, context, -job.id, None, plan)?;
    }
    Ok(())
}
