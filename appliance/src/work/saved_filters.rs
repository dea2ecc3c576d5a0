//! Saved filters: a named OQL query in a project, private to its owner or shared with the
//! project. They open the issue list, and boards can use them as their source. A filter is
//! checked (parsed and compiled) before it is saved, so a saved filter always runs.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::oql::{self, Context, SqlBuilder};
use super::projects::Project;
use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};
use crate::identity::users::User;
use crate::schema::saved_filters;

pub const NAME_MAX: usize = 80;

#[derive(Clone, Debug, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = saved_filters)]
pub struct SavedFilter {
    pub id: i64,
    #[serde(skip)]
    pub owner_id: i64,
    #[serde(skip)]
    pub project_id: i64,
    pub name: String,
    pub oql: String,
    pub shared: bool,
    pub created_at: DateTime<Utc>,
}

/// Refuses a query that would not run, with the reason OQL gives.
pub fn check_query(conn: &mut PgConnection, project: &Project, me: i64, text: &str) -> Result<oql::Query, AppError> {
    let query = oql::parse(text).map_err(|e| AppError::invalid("oql", e.to_string()))?;
    let context = Context { me, now: Utc::now(), project_id: Some(project.id) };
    oql::compile::compile(conn, &query, &context, &mut SqlBuilder::default())?;
    Ok(query)
}

pub fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    owner: &User,
    project: &Project,
    name: &str,
    text: &str,
    shared: bool,
) -> Result<SavedFilter, AppError> {
    let name = name.trim();
    if !(1..=NAME_MAX).contains(&name.chars().count()) {
        return Err(AppError::invalid("name", format!("A filter name must be 1 to {NAME_MAX} characters.")));
    }
    if text.trim().is_empty() {
        return Err(AppError::invalid("oql", "There is no query to save; write one in the OQL box first."));
    }
    check_query(conn, project, owner.id, text)?;
    conn.transaction(|conn| {
        let taken: i64 = saved_filters::table
            .filter(
                saved_filters::owner_id
                    .eq(owner.id)
                    .and(saved_filters::project_id.eq(project.id))
                    .and(saved_filters::name.eq(name)),
            )
            .count()
            .get_result(conn)?;
        if taken > 0 {
            return Err(AppError::conflict(
                "name",
                format!("You already have a filter named \"{name}\" in {}.", project.key),
            ));
        }
        let filter: SavedFilter = diesel::insert_into(saved_filters::table)
            .values((
                saved_filters::owner_id.eq(owner.id),
                saved_filters::project_id.eq(project.id),
                saved_filters::name.eq(name),
                saved_filters::oql.eq(text.trim()),
                saved_filters::shared.eq(shared),
            ))
            .returning(SavedFilter::as_returning())
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "filter.created",
                entity_type: "saved_filter",
                entity_id: filter.id,
                before: None,
                after: Some(json!({ "name": filter.name, "oql": filter.oql, "shared": filter.shared })),
            },
        )?;
        Ok(filter)
    })
}

/// The filters `user` sees in `project`: their own and the shared ones, by name.
pub fn visible(conn: &mut PgConnection, user: &User, project_id: i64) -> QueryResult<Vec<SavedFilter>> {
    saved_filters::table
        .filter(saved_filters::project_id.eq(project_id))
        .filter(saved_filters::owner_id.eq(user.id).or(saved_filters::shared.eq(true)))
        .order(saved_filters::name.asc())
        .select(SavedFilter::as_select())
        .load(conn)
}

/// Filter `id` of `project`, if `user` may see it; someone else's private filter is "not found".
pub fn find_visible(conn: &mut PgConnection, user: &User, project_id: i64, id: i64) -> Result<SavedFilter, AppError> {
    visible(conn, user, project_id)?
        .into_iter()
        .find(|f| f.id == id)
        .ok_or_else(|| AppError::not_found(format!("There is no saved filter {id} you can see in this project.")))
}

/// Deletes a filter; only its owner, or whoever administers the project (for a shared one), may.
pub fn delete(conn: &mut PgConnection, actor: &Actor, user: &User, project: &Project, id: i64) -> Result<(), AppError> {
    conn.transaction(|conn| {
        let filter = find_visible(conn, user, project.id, id)?;
        if filter.owner_id != user.id && authorize(user, Action::ManageProject(project)).is_err() {
            return Err(AppError::forbidden("Only its owner or a project admin can delete a shared filter."));
        }
        diesel::delete(saved_filters::table.find(filter.id)).execute(conn)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "filter.deleted",
                entity_type: "saved_filter",
                entity_id: filter.id,
                before: Some(json!({ "name": filter.name, "oql": filter.oql })),
                after: None,
            },
        )?;
        Ok(())
    })
}
