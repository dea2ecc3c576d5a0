//! Issues: the model, its rules (title and description limits, an assignee who exists), and
//! the create/update/find queries. Listing and filtering live in `issue_list`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::kinds::{IssueType, Priority};
use super::projects::{self, Project};
use super::workflows::Workflow;
use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::schema::{issues, projects as projects_table, users};

pub const TITLE_MAX: usize = 255;
pub const DESCRIPTION_MAX: usize = 100_000;

#[derive(Clone, Debug, Queryable, QueryableByName, Selectable, Identifiable, Serialize)]
#[diesel(table_name = issues)]
pub struct Issue {
    #[serde(skip)]
    pub id: i64,
    #[serde(skip)]
    pub project_id: i64,
    pub number: i64,
    pub issue_type: IssueType,
    #[serde(skip)]
    pub status_id: i64,
    pub priority: Priority,
    pub title: String,
    pub description: String,
    #[serde(skip)]
    pub assignee_id: Option<i64>,
    #[serde(skip)]
    pub reporter_id: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new issue, already parsed; `assignee` is a user name, `status` a status name of the
/// project's workflow (`None`: its first status).
pub struct NewIssue {
    pub issue_type: IssueType,
    pub status: Option<String>,
    pub priority: Priority,
    pub title: String,
    pub description: String,
    pub assignee: Option<String>,
}

/// Changes to an issue: `None` leaves a field as it is; `assignee: Some(None)` unassigns.
#[derive(Default)]
pub struct IssueChanges {
    pub issue_type: Option<IssueType>,
    /// A status name; the move must be a transition the workflow allows.
    pub status: Option<String>,
    pub priority: Option<Priority>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub assignee: Option<Option<String>>,
}

#[derive(AsChangeset)]
#[diesel(table_name = issues)]
struct IssueChangeset {
    issue_type: Option<IssueType>,
    status_id: Option<i64>,
    priority: Option<Priority>,
    title: Option<String>,
    description: Option<String>,
    assignee_id: Option<Option<i64>>,
    updated_at: DateTime<Utc>,
}

pub fn clean_title(title: &str) -> Result<String, AppError> {
    let title = title.trim();
    let length = title.chars().count();
    if length == 0 {
        return Err(AppError::invalid("title", "Title is required."));
    }
    if length > TITLE_MAX {
        return Err(AppError::invalid(
            "title",
            format!("Title must be at most {TITLE_MAX} characters (it has {length})."),
        ));
    }
    Ok(title.to_owned())
}

pub fn check_description(description: &str) -> Result<(), AppError> {
    let length = description.chars().count();
    if length > DESCRIPTION_MAX {
        return Err(AppError::invalid(
            "description",
            format!("Description must be at most {DESCRIPTION_MAX} characters (it has {length})."),
        ));
    }
    Ok(())
}

/// The id of the active user named `username`, or an error naming the assignee field.
fn assignee_id(conn: &mut PgConnection, username: Option<&str>) -> Result<Option<i64>, AppError> {
    let Some(username) = username.map(str::trim).filter(|name| !name.is_empty()) else {
        return Ok(None);
    };
    users::table
        .filter(users::username.eq(username.to_lowercase()).and(users::is_active.eq(true)))
        .select(users::id)
        .first(conn)
        .optional()?
        .map(Some)
        .ok_or_else(|| AppError::invalid("assignee", format!("There is no active user named {username}.")))
}

pub fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    project: &Project,
    reporter_id: i64,
    new: NewIssue,
) -> Result<Issue, AppError> {
    let title = clean_title(&new.title)?;
    check_description(&new.description)?;
    conn.transaction(|conn| {
        let workflow = Workflow::load(conn, project.id)?;
        let status_id = match new.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(name) => workflow.find(name)?.id,
            None => workflow.initial()?.id,
        };
        let assignee_id = assignee_id(conn, new.assignee.as_deref())?;
        let number = projects::take_issue_number(conn, project.id)?;
        let issue: Issue = diesel::insert_into(issues::table)
            .values((
                issues::project_id.eq(project.id),
                issues::number.eq(number),
                issues::issue_type.eq(new.issue_type),
                issues::status_id.eq(status_id),
                issues::priority.eq(new.priority),
                issues::title.eq(&title),
                issues::description.eq(&new.description),
                issues::assignee_id.eq(assignee_id),
                issues::reporter_id.eq(reporter_id),
            ))
            .returning(Issue::as_returning())
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "issue.created",
                entity_type: "issue",
                entity_id: issue.id,
                before: None,
                after: Some(audit_state(&issue, &project.key, &workflow)),
            },
        )?;
        Ok(issue)
    })
}

/// Applies `changes` and records the fields that really changed; a change to nothing writes
/// nothing.
pub fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    project: &Project,
    issue_id: i64,
    changes: IssueChanges,
) -> Result<Issue, AppError> {
    let title = changes.title.as_deref().map(clean_title).transpose()?;
    if let Some(description) = &changes.description {
        check_description(description)?;
    }
    conn.transaction(|conn| {
        let before: Issue = issues::table.find(issue_id).for_update().select(Issue::as_select()).first(conn)?;
        let workflow = Workflow::load(conn, project.id)?;
        let status_id = match changes.status.as_deref() {
            None => None,
            Some(name) => {
                let target = workflow.find(name)?.id;
                workflow.check_transition(&format!("{}-{}", project.key, before.number), before.status_id, target)?;
                Some(target)
            }
        };
        let assignee_id = match &changes.assignee {
            None => None,
            Some(name) => Some(assignee_id(conn, name.as_deref())?),
        };
        let changeset = IssueChangeset {
            issue_type: changes.issue_type.filter(|v| *v != before.issue_type),
            status_id: status_id.filter(|v| *v != before.status_id),
            priority: changes.priority.filter(|v| *v != before.priority),
            title: title.filter(|v| *v != before.title),
            description: changes.description.filter(|v| *v != before.description),
            assignee_id: assignee_id.filter(|v| *v != before.assignee_id),
            updated_at: Utc::now(),
        };
        let nothing_changed = changeset.issue_type.is_none()
            && changeset.status_id.is_none()
            && changeset.priority.is_none()
            && changeset.title.is_none()
            && changeset.description.is_none()
            && changeset.assignee_id.is_none();
        if nothing_changed {
            return Ok(before);
        }
        let after: Issue = diesel::update(issues::table.find(issue_id))
            .set(&changeset)
            .returning(Issue::as_returning())
            .get_result(conn)?;
        let (old, new) = changed_fields(
            &audit_state(&before, &project.key, &workflow),
            &audit_state(&after, &project.key, &workflow),
        );
        audit::record(
            conn,
            actor,
            Change {
                action: "issue.updated",
                entity_type: "issue",
                entity_id: issue_id,
                before: Some(old),
                after: Some(new),
            },
        )?;
        Ok(after)
    })
}

/// The issue's state as the audit log and outbox carry it (and its history shows it).
fn audit_state(issue: &Issue, project_key: &str, workflow: &Workflow) -> Value {
    json!({
        "key": format!("{project_key}-{}", issue.number),
        "issue_type": issue.issue_type,
        "status": workflow.status(issue.status_id).map(|s| s.name.as_str()).unwrap_or("?"),
        "priority": issue.priority,
        "title": issue.title,
        "description": issue.description,
        "assignee_id": issue.assignee_id,
        "reporter_id": issue.reporter_id,
    })
}

/// Keeps only the fields whose values differ (plus the key, for the reader's sake).
fn changed_fields(before: &Value, after: &Value) -> (Value, Value) {
    let (mut old, mut new) = (Map::new(), Map::new());
    if let (Some(before), Some(after)) = (before.as_object(), after.as_object()) {
        for (field, value) in after {
            if before.get(field) != Some(value) || field == "key" {
                old.insert(field.clone(), before.get(field).cloned().unwrap_or(Value::Null));
                new.insert(field.clone(), value.clone());
            }
        }
    }
    (Value::Object(old), Value::Object(new))
}

/// Splits `OPS-42` into its project key and number.
pub fn parse_key(key: &str) -> Result<(String, i64), AppError> {
    let not_a_key = || AppError::not_found(format!("\"{key}\" is not an issue key like OPS-42."));
    let (project_key, number) = key.rsplit_once('-').ok_or_else(not_a_key)?;
    let number: i64 = number.parse().map_err(|_| not_a_key())?;
    if project_key.is_empty() || !project_key.chars().all(|c| c.is_ascii_alphanumeric()) || number < 1 {
        return Err(not_a_key());
    }
    Ok((project_key.to_uppercase(), number))
}

/// Finds an issue and its project by key (`OPS-42`).
pub fn find_by_key(conn: &mut PgConnection, key: &str) -> Result<(Project, Issue), AppError> {
    let (project_key, number) = parse_key(key)?;
    issues::table
        .inner_join(projects_table::table)
        .filter(projects_table::key.eq(&project_key).and(issues::number.eq(number)))
        .select((Project::as_select(), Issue::as_select()))
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found(format!("There is no issue {project_key}-{number}.")))
}

/// Like `find_by_key`, but refuses an issue that belongs to another project than the URL says.
pub fn find_in_project(conn: &mut PgConnection, project_key: &str, key: &str) -> Result<(Project, Issue), AppError> {
    let (project, issue) = find_by_key(conn, key)?;
    if !project.key.eq_ignore_ascii_case(project_key) {
        return Err(AppError::not_found(format!("Issue {key} is not in project {}.", project_key.to_uppercase())));
    }
    Ok((project, issue))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_garbage_is_refused() {
        assert_eq!(parse_key("OPS-42").unwrap(), ("OPS".to_owned(), 42));
        assert_eq!(parse_key("ops-7").unwrap(), ("OPS".to_owned(), 7));
        for bad in ["OPS", "OPS-", "-4", "OPS-0", "OPS-x", "OPS--1"] {
            assert!(parse_key(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(clean_title("  Fix it  ").unwrap(), "Fix it");
        assert_eq!(clean_title("   ").unwrap_err().to_string(), "Title is required.");
        let long = "x".repeat(256);
        assert_eq!(clean_title(&long).unwrap_err().to_string(), "Title must be at most 255 characters (it has 256).");
    }
}
