//! Issues: the model, its rules (title and description limits, an assignee who exists, a
//! status move the workflow allows, the further fields of `issue_fields`), and the
//! create/update/find queries. Listing and filtering live in `issue_list`.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::{Map, Value};

use super::described::{self, Described};
use super::issue_fields::{self, DetailChanges, SetsOf};
use super::kinds::{IssueType, Priority};
use super::projects::{self, Project};
use super::watchers;
use super::workflows::Workflow;
use crate::attachments;
use crate::audit::{self, Actor, Change};
use crate::db::Abort;
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};
use crate::identity::users::User;
use crate::schema::{comments, issues, projects as projects_table, users};

pub const TITLE_MAX: usize = 255;
pub const DESCRIPTION_MAX: usize = 100_000;

#[derive(Clone, Debug, Queryable, QueryableByName, Selectable, Identifiable, Serialize, utoipa::ToSchema)]
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
    #[serde(skip)]
    pub parent_id: Option<i64>,
    pub due_date: Option<NaiveDate>,
    pub story_points: Option<f64>,
    pub estimate_minutes: Option<i32>,
    #[serde(skip)]
    pub fix_version_id: Option<i64>,
    #[serde(skip)]
    pub rank: i64,
    #[serde(skip)]
    pub sprint_id: Option<i64>,
}

/// A new issue, already parsed; `assignee` is a user name, `status` a status name of the
/// project's workflow (`None`: its first status).
#[derive(Clone, Debug)]
pub struct NewIssue {
    pub issue_type: IssueType,
    pub status: Option<String>,
    pub priority: Priority,
    pub title: String,
    pub description: String,
    pub assignee: Option<String>,
    pub details: DetailChanges,
}

/// Changes to an issue: `None` leaves a field as it is; `assignee: Some(None)` unassigns.
#[derive(Clone, Debug, Default)]
pub struct IssueChanges {
    pub issue_type: Option<IssueType>,
    /// A status name; the move must be a transition the workflow allows.
    pub status: Option<String>,
    pub priority: Option<Priority>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub assignee: Option<Option<String>>,
    pub details: DetailChanges,
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
    parent_id: Option<Option<i64>>,
    due_date: Option<Option<NaiveDate>>,
    story_points: Option<Option<f64>>,
    estimate_minutes: Option<Option<i32>>,
    fix_version_id: Option<Option<i64>>,
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

/// A new issue, with what creating it read: enough to answer with the whole issue.
pub struct Created {
    pub issue: Issue,
    pub workflow: Workflow,
    pub described: Described,
}

pub fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    project: &Project,
    reporter_id: i64,
    new: NewIssue,
) -> Result<Created, AppError> {
    let title = clean_title(&new.title)?;
    check_description(&new.description)?;
    // What the issue refers to is checked before its number is taken, and the number is
    // taken in a statement of its own, before the issue's transaction: taken inside it, the
    // project row's lock was held until the issue committed and serialised every create in
    // the project (30 ms of waiting per create at 8 connections). Only a create that fails
    // after its checks (a status removed in between) leaves a gap in the numbers, as a
    // deleted issue does. (Inside a caller's transaction all of it is part of that one.)
    let workflow = Workflow::of(conn, project)?;
    let status_id = match new.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(name) => workflow.find(name)?.id,
        None => workflow.initial()?.id,
    };
    let assignee_id = assignee_id(conn, new.assignee.as_deref())?;
    let details = issue_fields::resolve(conn, project, None, new.issue_type, &new.details)?;
    // New work joins the bottom of the backlog.
    let slot = projects::take_issue_slot(conn, project.id)?;
    conn.transaction(|conn| {
        let issue: Issue = diesel::insert_into(issues::table)
            .values((
                issues::project_id.eq(project.id),
                issues::number.eq(slot.number),
                issues::issue_type.eq(new.issue_type),
                issues::status_id.eq(status_id),
                issues::priority.eq(new.priority),
                issues::title.eq(&title),
                issues::description.eq(&new.description),
                issues::assignee_id.eq(assignee_id),
                issues::reporter_id.eq(reporter_id),
                issues::parent_id.eq(details.parent_id.flatten()),
                issues::due_date.eq(details.due_date.flatten()),
                issues::story_points.eq(details.story_points.flatten()),
                issues::estimate_minutes.eq(details.estimate_minutes.flatten()),
                issues::fix_version_id.eq(details.fix_version_id.flatten()),
                issues::rank.eq(slot.rank),
            ))
            .returning(Issue::as_returning())
            .get_result(conn)?;
        issue_fields::write_sets(conn, issue.id, &details, SetsOf::NewIssue)?;
        // The reporter and the assignee hear about changes from the start.
        let first_watchers: Vec<i64> = [Some(reporter_id), assignee_id].into_iter().flatten().collect();
        watchers::start(conn, issue.id, &first_watchers)?;
        // Read once for the audit record and the creator's answer.
        let described = described::describe(conn, &issue)?;
        let after = issue_fields::snapshot_with(conn, project, &issue, &workflow, &described.details)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "issue.created",
                entity_type: "issue",
                entity_id: issue.id,
                before: None,
                after: Some(after),
            },
        )?;
        Ok(Created { issue, workflow, described })
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
    let attempt = conn.transaction::<Issue, Abort, _>(|conn| {
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
        let issue_type = changes.issue_type.unwrap_or(before.issue_type);
        let details = issue_fields::resolve(conn, project, Some(&before), issue_type, &changes.details)?;
        let old = issue_fields::snapshot(conn, project, &before, &workflow)?;
        let changeset = IssueChangeset {
            issue_type: changes.issue_type,
            status_id,
            priority: changes.priority,
            title,
            description: changes.description.clone(),
            assignee_id,
            parent_id: details.parent_id,
            due_date: details.due_date,
            story_points: details.story_points,
            estimate_minutes: details.estimate_minutes,
            fix_version_id: details.fix_version_id,
            updated_at: Utc::now(),
        };
        let after: Issue = diesel::update(issues::table.find(issue_id))
            .set(&changeset)
            .returning(Issue::as_returning())
            .get_result(conn)?;
        issue_fields::write_sets(conn, issue_id, &details, SetsOf::Existing)?;
        // A new assignee hears about the issue from now on, as the first one did.
        if let Some(assignee) = after.assignee_id.filter(|id| Some(*id) != before.assignee_id) {
            watchers::start(conn, issue_id, &[assignee])?;
        }
        let new = issue_fields::snapshot(conn, project, &after, &workflow)?;
        let (old, new) = changed_fields(&old, &new);
        if new.as_object().is_some_and(|fields| fields.len() <= 1) {
            // Nothing changed: roll back, so that nothing is recorded either.
            return Err(Abort::Deliberately(()));
        }
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
    });
    match attempt {
        Ok(issue) => Ok(issue),
        Err(Abort::Deliberately(())) => Ok(issues::table.find(issue_id).select(Issue::as_select()).first(conn)?),
        Err(Abort::Failed(error)) => Err(error),
    }
}

/// Deletes an issue for good: its comments, history, links, work log and watchers go with
/// the row, its files by job. The audit row keeps what it was (and its project, so the
/// project's audit trail still shows it). An issue with sub-issues is refused: they would lose
/// their parent without anyone deciding where they belong.
pub fn delete(conn: &mut PgConnection, actor: &Actor, project: &Project, issue_id: i64) -> Result<(), AppError> {
    conn.transaction(|conn| {
        let issue: Issue = issues::table.find(issue_id).for_update().select(Issue::as_select()).first(conn)?;
        let key = format!("{}-{}", project.key, issue.number);
        let children: Vec<i64> = issues::table
            .filter(issues::parent_id.eq(issue.id))
            .select(issues::number)
            .order(issues::number)
            .load(conn)?;
        if !children.is_empty() {
            let keys: Vec<String> = children.iter().map(|number| format!("{}-{number}", project.key)).collect();
            return Err(AppError::conflict(
                "issue",
                format!("{key} has sub-issues ({}); delete them or give them another parent first.", keys.join(", ")),
            ));
        }
        for (attachment, _) in attachments::of_owner(conn, attachments::Owner::Issue(issue.id))? {
            attachments::delete(conn, actor, &attachment)?;
        }
        let workflow = Workflow::load(conn, project.id)?;
        let mut before = issue_fields::snapshot(conn, project, &issue, &workflow)?;
        before["project_id"] = Value::from(project.id);
        // The comments' own audit rows name only their ids: these keep them in the project's trail.
        let comment_ids: Vec<i64> = comments::table
            .filter(comments::issue_id.eq(issue.id))
            .select(comments::id)
            .order(comments::id)
            .load(conn)?;
        before["comment_ids"] = Value::from(comment_ids);
        diesel::delete(issues::table.find(issue.id)).execute(conn)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "issue.deleted",
                entity_type: "issue",
                entity_id: issue.id,
                before: Some(before),
                after: None,
            },
        )?;
        Ok(())
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

/// Holds the row until the transaction ends, so a check made on the issue (an `If-Match`)
/// stays true until the change that depends on it commits.
pub fn lock(conn: &mut PgConnection, issue_id: i64) -> QueryResult<()> {
    issues::table.find(issue_id).for_update().select(issues::id).first::<i64>(conn).map(drop)
}

/// An issue by key, when `user` may edit it (404 or 403 otherwise, as `authorize` decides).
pub fn find_editable(conn: &mut PgConnection, user: &User, key: &str) -> Result<(Project, Issue), AppError> {
    let (project, issue) = find_by_key(conn, key)?;
    authorize_on(user, &project, &issue, |p, i| Action::EditIssue(p, i))?;
    Ok((project, issue))
}

/// Asks `authorize` about an issue; a project the user may not see hides the issue with the
/// same sentence as an issue that does not exist, so keys leak nothing either.
pub fn authorize_on(
    user: &User,
    project: &Project,
    issue: &Issue,
    action: for<'a> fn(&'a Project, &'a Issue) -> Action<'a>,
) -> Result<(), AppError> {
    authorize(user, action(project, issue)).map_err(|error| match error {
        AppError::NotFound(_) => AppError::not_found(format!("There is no issue {}-{}.", project.key, issue.number)),
        other => other,
    })
}

/// An issue and its project by the issue's id.
pub fn find_by_id(conn: &mut PgConnection, issue_id: i64) -> Result<(Project, Issue), AppError> {
    let issue: Issue = issues::table
        .find(issue_id)
        .select(Issue::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found(format!("There is no issue {issue_id}.")))?;
    let project = projects_table::table.find(issue.project_id).select(Project::as_select()).first(conn)?;
    Ok((project, issue))
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
