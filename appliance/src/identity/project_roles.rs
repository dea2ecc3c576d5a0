//! Who holds which role in a project: grants to one user, to a team, or to everyone signed
//! in. Permission schemes turn these roles into permissions (`roles`, `permissions`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::roles::ProjectRole;
use super::teams;
use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::schema::{project_role_grants, teams as teams_table, users};
use crate::work::projects::Project;

/// What a new project starts with: everyone signed in works in it as a member, as every
/// project did before roles existed; its admins narrow this with `grant` and `revoke`.
pub fn grant_defaults(conn: &mut PgConnection, project_id: i64) -> QueryResult<()> {
    diesel::insert_into(project_role_grants::table)
        .values((
            project_role_grants::project_id.eq(project_id),
            project_role_grants::role.eq(ProjectRole::Member.as_str()),
            project_role_grants::everyone.eq(true),
        ))
        .execute(conn)
        .map(drop)
}

/// Who a grant is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grantee {
    /// A user, by user name.
    User(String),
    /// A team, by name.
    Team(String),
    Everyone,
}

/// One grant as pages and the API show it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RoleGrant {
    pub id: i64,
    pub role: ProjectRole,
    /// user, team or everyone.
    pub grantee_type: &'static str,
    /// The user name or team name; empty for everyone.
    pub grantee: String,
    pub granted_at: DateTime<Utc>,
}

#[derive(Queryable)]
struct GrantRow {
    id: i64,
    role: String,
    everyone: bool,
    user_name: Option<String>,
    team_name: Option<String>,
    granted_at: DateTime<Utc>,
}

/// The project's grants, by role (project admins first), then by grantee.
pub fn list(conn: &mut PgConnection, project_id: i64) -> QueryResult<Vec<RoleGrant>> {
    let rows: Vec<GrantRow> = project_role_grants::table
        .left_join(users::table.on(users::id.nullable().eq(project_role_grants::user_id)))
        .left_join(teams_table::table)
        .filter(project_role_grants::project_id.eq(project_id))
        .select((
            project_role_grants::id,
            project_role_grants::role,
            project_role_grants::everyone,
            users::username.nullable(),
            teams_table::name.nullable(),
            project_role_grants::granted_at,
        ))
        .load(conn)?;
    let mut grants: Vec<RoleGrant> = rows
        .into_iter()
        .map(|row| {
            let (grantee_type, grantee) = match (row.everyone, row.user_name, row.team_name) {
                (true, _, _) => ("everyone", String::new()),
                (false, Some(user), _) => ("user", user),
                (false, None, team) => ("team", team.unwrap_or_default()),
            };
            let role = ProjectRole::parse(&row.role).unwrap_or(ProjectRole::Viewer);
            RoleGrant { id: row.id, role, grantee_type, grantee, granted_at: row.granted_at }
        })
        .collect();
    grants.sort_by(|a, b| (a.role, a.grantee_type, &a.grantee).cmp(&(b.role, b.grantee_type, &b.grantee)));
    Ok(grants)
}

/// Grants `role` in `project` to `grantee`; granting what is already held changes nothing.
pub fn grant(
    conn: &mut PgConnection,
    actor: &Actor,
    project: &Project,
    role: ProjectRole,
    grantee: &Grantee,
) -> Result<RoleGrant, AppError> {
    conn.transaction(|conn| {
        let (user_id, team_id) = match grantee {
            Grantee::User(name) => {
                let name = name.trim().trim_start_matches('@').to_lowercase();
                let id: Option<i64> = users::table
                    .filter(users::username.eq(&name))
                    .filter(users::is_active.eq(true))
                    .select(users::id)
                    .first(conn)
                    .optional()?;
                let id = id.ok_or_else(|| AppError::invalid("user", format!("There is no active user named {name}.")))?;
                (Some(id), None)
            }
            Grantee::Team(name) => {
                let team = teams::find_by_name(conn, name)?;
                let id = team.map(|team| team.id);
                let id = id.ok_or_else(|| AppError::invalid("team", format!("There is no team named {}.", name.trim())))?;
                (None, Some(id))
            }
            Grantee::Everyone => (None, None),
        };
        let everyone = *grantee == Grantee::Everyone;
        let existing: Option<i64> = project_role_grants::table
            .filter(project_role_grants::project_id.eq(project.id))
            .filter(project_role_grants::role.eq(role.as_str()))
            .filter(project_role_grants::everyone.eq(everyone))
            .filter(project_role_grants::user_id.is_not_distinct_from(user_id))
            .filter(project_role_grants::team_id.is_not_distinct_from(team_id))
            .select(project_role_grants::id)
            .first(conn)
            .optional()?;
        let id = match existing {
            Some(id) => id,
            None => {
                let id: i64 = diesel::insert_into(project_role_grants::table)
                    .values((
                        project_role_grants::project_id.eq(project.id),
                        project_role_grants::role.eq(role.as_str()),
                        project_role_grants::user_id.eq(user_id),
                        project_role_grants::team_id.eq(team_id),
                        project_role_grants::everyone.eq(everyone),
                    ))
                    .returning(project_role_grants::id)
                    .get_result(conn)?;
                audit::record(
                    conn,
                    actor,
                    Change {
                        action: "project.role_granted",
                        entity_type: "project",
                        entity_id: project.id,
                        before: None,
                        after: Some(json!({ "grant_id": id, "role": role.as_str(), "user_id": user_id, "team_id": team_id, "everyone": everyone })),
                    },
                )?;
                id
            }
        };
        list(conn, project.id)?
            .into_iter()
            .find(|grant| grant.id == id)
            .ok_or_else(|| AppError::internal("a grant just written is not there"))
    })
}

/// Removes one grant. The project must keep someone who administers it besides
/// system administrators: its lead always does, so any grant may go.
pub fn revoke(conn: &mut PgConnection, actor: &Actor, project: &Project, grant_id: i64) -> Result<(), AppError> {
    conn.transaction(|conn| {
        let found = list(conn, project.id)?.into_iter().find(|grant| grant.id == grant_id);
        let Some(grant) = found else {
            return Err(AppError::not_found(format!("Project {} has no role grant {grant_id}.", project.key)));
        };
        diesel::delete(project_role_grants::table.find(grant_id)).execute(conn)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "project.role_revoked",
                entity_type: "project",
                entity_id: project.id,
                before: Some(json!({ "grant_id": grant.id, "role": grant.role.as_str(), "grantee_type": grant.grantee_type, "grantee": grant.grantee })),
                after: None,
            },
        )?;
        Ok(())
    })
}
