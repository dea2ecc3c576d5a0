//! Permission schemes: which project roles hold which permissions. Projects share a scheme
//! (changing it changes every project that uses it) or get a copy of their own.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::roles::{ProjectPermission, ProjectRole};
use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::schema::{permission_scheme_grants, permission_schemes, projects};
use crate::work::projects::Project;

#[derive(Clone, Debug, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = permission_schemes)]
pub struct Scheme {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Which roles hold each permission: the scheme's whole grid.
pub type Grid = BTreeMap<ProjectPermission, Vec<ProjectRole>>;

/// A scheme with its grid and the projects that use it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SchemeDetail {
    #[serde(flatten)]
    pub scheme: Scheme,
    /// For each permission, the roles that hold it.
    #[schema(value_type = BTreeMap<String, Vec<ProjectRole>>)]
    pub grants: Grid,
    /// Keys of the projects that use the scheme.
    pub projects: Vec<String>,
}

impl SchemeDetail {
    pub fn holds(&self, permission: &ProjectPermission, role: &ProjectRole) -> bool {
        self.grants.get(permission).is_some_and(|roles| roles.contains(role))
    }
}

fn clean(name: &str, description: &str) -> Result<(String, String), AppError> {
    let name = name.trim();
    if !(1..=80).contains(&name.chars().count()) {
        return Err(AppError::invalid("name", "A scheme name must be 1 to 80 characters."));
    }
    if description.chars().count() > 1000 {
        return Err(AppError::invalid("description", "A scheme description must be at most 1000 characters."));
    }
    Ok((name.to_owned(), description.trim().to_owned()))
}

fn refuse_taken(conn: &mut PgConnection, name: &str, except: Option<i64>) -> Result<(), AppError> {
    let all: Vec<Scheme> = permission_schemes::table.select(Scheme::as_select()).load(conn)?;
    let wanted = name.to_lowercase();
    match all.into_iter().find(|scheme| scheme.name.to_lowercase() == wanted && Some(scheme.id) != except) {
        Some(holder) => Err(AppError::conflict("name", format!("There is already a scheme named {}.", holder.name))),
        None => Ok(()),
    }
}

pub fn list(conn: &mut PgConnection) -> Result<Vec<SchemeDetail>, AppError> {
    let ids: Vec<i64> =
        permission_schemes::table.order(permission_schemes::id.asc()).select(permission_schemes::id).load(conn)?;
    ids.into_iter().map(|id| detail(conn, id)).collect()
}

pub fn find(conn: &mut PgConnection, id: i64) -> Result<Scheme, AppError> {
    permission_schemes::table
        .find(id)
        .select(Scheme::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found(format!("There is no permission scheme {id}.")))
}

pub fn detail(conn: &mut PgConnection, id: i64) -> Result<SchemeDetail, AppError> {
    let scheme = find(conn, id)?;
    let rows: Vec<(String, String)> = permission_scheme_grants::table
        .filter(permission_scheme_grants::scheme_id.eq(id))
        .select((permission_scheme_grants::permission, permission_scheme_grants::role))
        .load(conn)?;
    let mut grants = Grid::new();
    for (permission, role) in rows {
        if let (Some(permission), Some(role)) = (ProjectPermission::parse(&permission), ProjectRole::parse(&role)) {
            grants.entry(permission).or_default().push(role);
        }
    }
    for roles in grants.values_mut() {
        roles.sort();
    }
    let projects = projects::table
        .filter(projects::permission_scheme_id.eq(id))
        .order(projects::key.asc())
        .select(projects::key)
        .load(conn)?;
    Ok(SchemeDetail { scheme, grants, projects })
}

fn write_grid(conn: &mut PgConnection, id: i64, grid: &Grid) -> QueryResult<()> {
    diesel::delete(permission_scheme_grants::table.filter(permission_scheme_grants::scheme_id.eq(id))).execute(conn)?;
    let rows: Vec<_> = grid
        .iter()
        .flat_map(|(permission, roles)| {
            roles.iter().map(move |role| {
                (
                    permission_scheme_grants::scheme_id.eq(id),
                    permission_scheme_grants::permission.eq(permission.as_str()),
                    permission_scheme_grants::role.eq(role.as_str()),
                )
            })
        })
        .collect();
    diesel::insert_into(permission_scheme_grants::table).values(&rows).on_conflict_do_nothing().execute(conn)?;
    Ok(())
}

fn grid_json(grid: &Grid) -> serde_json::Value {
    json!(grid
        .iter()
        .map(|(p, roles)| (p.as_str(), roles.iter().map(|r| r.as_str()).collect::<Vec<_>>()))
        .collect::<BTreeMap<_, _>>())
}

/// A new scheme with the grid of `from` (the copy a project can then change alone).
pub fn copy(
    conn: &mut PgConnection,
    actor: &Actor,
    from: i64,
    name: &str,
    description: &str,
) -> Result<Scheme, AppError> {
    let (name, description) = clean(name, description)?;
    conn.transaction(|conn| {
        let source = detail(conn, from)?;
        refuse_taken(conn, &name, None)?;
        let scheme: Scheme = diesel::insert_into(permission_schemes::table)
            .values((permission_schemes::name.eq(&name), permission_schemes::description.eq(&description)))
            .returning(Scheme::as_returning())
            .get_result(conn)?;
        write_grid(conn, scheme.id, &source.grants)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "permission_scheme.created",
                entity_type: "permission_scheme",
                entity_id: scheme.id,
                before: None,
                after: Some(json!({ "name": scheme.name, "copied_from": from, "grants": grid_json(&source.grants) })),
            },
        )?;
        Ok(scheme)
    })
}

/// Replaces a scheme's name, description and grid. Browsing must stay with at least one role
/// and administering with project admins, or a project could lock out everyone but system
/// administrators without meaning to.
pub fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    id: i64,
    name: &str,
    description: &str,
    grid: &Grid,
) -> Result<SchemeDetail, AppError> {
    let (name, description) = clean(name, description)?;
    if grid.get(&ProjectPermission::Browse).is_none_or(|roles| roles.is_empty()) {
        return Err(AppError::invalid("browse", "At least one role must be able to see the project."));
    }
    if !grid.get(&ProjectPermission::AdministerProject).is_some_and(|roles| roles.contains(&ProjectRole::ProjectAdmin))
    {
        return Err(AppError::invalid(
            "administer_project",
            "Project admins must keep the right to administer the project.",
        ));
    }
    for (permission, roles) in grid {
        let browsing = grid.get(&ProjectPermission::Browse).cloned().unwrap_or_default();
        if let Some(role) = roles.iter().find(|role| !browsing.contains(role)) {
            return Err(AppError::invalid(
                permission.as_str(),
                format!(
                    "{} cannot “{}” without seeing the project; give them that too.",
                    role.label(),
                    permission.label()
                ),
            ));
        }
    }
    conn.transaction(|conn| {
        let before = detail(conn, id)?;
        refuse_taken(conn, &name, Some(id))?;
        diesel::update(permission_schemes::table.find(id))
            .set((
                permission_schemes::name.eq(&name),
                permission_schemes::description.eq(&description),
                permission_schemes::updated_at.eq(Utc::now()),
            ))
            .execute(conn)?;
        write_grid(conn, id, grid)?;
        let after = detail(conn, id)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "permission_scheme.updated",
                entity_type: "permission_scheme",
                entity_id: id,
                before: Some(json!({ "name": before.scheme.name, "grants": grid_json(&before.grants) })),
                after: Some(json!({ "name": after.scheme.name, "grants": grid_json(&after.grants), "projects": after.projects })),
            },
        )?;
        Ok(after)
    })
}

/// Deletes a scheme no project uses.
pub fn delete(conn: &mut PgConnection, actor: &Actor, id: i64) -> Result<(), AppError> {
    conn.transaction(|conn| {
        let before = detail(conn, id)?;
        if !before.projects.is_empty() {
            return Err(AppError::conflict(
                "scheme",
                format!(
                    "{} is used by {}; give them another scheme first.",
                    before.scheme.name,
                    before.projects.join(", ")
                ),
            ));
        }
        diesel::delete(permission_schemes::table.find(id)).execute(conn)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "permission_scheme.deleted",
                entity_type: "permission_scheme",
                entity_id: id,
                before: Some(json!({ "name": before.scheme.name, "grants": grid_json(&before.grants) })),
                after: None,
            },
        )?;
        Ok(())
    })
}

/// Makes `project` use the scheme `id`.
pub fn assign(conn: &mut PgConnection, actor: &Actor, project: &Project, id: i64) -> Result<(), AppError> {
    conn.transaction(|conn| {
        let scheme =
            find(conn, id).map_err(|_| AppError::invalid("scheme", format!("There is no permission scheme {id}.")))?;
        if project.permission_scheme_id == id {
            return Ok(());
        }
        diesel::update(projects::table.find(project.id))
            .set((projects::permission_scheme_id.eq(id), projects::updated_at.eq(Utc::now())))
            .execute(conn)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "project.scheme_changed",
                entity_type: "project",
                entity_id: project.id,
                before: Some(json!({ "permission_scheme_id": project.permission_scheme_id })),
                after: Some(json!({ "permission_scheme_id": id, "name": scheme.name })),
            },
        )?;
        Ok(())
    })
}

/// Reads a grid from (permission, role) name pairs, refusing names that are neither.
pub fn grid_from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Grid, AppError> {
    let mut grid = Grid::new();
    for (permission, role) in pairs {
        let permission = ProjectPermission::parse(permission)
            .ok_or_else(|| AppError::invalid("grants", format!("“{permission}” is not a permission.")))?;
        let role = ProjectRole::parse(role).ok_or_else(|| {
            AppError::invalid(
                "grants",
                format!("“{role}” is not a project role; use project_admin, member, reporter or viewer."),
            )
        })?;
        let roles = grid.entry(permission).or_default();
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    Ok(grid)
}
