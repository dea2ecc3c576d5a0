//! Sprints: planned, then active (one per project at a time), then closed. Completing a
//! sprint moves its unfinished issues to the backlog or to a planned sprint, in the same
//! transaction as the completion.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::issues::Issue;
use super::kinds::StatusCategory;
use super::projects::Project;
use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::schema::{issues, sprints, workflow_statuses};

pub const NAME_MAX: usize = 60;
pub const GOAL_MAX: usize = 1000;

#[derive(Clone, Debug, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = sprints)]
pub struct Sprint {
    pub id: i64,
    #[serde(skip)]
    pub project_id: i64,
    pub name: String,
    pub goal: String,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
    /// planned, active or closed.
    pub state: String,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl Sprint {
    pub fn is_active(&self) -> bool {
        self.state == "active"
    }

    pub fn is_planned(&self) -> bool {
        self.state == "planned"
    }
}

pub struct NewSprint {
    pub name: String,
    pub goal: String,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
}

impl NewSprint {
    fn validate(&self) -> Result<(), AppError> {
        if !(1..=NAME_MAX).contains(&self.name.trim().chars().count()) {
            return Err(AppError::invalid("name", format!("A sprint name must be 1 to {NAME_MAX} characters.")));
        }
        if self.goal.chars().count() > GOAL_MAX {
            return Err(AppError::invalid("goal", format!("A sprint goal must be at most {GOAL_MAX} characters.")));
        }
        if let (Some(start), Some(end)) = (self.starts_on, self.ends_on) {
            if end < start {
                return Err(AppError::invalid(
                    "ends_on",
                    format!("The sprint ends ({end}) before it starts ({start})."),
                ));
            }
        }
        Ok(())
    }
}

fn record(
    conn: &mut PgConnection,
    actor: &Actor,
    sprint: &Sprint,
    action: &str,
    after: serde_json::Value,
) -> QueryResult<()> {
    audit::record(
        conn,
        actor,
        Change { action, entity_type: "sprint", entity_id: sprint.id, before: None, after: Some(after) },
    )
}

pub fn create(conn: &mut PgConnection, actor: &Actor, project: &Project, new: NewSprint) -> Result<Sprint, AppError> {
    new.validate()?;
    conn.transaction(|conn| {
        let sprint: Sprint = diesel::insert_into(sprints::table)
            .values((
                sprints::project_id.eq(project.id),
                sprints::name.eq(new.name.trim()),
                sprints::goal.eq(new.goal.trim()),
                sprints::starts_on.eq(new.starts_on),
                sprints::ends_on.eq(new.ends_on),
            ))
            .returning(Sprint::as_returning())
            .get_result(conn)?;
        record(conn, actor, &sprint, "sprint.created", json!({ "name": sprint.name, "goal": sprint.goal }))?;
        Ok(sprint)
    })
}

/// The project's sprints that are not closed: the active one first, then planned ones.
pub fn open_sprints(conn: &mut PgConnection, project_id: i64) -> QueryResult<Vec<Sprint>> {
    sprints::table
        .filter(sprints::project_id.eq(project_id).and(sprints::state.ne("closed")))
        .order((sprints::state.asc(), sprints::starts_on.asc().nulls_last(), sprints::id.asc()))
        .select(Sprint::as_select())
        .load(conn)
}

pub fn find(conn: &mut PgConnection, project: &Project, sprint_id: i64) -> Result<Sprint, AppError> {
    sprints::table
        .filter(sprints::id.eq(sprint_id).and(sprints::project_id.eq(project.id)))
        .select(Sprint::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found(format!("There is no sprint {sprint_id} in {}.", project.key)))
}

/// Starts a planned sprint; a project runs one sprint at a time.
pub fn start(conn: &mut PgConnection, actor: &Actor, project: &Project, sprint_id: i64) -> Result<Sprint, AppError> {
    conn.transaction(|conn| {
        let sprint = find(conn, project, sprint_id)?;
        if !sprint.is_planned() {
            return Err(AppError::invalid(
                "sprint",
                format!("{} is {}; only a planned sprint can start.", sprint.name, sprint.state),
            ));
        }
        let running: Option<String> = sprints::table
            .filter(sprints::project_id.eq(project.id).and(sprints::state.eq("active")))
            .select(sprints::name)
            .first(conn)
            .optional()?;
        if let Some(running) = running {
            return Err(AppError::invalid(
                "sprint",
                format!("{running} is still active; complete it before starting {}.", sprint.name),
            ));
        }
        let today = Utc::now().date_naive();
        let started: Sprint = diesel::update(sprints::table.find(sprint.id))
            .set((
                sprints::state.eq("active"),
                sprints::started_at.eq(Utc::now()),
                sprints::starts_on.eq(sprint.starts_on.unwrap_or(today)),
            ))
            .returning(Sprint::as_returning())
            .get_result(conn)?;
        record(conn, actor, &started, "sprint.started", json!({ "name": started.name }))?;
        Ok(started)
    })
}

/// What completing a sprint did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Completion {
    pub done: i64,
    pub moved: i64,
    /// The planned sprint that received the unfinished issues; `None`: the backlog.
    pub moved_to: Option<String>,
}

/// Completes the active sprint; its unfinished issues go to planned sprint `move_to`, or to
/// the backlog.
pub fn complete(
    conn: &mut PgConnection,
    actor: &Actor,
    project: &Project,
    sprint_id: i64,
    move_to: Option<i64>,
) -> Result<Completion, AppError> {
    conn.transaction(|conn| {
        let sprint = find(conn, project, sprint_id)?;
        if !sprint.is_active() {
            return Err(AppError::invalid(
                "sprint",
                format!("{} is {}; only the active sprint can be completed.", sprint.name, sprint.state),
            ));
        }
        let target = match move_to {
            None => None,
            Some(id) => {
                let target = find(conn, project, id).map_err(|_| {
                    AppError::invalid("move_to", format!("There is no sprint {id} in {}.", project.key))
                })?;
                if !target.is_planned() {
                    return Err(AppError::invalid(
                        "move_to",
                        format!(
                            "Unfinished issues can only move to a planned sprint; {} is {}.",
                            target.name, target.state
                        ),
                    ));
                }
                Some(target)
            }
        };
        let done_statuses: Vec<i64> = workflow_statuses::table
            .filter(
                workflow_statuses::project_id.eq(project.id).and(workflow_statuses::category.eq(StatusCategory::Done)),
            )
            .select(workflow_statuses::id)
            .load(conn)?;
        let done: i64 = issues::table
            .filter(issues::sprint_id.eq(sprint.id).and(issues::status_id.eq_any(&done_statuses)))
            .count()
            .get_result(conn)?;
        // Whoever had work in the sprint hears that it completed, moved issues included.
        let assignees: Vec<i64> = issues::table
            .filter(issues::sprint_id.eq(sprint.id))
            .filter(issues::assignee_id.is_not_null())
            .select(issues::assignee_id.assume_not_null())
            .distinct()
            .load(conn)?;
        let unfinished: Vec<i64> = issues::table
            .filter(issues::sprint_id.eq(sprint.id))
            .filter(diesel::dsl::not(issues::status_id.eq_any(&done_statuses)))
            .select(issues::id)
            .load(conn)?;
        diesel::update(issues::table.filter(issues::id.eq_any(&unfinished)))
            .set((issues::sprint_id.eq(target.as_ref().map(|t| t.id)), issues::updated_at.eq(Utc::now())))
            .execute(conn)?;
        // Each moved issue's history says where it went.
        let destination = target.as_ref().map_or("the backlog".to_owned(), |t| t.name.clone());
        for issue_id in &unfinished {
            audit::record(
                conn,
                actor,
                Change {
                    action: "issue.sprint_changed",
                    entity_type: "issue",
                    entity_id: *issue_id,
                    before: Some(json!({ "sprint": sprint.name })),
                    after: Some(json!({ "sprint": destination })),
                },
            )?;
        }
        let moved = unfinished.len() as i64;
        let closed: Sprint = diesel::update(sprints::table.find(sprint.id))
            .set((sprints::state.eq("closed"), sprints::completed_at.eq(Utc::now())))
            .returning(Sprint::as_returning())
            .get_result(conn)?;
        let completion = Completion { done, moved, moved_to: target.map(|t| t.name) };
        record(
            conn,
            actor,
            &closed,
            "sprint.completed",
            json!({ "name": closed.name, "result": completion, "assignees": assignees }),
        )?;
        Ok(completion)
    })
}

/// Puts `issue` in sprint `sprint_id`, or in the backlog (`None`), inside the caller's
/// transaction, with its audit record.
pub fn put(
    conn: &mut PgConnection,
    actor: &Actor,
    project: &Project,
    issue: &Issue,
    sprint_id: Option<i64>,
) -> Result<(), AppError> {
    if issue.sprint_id == sprint_id {
        return Ok(());
    }
    let name = match sprint_id {
        None => "the backlog".to_owned(),
        Some(id) => {
            let sprint = find(conn, project, id)
                .map_err(|_| AppError::invalid("sprint", format!("There is no sprint {id} in {}.", project.key)))?;
            if sprint.state == "closed" {
                return Err(AppError::invalid(
                    "sprint",
                    format!("{} is closed; choose an active or planned sprint.", sprint.name),
                ));
            }
            sprint.name
        }
    };
    diesel::update(issues::table.find(issue.id))
        .set((issues::sprint_id.eq(sprint_id), issues::updated_at.eq(Utc::now())))
        .execute(conn)?;
    audit::record(
        conn,
        actor,
        Change {
            action: "issue.sprint_changed",
            entity_type: "issue",
            entity_id: issue.id,
            before: None,
            after: Some(json!({ "sprint": name })),
        },
    )?;
    Ok(())
}
