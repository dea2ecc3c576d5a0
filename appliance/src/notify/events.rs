//! The `notify` job: from one outbox event to the notifications (and immediate mails) it
//! causes. Each user hears about an event once, for the most specific reason; the person who
//! acted and deactivated accounts hear nothing. Writing is idempotent per (user, event), so a
//! retried job adds nothing.

use std::collections::{BTreeMap, BTreeSet};

use diesel::prelude::*;
use serde::Deserialize;
use serde_json::Value;

use super::mentions::{mentioned, newly_mentioned};
use super::store::{self, NewNotification};
use super::{mail, preferences, Delivery, Reason};
use crate::jobs::queue::{Failure, Job};
use crate::jobs::worker::Context;
use crate::schema::{issue_watchers, issues, page_versions, page_watchers, projects, sprints, users};

/// The payload the outbox dispatcher gives a `notify` job.
#[derive(Deserialize)]
pub struct Event {
    pub event_id: i64,
    pub topic: String,
    pub entity_id: i64,
    pub data: EventData,
}

#[derive(Deserialize)]
pub struct EventData {
    pub actor_id: Option<i64>,
    #[serde(default)]
    pub before: Value,
    #[serde(default)]
    pub after: Value,
}

/// Who hears about one event, and what they read.
pub struct Plan {
    pub subject: String,
    pub link: String,
    recipients: BTreeMap<i64, (Reason, String)>,
}

impl Plan {
    pub fn new(subject: String, link: String) -> Self {
        Self { subject, link, recipients: BTreeMap::new() }
    }

    /// Adds `user` for `reason`, unless they are already in for a more specific one.
    pub fn add(&mut self, user_id: i64, reason: Reason, summary: &str) {
        let keep = self.recipients.get(&user_id).is_some_and(|(existing, _)| *existing <= reason);
        if !keep {
            self.recipients.insert(user_id, (reason, summary.to_owned()));
        }
    }
}

/// Whether an outbox event can notify anyone, decided from the event alone where that is
/// possible. A new issue notifies its assignee and the people its description mentions
/// (`issue_changed`), never the person who made it, so one filed unassigned by its reporter
/// without a mention (most of an import, most filed from the API) notifies nobody and the
/// dispatcher queues no job for it. Every other event may.
pub fn may_notify(topic: &str, data: &Value) -> bool {
    if topic != "issue.created" {
        return true;
    }
    let actor = data.get("actor_id").and_then(Value::as_i64);
    let after = data.get("after").unwrap_or(&Value::Null);
    let assignee = after.get("assignee_id").and_then(Value::as_i64);
    assignee.is_some_and(|id| Some(id) != actor) || !mentioned(&text(after, "description")).is_empty()
}

pub fn handle(context: &Context, job: &Job) -> Result<(), Failure> {
    let event: Event = serde_json::from_value(job.payload.clone())
        .map_err(|e| Failure::permanent(format!("not a notify payload: {e}")))?;
    let mut conn = context.conn()?;
    let plan = match event.topic.as_str() {
        "issue.created" | "issue.updated" | "issue.linked" => issue_changed(&mut conn, &event)?,
        "comment.created" => commented(&mut conn, &event)?,
        "sprint.started" | "sprint.completed" => sprint_changed(&mut conn, &event)?,
        "page.created" | "page.updated" => page_changed(&mut conn, &event)?,
        "automation.notified" => {
            // A rule's message goes to everyone it names, its owner included: the owner did
            // not act just now, the rule did.
            return match rule_message(&mut conn, &event)? {
                Some(plan) => deliver(&mut conn, context, event.event_id, None, plan),
                None => Ok(()),
            };
        }
        _ => None,
    };
    match plan {
        Some(plan) => deliver(&mut conn, context, event.event_id, event.data.actor_id, plan),
        None => Ok(()),
    }
}

struct IssueFacts {
    key: String,
    title: String,
    assignee_id: Option<i64>,
    reporter_id: i64,
}

fn issue_facts(conn: &mut PgConnection, issue_id: i64) -> QueryResult<Option<IssueFacts>> {
    let row: Option<(String, i64, String, Option<i64>, i64)> = issues::table
        .inner_join(projects::table)
        .filter(issues::id.eq(issue_id))
        .select((projects::key, issues::number, issues::title, issues::assignee_id, issues::reporter_id))
        .first(conn)
        .optional()?;
    Ok(row.map(|(project, number, title, assignee_id, reporter_id)| IssueFacts {
        key: format!("{project}-{number}"),
        title,
        assignee_id,
        reporter_id,
    }))
}

fn actor_name(conn: &mut PgConnection, actor_id: Option<i64>) -> QueryResult<String> {
    let name = match actor_id {
        Some(id) => users::table.find(id).select(users::display_name).first::<String>(conn).optional()?,
        None => None,
    };
    Ok(name.unwrap_or_else(|| "Outpost".to_owned()))
}

fn watchers(conn: &mut PgConnection, issue_id: i64) -> QueryResult<Vec<i64>> {
    issue_watchers::table.filter(issue_watchers::issue_id.eq(issue_id)).select(issue_watchers::user_id).load(conn)
}

/// Active users by user name (mentions name people by it).
fn user_ids(conn: &mut PgConnection, names: &BTreeSet<String>) -> QueryResult<Vec<i64>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    users::table.filter(users::username.eq_any(names)).filter(users::is_active.eq(true)).select(users::id).load(conn)
}

fn text(value: &Value, field: &str) -> String {
    value.get(field).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// The fields an update changed, by the names the history shows.
fn changed_fields(before: &Value, after: &Value) -> Vec<String> {
    let (Some(before), Some(after)) = (before.as_object(), after.as_object()) else { return Vec::new() };
    after
        .iter()
        .filter(|(name, value)| name.as_str() != "assignee_id" && before.get(name.as_str()) != Some(value))
        .map(|(name, _)| name.trim_start_matches("custom.").replace('_', " "))
        .collect()
}

fn issue_changed(conn: &mut PgConnection, event: &Event) -> Result<Option<Plan>, Failure> {
    let Some(issue) = issue_facts(conn, event.entity_id)? else { return Ok(None) };
    let actor = actor_name(conn, event.data.actor_id)?;
    let (before, after) = (&event.data.before, &event.data.after);
    let mut plan = Plan::new(format!("{} {}", issue.key, issue.title), format!("/issues/{}", issue.key));
    let created = event.topic == "issue.created";

    let assignee_now = after.get("assignee_id").and_then(Value::as_i64);
    let assignee_before = before.get("assignee_id").and_then(Value::as_i64);
    if let Some(assignee) = assignee_now.filter(|id| created || Some(*id) != assignee_before) {
        plan.add(assignee, Reason::Assigned, &format!("{actor} assigned {} to you", issue.key));
    }
    let mentions = newly_mentioned(&text(before, "description"), &text(after, "description"));
    for user in user_ids(conn, &mentions)? {
        plan.add(user, Reason::Mentioned, &format!("{actor} mentioned you in {}", issue.key));
    }
    if !created {
        let what = match event.topic.as_str() {
            "issue.linked" => format!("{actor} linked {}: {}", issue.key, text(after, "link")),
            _ => format!("{actor} changed {} of {}", changed_fields(before, after).join(", "), issue.key),
        };
        for user in watchers(conn, event.entity_id)? {
            plan.add(user, Reason::Watching, &what);
        }
    }
    Ok(Some(plan))
}

/// What an automation rule's "send a notification" action says, to whom it names.
fn rule_message(conn: &mut PgConnection, event: &Event) -> Result<Option<Plan>, Failure> {
    let Some(issue) = issue_facts(conn, event.entity_id)? else { return Ok(None) };
    let after = &event.data.after;
    let mut plan = Plan::new(format!("{} {}", issue.key, issue.title), format!("/issues/{}", issue.key));
    let summary = format!("Rule {}: {}", text(after, "rule"), text(after, "message"));
    let recipients = after.get("recipients").and_then(Value::as_array).into_iter().flatten();
    for user in recipients.filter_map(Value::as_i64) {
        plan.add(user, Reason::Automation, &summary);
    }
    Ok(Some(plan))
}

fn commented(conn: &mut PgConnection, event: &Event) -> Result<Option<Plan>, Failure> {
    let Some(issue_id) = event.data.after.get("issue_id").and_then(Value::as_i64) else {
        return Err(Failure::permanent("a comment event without its issue"));
    };
    let Some(issue) = issue_facts(conn, issue_id)? else { return Ok(None) };
    let actor = actor_name(conn, event.data.actor_id)?;
    let mut plan = Plan::new(format!("{} {}", issue.key, issue.title), format!("/issues/{}", issue.key));
    let said = format!("{actor} commented on {}", issue.key);
    for user in user_ids(conn, &mentioned(&text(&event.data.after, "body")))? {
        plan.add(user, Reason::Mentioned, &format!("{actor} mentioned you in a comment on {}", issue.key));
    }
    for user in [Some(issue.reporter_id), issue.assignee_id].into_iter().flatten() {
        plan.add(user, Reason::MyIssueCommented, &said);
    }
    for user in watchers(conn, issue_id)? {
        plan.add(user, Reason::Watching, &said);
    }
    Ok(Some(plan))
}

/// A page written: people newly @mentioned in its text hear of it, and its watchers (writers
/// watch what they write) hear of each edit.
fn page_changed(conn: &mut PgConnection, event: &Event) -> Result<Option<Plan>, Failure> {
    let Some(version) = event.data.after.get("version").and_then(Value::as_i64) else {
        return Err(Failure::permanent("a page event without its version"));
    };
    let texts: Vec<(i32, String, String)> = page_versions::table
        .filter(page_versions::page_id.eq(event.entity_id))
        .filter(page_versions::version.eq_any([version as i32 - 1, version as i32]))
        .select((page_versions::version, page_versions::title, page_versions::body))
        .load(conn)?;
    // Deleted meanwhile: nobody needs to hear about it now.
    let Some((_, title, body)) = texts.iter().find(|(v, _, _)| i64::from(*v) == version) else { return Ok(None) };
    let before = texts.iter().find(|(v, _, _)| i64::from(*v) < version).map_or("", |(_, _, body)| body.as_str());
    let actor = actor_name(conn, event.data.actor_id)?;
    let mut plan = Plan::new(format!("\u{201c}{title}\u{201d}"), format!("/pages/{}", event.entity_id));
    for user in user_ids(conn, &newly_mentioned(before, body))? {
        plan.add(user, Reason::Mentioned, &format!("{actor} mentioned you on the page \u{201c}{title}\u{201d}"));
    }
    if event.topic == "page.updated" {
        let note = text(&event.data.after, "note");
        let what = if note.is_empty() { "edited".to_owned() } else { format!("edited ({})", note.to_lowercase()) };
        let watchers: Vec<i64> = page_watchers::table
            .filter(page_watchers::page_id.eq(event.entity_id))
            .select(page_watchers::user_id)
            .load(conn)?;
        for user in watchers {
            plan.add(user, Reason::PageWatched, &format!("{actor} {what} \u{201c}{title}\u{201d} (version {version})"));
        }
    }
    Ok(Some(plan))
}

fn sprint_changed(conn: &mut PgConnection, event: &Event) -> Result<Option<Plan>, Failure> {
    let row: Option<(String, String, i64, i64)> = sprints::table
        .inner_join(projects::table)
        .filter(sprints::id.eq(event.entity_id))
        .select((sprints::name, projects::key, projects::lead_id, projects::id))
        .first(conn)
        .optional()?;
    let Some((name, project_key, lead_id, _)) = row else { return Ok(None) };
    let verb = if event.topic == "sprint.started" { "started" } else { "completed" };
    let actor = actor_name(conn, event.data.actor_id)?;
    let mut plan = Plan::new(format!("{project_key}: sprint {name}"), format!("/projects/{project_key}/backlog"));
    let summary = format!("{actor} {verb} sprint {name} in {project_key}");
    // Completing a sprint moves its unfinished issues out: its event names who had work in it.
    let mut people: BTreeSet<i64> = issues::table
        .filter(issues::sprint_id.eq(event.entity_id))
        .filter(issues::assignee_id.is_not_null())
        .select(issues::assignee_id.assume_not_null())
        .distinct()
        .load::<i64>(conn)?
        .into_iter()
        .collect();
    if let Some(assignees) = event.data.after.get("assignees").and_then(Value::as_array) {
        people.extend(assignees.iter().filter_map(Value::as_i64));
    }
    people.insert(lead_id);
    for user in people {
        plan.add(user, Reason::Sprint, &summary);
    }
    Ok(Some(plan))
}

/// Writes the plan's notifications and queues immediate mail, in one transaction.
pub fn deliver(
    conn: &mut PgConnection,
    context: &Context,
    event_id: i64,
    actor_id: Option<i64>,
    plan: Plan,
) -> Result<(), Failure> {
    let recipients: Vec<(i64, (Reason, String))> =
        plan.recipients.into_iter().filter(|(user, _)| Some(*user) != actor_id).collect();
    let ids: Vec<i64> = recipients.iter().map(|(user, _)| *user).collect();
    let active: BTreeSet<i64> = users::table
        .filter(users::id.eq_any(&ids))
        .filter(users::is_active.eq(true))
        .select(users::id)
        .load::<i64>(conn)?
        .into_iter()
        .collect();
    conn.transaction::<_, Failure, _>(|conn| {
        for (user_id, (reason, summary)) in recipients.iter().filter(|(user, _)| active.contains(user)) {
            let new = NewNotification {
                user_id: *user_id,
                event_id,
                reason: *reason,
                actor_id,
                subject: &plan.subject,
                summary,
                link: &plan.link,
            };
            let Some(notification) = store::insert(conn, &new)? else { continue };
            if context.config.mail.smtp.is_some()
                && preferences::delivery(conn, *user_id, *reason)? == Delivery::Immediate
            {
                mail::queue_notification(conn, &context.config, &notification)?;
                store::mark_emailed(conn, &[notification.id])?;
            }
        }
        Ok(())
    })
}
