//! Automation rules: what a project's managers build on the automation page, how a draft is
//! checked before it is saved (every refusal names its field), and the rule and run-log
//! queries.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::actions::{self, Action};
use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::identity::secrets;
use crate::jobs::schedule::parse_cron;
use crate::schema::{automation_rules, automation_runs, issues, projects as projects_table, users};
use crate::work::fields::Catalogue;
use crate::work::oql::{self, SqlBuilder};
use crate::work::projects::Project;
use crate::work::workflows::Workflow;

pub const NAME_MAX: usize = 100;
pub const ACTIONS_MAX: usize = 10;

/// What sets a rule off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    IssueCreated,
    /// A field's name (as the history names it, custom fields by their name), or any field.
    FieldChanged(Option<String>),
    /// A move into the named status, or into any.
    Transitioned(Option<String>),
    Commented,
    /// A six-field cron expression (UTC); the condition picks the issues.
    Scheduled(String),
    /// A secret URL a CI system or script POSTs to; the condition picks the issues.
    IncomingWebhook,
}

impl Trigger {
    pub const KINDS: [(&'static str, &'static str); 6] = [
        ("issue_created", "Issue created"),
        ("field_changed", "Field changed"),
        ("transitioned", "Issue transitioned"),
        ("commented", "Comment added"),
        ("scheduled", "On a schedule (cron)"),
        ("incoming_webhook", "Incoming webhook"),
    ];

    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::IssueCreated => "issue_created",
            Trigger::FieldChanged(_) => "field_changed",
            Trigger::Transitioned(_) => "transitioned",
            Trigger::Commented => "commented",
            Trigger::Scheduled(_) => "scheduled",
            Trigger::IncomingWebhook => "incoming_webhook",
        }
    }

    pub fn value(&self) -> &str {
        match self {
            Trigger::FieldChanged(Some(v)) | Trigger::Transitioned(Some(v)) | Trigger::Scheduled(v) => v,
            _ => "",
        }
    }

    pub fn parse(kind: &str, value: &str) -> Result<Trigger, AppError> {
        let value = value.trim();
        let optional = || Some(value.to_owned()).filter(|v| !v.is_empty());
        Ok(match kind {
            "issue_created" => Trigger::IssueCreated,
            "field_changed" => Trigger::FieldChanged(optional()),
            "transitioned" => Trigger::Transitioned(optional()),
            "commented" => Trigger::Commented,
            "scheduled" => Trigger::Scheduled(value.to_owned()),
            "incoming_webhook" => Trigger::IncomingWebhook,
            other => {
                let known: Vec<&str> = Trigger::KINDS.iter().map(|(kind, _)| *kind).collect();
                return Err(AppError::invalid(
                    "trigger",
                    format!("\"{other}\" is not a trigger; choose one of {}.", known.join(", ")),
                ));
            }
        })
    }

    /// Rules of these kinds act on the issues their condition finds, not on one event's issue.
    pub fn selects_issues(&self) -> bool {
        matches!(self, Trigger::Scheduled(_) | Trigger::IncomingWebhook)
    }

    /// How the rule list says it.
    pub fn describe(&self) -> String {
        match self {
            Trigger::IssueCreated => "When an issue is created".to_owned(),
            Trigger::FieldChanged(None) => "When any field changes".to_owned(),
            Trigger::FieldChanged(Some(field)) => format!("When {field} changes"),
            Trigger::Transitioned(None) => "When an issue changes status".to_owned(),
            Trigger::Transitioned(Some(status)) => format!("When an issue moves to {status}"),
            Trigger::Commented => "When a comment is added".to_owned(),
            Trigger::Scheduled(cron) => format!("On the schedule {cron} (UTC)"),
            Trigger::IncomingWebhook => "When its incoming webhook is called".to_owned(),
        }
    }
}

#[derive(Queryable, Selectable, Identifiable, Clone, Debug)]
#[diesel(table_name = automation_rules)]
pub struct RuleRow {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    pub owner_id: i64,
    pub trigger_kind: String,
    pub trigger_value: String,
    pub condition: String,
    pub actions: Value,
    pub enabled: bool,
    pub hook_token_prefix: Option<String>,
    pub last_fired_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A trigger as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TriggerView<'a> {
    /// One of issue_created, field_changed, transitioned, commented, scheduled, incoming_webhook.
    kind: &'static str,
    /// The field, the status or the cron expression; empty when the kind needs none.
    value: &'a str,
}

fn trigger_view<S: serde::Serializer>(trigger: &Trigger, serializer: S) -> Result<S::Ok, S::Error> {
    TriggerView { kind: trigger.kind(), value: trigger.value() }.serialize(serializer)
}

/// A saved rule, its stored columns read back into their types.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Rule {
    pub id: i64,
    #[serde(skip)]
    pub project_id: i64,
    pub name: String,
    #[serde(skip)]
    pub owner_id: i64,
    /// The owner's user name: the rule acts with their permissions.
    pub owner: String,
    #[serde(serialize_with = "trigger_view")]
    #[schema(value_type = TriggerView)]
    pub trigger: Trigger,
    pub condition: String,
    pub actions: Vec<Action>,
    pub enabled: bool,
    pub hook_token_prefix: Option<String>,
    pub last_fired_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Rule {
    fn from_row(row: RuleRow, owner: String) -> Result<Rule, AppError> {
        let actions: Vec<Action> = serde_json::from_value(row.actions)
            .map_err(|e| AppError::internal(format!("rule {} has unreadable actions: {e}", row.id)))?;
        Ok(Rule {
            id: row.id,
            project_id: row.project_id,
            name: row.name,
            owner_id: row.owner_id,
            owner,
            trigger: Trigger::parse(&row.trigger_kind, &row.trigger_value)?,
            condition: row.condition,
            actions,
            enabled: row.enabled,
            hook_token_prefix: row.hook_token_prefix,
            last_fired_at: row.last_fired_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }

    /// The rule as the API and the audit log show it.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A rule as someone wants it, before it is checked.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Draft {
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    pub name: String,
    #[schema(pattern = "^(issue_created|field_changed|transitioned|commented|scheduled|incoming_webhook)$")]
    pub trigger: String,
    /// The field (field_changed), the status (transitioned) or the cron expression (scheduled).
    #[serde(default)]
    pub trigger_value: String,
    /// OQL: the issues the rule acts on.
    #[serde(default)]
    pub condition: String,
    #[schema(min_items = 1, max_items = 10)]
    pub actions: Vec<Action>,
}

impl Draft {
    pub fn of(rule: &Rule) -> Draft {
        Draft {
            name: rule.name.clone(),
            trigger: rule.trigger.kind().to_owned(),
            trigger_value: rule.trigger.value().to_owned(),
            condition: rule.condition.clone(),
            actions: rule.actions.clone(),
        }
    }
}

/// Field names a `field_changed` trigger can watch, as issue snapshots name them.
pub const WATCHABLE_FIELDS: &[&str] = &[
    "title",
    "issue_type",
    "status",
    "priority",
    "assignee",
    "parent",
    "fix_version",
    "due_date",
    "story_points",
    "estimate",
    "labels",
    "components",
    "description",
];

/// Checks a draft against the project (its statuses, fields, people, hooks), with `owner` as
/// `currentUser()` in the condition. Returns the trigger, parsed.
fn check(conn: &mut PgConnection, project: &Project, owner_id: i64, draft: &Draft) -> Result<Trigger, AppError> {
    let name = draft.name.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX {
        return Err(AppError::invalid("name", format!("Give the rule a name of 1 to {NAME_MAX} characters.")));
    }
    let trigger = Trigger::parse(&draft.trigger, &draft.trigger_value)?;
    let workflow = Workflow::load(conn, project.id)?;
    let catalogue = Catalogue::load(conn, project.id)?;
    match &trigger {
        Trigger::FieldChanged(Some(field))
            if !WATCHABLE_FIELDS.contains(&field.as_str()) && catalogue.custom_field(field).is_err() =>
        {
            return Err(AppError::invalid(
                "trigger_value",
                format!(
                    "\"{field}\" is not a field of {}; use one of {} or a custom field's name.",
                    project.key,
                    WATCHABLE_FIELDS.join(", ")
                ),
            ));
        }
        Trigger::Transitioned(Some(status)) => {
            workflow.find(status).map_err(|e| AppError::invalid("trigger_value", e.to_string()))?;
        }
        Trigger::Scheduled(cron) => {
            parse_cron(cron).map_err(|e| {
                AppError::invalid(
                    "trigger_value",
                    format!("The schedule \"{cron}\" {e} (for example 0 0 7 * * MON-FRI)."),
                )
            })?;
        }
        _ => {}
    }
    let condition = draft.condition.trim();
    if condition.is_empty() && trigger.selects_issues() {
        return Err(AppError::invalid(
            "condition",
            "A scheduled or webhook rule needs a condition: the OQL that picks the issues it acts on.",
        ));
    }
    if !condition.is_empty() {
        let query = oql::parse(condition).map_err(|e| AppError::invalid("condition", e.to_string()))?;
        let context = oql::Context { me: owner_id, now: Utc::now(), project_id: Some(project.id) };
        oql::compile::compile(conn, &query, &context, &mut SqlBuilder::default()).map_err(|e| match e {
            AppError::Invalid { message, .. } => AppError::invalid("condition", message),
            other => other,
        })?;
    }
    if draft.actions.is_empty() || draft.actions.len() > ACTIONS_MAX {
        return Err(AppError::invalid("actions", format!("A rule needs 1 to {ACTIONS_MAX} actions.")));
    }
    for (index, action) in draft.actions.iter().enumerate() {
        actions::check(conn, project, &workflow, &catalogue, action)
            .map_err(|e| AppError::invalid(&format!("action_{}", index + 1), format!("Action {}: {e}", index + 1)))?;
    }
    Ok(trigger)
}

/// The secret URL token of an incoming-webhook rule.
fn new_hook_token() -> String {
    format!("oph_{}", secrets::random_hex(24))
}

/// The columns a save writes, from a checked draft.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = automation_rules)]
struct Definition<'a> {
    name: &'a str,
    owner_id: i64,
    trigger_kind: &'a str,
    trigger_value: &'a str,
    condition: &'a str,
    actions: Value,
}

impl<'a> Definition<'a> {
    fn of(draft: &'a Draft, trigger: &'a Trigger, owner_id: i64) -> Result<Self, AppError> {
        Ok(Definition {
            name: draft.name.trim(),
            owner_id,
            trigger_kind: trigger.kind(),
            trigger_value: trigger.value(),
            condition: draft.condition.trim(),
            actions: serde_json::to_value(&draft.actions).map_err(AppError::internal)?,
        })
    }
}

/// The stored form of a webhook URL's token: its digest, and a prefix to recognise it by.
fn hook_columns(token: Option<&str>) -> (Option<Vec<u8>>, Option<String>) {
    (token.map(secrets::digest), token.map(|t| t[..10].to_owned()))
}

/// Saves a new rule owned by the actor. Returns it, and for an incoming-webhook rule the URL
/// token, which is shown this once.
pub fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    project: &Project,
    draft: &Draft,
) -> Result<(Rule, Option<String>), AppError> {
    let owner_id = actor.user_id.ok_or_else(|| AppError::internal("a rule needs an owner"))?;
    crate::license::require(conn, crate::license::Feature::Automation)?;
    conn.transaction(|conn| {
        let trigger = check(conn, project, owner_id, draft)?;
        let token = (trigger == Trigger::IncomingWebhook).then(new_hook_token);
        let (hash, prefix) = hook_columns(token.as_deref());
        let id: i64 = diesel::insert_into(automation_rules::table)
            .values((
                Definition::of(draft, &trigger, owner_id)?,
                automation_rules::project_id.eq(project.id),
                automation_rules::hook_token_hash.eq(hash),
                automation_rules::hook_token_prefix.eq(prefix),
            ))
            .returning(automation_rules::id)
            .get_result(conn)?;
        let rule = find(conn, project, id)?;
        record(conn, actor, "automation_rule.created", &rule, None)?;
        Ok((rule, token))
    })
}

/// Replaces a rule's definition; whoever saves it becomes its owner, since from now on it does
/// what they approved. A webhook rule keeps its URL; one that becomes a webhook rule gets one,
/// and one that stops being a webhook rule loses it.
pub fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    project: &Project,
    rule_id: i64,
    draft: &Draft,
) -> Result<(Rule, Option<String>), AppError> {
    let owner_id = actor.user_id.ok_or_else(|| AppError::internal("a rule needs an owner"))?;
    conn.transaction(|conn| {
        let before = find(conn, project, rule_id)?;
        let trigger = check(conn, project, owner_id, draft)?;
        let is_hook = trigger == Trigger::IncomingWebhook;
        let token = (is_hook && before.hook_token_prefix.is_none()).then(new_hook_token);
        diesel::update(automation_rules::table.find(rule_id))
            .set((
                Definition::of(draft, &trigger, owner_id)?,
                automation_rules::updated_at.eq(Utc::now()),
                // A schedule counts from its (new) definition, not from an old firing.
                automation_rules::last_fired_at.eq(None::<DateTime<Utc>>),
            ))
            .execute(conn)?;
        if token.is_some() || !is_hook {
            let (hash, prefix) = hook_columns(token.as_deref());
            diesel::update(automation_rules::table.find(rule_id))
                .set((automation_rules::hook_token_hash.eq(hash), automation_rules::hook_token_prefix.eq(prefix)))
                .execute(conn)?;
        }
        let rule = find(conn, project, rule_id)?;
        record(conn, actor, "automation_rule.updated", &rule, Some(&before))?;
        Ok((rule, token))
    })
}

/// Turns a rule on or off.
pub fn set_enabled(
    conn: &mut PgConnection,
    actor: &Actor,
    project: &Project,
    rule_id: i64,
    enabled: bool,
) -> Result<Rule, AppError> {
    if enabled {
        crate::license::require(conn, crate::license::Feature::Automation)?;
    }
    conn.transaction(|conn| {
        let before = find(conn, project, rule_id)?;
        if before.enabled == enabled {
            return Ok(before);
        }
        diesel::update(automation_rules::table.find(rule_id))
            .set((automation_rules::enabled.eq(enabled), automation_rules::last_fired_at.eq(None::<DateTime<Utc>>)))
            .execute(conn)?;
        let rule = find(conn, project, rule_id)?;
        let action = if enabled { "automation_rule.enabled" } else { "automation_rule.disabled" };
        record(conn, actor, action, &rule, Some(&before))?;
        Ok(rule)
    })
}

/// Removes a rule and its log; the audit trail keeps what it was.
pub fn delete(conn: &mut PgConnection, actor: &Actor, project: &Project, rule_id: i64) -> Result<(), AppError> {
    conn.transaction(|conn| {
        let before = find(conn, project, rule_id)?;
        diesel::delete(automation_rules::table.find(rule_id)).execute(conn)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "automation_rule.deleted",
                entity_type: "automation_rule",
                entity_id: rule_id,
                before: Some(before.to_json()),
                after: None,
            },
        )?;
        Ok(())
    })
}

fn record(conn: &mut PgConnection, actor: &Actor, action: &str, rule: &Rule, before: Option<&Rule>) -> QueryResult<()> {
    audit::record(
        conn,
        actor,
        Change {
            action,
            entity_type: "automation_rule",
            entity_id: rule.id,
            before: before.map(Rule::to_json),
            after: Some(rule.to_json()),
        },
    )
}

fn load(conn: &mut PgConnection, rows: Vec<RuleRow>) -> Result<Vec<Rule>, AppError> {
    let owners: Vec<i64> = rows.iter().map(|row| row.owner_id).collect();
    let names: std::collections::HashMap<i64, String> = users::table
        .filter(users::id.eq_any(&owners))
        .select((users::id, users::username))
        .load::<(i64, String)>(conn)?
        .into_iter()
        .collect();
    rows.into_iter()
        .map(|row| {
            let owner = names.get(&row.owner_id).cloned().unwrap_or_default();
            Rule::from_row(row, owner)
        })
        .collect()
}

/// A project's rules, in the order they were made.
pub fn list(conn: &mut PgConnection, project: &Project) -> Result<Vec<Rule>, AppError> {
    let rows = automation_rules::table
        .filter(automation_rules::project_id.eq(project.id))
        .order(automation_rules::id)
        .select(RuleRow::as_select())
        .load(conn)?;
    load(conn, rows)
}

pub fn find(conn: &mut PgConnection, project: &Project, rule_id: i64) -> Result<Rule, AppError> {
    let row = automation_rules::table
        .filter(automation_rules::id.eq(rule_id).and(automation_rules::project_id.eq(project.id)))
        .select(RuleRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found(format!("There is no automation rule {rule_id} in {}.", project.key)))?;
    load(conn, vec![row]).map(|mut rules| rules.remove(0))
}

/// Holds the row until the transaction ends, so a check made on the rule (an `If-Match`)
/// stays true until the change that depends on it commits.
pub fn lock(conn: &mut PgConnection, rule_id: i64) -> QueryResult<()> {
    automation_rules::table.find(rule_id).for_update().select(automation_rules::id).first::<i64>(conn).map(drop)
}

/// A rule by id, whatever its project (for the job that runs it).
pub fn by_id(conn: &mut PgConnection, rule_id: i64) -> Result<Option<Rule>, AppError> {
    let rows = automation_rules::table.find(rule_id).select(RuleRow::as_select()).load(conn)?;
    Ok(load(conn, rows)?.pop())
}

/// The enabled rules of a project with one of `kinds` as trigger.
pub fn enabled_in(conn: &mut PgConnection, project_id: i64, kinds: &[&str]) -> Result<Vec<Rule>, AppError> {
    let rows = automation_rules::table
        .filter(automation_rules::project_id.eq(project_id))
        .filter(automation_rules::enabled.eq(true))
        .filter(automation_rules::trigger_kind.eq_any(kinds))
        .order(automation_rules::id)
        .select(RuleRow::as_select())
        .load(conn)?;
    load(conn, rows)
}

/// The enabled rule whose incoming-webhook URL carries `token`.
pub fn by_hook_token(conn: &mut PgConnection, token: &str) -> Result<Rule, AppError> {
    let row = automation_rules::table
        .filter(automation_rules::hook_token_hash.eq(secrets::digest(token)))
        .select(RuleRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("There is no automation rule with this webhook URL."))?;
    let rule = load(conn, vec![row])?.remove(0);
    if !rule.enabled {
        return Err(AppError::conflict("rule", format!("The automation rule \"{}\" is disabled.", rule.name)));
    }
    Ok(rule)
}

/// One entry of a rule's execution log.
#[derive(Queryable, Selectable, Serialize, Clone, Debug, utoipa::ToSchema)]
#[diesel(table_name = automation_runs)]
pub struct Run {
    pub id: i64,
    #[serde(skip)]
    pub rule_id: i64,
    pub source: String,
    #[serde(skip)]
    pub issue_id: Option<i64>,
    pub depth: i32,
    /// succeeded, no_match, failed or loop_stopped.
    pub outcome: String,
    /// One line per change made, in order.
    #[schema(value_type = Vec<String>)]
    pub changes: Value,
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i32,
}

/// A log entry with the key of the issue it acted on.
#[derive(Serialize, Clone, Debug, utoipa::ToSchema)]
pub struct LoggedRun {
    #[serde(flatten)]
    pub run: Run,
    pub issue: Option<String>,
}

impl LoggedRun {
    /// The changes, one line each, for the page.
    pub fn change_lines(&self) -> Vec<String> {
        self.run.changes.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect()
    }
}

/// A rule's newest runs, newest first.
pub fn runs(conn: &mut PgConnection, rule_id: i64, limit: i64) -> QueryResult<Vec<LoggedRun>> {
    let rows: Vec<(Run, Option<String>, Option<i64>)> = automation_runs::table
        .left_join(issues::table.left_join(projects_table::table))
        .filter(automation_runs::rule_id.eq(rule_id))
        .order(automation_runs::id.desc())
        .limit(limit)
        .select((Run::as_select(), projects_table::key.nullable(), issues::number.nullable()))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(run, key, number)| {
            let issue = key.zip(number).map(|(key, number)| format!("{key}-{number}"));
            LoggedRun { run, issue }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_round_trip_through_their_columns() {
        for trigger in [
            Trigger::IssueCreated,
            Trigger::FieldChanged(None),
            Trigger::FieldChanged(Some("priority".into())),
            Trigger::Transitioned(Some("Done".into())),
            Trigger::Commented,
            Trigger::Scheduled("0 0 7 * * *".into()),
            Trigger::IncomingWebhook,
        ] {
            assert_eq!(Trigger::parse(trigger.kind(), trigger.value()).unwrap(), trigger);
        }
        let refused = Trigger::parse("someday", "").unwrap_err();
        assert_eq!(refused.field(), Some("trigger"));
        assert!(refused.to_string().contains("\"someday\" is not a trigger"));
    }
}
