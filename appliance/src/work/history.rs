//! An issue's history, read from its audit records: who changed which field when, from what
//! to what. The audit log stores each field by name (see `issue_fields::snapshot`), so the
//! history needs no other lookups and survives renamed statuses or removed versions.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::Value;

use crate::identity::permissions::may_browse;
use crate::identity::users::User;
use crate::schema::{audit_log, automation_rules, projects, users};

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct FieldChange {
    pub field: String,
    pub from: String,
    pub to: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub at: DateTime<Utc>,
    /// The person's display name; `None` for changes made on the host (`outpost admin`).
    pub actor: Option<String>,
    /// The automation rule that acted for `actor`, by name.
    pub via_rule: Option<String>,
    /// What happened, in words: "created the issue", "changed", "logged 2h", …
    pub summary: String,
    pub changes: Vec<FieldChange>,
}

/// Fields shown in the history, with their labels, in this order. Ids are internal.
const FIELDS: &[(&str, &str)] = &[
    ("title", "Title"),
    ("issue_type", "Type"),
    ("status", "Status"),
    ("priority", "Priority"),
    ("assignee", "Assignee"),
    ("parent", "Parent"),
    ("fix_version", "Fix version"),
    ("due_date", "Due date"),
    ("story_points", "Story points"),
    ("estimate", "Estimate"),
    ("labels", "Labels"),
    ("components", "Components"),
    ("description", "Description"),
];

/// A value as the history shows it: empty for null, long text shortened.
fn shown(value: Option<&Value>) -> String {
    let text = match value {
        None | Some(Value::Null) => return String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    };
    if text.chars().count() > 120 {
        format!("{}…", text.chars().take(120).collect::<String>())
    } else {
        text
    }
}

fn field_changes(before: Option<&Value>, after: Option<&Value>) -> Vec<FieldChange> {
    let (Some(before), Some(after)) = (before.and_then(Value::as_object), after.and_then(Value::as_object)) else {
        return Vec::new();
    };
    let mut changes: Vec<FieldChange> = FIELDS
        .iter()
        .filter(|(name, _)| after.contains_key(*name))
        .map(|(name, label)| FieldChange {
            field: (*label).to_owned(),
            from: shown(before.get(*name)),
            to: shown(after.get(*name)),
        })
        .collect();
    for (name, value) in after.iter().filter(|(name, _)| name.starts_with("custom.")) {
        changes.push(FieldChange {
            field: name.trim_start_matches("custom.").to_owned(),
            from: shown(before.get(name)),
            to: shown(Some(value)),
        });
    }
    changes.retain(|change| change.from != change.to);
    changes
}

fn summary(action: &str, before: Option<&Value>, after: Option<&Value>) -> String {
    let said = |value: Option<&Value>, key: &str| {
        value.and_then(|v| v.get(key)).and_then(Value::as_str).unwrap_or("").to_owned()
    };
    match action {
        "issue.created" => "created the issue".to_owned(),
        "issue.updated" => "changed".to_owned(),
        "issue.work_logged" => format!("logged {}", said(after, "time_spent")),
        "issue.linked" => format!("linked: {}", said(after, "link")),
        "issue.unlinked" => format!("removed the link: {}", said(before, "link")),
        "issue.watched" => "started watching".to_owned(),
        "issue.unwatched" => "stopped watching".to_owned(),
        "issue.ranked" => "ranked the issue".to_owned(),
        "issue.sprint_changed" => format!("moved it to {}", said(after, "sprint")),
        "automation.notified" => format!("sent a notification: {}", said(after, "message")),
        "automation.webhook_called" => "called a webhook".to_owned(),
        other => other.trim_start_matches("issue.").replace('_', " "),
    }
}

/// One audit record of an issue: when, by whom (and which rule), what, and the state before and
/// after.
type AuditRow = (DateTime<Utc>, Option<String>, Option<String>, String, Option<Value>, Option<Value>);

/// The project key of the issue a link record names ("blocks OPS-7" → OPS).
fn linked_project(action: &str, before: Option<&Value>, after: Option<&Value>) -> Option<String> {
    let state = match action {
        "issue.linked" => after,
        "issue.unlinked" => before,
        _ => None,
    }?;
    let link = state.get("link").and_then(Value::as_str)?;
    let key = link.rsplit(' ').next()?;
    key.rsplit_once('-').map(|(project, _)| project.to_owned())
}

/// The history of issue `issue_id` as `reader` may see it, oldest first: links to issues in
/// projects the reader may not see are left out, as the links themselves are.
pub fn history_of(conn: &mut PgConnection, reader: &User, issue_id: i64) -> QueryResult<Vec<HistoryEntry>> {
    let rows: Vec<AuditRow> = audit_log::table
        .left_join(users::table)
        .left_join(automation_rules::table.on(audit_log::via_rule_id.eq(automation_rules::id.nullable())))
        .filter(audit_log::entity_type.eq("issue").and(audit_log::entity_id.eq(issue_id)))
        .order((audit_log::occurred_at.asc(), audit_log::id.asc()))
        .select((
            audit_log::occurred_at,
            users::display_name.nullable(),
            automation_rules::name.nullable(),
            audit_log::action,
            audit_log::before_state,
            audit_log::after_state,
        ))
        .load(conn)?;
    let named: Vec<String> = rows
        .iter()
        .filter_map(|(_, _, _, action, before, after)| linked_project(action, before.as_ref(), after.as_ref()))
        .collect();
    // Most histories link nowhere: then there is nothing to ask about.
    let hidden: Vec<String> = if named.is_empty() {
        Vec::new()
    } else {
        projects::table
            .filter(projects::key.eq_any(&named))
            .select((projects::id, projects::key))
            .load::<(i64, String)>(conn)?
            .into_iter()
            .filter(|(id, _)| !may_browse(reader, *id))
            .map(|(_, key)| key)
            .collect()
    };
    Ok(rows
        .into_iter()
        .filter(|(_, _, _, action, before, after)| {
            linked_project(action, before.as_ref(), after.as_ref()).is_none_or(|project| !hidden.contains(&project))
        })
        .map(|(at, actor, via_rule, action, before, after)| HistoryEntry {
            at,
            actor,
            via_rule,
            summary: summary(&action, before.as_ref(), after.as_ref()),
            changes: if action == "issue.updated" {
                field_changes(before.as_ref(), after.as_ref())
            } else {
                Vec::new()
            },
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_are_listed_by_label_with_custom_fields_last() {
        let before = json!({ "key": "OPS-1", "status": "To do", "labels": "", "custom.Tier": null, "assignee_id": 1 });
        let after =
            json!({ "key": "OPS-1", "status": "Done", "labels": "db", "custom.Tier": "gold", "assignee_id": 2 });
        let changes = field_changes(Some(&before), Some(&after));
        let shown: Vec<(&str, &str, &str)> =
            changes.iter().map(|c| (c.field.as_str(), c.from.as_str(), c.to.as_str())).collect();
        assert_eq!(shown, [("Status", "To do", "Done"), ("Labels", "", "db"), ("Tier", "", "gold")]);
    }

    #[test]
    fn long_text_is_shortened() {
        assert_eq!(shown(Some(&json!("x".repeat(200)))).chars().count(), 121);
        assert_eq!(shown(Some(&json!(3.5))), "3.5");
        assert_eq!(shown(None), "");
    }
}
