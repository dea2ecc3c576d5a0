//! An issue's history, read from its audit records: who changed which field when, from what
//! to what. The audit log stores each field by name (see `issue_fields::snapshot`), so the
//! history needs no other lookups and survives renamed statuses or removed versions.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Jsonb, Nullable, Text, Timestamptz};
use serde::Serialize;
use serde_json::Value;

use crate::db::Prepared;
use crate::identity::permissions::{browsable, Browsable};
use crate::identity::users::User;

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
/// after; and how many records the reader may see in the whole history.
#[derive(QueryableByName)]
struct AuditRow {
    #[diesel(sql_type = Timestamptz)]
    occurred_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Text>)]
    actor: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    via_rule: Option<String>,
    #[diesel(sql_type = Text)]
    action: String,
    #[diesel(sql_type = Nullable<Jsonb>)]
    before_state: Option<Value>,
    #[diesel(sql_type = Nullable<Jsonb>)]
    after_state: Option<Value>,
    #[diesel(sql_type = BigInt)]
    total: i64,
}

/// A count alone, for a stretch past the end of a list (no row to carry it).
#[derive(QueryableByName)]
pub(super) struct Total {
    #[diesel(sql_type = BigInt)]
    pub total: i64,
}

/// The actions of records that name a link.
const LINK_ACTIONS: &str = "'issue.linked', 'issue.unlinked'";

/// Whether record `a` is one the reader may see: a record that is not a link; or a link to an
/// issue whose project the reader may browse (`$2`: every project; `$3`: these) or is gone.
/// The linked project's key is read from the record ("blocks OPS-7" → OPS), in SQL, so that
/// the records the reader may not see are left out before paging and counting.
static VISIBLE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "(a.action NOT IN ({LINK_ACTIONS}) OR $2 OR NOT EXISTS ( \
            SELECT 1 FROM projects p \
             WHERE p.key = substring(CASE a.action WHEN 'issue.linked' THEN a.after_state ->> 'link' \
                                     WHEN 'issue.unlinked' THEN a.before_state ->> 'link' END \
                                     FROM '([A-Z][A-Z0-9]*)-[0-9]+$') \
               AND p.id <> ALL($3)))"
    )
});

/// How many records of issue `$1` the reader may see: the records that are not links counted
/// from the index alone, the links one by one.
static TOTAL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "(SELECT count(*) FROM audit_log a \
           WHERE a.entity_type = 'issue' AND a.entity_id = $1 AND a.action NOT IN ({LINK_ACTIONS})) \
         + (SELECT count(*) FROM audit_log a \
             WHERE a.entity_type = 'issue' AND a.entity_id = $1 AND a.action IN ({LINK_ACTIONS}) AND {visible})",
        visible = VISIBLE.as_str()
    )
});

/// A stretch of the records with the count of them all beside each (evaluated once): one
/// statement for the issue page's history, where a count and a stretch were two.
fn records_in_order(direction: &str) -> String {
    format!(
        "SELECT a.occurred_at, u.display_name AS actor, r.name AS via_rule, a.action, a.before_state, a.after_state, \
                {total} AS total \
           FROM audit_log a \
           LEFT JOIN users u ON u.id = a.actor_id \
           LEFT JOIN automation_rules r ON r.id = a.via_rule_id \
          WHERE a.entity_type = 'issue' AND a.entity_id = $1 AND {visible} \
          ORDER BY a.occurred_at {direction}, a.id {direction} LIMIT $4 OFFSET $5",
        total = TOTAL.as_str(),
        visible = VISIBLE.as_str()
    )
}
static OLDEST_FIRST: LazyLock<String> = LazyLock::new(|| records_in_order("ASC"));
static NEWEST_FIRST: LazyLock<String> = LazyLock::new(|| records_in_order("DESC"));
/// The count alone, for a stretch past the end (no row to carry it).
static COUNTED: LazyLock<String> = LazyLock::new(|| format!("SELECT {} AS total", TOTAL.as_str()));

/// Which stretch of a history to read.
#[derive(Clone, Copy, Debug)]
pub enum Stretch {
    /// The newest `n` entries: what the issue page shows.
    Latest(i64),
    /// Page `number` (from 1) of `size` entries, counted from the oldest.
    Page { number: i64, size: i64 },
}

impl Stretch {
    /// Whether the stretch is read newest first (and then turned round to oldest first).
    pub fn newest_first(self) -> bool {
        matches!(self, Stretch::Latest(_))
    }

    /// How many entries to read, and how many to pass over first, in the order it is read.
    pub fn limit_and_offset(self) -> (i64, i64) {
        match self {
            Stretch::Latest(n) => (n, 0),
            Stretch::Page { number, size } => (size, (number - 1) * size),
        }
    }
}

/// A stretch of an issue's history, oldest first, and how many entries the whole has.
#[derive(Debug)]
pub struct History {
    pub entries: Vec<HistoryEntry>,
    pub total: i64,
}

impl History {
    /// Whether the whole has entries this stretch does not show.
    pub fn is_cut(&self) -> bool {
        self.total > self.entries.len() as i64
    }
}

/// `stretch` of the history of issue `issue_id` as `reader` may see it, oldest first: records
/// of links to issues in projects the reader may not see are left out, as the links themselves
/// are, and are not counted. A history can hold tens of thousands of records (an issue an
/// automation rule touches every hour), so it is read a stretch at a time.
pub fn history_of(conn: &mut PgConnection, reader: &User, issue_id: i64, stretch: Stretch) -> QueryResult<History> {
    let (every, only) = match browsable(reader) {
        Browsable::Every => (true, Vec::new()),
        Browsable::Only(projects) => (false, projects),
    };
    let sql = if stretch.newest_first() { NEWEST_FIRST.as_str() } else { OLDEST_FIRST.as_str() };
    let (limit, offset) = stretch.limit_and_offset();
    let mut rows: Vec<AuditRow> = Prepared(
        diesel::sql_query(sql)
            .bind::<BigInt, _>(issue_id)
            .bind::<Bool, _>(every)
            .bind::<Array<BigInt>, _>(&only)
            .bind::<BigInt, _>(limit)
            .bind::<BigInt, _>(offset),
    )
    .load(conn)?;
    let total = match rows.first() {
        Some(row) => row.total,
        None => {
            let counted = diesel::sql_query(COUNTED.as_str())
                .bind::<BigInt, _>(issue_id)
                .bind::<Bool, _>(every)
                .bind::<Array<BigInt>, _>(&only);
            Prepared(counted).get_result::<Total>(conn)?.total
        }
    };
    if stretch.newest_first() {
        rows.reverse();
    }
    let entries = rows
        .into_iter()
        .map(|row| HistoryEntry {
            at: row.occurred_at,
            actor: row.actor,
            via_rule: row.via_rule,
            summary: summary(&row.action, row.before_state.as_ref(), row.after_state.as_ref()),
            changes: if row.action == "issue.updated" {
                field_changes(row.before_state.as_ref(), row.after_state.as_ref())
            } else {
                Vec::new()
            },
        })
        .collect();
    Ok(History { entries, total })
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
