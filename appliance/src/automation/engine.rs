//! Running rules. Three jobs feed this file:
//!
//! - `automation.event`: one outbox event (issue created or updated, comment added) runs the
//!   project's rules whose trigger it matches, on that issue;
//! - `automation` (scheduled by `schedule.automation`): queues an `automation.run` for each
//!   scheduled rule whose cron time has come;
//! - `automation.run`: one firing of a scheduled or incoming-webhook rule, on the issues its
//!   condition finds.
//!
//! A run is one transaction: its log entry and every change its actions make commit together
//! or not at all; a refused action rolls the others back and the log says why. The log entry
//! is unique per (rule, source, issue), so a retried job never runs a rule twice.
//!
//! Loops: every change a rule makes carries the rule and its depth into the outbox event
//! (`audit::RuleCause`). A rule set off by a person's change runs at depth 1, one set off by
//! that rule's change at depth 2, and so on; beyond `MAX_DEPTH` the rule does not run and its
//! log says it was stopped.

use std::time::Instant;

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::{json, Value};

use super::actions::{self, Target};
use super::rules::{self, Rule, Trigger};
use crate::audit::{Actor, RuleCause};
use crate::db::Abort;
use crate::errors::AppError;
use crate::identity::users::User;
use crate::jobs::queue::{self, Failure, Job, NewJob};
use crate::jobs::schedule::parse_cron;
use crate::jobs::worker::Context;
use crate::schema::{automation_rules, automation_runs, issues, projects as projects_table, users};
use crate::work::issue_list;
use crate::work::issues::{parse_key, Issue};
use crate::work::oql::{self, Bind, SqlBuilder};
use crate::work::projects::Project;

/// How deep a chain of rules setting each other off may go.
pub const MAX_DEPTH: i32 = 5;

/// A scheduled or webhook firing acts on at most this many issues.
pub const ISSUES_PER_FIRING: i64 = 100;

/// The outbox topics that can set rules off.
pub fn listens_to(topic: &str) -> bool {
    !trigger_kinds(topic).is_empty()
}

fn trigger_kinds(topic: &str) -> &'static [&'static str] {
    match topic {
        "issue.created" => &["issue_created"],
        "issue.updated" => &["field_changed", "transitioned"],
        "comment.created" => &["commented"],
        _ => &[],
    }
}

/// Whether an event of `topic`, with the changed fields' values `before` and `after`, sets
/// off a rule with `trigger`.
pub fn triggered_by(trigger: &Trigger, topic: &str, before: &Value, after: &Value) -> bool {
    let changed = |field: &str| after.get(field).is_some() && before.get(field) != after.get(field);
    match (trigger, topic) {
        (Trigger::IssueCreated, "issue.created") | (Trigger::Commented, "comment.created") => true,
        (Trigger::FieldChanged(None), "issue.updated") => {
            after.as_object().is_some_and(|fields| fields.keys().any(|field| field != "key" && changed(field)))
        }
        (Trigger::FieldChanged(Some(field)), "issue.updated") => {
            let custom = format!("custom.{field}");
            changed(field) || changed(&custom)
        }
        (Trigger::Transitioned(wanted), "issue.updated") => {
            changed("status")
                && wanted.as_ref().is_none_or(|wanted| {
                    after
                        .get("status")
                        .and_then(Value::as_str)
                        .is_some_and(|status| status.eq_ignore_ascii_case(wanted))
                })
        }
        _ => false,
    }
}

/// The payload the outbox dispatcher gives an `automation.event` job.
#[derive(Deserialize)]
struct Event {
    event_id: i64,
    topic: String,
    entity_id: i64,
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    #[serde(default)]
    before: Value,
    #[serde(default)]
    after: Value,
    #[serde(default)]
    automation: Option<EventCause>,
}

#[derive(Deserialize)]
struct EventCause {
    depth: i32,
}

/// `automation.event`: the rules one event sets off.
pub fn on_event(context: &Context, job: &Job) -> Result<(), Failure> {
    let event: Event = serde_json::from_value(job.payload.clone())
        .map_err(|e| Failure::permanent(format!("not an automation event payload: {e}")))?;
    let issue_id = match event.topic.as_str() {
        "comment.created" => event.data.after.get("issue_id").and_then(Value::as_i64),
        _ => Some(event.entity_id),
    };
    let mut conn = context.conn()?;
    let Some(issue_id) = issue_id else { return Ok(()) };
    let Some(project_id) =
        issues::table.find(issue_id).select(issues::project_id).first::<i64>(&mut conn).optional()?
    else {
        return Ok(());
    };
    let depth = event.data.automation.map_or(0, |cause| cause.depth) + 1;
    let source = format!("event:{}", event.event_id);
    for rule in rules::enabled_in(&mut conn, project_id, trigger_kinds(&event.topic))? {
        if triggered_by(&rule.trigger, &event.topic, &event.data.before, &event.data.after) {
            run(&mut conn, &rule, issue_id, &source, depth)?;
        }
    }
    Ok(())
}

/// The job that fires a scheduled or webhook rule; `issues` narrows a webhook call to the
/// issues it names.
pub fn firing_job(rule_id: i64, issues: Option<&[String]>) -> NewJob {
    NewJob::new("automation.run", json!({ "rule_id": rule_id, "issues": issues })).with_max_attempts(5)
}

/// `automation.run`: one firing, on each issue the condition finds (and the call named).
pub fn on_firing(context: &Context, job: &Job) -> Result<(), Failure> {
    let rule_id = job.payload.get("rule_id").and_then(Value::as_i64).ok_or_else(|| Failure::permanent("no rule_id"))?;
    let named: Option<Vec<String>> = serde_json::from_value(job.payload.get("issues").cloned().unwrap_or(Value::Null))
        .map_err(|e| Failure::permanent(format!("issues is not a list of keys: {e}")))?;
    let mut conn = context.conn()?;
    let Some(rule) = rules::by_id(&mut conn, rule_id)?.filter(|rule| rule.enabled) else { return Ok(()) };
    let source = format!("job:{}", job.id);
    let started = Instant::now();
    let selected = select_issues(&mut conn, &rule, named.as_deref());
    let ids = match selected {
        Ok(ids) => ids,
        Err(error @ (AppError::Internal(_) | AppError::Unavailable(_))) => return Err(error.into()),
        Err(refused) => {
            let entry =
                Entry { outcome: "failed", error: Some(refused.to_string()), ..Entry::new(&rule, None, &source, 1) };
            log_outside(&mut conn, entry, started)?;
            return Ok(());
        }
    };
    if ids.is_empty() {
        log_outside(&mut conn, Entry { outcome: "no_match", ..Entry::new(&rule, None, &source, 1) }, started)?;
    }
    for id in ids {
        run(&mut conn, &rule, id, &source, 1)?;
    }
    Ok(())
}

/// A scheduled rule's id, cron, last firing and last save.
type ScheduledRule = (i64, String, Option<DateTime<Utc>>, DateTime<Utc>);

/// `automation` (scheduled): queues one firing for each enabled scheduled rule whose next cron
/// time since it last fired (or was saved) has come. Firings missed while nothing ran are
/// folded into one.
pub fn fire_due(context: &Context) -> Result<(), Failure> {
    let mut conn = context.conn()?;
    let now = Utc::now();
    conn.transaction::<_, Failure, _>(|conn| {
        let due: Vec<ScheduledRule> = automation_rules::table
            .filter(automation_rules::enabled.eq(true).and(automation_rules::trigger_kind.eq("scheduled")))
            .select((
                automation_rules::id,
                automation_rules::trigger_value,
                automation_rules::last_fired_at,
                automation_rules::updated_at,
            ))
            .for_update()
            .skip_locked()
            .load(conn)?;
        for (rule_id, expression, last_fired, saved) in due {
            let Ok(cron) = parse_cron(&expression) else {
                tracing::warn!(rule_id, %expression, "a scheduled rule has an unreadable cron expression");
                continue;
            };
            let Some(slot) = latest_occurrence(&cron, last_fired.unwrap_or(saved), now) else { continue };
            queue::enqueue(conn, &firing_job(rule_id, None).with_idempotency_key(format!("rule:{rule_id}:{slot}")))?;
            diesel::update(automation_rules::table.find(rule_id))
                .set(automation_rules::last_fired_at.eq(slot))
                .execute(conn)?;
        }
        Ok(())
    })
}

/// The last time `cron` names after `since` and no later than `now`.
pub fn latest_occurrence(cron: &croner::Cron, since: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut latest = None;
    let mut from = since;
    // Bounded: after a long pause a per-second rule catches up over a few ticks, one firing each.
    for _ in 0..10_000 {
        match cron.find_next_occurrence(&from, false) {
            Ok(next) if next <= now => {
                latest = Some(next);
                from = next;
            }
            _ => break,
        }
    }
    latest
}

/// The issues a scheduled or webhook firing acts on: its condition, within its project,
/// narrowed to the keys a webhook call named.
fn select_issues(conn: &mut PgConnection, rule: &Rule, named: Option<&[String]>) -> Result<Vec<i64>, AppError> {
    let project: Project = projects_table::table.find(rule.project_id).select(Project::as_select()).first(conn)?;
    let mut sql = SqlBuilder::default();
    let project_bind = sql.bind(Bind::Int8(project.id));
    sql.and(format!("i.project_id = {project_bind}"));
    if let Some(keys) = named {
        let mut numbers = Vec::new();
        for key in keys {
            let (project_key, number) =
                parse_key(key).map_err(|_| AppError::invalid("issues", format!("\"{key}\" is not an issue key.")))?;
            if project_key != project.key {
                return Err(AppError::invalid("issues", format!("{key} is not in {}.", project.key)));
            }
            numbers.push(number);
        }
        let numbers = sql.bind(Bind::Int8Array(numbers));
        sql.and(format!("i.number = ANY({numbers})"));
    }
    add_condition(conn, rule, &mut sql)?;
    Ok(issue_list::load_cards(conn, sql, ISSUES_PER_FIRING, 0)?.into_iter().map(|listed| listed.issue.id).collect())
}

fn add_condition(conn: &mut PgConnection, rule: &Rule, sql: &mut SqlBuilder) -> Result<(), AppError> {
    if rule.condition.trim().is_empty() {
        return Ok(());
    }
    let query = oql::parse(&rule.condition).map_err(|e| AppError::invalid("condition", e.to_string()))?;
    let context = oql::Context { me: rule.owner_id, now: Utc::now(), project_id: Some(rule.project_id) };
    oql::compile::compile(conn, &query, &context, sql)
}

/// Whether the issue meets the rule's condition now.
fn matches(conn: &mut PgConnection, rule: &Rule, issue_id: i64) -> Result<bool, AppError> {
    let mut sql = SqlBuilder::default();
    let id = sql.bind(Bind::Int8(issue_id));
    sql.and(format!("i.id = {id}"));
    add_condition(conn, rule, &mut sql)?;
    Ok(!issue_list::load_cards(conn, sql, 1, 0)?.is_empty())
}

/// One log entry, before it is written.
struct Entry<'a> {
    rule_id: i64,
    source: &'a str,
    issue_id: Option<i64>,
    depth: i32,
    outcome: &'static str,
    changes: Vec<String>,
    error: Option<String>,
}

impl<'a> Entry<'a> {
    fn new(rule: &Rule, issue_id: Option<i64>, source: &'a str, depth: i32) -> Self {
        Entry { rule_id: rule.id, source, issue_id, depth, outcome: "succeeded", changes: Vec::new(), error: None }
    }
}

fn insert(conn: &mut PgConnection, entry: &Entry<'_>, started: Instant) -> QueryResult<usize> {
    diesel::insert_into(automation_runs::table)
        .values((
            automation_runs::rule_id.eq(entry.rule_id),
            automation_runs::source.eq(entry.source),
            automation_runs::issue_id.eq(entry.issue_id),
            automation_runs::depth.eq(entry.depth),
            automation_runs::outcome.eq(entry.outcome),
            automation_runs::changes.eq(json!(entry.changes)),
            automation_runs::error.eq(entry.error.as_deref()),
            automation_runs::duration_ms.eq(i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX)),
        ))
        .execute(conn)
}

/// Writes a log entry for a run that changed nothing; an entry already there stays.
fn log_outside(conn: &mut PgConnection, entry: Entry<'_>, started: Instant) -> QueryResult<()> {
    conn.transaction(|conn| match insert(conn, &entry, started) {
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => Ok(()),
        other => other.map(|_| ()),
    })
}

fn already_ran(conn: &mut PgConnection, rule: &Rule, source: &str, issue_id: Option<i64>) -> QueryResult<bool> {
    let query = automation_runs::table
        .filter(automation_runs::rule_id.eq(rule.id).and(automation_runs::source.eq(source)))
        .into_boxed::<Pg>();
    let query = match issue_id {
        Some(id) => query.filter(automation_runs::issue_id.eq(id)),
        None => query.filter(automation_runs::issue_id.is_null()),
    };
    diesel::select(diesel::dsl::exists(query)).get_result(conn)
}

/// Runs `rule` once on one issue: the loop guard, the owner's standing, the condition, then
/// every action in one transaction with the log entry. A refusal is logged (and rolls back
/// the run's other changes); only a database failure makes the job retry.
fn run(conn: &mut PgConnection, rule: &Rule, issue_id: i64, source: &str, depth: i32) -> Result<(), Failure> {
    if already_ran(conn, rule, source, Some(issue_id))? {
        return Ok(());
    }
    let started = Instant::now();
    if depth > MAX_DEPTH {
        let error = format!(
            "Stopped to prevent a loop: this change came from a chain of {} rule runs, and rules set each other off at most {MAX_DEPTH} deep.",
            depth - 1
        );
        let entry =
            Entry { outcome: "loop_stopped", error: Some(error), ..Entry::new(rule, Some(issue_id), source, depth) };
        return Ok(log_outside(conn, entry, started)?);
    }
    let attempt = conn.transaction::<(), Abort, _>(|conn| {
        let mut entry = Entry::new(rule, Some(issue_id), source, depth);
        let owner: User = users::table.find(rule.owner_id).select(User::as_select()).first(conn)?;
        if !owner.is_active {
            return Err(AppError::forbidden(format!(
                "The rule's owner {} is deactivated; a project manager must save the rule again to own it.",
                owner.username
            ))
            .into());
        }
        let project: Project = projects_table::table.find(rule.project_id).select(Project::as_select()).first(conn)?;
        let issue: Issue = issues::table.find(issue_id).select(Issue::as_select()).for_update().first(conn)?;
        if !matches(conn, rule, issue_id)? {
            entry.outcome = "no_match";
            claim(conn, &entry, started)?;
            return Ok(());
        }
        // Written first, so that a second worker running the same firing waits on it and then
        // finds the run taken.
        claim(conn, &entry, started)?;
        let actor = Actor::rule(owner.id, RuleCause { rule_id: rule.id, depth });
        let mut target =
            Target { actor: &actor, owner: &owner, project: &project, rule_id: rule.id, rule_name: &rule.name, issue };
        for (index, action) in rule.actions.iter().enumerate() {
            let line = actions::apply(conn, &mut target, action).map_err(|error| match error {
                hidden @ (AppError::Internal(_) | AppError::Unavailable(_)) => hidden,
                refused => {
                    AppError::invalid("action", format!("Action {} ({}): {refused}", index + 1, action.describe()))
                }
            })?;
            entry.changes.push(line);
        }
        diesel::update(
            automation_runs::table
                .filter(automation_runs::rule_id.eq(rule.id).and(automation_runs::source.eq(source)))
                .filter(automation_runs::issue_id.eq(issue_id)),
        )
        .set((
            automation_runs::changes.eq(json!(entry.changes)),
            automation_runs::duration_ms.eq(i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX)),
        ))
        .execute(conn)?;
        Ok(())
    });
    match attempt {
        Ok(()) | Err(Abort::Deliberately(())) => Ok(()),
        Err(Abort::Failed(error @ (AppError::Internal(_) | AppError::Unavailable(_)))) => Err(error.into()),
        Err(Abort::Failed(refused)) => {
            let entry = Entry {
                outcome: "failed",
                error: Some(refused.to_string()),
                ..Entry::new(rule, Some(issue_id), source, depth)
            };
            Ok(log_outside(conn, entry, started)?)
        }
    }
}

/// Inserts the run's log entry inside its transaction; if another worker already has this
/// run, gives up the transaction on purpose.
fn claim(conn: &mut PgConnection, entry: &Entry<'_>, started: Instant) -> Result<(), Abort> {
    match insert(conn, entry, started) {
        Ok(_) => Ok(()),
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            Err(Abort::Deliberately(()))
        }
        Err(other) => Err(other.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn triggers_match_the_events_they_name() {
        let before = json!({ "key": "OPS-1", "status": "To do", "priority": "Medium" });
        let moved = json!({ "key": "OPS-1", "status": "Done" });
        let empty = json!({});
        assert!(triggered_by(&Trigger::IssueCreated, "issue.created", &empty, &moved));
        assert!(!triggered_by(&Trigger::IssueCreated, "issue.updated", &before, &moved));
        assert!(triggered_by(&Trigger::Transitioned(None), "issue.updated", &before, &moved));
        assert!(triggered_by(&Trigger::Transitioned(Some("done".into())), "issue.updated", &before, &moved));
        assert!(!triggered_by(&Trigger::Transitioned(Some("In progress".into())), "issue.updated", &before, &moved));
        assert!(triggered_by(&Trigger::FieldChanged(Some("status".into())), "issue.updated", &before, &moved));
        assert!(!triggered_by(&Trigger::FieldChanged(Some("priority".into())), "issue.updated", &before, &moved));
        assert!(triggered_by(&Trigger::FieldChanged(None), "issue.updated", &before, &moved));
        let custom_before = json!({ "key": "OPS-1", "custom.Tier": null });
        let custom_after = json!({ "key": "OPS-1", "custom.Tier": "gold" });
        assert!(triggered_by(
            &Trigger::FieldChanged(Some("Tier".into())),
            "issue.updated",
            &custom_before,
            &custom_after
        ));
        let only_key = json!({ "key": "OPS-1" });
        assert!(!triggered_by(&Trigger::FieldChanged(None), "issue.updated", &only_key, &only_key));
        assert!(triggered_by(&Trigger::Commented, "comment.created", &empty, &json!({ "issue_id": 1 })));
    }

    #[test]
    fn missed_cron_times_fold_into_the_latest() {
        let cron = parse_cron("0 0 * * * *").unwrap();
        let since = Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 11, 30, 0).unwrap();
        assert_eq!(latest_occurrence(&cron, since, now), Some(Utc.with_ymd_and_hms(2026, 11, 23, 11, 0, 0).unwrap()));
        let soon = Utc.with_ymd_and_hms(2026, 11, 23, 8, 59, 59).unwrap();
        assert_eq!(latest_occurrence(&cron, since, soon), None, "nothing due before the next hour");
    }
}
