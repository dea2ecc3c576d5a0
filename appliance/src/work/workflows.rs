//! Workflows: a project's statuses, each in a category (to do, in progress, done), and the
//! transitions allowed between them. Issue updates, boards and bulk edits all ask
//! `Workflow::check_transition`, so a move the workflow forbids is refused the same way
//! everywhere. A project administrator edits the workflow with `save`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt};
use serde::Serialize;
use serde_json::{json, Value};

use super::kinds::StatusCategory;
use super::projects::Project;
use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::schema::{issues, workflow_statuses, workflow_transitions};

pub const NAME_MAX: usize = 40;
pub const STATUSES_MAX: usize = 30;

#[derive(Clone, Debug, Queryable, Selectable, Serialize, PartialEq, Eq)]
#[diesel(table_name = workflow_statuses)]
pub struct WorkflowStatus {
    pub id: i64,
    #[serde(skip)]
    pub project_id: i64,
    pub name: String,
    pub category: StatusCategory,
    pub position: i32,
    pub wip_limit: Option<i32>,
}

/// The statuses of a new project, in board order, and the moves allowed between them: work
/// flows forward, can step back one stage, and a done issue can be reopened.
const DEFAULT_STATUSES: [(&str, StatusCategory); 4] = [
    ("To do", StatusCategory::Todo),
    ("In progress", StatusCategory::InProgress),
    ("In review", StatusCategory::InProgress),
    ("Done", StatusCategory::Done),
];
const DEFAULT_TRANSITIONS: [(usize, usize); 8] = [(0, 1), (0, 3), (1, 0), (1, 2), (1, 3), (2, 1), (2, 3), (3, 0)];

/// Status names match ignoring case, spaces, `_` and `-`, so `todo` finds "To do" and
/// `in_progress` finds "In progress" in URLs, OQL and the API.
pub fn normalized(name: &str) -> String {
    name.chars().filter(|c| !(c.is_whitespace() || *c == '_' || *c == '-')).flat_map(char::to_lowercase).collect()
}

/// Each project's workflow as this node last read it, with the epoch that names it. Kept for
/// every project read since start (a few statuses each); a deleted project's copy is never
/// asked for again.
static KNOWN: Mutex<BTreeMap<i64, (i64, Workflow)>> = Mutex::new(BTreeMap::new());

fn known(project_id: i64, epoch: i64) -> Option<Workflow> {
    let kept = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    kept.get(&project_id).filter(|(at, _)| *at == epoch).map(|(_, workflow)| workflow.clone())
}

fn keep(project_id: i64, epoch: i64, workflow: &Workflow) {
    KNOWN.lock().unwrap_or_else(|e| e.into_inner()).insert(project_id, (epoch, workflow.clone()));
}

#[derive(Clone, Debug)]
pub struct Workflow {
    pub project_id: i64,
    /// In board order; the first is where new issues start.
    pub statuses: Vec<WorkflowStatus>,
    transitions: HashSet<(i64, i64)>,
}

impl Workflow {
    /// The workflow of project `project_id` as it is now.
    pub fn load(conn: &mut PgConnection, project_id: i64) -> QueryResult<Workflow> {
        Ok(Workflow::read(conn, project_id)?.0)
    }

    /// The workflow of `project` as its row names it (`Project::workflow_epoch`): this
    /// node's copy when it holds that epoch, else read and kept. For a project row read just
    /// before, and not after a change to its workflow in the same transaction: the row's
    /// epoch would be the old one.
    pub fn of(conn: &mut PgConnection, project: &Project) -> QueryResult<Workflow> {
        if let Some(workflow) = known(project.id, project.workflow_epoch) {
            return Ok(workflow);
        }
        let (workflow, epoch) = Workflow::read(conn, project.id)?;
        if let Some(epoch) = epoch {
            keep(project.id, epoch, &workflow);
        }
        Ok(workflow)
    }

    /// The workflow and the epoch that names it, from one snapshot (`None` for a project
    /// without statuses).
    fn read(conn: &mut PgConnection, project_id: i64) -> QueryResult<(Workflow, Option<i64>)> {
        // Each status with the statuses it leads to, in one statement. (By the project rather
        // than `= ANY(status ids)`, which PostgreSQL plans anew on every call.)
        let targets = diesel::dsl::sql::<Array<BigInt>>(
            "ARRAY(SELECT t.to_status_id FROM workflow_transitions t WHERE t.from_status_id = workflow_statuses.id)",
        );
        let epoch = diesel::dsl::sql::<BigInt>(
            "(SELECT p.workflow_epoch FROM projects p WHERE p.id = workflow_statuses.project_id)",
        );
        let rows: Vec<(WorkflowStatus, Vec<i64>, i64)> = crate::db::Prepared(
            workflow_statuses::table
                .filter(workflow_statuses::project_id.eq(project_id))
                .order((workflow_statuses::position.asc(), workflow_statuses::id.asc()))
                .select((WorkflowStatus::as_select(), targets, epoch)),
        )
        .load(conn)?;
        let epoch = rows.first().map(|(_, _, epoch)| *epoch);
        let transitions =
            rows.iter().flat_map(|(status, targets, _)| targets.iter().map(|target| (status.id, *target))).collect();
        let statuses = rows.into_iter().map(|(status, _, _)| status).collect();
        Ok((Workflow { project_id, statuses, transitions }, epoch))
    }

    pub fn initial(&self) -> Result<&WorkflowStatus, AppError> {
        self.statuses.first().ok_or_else(|| AppError::internal("a project has a workflow without statuses"))
    }

    pub fn status(&self, id: i64) -> Result<&WorkflowStatus, AppError> {
        self.statuses
            .iter()
            .find(|s| s.id == id)
            .ok_or_else(|| AppError::internal(format!("status {id} is not in the workflow")))
    }

    /// The status called `name`, or an error naming the status field and the choices.
    pub fn find(&self, name: &str) -> Result<&WorkflowStatus, AppError> {
        let wanted = normalized(name);
        self.statuses.iter().find(|s| normalized(&s.name) == wanted).ok_or_else(|| {
            AppError::invalid(
                "status",
                format!("Unknown status \"{}\"; this project's statuses are: {}.", name.trim(), self.names()),
            )
        })
    }

    fn names(&self) -> String {
        self.statuses.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
    }

    pub fn allows(&self, from: i64, to: i64) -> bool {
        from == to || self.transitions.contains(&(from, to))
    }

    /// The statuses an issue in `from` may move to, in board order.
    pub fn targets(&self, from: i64) -> impl Iterator<Item = &WorkflowStatus> {
        self.statuses.iter().filter(move |s| s.id != from && self.transitions.contains(&(from, s.id)))
    }

    /// Refuses a move the workflow does not allow, saying where the issue may go instead.
    pub fn check_transition(&self, issue_key: &str, from: i64, to: i64) -> Result<(), AppError> {
        if self.allows(from, to) {
            return Ok(());
        }
        let (from_name, to_name) = (&self.status(from)?.name, &self.status(to)?.name);
        let allowed: Vec<&str> = self.targets(from).map(|s| s.name.as_str()).collect();
        let choices = if allowed.is_empty() { "none".to_owned() } else { allowed.join(", ") };
        Err(AppError::invalid(
            "status",
            format!("The workflow does not allow moving {issue_key} from {from_name} to {to_name}; from {from_name} it can move to: {choices}."),
        ))
    }

    /// The ids of the statuses in `categories`, for "open" filters and boards.
    pub fn ids_in(&self, categories: &[StatusCategory]) -> Vec<i64> {
        self.statuses.iter().filter(|s| categories.contains(&s.category)).map(|s| s.id).collect()
    }

    /// The workflow as the audit log records it: statuses by name, transitions as name pairs.
    fn audit_state(&self) -> Value {
        let name = |id: i64| self.statuses.iter().find(|s| s.id == id).map_or("?", |s| s.name.as_str());
        let mut transitions: Vec<(&str, &str)> = self.transitions.iter().map(|(f, t)| (name(*f), name(*t))).collect();
        transitions.sort_unstable();
        json!({
            "statuses": self.statuses.iter().map(|s| json!({ "name": s.name, "category": s.category, "wip_limit": s.wip_limit })).collect::<Vec<_>>(),
            "transitions": transitions,
        })
    }
}

/// Gives a new project the default workflow; part of the project's creating transaction.
pub fn create_default(conn: &mut PgConnection, project_id: i64) -> QueryResult<()> {
    let mut ids = Vec::with_capacity(DEFAULT_STATUSES.len());
    for (position, (name, category)) in DEFAULT_STATUSES.iter().enumerate() {
        let id: i64 = diesel::insert_into(workflow_statuses::table)
            .values((
                workflow_statuses::project_id.eq(project_id),
                workflow_statuses::name.eq(name),
                workflow_statuses::category.eq(category),
                workflow_statuses::position.eq(position as i32),
            ))
            .returning(workflow_statuses::id)
            .get_result(conn)?;
        ids.push(id);
    }
    let rows: Vec<_> = DEFAULT_TRANSITIONS
        .iter()
        .map(|(from, to)| {
            (workflow_transitions::from_status_id.eq(ids[*from]), workflow_transitions::to_status_id.eq(ids[*to]))
        })
        .collect();
    diesel::insert_into(workflow_transitions::table).values(rows).execute(conn)?;
    Ok(())
}

/// One row of the workflow editor: an existing status (`id`) or a new one.
#[derive(Clone, Debug)]
pub struct StatusDraft {
    pub id: Option<i64>,
    pub name: String,
    pub category: StatusCategory,
    pub wip_limit: Option<i32>,
    pub remove: bool,
}

/// The whole workflow as the editor submits it: statuses in board order, and the allowed
/// transitions as pairs of indexes into `statuses`.
#[derive(Clone, Debug)]
pub struct WorkflowDraft {
    pub statuses: Vec<StatusDraft>,
    pub transitions: Vec<(usize, usize)>,
}

impl WorkflowDraft {
    fn validate(&self) -> Result<(), AppError> {
        let kept: Vec<&StatusDraft> = self.statuses.iter().filter(|s| !s.remove).collect();
        if kept.is_empty() {
            return Err(AppError::invalid("statuses", "A workflow needs at least one status."));
        }
        if kept.len() > STATUSES_MAX {
            return Err(AppError::invalid("statuses", format!("A workflow can have at most {STATUSES_MAX} statuses.")));
        }
        if !kept.iter().any(|s| s.category == StatusCategory::Done) {
            return Err(AppError::invalid(
                "statuses",
                "A workflow needs at least one status in the Done category, or no issue could ever be finished.",
            ));
        }
        let mut seen = HashSet::new();
        for status in &kept {
            let length = status.name.trim().chars().count();
            if length == 0 || length > NAME_MAX {
                return Err(AppError::invalid("statuses", format!("Status names must be 1 to {NAME_MAX} characters.")));
            }
            if !seen.insert(normalized(&status.name)) {
                return Err(AppError::invalid(
                    "statuses",
                    format!("There are two statuses named \"{}\".", status.name.trim()),
                ));
            }
            if status.wip_limit.is_some_and(|limit| !(1..=999).contains(&limit)) {
                return Err(AppError::invalid(
                    "statuses",
                    format!(
                        "The WIP limit of \"{}\" must be a whole number from 1 to 999, or empty.",
                        status.name.trim()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Replaces the workflow of `project` with `draft` in one transaction with its audit record.
/// A status that still holds issues cannot be removed.
pub fn save(
    conn: &mut PgConnection,
    actor: &Actor,
    project: &Project,
    draft: WorkflowDraft,
) -> Result<Workflow, AppError> {
    draft.validate()?;
    conn.transaction(|conn| {
        let before = Workflow::load(conn, project.id)?;
        let mut ids: Vec<Option<i64>> = Vec::with_capacity(draft.statuses.len());
        let mut position = 0;
        for status in &draft.statuses {
            if let Some(id) = status.id {
                let known = before.statuses.iter().find(|s| s.id == id).ok_or_else(|| {
                    AppError::invalid("statuses", format!("Status {id} is not part of this project's workflow."))
                })?;
                if status.remove {
                    let in_use: i64 = issues::table.filter(issues::status_id.eq(id)).count().get_result(conn)?;
                    if in_use > 0 {
                        return Err(AppError::invalid(
                            "statuses",
                            format!(
                                "\"{}\" still holds {in_use} issue(s); move them to another status before removing it.",
                                known.name
                            ),
                        ));
                    }
                    diesel::delete(workflow_statuses::table.find(id)).execute(conn)?;
                    ids.push(None);
                    continue;
                }
                diesel::update(workflow_statuses::table.find(id))
                    .set((
                        workflow_statuses::name.eq(status.name.trim()),
                        workflow_statuses::category.eq(status.category),
                        workflow_statuses::wip_limit.eq(status.wip_limit),
                        workflow_statuses::position.eq(position),
                    ))
                    .execute(conn)?;
                ids.push(Some(id));
            } else if status.remove {
                ids.push(None);
                continue;
            } else {
                let id: i64 = diesel::insert_into(workflow_statuses::table)
                    .values((
                        workflow_statuses::project_id.eq(project.id),
                        workflow_statuses::name.eq(status.name.trim()),
                        workflow_statuses::category.eq(status.category),
                        workflow_statuses::wip_limit.eq(status.wip_limit),
                        workflow_statuses::position.eq(position),
                    ))
                    .returning(workflow_statuses::id)
                    .get_result(conn)?;
                ids.push(Some(id));
            }
            position += 1;
        }
        let kept: Vec<i64> = ids.iter().flatten().copied().collect();
        diesel::delete(workflow_transitions::table.filter(workflow_transitions::from_status_id.eq_any(&kept)))
            .execute(conn)?;
        let mut pairs: Vec<(i64, i64)> = draft
            .transitions
            .iter()
            .filter_map(|(from, to)| Some((ids.get(*from).copied().flatten()?, ids.get(*to).copied().flatten()?)))
            .filter(|(from, to)| from != to)
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        let rows: Vec<_> = pairs
            .iter()
            .map(|(from, to)| {
                (workflow_transitions::from_status_id.eq(from), workflow_transitions::to_status_id.eq(to))
            })
            .collect();
        diesel::insert_into(workflow_transitions::table).values(rows).execute(conn)?;
        let after = Workflow::load(conn, project.id)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "workflow.updated",
                entity_type: "project",
                entity_id: project.id,
                before: Some(before.audit_state()),
                after: Some(after.audit_state()),
            },
        )?;
        Ok(after)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workflow() -> Workflow {
        let status = |id: i64, name: &str, category| WorkflowStatus {
            id,
            project_id: 1,
            name: name.to_owned(),
            category,
            position: id as i32,
            wip_limit: None,
        };
        Workflow {
            project_id: 1,
            statuses: vec![
                status(1, "To do", StatusCategory::Todo),
                status(2, "In progress", StatusCategory::InProgress),
                status(3, "Done", StatusCategory::Done),
            ],
            transitions: [(1, 2), (2, 3)].into_iter().collect(),
        }
    }

    #[test]
    fn names_match_ignoring_case_and_separators() {
        let workflow = workflow();
        assert_eq!(workflow.find("in_progress").unwrap().id, 2);
        assert_eq!(workflow.find("  IN-PROGRESS ").unwrap().id, 2);
        assert_eq!(workflow.find("todo").unwrap().id, 1);
        let error = workflow.find("closed").unwrap_err();
        assert_eq!(error.field(), Some("status"));
        assert_eq!(
            error.to_string(),
            "Unknown status \"closed\"; this project's statuses are: To do, In progress, Done."
        );
    }

    #[test]
    fn forbidden_moves_say_where_the_issue_may_go() {
        let workflow = workflow();
        assert!(workflow.check_transition("OPS-1", 1, 2).is_ok());
        assert!(workflow.check_transition("OPS-1", 1, 1).is_ok(), "staying put is always allowed");
        assert_eq!(
            workflow.check_transition("OPS-1", 1, 3).unwrap_err().to_string(),
            "The workflow does not allow moving OPS-1 from To do to Done; from To do it can move to: In progress."
        );
        assert_eq!(
            workflow.check_transition("OPS-1", 3, 1).unwrap_err().to_string(),
            "The workflow does not allow moving OPS-1 from Done to To do; from Done it can move to: none."
        );
    }

    #[test]
    fn drafts_are_validated_before_anything_is_written() {
        let draft = |names: &[(&str, StatusCategory)]| WorkflowDraft {
            statuses: names
                .iter()
                .map(|(name, category)| StatusDraft {
                    id: None,
                    name: (*name).to_owned(),
                    category: *category,
                    wip_limit: None,
                    remove: false,
                })
                .collect(),
            transitions: Vec::new(),
        };
        let no_done = draft(&[("Open", StatusCategory::Todo)]).validate().unwrap_err();
        assert!(no_done.to_string().contains("Done category"), "{no_done}");
        let twins = draft(&[("Open", StatusCategory::Todo), ("open", StatusCategory::Done)]).validate().unwrap_err();
        assert_eq!(twins.to_string(), "There are two statuses named \"open\".");
        let blank = draft(&[(" ", StatusCategory::Done)]).validate().unwrap_err();
        assert_eq!(blank.to_string(), "Status names must be 1 to 40 characters.");
        assert!(draft(&[("Open", StatusCategory::Todo), ("Closed", StatusCategory::Done)]).validate().is_ok());
    }
}
