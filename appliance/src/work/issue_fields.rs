//! The fields an issue holds beyond its row's basics: its parent (the epic of a story, task or
//! bug; the story, task or bug of a sub-task), planning fields, labels, components, fix
//! version and custom field values. `resolve` checks a change against the project's
//! catalogue and the hierarchy rules before anything is written; `write_sets` stores the
//! multi-valued parts; `snapshot` is what the audit log (and so the history) records.

use std::sync::LazyLock;

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Jsonb, Nullable, Text};
use serde_json::{json, Map, Value};

use super::fields::Catalogue;
use super::issues::{self, Issue};
use super::kinds::IssueType;
use super::projects::Project;
use super::time_tracking::format_duration;
use super::workflows::Workflow;
use crate::errors::AppError;
use crate::schema::{custom_values, issue_components, issue_labels, issues as issues_table, users};

pub const LABELS_MAX: usize = 20;
pub const LABEL_MAX: usize = 50;
pub const POINTS_MAX: f64 = 1000.0;

/// Changes to an issue's further fields: `None` leaves a field as it is (when creating: empty).
/// `Some(None)` clears a single-valued field. Custom fields are set by name; an empty list
/// of inputs clears one.
#[derive(Clone, Debug, Default)]
pub struct DetailChanges {
    pub parent: Option<Option<String>>,
    pub due_date: Option<Option<NaiveDate>>,
    pub story_points: Option<Option<f64>>,
    pub estimate_minutes: Option<Option<i32>>,
    pub fix_version: Option<Option<String>>,
    pub labels: Option<Vec<String>>,
    pub components: Option<Vec<String>>,
    pub custom: Vec<(String, Vec<String>)>,
}

impl DetailChanges {
    /// Whether the changes name a version, a component or a custom field of the project.
    fn names_catalogue_entries(&self) -> bool {
        matches!(&self.fix_version, Some(Some(name)) if !name.trim().is_empty())
            || self.components.as_ref().is_some_and(|names| names.iter().any(|name| !name.trim().is_empty()))
            || !self.custom.is_empty()
    }
}

/// A `DetailChanges` checked and turned into ids and typed values.
#[derive(Debug, Default)]
pub struct Resolved {
    pub parent_id: Option<Option<i64>>,
    pub due_date: Option<Option<NaiveDate>>,
    pub story_points: Option<Option<f64>>,
    pub estimate_minutes: Option<Option<i32>>,
    pub fix_version_id: Option<Option<i64>>,
    labels: Option<Vec<String>>,
    component_ids: Option<Vec<i64>>,
    custom: Vec<(i64, Option<Value>)>,
}

pub fn parse_date(field: &str, text: &str) -> Result<Option<NaiveDate>, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| AppError::invalid(field, format!("\"{text}\" is not a date; write it like 2026-12-31.")))
}

pub fn check_points(points: Option<f64>) -> Result<Option<f64>, AppError> {
    match points {
        Some(p) if !p.is_finite() || !(0.0..=POINTS_MAX).contains(&p) => {
            Err(AppError::invalid("story_points", format!("Story points must be a number from 0 to {POINTS_MAX}.")))
        }
        other => Ok(other),
    }
}

pub fn parse_points(text: &str) -> Result<Option<f64>, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let points = text
        .parse::<f64>()
        .map_err(|_| AppError::invalid("story_points", format!("Story points must be a number, not \"{text}\".")))?;
    check_points(Some(points))
}

/// Labels as typed: split on commas and spaces, lower-cased, without repeats.
pub fn clean_labels(input: &[String]) -> Result<Vec<String>, AppError> {
    let mut labels: Vec<String> = Vec::new();
    for label in input.iter().flat_map(|l| l.split(|c: char| c == ',' || c.is_whitespace())).filter(|l| !l.is_empty()) {
        if label.chars().count() > LABEL_MAX {
            return Err(AppError::invalid(
                "labels",
                format!("A label must be at most {LABEL_MAX} characters: \"{label}\"."),
            ));
        }
        let label = label.to_lowercase();
        if !labels.contains(&label) {
            labels.push(label);
        }
    }
    if labels.len() > LABELS_MAX {
        return Err(AppError::invalid("labels", format!("An issue can have at most {LABELS_MAX} labels.")));
    }
    Ok(labels)
}

/// The types an issue of `parent_type` may hold below it.
fn child_types(parent_type: IssueType) -> &'static [IssueType] {
    match parent_type {
        IssueType::Epic => &[IssueType::Story, IssueType::Task, IssueType::Bug],
        IssueType::Story | IssueType::Task | IssueType::Bug => &[IssueType::Subtask],
        IssueType::Subtask => &[],
    }
}

fn noun(issue_type: IssueType) -> &'static str {
    match issue_type {
        IssueType::Epic => "an epic",
        IssueType::Story => "a story",
        IssueType::Task => "a task",
        IssueType::Bug => "a bug",
        IssueType::Subtask => "a sub-task",
    }
}

/// Checks `changes` for an issue of type `issue_type` (`current` is `None` when creating).
pub fn resolve(
    conn: &mut PgConnection,
    project: &Project,
    current: Option<&Issue>,
    issue_type: IssueType,
    changes: &DetailChanges,
) -> Result<Resolved, AppError> {
    // Most changes name no version, component or custom field: those need not read them.
    let catalogue =
        if changes.names_catalogue_entries() { Catalogue::load(conn, project.id)? } else { Catalogue::default() };
    let parent_id = match &changes.parent {
        None => None,
        Some(None) => Some(None),
        Some(Some(key)) if key.trim().is_empty() => Some(None),
        Some(Some(key)) => Some(Some(parent_for(conn, project, current, issue_type, key)?)),
    };
    let type_changed = current.is_some_and(|issue| issue.issue_type != issue_type);
    let effective_parent = parent_id.unwrap_or_else(|| current.and_then(|issue| issue.parent_id));
    if issue_type == IssueType::Subtask && effective_parent.is_none() {
        return Err(AppError::invalid("parent", "A sub-task needs a parent: the story, task or bug it belongs to."));
    }
    if let (Some(issue), true) = (current, type_changed) {
        let children: Vec<IssueType> = issues_table::table
            .filter(issues_table::parent_id.eq(issue.id))
            .select(issues_table::issue_type)
            .load(conn)?;
        if let Some(child) = children.iter().find(|child| !child_types(issue_type).contains(child)) {
            return Err(AppError::invalid(
                "issue_type",
                format!(
                    "{}-{} has {} below it, which {} cannot hold; move its children first.",
                    project.key,
                    issue.number,
                    noun(*child),
                    noun(issue_type)
                ),
            ));
        }
        if parent_id.is_none() {
            if let Some(parent_id) = issue.parent_id {
                let parent: Issue = issues_table::table.find(parent_id).select(Issue::as_select()).first(conn)?;
                check_parent_type(issue_type, &parent, &format!("{}-{}", project.key, parent.number))?;
            }
        }
    }
    let fix_version_id = match &changes.fix_version {
        None => None,
        Some(None) => Some(None),
        Some(Some(name)) if name.trim().is_empty() => Some(None),
        Some(Some(name)) => Some(Some(catalogue.version(name)?.id)),
    };
    let component_ids = match &changes.components {
        None => None,
        Some(names) => {
            let mut ids = Vec::new();
            for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
                let id = catalogue.component(name)?.id;
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            Some(ids)
        }
    };
    let labels = changes.labels.as_deref().map(clean_labels).transpose()?;
    let mut custom = Vec::new();
    for (name, inputs) in &changes.custom {
        let field = catalogue.custom_field(name)?;
        custom.push((field.id, field.value_of(conn, inputs)?));
    }
    let story_points = changes.story_points.map(check_points).transpose()?;
    Ok(Resolved {
        parent_id,
        due_date: changes.due_date,
        story_points,
        estimate_minutes: changes.estimate_minutes,
        fix_version_id,
        labels,
        component_ids,
        custom,
    })
}

/// The id of the issue `key` if it may be the parent of `current` (of type `issue_type`).
fn parent_for(
    conn: &mut PgConnection,
    project: &Project,
    current: Option<&Issue>,
    issue_type: IssueType,
    key: &str,
) -> Result<i64, AppError> {
    let (parent_project, parent) = issues::find_by_key(conn, key.trim())
        .map_err(|_| AppError::invalid("parent", format!("There is no issue {} to be the parent.", key.trim())))?;
    let parent_key = format!("{}-{}", parent_project.key, parent.number);
    if parent_project.id != project.id {
        return Err(AppError::invalid(
            "parent",
            format!("{parent_key} is in another project; a parent must be in {}.", project.key),
        ));
    }
    if let Some(issue) = current {
        if parent.id == issue.id {
            return Err(AppError::invalid("parent", format!("{parent_key} cannot be its own parent.")));
        }
        // The new parent must not already sit below this issue, or the hierarchy would loop.
        let ancestors: Vec<i64> = diesel::sql_query(
            "WITH RECURSIVE up(id, parent_id, depth) AS ( \
                 SELECT id, parent_id, 0 FROM issues WHERE id = $1 \
                 UNION ALL SELECT i.id, i.parent_id, up.depth + 1 FROM issues i JOIN up ON i.id = up.parent_id WHERE up.depth < 16) \
             SELECT id FROM up",
        )
        .bind::<diesel::sql_types::BigInt, _>(parent.id)
        .load::<IdRow>(conn)?
        .into_iter()
        .map(|row| row.id)
        .collect();
        if ancestors.contains(&issue.id) {
            return Err(AppError::invalid(
                "parent",
                format!(
                    "{parent_key} is already below {}-{}; making it the parent would create a loop.",
                    project.key, issue.number
                ),
            ));
        }
    }
    check_parent_type(issue_type, &parent, &parent_key)?;
    Ok(parent.id)
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

fn check_parent_type(issue_type: IssueType, parent: &Issue, parent_key: &str) -> Result<(), AppError> {
    if issue_type == IssueType::Epic {
        return Err(AppError::invalid("parent", "An epic cannot have a parent."));
    }
    if !child_types(parent.issue_type).contains(&issue_type) {
        let wanted = if issue_type == IssueType::Subtask { "a story, task or bug" } else { "an epic" };
        return Err(AppError::invalid(
            "parent",
            format!(
                "The parent of {} must be {wanted}; {parent_key} is {}.",
                noun(issue_type),
                noun(parent.issue_type)
            ),
        ));
    }
    Ok(())
}

/// Whose labels, components and custom values `write_sets` stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetsOf {
    /// An issue inserted in this transaction: it holds none yet, so nothing is cleared.
    NewIssue,
    /// An issue that may hold some: each set given replaces the one it had.
    Existing,
}

/// Stores labels, components and custom values that `resolved` changes.
pub fn write_sets(conn: &mut PgConnection, issue_id: i64, resolved: &Resolved, of: SetsOf) -> QueryResult<()> {
    if let Some(labels) = &resolved.labels {
        if of == SetsOf::Existing {
            diesel::delete(issue_labels::table.filter(issue_labels::issue_id.eq(issue_id))).execute(conn)?;
        }
        if !labels.is_empty() {
            let rows: Vec<_> =
                labels.iter().map(|l| (issue_labels::issue_id.eq(issue_id), issue_labels::label.eq(l))).collect();
            diesel::insert_into(issue_labels::table).values(rows).execute(conn)?;
        }
    }
    if let Some(ids) = &resolved.component_ids {
        if of == SetsOf::Existing {
            diesel::delete(issue_components::table.filter(issue_components::issue_id.eq(issue_id))).execute(conn)?;
        }
        if !ids.is_empty() {
            let rows: Vec<_> = ids
                .iter()
                .map(|id| (issue_components::issue_id.eq(issue_id), issue_components::component_id.eq(id)))
                .collect();
            diesel::insert_into(issue_components::table).values(rows).execute(conn)?;
        }
    }
    for (field_id, value) in &resolved.custom {
        let existing =
            custom_values::table.filter(custom_values::issue_id.eq(issue_id).and(custom_values::field_id.eq(field_id)));
        match value {
            None => {
                diesel::delete(existing).execute(conn)?;
            }
            Some(value) => {
                diesel::insert_into(custom_values::table)
                    .values((
                        custom_values::issue_id.eq(issue_id),
                        custom_values::field_id.eq(field_id),
                        custom_values::value.eq(value),
                    ))
                    .on_conflict((custom_values::issue_id, custom_values::field_id))
                    .do_update()
                    .set(custom_values::value.eq(value))
                    .execute(conn)?;
            }
        }
    }
    Ok(())
}

/// An issue's further fields, as pages and the API show them.
#[derive(Clone, Debug, Default, serde::Serialize, utoipa::ToSchema)]
pub struct Details {
    pub parent: Option<String>,
    pub fix_version: Option<String>,
    pub labels: Vec<String>,
    pub components: Vec<String>,
    /// Custom field name → its value shown as text (`None`: empty), in the project's order.
    #[serde(serialize_with = "as_object")]
    #[schema(value_type = std::collections::BTreeMap<String, Option<String>>)]
    pub custom: Vec<(String, Option<String>)>,
}

fn as_object<S: serde::Serializer>(pairs: &[(String, Option<String>)], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_map(pairs.iter().map(|(name, value)| (name, value)))
}

/// An issue's further fields as columns of a statement over `issues i`: shared by
/// `details_of` and `described::describe`, which reads them with the issue's people.
pub(super) const DETAIL_COLUMNS: &str = "\
    (SELECT p.key || '-' || pi.number FROM issues pi JOIN projects p ON p.id = pi.project_id \
      WHERE pi.id = i.parent_id) AS parent, \
    (SELECT name FROM versions WHERE id = i.fix_version_id) AS fix_version, \
    ARRAY(SELECT label FROM issue_labels WHERE issue_id = i.id ORDER BY label) AS labels, \
    ARRAY(SELECT c.name FROM issue_components ic JOIN components c ON c.id = ic.component_id \
           WHERE ic.issue_id = i.id ORDER BY c.name) AS components, \
    coalesce((SELECT jsonb_agg(jsonb_build_array(f.name, \
                       CASE WHEN f.kind = 'user' AND v.value IS NOT NULL \
                            THEN coalesce(to_jsonb(u.username), '\"(removed user)\"') ELSE v.value END) \
                       ORDER BY f.position, f.id) \
                FROM custom_fields f \
                LEFT JOIN custom_values v ON v.field_id = f.id AND v.issue_id = i.id \
                LEFT JOIN users u ON u.id = CASE WHEN f.kind = 'user' THEN (v.value #>> '{}')::bigint END \
               WHERE f.project_id = i.project_id), '[]'::jsonb) AS custom";

/// The columns of `DETAIL_COLUMNS`.
#[derive(QueryableByName)]
pub(super) struct DetailRow {
    #[diesel(sql_type = Nullable<Text>)]
    parent: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    fix_version: Option<String>,
    #[diesel(sql_type = Array<Text>)]
    labels: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    components: Vec<String>,
    /// `[name, value]` for each of the project's custom fields in its order; the value is
    /// null when the issue has none, and a user field's value is already the user's name.
    #[diesel(sql_type = Jsonb)]
    custom: Value,
}

impl DetailRow {
    pub(super) fn into_details(self) -> Details {
        let custom = match self.custom {
            Value::Array(fields) => fields
                .iter()
                .filter_map(|pair| {
                    let name = pair.get(0)?.as_str()?.to_owned();
                    Some((name, pair.get(1).filter(|value| !value.is_null()).map(shown)))
                })
                .collect(),
            _ => Vec::new(),
        };
        Details {
            parent: self.parent,
            fix_version: self.fix_version,
            labels: self.labels,
            components: self.components,
            custom,
        }
    }
}

static DETAILS: LazyLock<String> = LazyLock::new(|| format!("SELECT {DETAIL_COLUMNS} FROM issues i WHERE i.id = $1"));

/// The further fields of `issue`, read in one statement, its project's custom fields with
/// them: the audit snapshot, bulk edits, exports and automation ask.
pub fn details_of(conn: &mut PgConnection, issue: &Issue) -> QueryResult<Details> {
    let row: DetailRow =
        crate::db::Prepared(diesel::sql_query(DETAILS.as_str()).bind::<BigInt, _>(issue.id)).get_result(conn)?;
    Ok(row.into_details())
}

/// A stored custom value as text: choices joined, numbers as written.
pub fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// The issue's whole state as the audit log records it: every field by name, so the
/// history can say "Labels: db → db, infra" without looking anything up.
pub fn snapshot(
    conn: &mut PgConnection,
    project: &Project,
    issue: &Issue,
    workflow: &Workflow,
) -> Result<Value, AppError> {
    let details = details_of(conn, issue)?;
    snapshot_with(conn, project, issue, workflow, &details)
}

/// `snapshot` of an issue whose details were just read.
pub fn snapshot_with(
    conn: &mut PgConnection,
    project: &Project,
    issue: &Issue,
    workflow: &Workflow,
    details: &Details,
) -> Result<Value, AppError> {
    let assignee = match issue.assignee_id {
        Some(id) => Some(users::table.find(id).select(users::username).first::<String>(conn)?),
        None => None,
    };
    let mut state = json!({
        "key": format!("{}-{}", project.key, issue.number),
        "issue_type": issue.issue_type,
        "status": workflow.status(issue.status_id)?.name,
        "priority": issue.priority,
        "title": issue.title,
        "description": issue.description,
        "assignee": assignee,
        "assignee_id": issue.assignee_id,
        "reporter_id": issue.reporter_id,
        "parent": details.parent,
        "due_date": issue.due_date,
        "story_points": issue.story_points,
        "estimate": issue.estimate_minutes.map(|m| format_duration(i64::from(m))),
        "fix_version": details.fix_version,
        "labels": details.labels.join(", "),
        "components": details.components.join(", "),
    });
    if let Some(object) = state.as_object_mut() {
        let custom: Map<String, Value> =
            details.custom.iter().map(|(name, value)| (format!("custom.{name}"), json!(value))).collect();
        object.extend(custom);
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_split_lowered_and_bounded() {
        assert_eq!(clean_labels(&["DB, infra  db".to_owned()]).unwrap(), ["db", "infra"]);
        let many: Vec<String> = (0..21).map(|n| format!("l{n}")).collect();
        assert_eq!(clean_labels(&many).unwrap_err().to_string(), "An issue can have at most 20 labels.");
        assert_eq!(clean_labels(&["x".repeat(51)]).unwrap_err().field(), Some("labels"));
    }

    #[test]
    fn numbers_and_dates_are_checked_at_the_edge() {
        assert_eq!(parse_points(" 3.5 ").unwrap(), Some(3.5));
        assert_eq!(parse_points("").unwrap(), None);
        assert_eq!(parse_points("lots").unwrap_err().to_string(), "Story points must be a number, not \"lots\".");
        assert_eq!(parse_points("-1").unwrap_err().field(), Some("story_points"));
        assert_eq!(parse_date("due_date", "2026-12-31").unwrap(), NaiveDate::from_ymd_opt(2026, 12, 31));
        assert_eq!(parse_date("due_date", "31/12/2026").unwrap_err().field(), Some("due_date"));
    }

    #[test]
    fn the_hierarchy_has_three_levels() {
        assert_eq!(child_types(IssueType::Epic), [IssueType::Story, IssueType::Task, IssueType::Bug]);
        assert_eq!(child_types(IssueType::Bug), [IssueType::Subtask]);
        assert!(child_types(IssueType::Subtask).is_empty());
    }
}
