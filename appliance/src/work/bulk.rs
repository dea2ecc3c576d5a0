//! Bulk edit: one change (a transition, an assignee, labels to add, a sprint) applied to many
//! issues of a project in one transaction, with a result for each issue. By default a single
//! refusal writes nothing; the caller may choose to skip refused issues instead.

use diesel::prelude::*;
use serde::Serialize;

use super::issue_fields::{self, DetailChanges, Details};
use super::issues::{self, IssueChanges};
use super::projects::Project;
use super::sprints;
use crate::audit::Actor;
use crate::db::Abort;
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};
use crate::identity::users::User;

pub const ISSUES_MAX: usize = 500;

/// The change to make; each part is optional, at least one is needed.
#[derive(Clone, Debug, Default)]
pub struct BulkChange {
    pub status: Option<String>,
    /// `Some(None)` unassigns.
    pub assignee: Option<Option<String>>,
    pub add_labels: Vec<String>,
    /// `Some(None)` moves to the backlog.
    pub sprint: Option<Option<i64>>,
}

impl BulkChange {
    fn is_empty(&self) -> bool {
        self.status.is_none() && self.assignee.is_none() && self.add_labels.is_empty() && self.sprint.is_none()
    }
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Outcome {
    pub key: String,
    /// changed, unchanged, refused or skipped.
    pub result: &'static str,
    pub message: Option<String>,
}

/// Why a bulk edit wrote nothing: the outcomes, with the refusals that stopped it.
#[derive(Debug)]
pub struct Refused(pub Vec<Outcome>);

/// A bulk edit changes issues whoever reported them, so it needs the right to edit every
/// issue, and to move issues when it changes their status.
pub fn authorize_change(user: &User, project: &Project, change: &BulkChange) -> Result<(), AppError> {
    authorize(user, Action::EditAllIssues(project))?;
    if change.status.is_some() {
        authorize(user, Action::TransitionIssue(project))?;
    }
    Ok(())
}

/// Applies `change` to the issues `keys` of `project`.
pub fn apply(
    conn: &mut PgConnection,
    actor: &Actor,
    project: &Project,
    keys: &[String],
    change: &BulkChange,
    skip_refused: bool,
) -> Result<Result<Vec<Outcome>, Refused>, AppError> {
    if change.is_empty() {
        return Err(AppError::invalid(
            "change",
            "Choose what to change: a status, an assignee, labels to add or a sprint.",
        ));
    }
    if keys.is_empty() {
        return Err(AppError::invalid("issues", "Select at least one issue."));
    }
    if keys.len() > ISSUES_MAX {
        return Err(AppError::invalid("issues", format!("A bulk edit changes at most {ISSUES_MAX} issues at once.")));
    }
    let labels = issue_fields::clean_labels(&change.add_labels)?;
    let mut outcomes = Vec::with_capacity(keys.len());
    let mut refused = false;
    let result = conn.transaction::<_, Abort, _>(|conn| {
        for key in keys {
            // Each issue in a savepoint of its own, so that a refusal undoes only its part.
            let one = conn.transaction::<bool, AppError, _>(|conn| {
                let (issue_project, issue) = issues::find_by_key(conn, key)?;
                if issue_project.id != project.id {
                    return Err(AppError::invalid("issues", format!("{key} is not in {}.", project.key)));
                }
                let before = issue.updated_at;
                let mut details = DetailChanges::default();
                if !labels.is_empty() {
                    let Details { labels: mut current, .. } = issue_fields::details_of(conn, &issue)?;
                    current.extend(labels.iter().cloned());
                    details.labels = Some(current);
                }
                let changes = IssueChanges {
                    status: change.status.clone(),
                    assignee: change.assignee.clone(),
                    details,
                    ..IssueChanges::default()
                };
                let updated = issues::update(conn, actor, project, issue.id, changes)?;
                let mut changed = updated.updated_at != before;
                if let Some(sprint) = change.sprint {
                    changed |= updated.sprint_id != sprint;
                    sprints::put(conn, actor, project, &updated, sprint)?;
                }
                Ok(changed)
            });
            let key = key.trim().to_uppercase();
            match one {
                Ok(changed) => {
                    outcomes.push(Outcome { key, result: if changed { "changed" } else { "unchanged" }, message: None })
                }
                Err(error @ (AppError::Invalid { .. } | AppError::NotFound(_) | AppError::Conflict { .. })) => {
                    refused = true;
                    let result = if skip_refused { "skipped" } else { "refused" };
                    outcomes.push(Outcome { key, result, message: Some(error.to_string()) });
                }
                Err(other) => return Err(Abort::Failed(other)),
            }
        }
        if refused && !skip_refused {
            // Undo everything: nothing is written unless the caller chose to skip refusals.
            return Err(Abort::Deliberately(()));
        }
        Ok(())
    });
    match result {
        Ok(()) => Ok(Ok(outcomes)),
        Err(Abort::Deliberately(())) => Ok(Err(Refused(outcomes))),
        Err(Abort::Failed(error)) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_change_is_no_change() {
        assert!(BulkChange::default().is_empty());
        assert!(!BulkChange { sprint: Some(None), ..BulkChange::default() }.is_empty());
    }
}
