//! Projects: a key (`OPS`) that prefixes its issues' keys, a name, a lead.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::workflows;
use crate::audit::{self, Actor, Change};
use crate::docs::spaces;
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};
use crate::identity::project_roles;
use crate::identity::users::User;
use crate::schema::projects;

#[derive(Clone, Debug, Queryable, Selectable, Identifiable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = projects)]
pub struct Project {
    #[serde(skip)]
    pub id: i64,
    pub key: String,
    pub name: String,
    pub description: String,
    #[serde(skip)]
    pub lead_id: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub permission_scheme_id: i64,
    /// Names the project's workflow as it is now (`Workflow::of`).
    #[serde(skip)]
    pub workflow_epoch: i64,
}

pub struct NewProject {
    pub key: String,
    pub name: String,
    pub description: String,
}

pub const DESCRIPTION_MAX: usize = 10_000;

impl NewProject {
    fn validate(&self) -> Result<(), AppError> {
        check_key("Project", &self.key)?;
        if !(1..=80).contains(&self.name.chars().count()) {
            return Err(AppError::invalid("name", "Project name must be 1 to 80 characters."));
        }
        if self.description.chars().count() > DESCRIPTION_MAX {
            return Err(AppError::invalid(
                "description",
                format!("Description must be at most {DESCRIPTION_MAX} characters."),
            ));
        }
        Ok(())
    }
}

/// Project and space keys: 2 to 10 capitals or digits, starting with a letter. They share one
/// rule because a project's documentation space carries its project's key.
pub fn check_key(what: &str, key: &str) -> Result<(), AppError> {
    let key_ok = (2..=10).contains(&key.len())
        && key.starts_with(|c: char| c.is_ascii_uppercase())
        && key.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if key_ok {
        Ok(())
    } else {
        Err(AppError::invalid(
            "key",
            format!("{what} key must be 2 to 10 upper-case letters or digits, starting with a letter (like OPS)."),
        ))
    }
}

pub fn create(conn: &mut PgConnection, actor: &Actor, lead_id: i64, new: NewProject) -> Result<Project, AppError> {
    let new = NewProject {
        key: new.key.trim().to_uppercase(),
        name: new.name.trim().to_owned(),
        description: new.description,
    };
    new.validate()?;
    conn.transaction(|conn| {
        let taken: i64 = projects::table.filter(projects::key.eq(&new.key)).count().get_result(conn)?;
        if taken > 0 {
            return Err(AppError::conflict("key", format!("A project with key {} already exists.", new.key)));
        }
        spaces::refuse_taken_key(conn, &new.key)?;
        let project: Project = diesel::insert_into(projects::table)
            .values((
                projects::key.eq(&new.key),
                projects::name.eq(&new.name),
                projects::description.eq(&new.description),
                projects::lead_id.eq(lead_id),
            ))
            .returning(Project::as_returning())
            .get_result(conn)?;
        workflows::create_default(conn, project.id)?;
        project_roles::grant_defaults(conn, project.id)?;
        spaces::create_for_project(conn, &project)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "project.created",
                entity_type: "project",
                entity_id: project.id,
                before: None,
                after: Some(json!({ "key": project.key, "name": project.name, "lead_id": lead_id })),
            },
        )?;
        Ok(project)
    })
}

pub fn list(conn: &mut PgConnection) -> QueryResult<Vec<Project>> {
    projects::table.order(projects::key.asc()).select(Project::as_select()).load(conn)
}

/// The projects `reader` may browse, by key.
pub fn visible(conn: &mut PgConnection, reader: &User) -> QueryResult<Vec<Project>> {
    let mut all = list(conn)?;
    all.retain(|project| authorize(reader, Action::ViewProject(project)).is_ok());
    Ok(all)
}

/// Holds the row until the transaction ends, so a check made on the project's settings (an `If-Match`)
/// stays true until the change that depends on it commits.
pub fn lock(conn: &mut PgConnection, project_id: i64) -> QueryResult<()> {
    projects::table.find(project_id).for_update().select(projects::id).first::<i64>(conn).map(drop)
}

pub fn find_by_key(conn: &mut PgConnection, key: &str) -> Result<Project, AppError> {
    projects::table
        .filter(projects::key.eq(key.to_uppercase()))
        .select(Project::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found(format!("There is no project with key {}.", key.to_uppercase())))
}

/// The project `key` names, once `user` is allowed `action` on it (the one permission check).
pub fn find_allowed(
    conn: &mut PgConnection,
    user: &User,
    key: &str,
    action: for<'a> fn(&'a Project) -> Action<'a>,
) -> Result<Project, AppError> {
    let project = find_by_key(conn, key)?;
    authorize(user, action(&project))?;
    Ok(project)
}

/// What a new issue is given before its transaction: its number, and the rank that puts it
/// at the bottom of its project's backlog (two issues created at once may share a rank; the
/// id orders them).
#[derive(QueryableByName)]
pub struct Slot {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub number: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub rank: i64,
}

/// Hands out the next issue number, and the bottom rank with it (one round trip where there
/// were two). The UPDATE takes the project row's lock until the transaction it runs in ends,
/// so concurrent creates get distinct numbers.
///
/// Taken on its own (not inside a caller's transaction), its commit does not wait for the
/// disk (`db::unflushed_when_alone`): the lock is released as soon as the number is counted,
/// not after a flush, and creates in one project queue behind each other that much less.
/// If the machine fails before the issue's own commit, no issue holds the number and handing
/// it out again is harmless.
pub fn take_issue_slot(conn: &mut PgConnection, project_id: i64) -> QueryResult<Slot> {
    let statement = format!(
        "UPDATE projects SET next_issue_number = next_issue_number + 1 WHERE id = $1{} \
          RETURNING next_issue_number - 1 AS number, \
                    coalesce((SELECT max(rank) FROM issues WHERE project_id = $1), 0) + $2 AS rank",
        crate::db::unflushed_when_alone(conn)
    );
    crate::db::Prepared(
        diesel::sql_query(statement)
            .bind::<diesel::sql_types::BigInt, _>(project_id)
            .bind::<diesel::sql_types::BigInt, _>(crate::work::ranking::GAP),
    )
    .get_result(conn)
}
