//! Documentation spaces: one made with each project (same key and name), plus standalone
//! spaces an administrator creates (a handbook, runbooks shared by several teams).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};
use crate::identity::users::User;
use crate::schema::{pages, spaces};
use crate::work::projects::{check_key, Project};

const DESCRIPTION_MAX: usize = 2000;

#[derive(Clone, Debug, Queryable, Selectable, Serialize)]
#[diesel(table_name = spaces)]
pub struct Space {
    pub id: i64,
    pub key: String,
    pub name: String,
    pub description: String,
    /// The project this space documents; `None` for a standalone space.
    pub project_id: Option<i64>,
    #[serde(skip)]
    pub created_by: i64,
    pub created_at: DateTime<Utc>,
}

/// A standalone space as typed into the form.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct NewSpace {
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
}

/// Refuses `key` when a space already has it: a standalone space and a project may not share a
/// key, because the project's space would need it.
pub fn refuse_taken_key(conn: &mut PgConnection, key: &str) -> Result<(), AppError> {
    let holder: Option<String> =
        spaces::table.filter(spaces::key.eq(key)).select(spaces::name).first(conn).optional()?;
    match holder {
        Some(name) => Err(AppError::conflict(
            "key",
            format!("{key} is already the key of the documentation space \"{name}\"; choose another key."),
        )),
        None => Ok(()),
    }
}

/// The project's own space, made in the project's transaction.
pub fn create_for_project(conn: &mut PgConnection, project: &Project) -> Result<Space, AppError> {
    Ok(diesel::insert_into(spaces::table)
        .values((
            spaces::key.eq(&project.key),
            spaces::name.eq(&project.name),
            spaces::project_id.eq(project.id),
            spaces::created_by.eq(project.lead_id),
        ))
        .returning(Space::as_returning())
        .get_result(conn)?)
}

pub fn create(conn: &mut PgConnection, actor: &Actor, user: &User, new: NewSpace) -> Result<Space, AppError> {
    authorize(user, Action::CreateSpace)?;
    let key = new.key.trim().to_uppercase();
    let name = new.name.trim().to_owned();
    check_key("Space", &key)?;
    if !(1..=80).contains(&name.chars().count()) {
        return Err(AppError::invalid("name", "Space name must be 1 to 80 characters."));
    }
    if new.description.chars().count() > DESCRIPTION_MAX {
        return Err(AppError::invalid(
            "description",
            format!("Description must be at most {DESCRIPTION_MAX} characters."),
        ));
    }
    conn.transaction(|conn| {
        refuse_taken_key(conn, &key)?;
        let space: Space = diesel::insert_into(spaces::table)
            .values((
                spaces::key.eq(&key),
                spaces::name.eq(&name),
                spaces::description.eq(new.description.trim()),
                spaces::created_by.eq(user.id),
            ))
            .returning(Space::as_returning())
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "space.created",
                entity_type: "space",
                entity_id: space.id,
                before: None,
                after: Some(json!({ "key": space.key, "name": space.name })),
            },
        )?;
        Ok(space)
    })
}

/// Every space the user may read, by key, with how many pages each holds.
pub fn list_visible(conn: &mut PgConnection, user: &User) -> QueryResult<Vec<(Space, i64)>> {
    let all: Vec<(Space, i64)> = spaces::table
        .left_join(pages::table)
        .group_by(spaces::id)
        .order(spaces::key)
        .select((Space::as_select(), diesel::dsl::count(pages::id.nullable())))
        .load(conn)?;
    Ok(all.into_iter().filter(|(space, _)| authorize(user, Action::ViewSpace(space)).is_ok()).collect())
}

pub fn find(conn: &mut PgConnection, id: i64) -> Result<Space, AppError> {
    spaces::table
        .find(id)
        .select(Space::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found(format!("There is no space {id}.")))
}

/// The space `key` names, once `user` is allowed `action` in it (the one permission check).
pub fn find_allowed(
    conn: &mut PgConnection,
    user: &User,
    key: &str,
    action: for<'a> fn(&'a Space) -> Action<'a>,
) -> Result<Space, AppError> {
    let space = spaces::table
        .filter(spaces::key.eq(key.to_uppercase()))
        .select(Space::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| {
            AppError::not_found(format!("There is no documentation space with key {}.", key.to_uppercase()))
        })?;
    authorize(user, action(&space))?;
    Ok(space)
}

/// Holds the space row until the transaction ends: tree changes (create, move, delete) in one
/// space take turns, so two concurrent moves can never make a cycle between them.
pub fn lock(conn: &mut PgConnection, space_id: i64) -> QueryResult<()> {
    spaces::table.find(space_id).for_update().select(spaces::id).first::<i64>(conn).map(drop)
}
