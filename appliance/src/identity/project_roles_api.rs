//! `GET|POST /api/v1/projects/{key}/roles`, `DELETE /api/v1/projects/{key}/roles/{id}`: who
//! holds which role in a project, for whoever administers it.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::permissions::Action;
use super::project_roles::{self, Grantee, RoleGrant};
use super::roles::ProjectRole;
use crate::db;
use crate::errors::AppError;
use crate::web::errors::ApiError;
use crate::web::extract::{ApiCaller, ApiJson};
use crate::web::openapi::{ProjectItemPath, ProjectPath};
use crate::web::AppState;
use crate::work::projects;

type ApiResult = Result<HttpResponse, ApiError>;

#[derive(Serialize, ToSchema)]
pub struct RoleGrantList {
    grants: Vec<RoleGrant>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantInput {
    /// project_admin, member, reporter or viewer.
    #[schema(example = "member")]
    role: String,
    /// A user name. Give exactly one of `user`, `team` and `everyone: true`.
    user: Option<String>,
    /// A team name.
    team: Option<String>,
    /// Every active account.
    #[serde(default)]
    everyone: bool,
}

impl GrantInput {
    fn read(self) -> Result<(ProjectRole, Grantee), AppError> {
        let role = ProjectRole::parse(self.role.trim()).ok_or_else(|| {
            AppError::invalid(
                "role",
                format!("“{}” is not a project role; use project_admin, member, reporter or viewer.", self.role),
            )
        })?;
        let grantee = match (self.user, self.team, self.everyone) {
            (Some(user), None, false) => Grantee::User(user),
            (None, Some(team), false) => Grantee::Team(team),
            (None, None, true) => Grantee::Everyone,
            _ => return Err(AppError::invalid("user", "Give exactly one of user, team or everyone: true.")),
        };
        Ok((role, grantee))
    }
}

/// The project's role grants (project administrators).
#[utoipa::path(get, path = "/api/v1/projects/{key}/roles", tag = "projects", params(ProjectPath),
    responses((status = 200, body = RoleGrantList)))]
pub async fn list(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<String>) -> ApiResult {
    let (key, user) = (path.into_inner(), caller.user.clone());
    let grants = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ManageProject(p))?;
        Ok(project_roles::list(conn, project.id)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(RoleGrantList { grants }))
}

/// Grants a role to a user, a team or everyone; granting it again changes nothing.
#[utoipa::path(post, path = "/api/v1/projects/{key}/roles", tag = "projects", params(ProjectPath),
    request_body = GrantInput, responses((status = 201, body = RoleGrant)))]
pub async fn grant(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<GrantInput>,
) -> ApiResult {
    let (role, grantee) = body.0.read()?;
    let (key, user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    let grant = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ManageProject(p))?;
        project_roles::grant(conn, &actor, &project, role, &grantee)
    })
    .await?;
    Ok(HttpResponse::Created().json(grant))
}

/// Removes a role grant.
#[utoipa::path(delete, path = "/api/v1/projects/{key}/roles/{id}", tag = "projects", params(ProjectItemPath),
    responses((status = 204, description = "Removed")))]
pub async fn revoke(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<(String, i64)>) -> ApiResult {
    let ((key, id), user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ManageProject(p))?;
        project_roles::revoke(conn, &actor, &project, id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
