//! The administrators' API: accounts, teams and permission schemes, and the scheme a
//! project uses (for its own administrators). The same domain functions as the pages.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use diesel::Connection;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::accounts::{self, Account};
use super::passwords;
use super::permissions::{authorize, Action};
use super::roles::GlobalRole;
use super::schemes::{self, SchemeDetail};
use super::teams::{self, TeamDetail, TeamSummary};
use super::tokens::{self, ApiToken, TokenScope};
use super::users::{self, NewUser, User};
use crate::db;
use crate::errors::AppError;
use crate::web::errors::ApiError;
use crate::web::extract::{ApiCaller, ApiJson};
use crate::web::openapi::ProjectPath;
use crate::web::AppState;
use crate::work::projects;

type ApiResult = Result<HttpResponse, ApiError>;

/// An account in the path.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UserPath {
    /// The user name.
    #[param(example = "ada")]
    pub username: String,
}

/// A team or scheme in the path.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct IdPath {
    #[param(example = 1)]
    pub id: i64,
}

/// A team member in the path.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MemberPath {
    /// The team's id.
    #[param(example = 1)]
    pub id: i64,
    /// The member's user name.
    #[param(example = "ada")]
    pub username: String,
}

fn role_named(text: &str) -> Result<GlobalRole, AppError> {
    GlobalRole::parse(text.trim())
        .ok_or_else(|| AppError::invalid("role", format!("“{text}” is not a role; use admin, user or auditor.")))
}

async fn as_administrator<T: Send + 'static>(
    state: &AppState,
    caller: &ApiCaller,
    work: impl FnOnce(&mut diesel::PgConnection, &crate::audit::Actor) -> Result<T, AppError> + Send + 'static,
) -> Result<T, ApiError> {
    authorize(&caller.user, Action::Administer)?;
    let actor = caller.actor.clone();
    Ok(db::run(&state.pool, move |conn| work(conn, &actor)).await?)
}

#[derive(Serialize, ToSchema)]
pub struct AccountList {
    users: Vec<Account>,
}

/// Every account, active ones first (administrators).
#[utoipa::path(get, path = "/api/v1/users", tag = "administration", responses((status = 200, body = AccountList)))]
pub async fn list_users(caller: ApiCaller, state: web::Data<AppState>) -> ApiResult {
    let users = as_administrator(&state, &caller, |conn, _| Ok(accounts::list(conn)?)).await?;
    Ok(HttpResponse::Ok().json(AccountList { users }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccountInput {
    #[schema(example = "ada")]
    username: String,
    display_name: String,
    email: String,
    /// admin, user or auditor; user when left out.
    role: Option<String>,
    /// Leave out to have one generated (and answered once). A service account has none.
    password: Option<String>,
    /// An integration's account: API tokens only, never a password or a session.
    #[serde(default)]
    service: bool,
}

#[derive(Serialize, ToSchema)]
pub struct NewAccount {
    user: Account,
    /// The generated password, when none was given; shown this once.
    password: Option<String>,
}

fn account_of(conn: &mut diesel::PgConnection, user: &User) -> Result<Account, AppError> {
    Ok(accounts::by_id(conn, user.id)?)
}

/// Creates an account (administrators).
#[utoipa::path(post, path = "/api/v1/users", tag = "administration", request_body = NewAccountInput,
    responses((status = 201, body = NewAccount)))]
pub async fn create_user(caller: ApiCaller, state: web::Data<AppState>, body: ApiJson<NewAccountInput>) -> ApiResult {
    let ApiJson(input) = body;
    if input.service && input.password.is_some() {
        return Err(AppError::invalid("password", "A service account has no password; leave password out.").into());
    }
    let generated = (input.password.is_none() && !input.service).then(passwords::generate);
    let password = input.password.clone().or(generated.clone()).unwrap_or_default();
    let user = as_administrator(&state, &caller, move |conn, actor| {
        let role = input.role.as_deref().map_or(Ok(GlobalRole::User), role_named)?;
        let new = NewUser {
            username: input.username.trim().to_lowercase(),
            display_name: input.display_name,
            email: input.email,
            password,
            role,
            is_service: input.service,
        };
        let user = users::create(conn, actor, new)?;
        account_of(conn, &user)
    })
    .await?;
    Ok(HttpResponse::Created().json(NewAccount { user, password: generated }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountChange {
    /// admin, user or auditor.
    role: Option<String>,
    /// false deactivates the account (its sessions end, its tokens stop); true reactivates it.
    active: Option<bool>,
}

/// Changes an account's global role, or deactivates or reactivates it (administrators).
#[utoipa::path(patch, path = "/api/v1/users/{username}", tag = "administration", params(UserPath),
    request_body = AccountChange, responses((status = 200, body = Account)))]
pub async fn change_user(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<AccountChange>,
) -> ApiResult {
    let (username, ApiJson(change)) = (path.into_inner(), body);
    let account = as_administrator(&state, &caller, move |conn, actor| {
        let role = change.role.as_deref().map(role_named).transpose()?;
        conn.transaction::<_, AppError, _>(|conn| {
            let mut user = accounts::find(conn, &username)?;
            if let Some(role) = role {
                user = accounts::set_role(conn, actor, &username, role)?;
            }
            if let Some(active) = change.active {
                user = accounts::set_active(conn, actor, &username, active)?;
            }
            account_of(conn, &user)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(account))
}

#[derive(Serialize, ToSchema)]
pub struct TokenList {
    tokens: Vec<ApiToken>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenInput {
    #[schema(example = "CI pipeline")]
    name: String,
    /// read, write or admin (admin only for an administrator account).
    scope: TokenScope,
    /// 1 to 3650; left out, the token does not expire.
    expires_in_days: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct NewToken {
    token: ApiToken,
    /// The secret to send as `Authorization: Bearer …`; shown this once.
    secret: String,
}

/// A service account's tokens (administrators).
#[utoipa::path(get, path = "/api/v1/users/{username}/tokens", tag = "administration", params(UserPath),
    responses((status = 200, body = TokenList)))]
pub async fn service_tokens(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<String>) -> ApiResult {
    let username = path.into_inner();
    let tokens = as_administrator(&state, &caller, move |conn, _| {
        let owner = accounts::find_service(conn, &username)?;
        Ok(tokens::list_for_user(conn, owner.id)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(TokenList { tokens }))
}

/// Makes a token for a service account (administrators); its secret is answered once.
#[utoipa::path(post, path = "/api/v1/users/{username}/tokens", tag = "administration", params(UserPath),
    request_body = TokenInput, responses((status = 201, body = NewToken)))]
pub async fn create_service_token(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<TokenInput>,
) -> ApiResult {
    let (username, ApiJson(input)) = (path.into_inner(), body);
    let (token, secret) = as_administrator(&state, &caller, move |conn, actor| {
        let owner = accounts::find_service(conn, &username)?;
        tokens::create(conn, actor, &owner, &input.name, input.scope, input.expires_in_days)
    })
    .await?;
    Ok(HttpResponse::Created().json(NewToken { token, secret }))
}

/// A service account's token in the path.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TokenPath {
    /// The service account's user name.
    #[param(example = "ci-bot")]
    pub username: String,
    /// The token's id.
    #[param(example = 1)]
    pub id: i64,
}

/// Revokes a service account's token (administrators).
#[utoipa::path(delete, path = "/api/v1/users/{username}/tokens/{id}", tag = "administration", params(TokenPath),
    responses((status = 204, description = "Revoked")))]
pub async fn revoke_service_token(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
) -> ApiResult {
    let (username, id) = path.into_inner();
    as_administrator(&state, &caller, move |conn, actor| {
        let owner = accounts::find_service(conn, &username)?;
        tokens::revoke(conn, actor, owner.id, id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, ToSchema)]
pub struct TeamList {
    teams: Vec<TeamSummary>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamInput {
    #[schema(example = "Platform")]
    name: String,
    #[serde(default)]
    description: String,
}

/// Every team (administrators).
#[utoipa::path(get, path = "/api/v1/teams", tag = "administration", responses((status = 200, body = TeamList)))]
pub async fn list_teams(caller: ApiCaller, state: web::Data<AppState>) -> ApiResult {
    let teams = as_administrator(&state, &caller, |conn, _| Ok(teams::list(conn)?)).await?;
    Ok(HttpResponse::Ok().json(TeamList { teams }))
}

/// Creates a team (administrators).
#[utoipa::path(post, path = "/api/v1/teams", tag = "administration", request_body = TeamInput,
    responses((status = 201, body = TeamDetail)))]
pub async fn create_team(caller: ApiCaller, state: web::Data<AppState>, body: ApiJson<TeamInput>) -> ApiResult {
    let ApiJson(input) = body;
    let team = as_administrator(&state, &caller, move |conn, actor| {
        let team = teams::create(conn, actor, &input.name, &input.description)?;
        teams::detail(conn, team.id)
    })
    .await?;
    Ok(HttpResponse::Created().json(team))
}

/// A team with its members (administrators).
#[utoipa::path(get, path = "/api/v1/teams/{id}", tag = "administration", params(IdPath),
    responses((status = 200, body = TeamDetail)))]
pub async fn get_team(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<i64>) -> ApiResult {
    let id = path.into_inner();
    let team = as_administrator(&state, &caller, move |conn, _| teams::detail(conn, id)).await?;
    Ok(HttpResponse::Ok().json(team))
}

/// Renames a team or changes its description (administrators).
#[utoipa::path(patch, path = "/api/v1/teams/{id}", tag = "administration", params(IdPath), request_body = TeamInput,
    responses((status = 200, body = TeamDetail)))]
pub async fn update_team(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: ApiJson<TeamInput>,
) -> ApiResult {
    let (id, ApiJson(input)) = (path.into_inner(), body);
    let team = as_administrator(&state, &caller, move |conn, actor| {
        teams::update(conn, actor, id, &input.name, &input.description)?;
        teams::detail(conn, id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(team))
}

/// Deletes a team and the project roles granted to it (administrators).
#[utoipa::path(delete, path = "/api/v1/teams/{id}", tag = "administration", params(IdPath),
    responses((status = 204, description = "Deleted")))]
pub async fn delete_team(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<i64>) -> ApiResult {
    let id = path.into_inner();
    as_administrator(&state, &caller, move |conn, actor| teams::delete(conn, actor, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Adds a member; adding one already there changes nothing (administrators).
#[utoipa::path(put, path = "/api/v1/teams/{id}/members/{username}", tag = "administration", params(MemberPath),
    responses((status = 204, description = "A member")))]
pub async fn add_member(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<(i64, String)>) -> ApiResult {
    let (id, username) = path.into_inner();
    as_administrator(&state, &caller, move |conn, actor| teams::add_member(conn, actor, id, &username)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Removes a member (administrators).
#[utoipa::path(delete, path = "/api/v1/teams/{id}/members/{username}", tag = "administration", params(MemberPath),
    responses((status = 204, description = "Removed")))]
pub async fn remove_member(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<(i64, String)>) -> ApiResult {
    let (id, username) = path.into_inner();
    as_administrator(&state, &caller, move |conn, actor| teams::remove_member(conn, actor, id, &username)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, ToSchema)]
pub struct SchemeList {
    schemes: Vec<SchemeDetail>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSchemeInput {
    #[schema(example = "Contractors")]
    name: String,
    #[serde(default)]
    description: String,
    /// The scheme whose grid the new one starts with.
    copy_from: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchemeInput {
    name: String,
    #[serde(default)]
    description: String,
    /// For each permission, the roles that hold it; permissions left out are held by none.
    #[schema(example = json!({"browse": ["project_admin", "member", "reporter", "viewer"], "administer_project": ["project_admin"]}))]
    grants: BTreeMap<String, Vec<String>>,
}

/// Every permission scheme with its grid and the projects using it (administrators).
#[utoipa::path(get, path = "/api/v1/permission-schemes", tag = "administration",
    responses((status = 200, body = SchemeList)))]
pub async fn list_schemes(caller: ApiCaller, state: web::Data<AppState>) -> ApiResult {
    let schemes = as_administrator(&state, &caller, |conn, _| schemes::list(conn)).await?;
    Ok(HttpResponse::Ok().json(SchemeList { schemes }))
}

/// A new scheme, copied from another (administrators).
#[utoipa::path(post, path = "/api/v1/permission-schemes", tag = "administration", request_body = NewSchemeInput,
    responses((status = 201, body = SchemeDetail)))]
pub async fn create_scheme(caller: ApiCaller, state: web::Data<AppState>, body: ApiJson<NewSchemeInput>) -> ApiResult {
    let ApiJson(input) = body;
    let scheme = as_administrator(&state, &caller, move |conn, actor| {
        schemes::find(conn, input.copy_from).map_err(|_| {
            AppError::invalid("copy_from", format!("There is no permission scheme {}.", input.copy_from))
        })?;
        let scheme = schemes::copy(conn, actor, input.copy_from, &input.name, &input.description)?;
        schemes::detail(conn, scheme.id)
    })
    .await?;
    Ok(HttpResponse::Created().json(scheme))
}

/// One scheme (administrators).
#[utoipa::path(get, path = "/api/v1/permission-schemes/{id}", tag = "administration", params(IdPath),
    responses((status = 200, body = SchemeDetail)))]
pub async fn get_scheme(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<i64>) -> ApiResult {
    let id = path.into_inner();
    let scheme = as_administrator(&state, &caller, move |conn, _| schemes::detail(conn, id)).await?;
    Ok(HttpResponse::Ok().json(scheme))
}

/// Replaces a scheme's name, description and grid (administrators); every project using it follows.
#[utoipa::path(put, path = "/api/v1/permission-schemes/{id}", tag = "administration", params(IdPath),
    request_body = SchemeInput, responses((status = 200, body = SchemeDetail)))]
pub async fn put_scheme(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: ApiJson<SchemeInput>,
) -> ApiResult {
    let (id, ApiJson(input)) = (path.into_inner(), body);
    let scheme = as_administrator(&state, &caller, move |conn, actor| {
        let pairs = input.grants.iter().flat_map(|(p, roles)| roles.iter().map(move |r| (p.as_str(), r.as_str())));
        let grid = schemes::grid_from_pairs(pairs)?;
        schemes::update(conn, actor, id, &input.name, &input.description, &grid)
    })
    .await?;
    Ok(HttpResponse::Ok().json(scheme))
}

/// Deletes a scheme that no project uses (administrators).
#[utoipa::path(delete, path = "/api/v1/permission-schemes/{id}", tag = "administration", params(IdPath),
    responses((status = 204, description = "Deleted")))]
pub async fn delete_scheme(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<i64>) -> ApiResult {
    let id = path.into_inner();
    as_administrator(&state, &caller, move |conn, actor| schemes::delete(conn, actor, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchemeChoice {
    /// The scheme the project is to use.
    scheme_id: i64,
}

/// The project's permission scheme (its administrators).
#[utoipa::path(get, path = "/api/v1/projects/{key}/permission-scheme", tag = "projects", params(ProjectPath),
    responses((status = 200, body = SchemeDetail)))]
pub async fn project_scheme(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<String>) -> ApiResult {
    let (key, user) = (path.into_inner(), caller.user.clone());
    let scheme = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ManageProject(p))?;
        schemes::detail(conn, project.permission_scheme_id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(scheme))
}

/// Makes the project use another permission scheme (its administrators).
#[utoipa::path(put, path = "/api/v1/projects/{key}/permission-scheme", tag = "projects", params(ProjectPath),
    request_body = SchemeChoice, responses((status = 200, body = SchemeDetail)))]
pub async fn set_project_scheme(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<SchemeChoice>,
) -> ApiResult {
    let (key, user, actor, ApiJson(choice)) = (path.into_inner(), caller.user.clone(), caller.actor.clone(), body);
    let scheme = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ManageProject(p))?;
        schemes::assign(conn, &actor, &project, choice.scheme_id)?;
        schemes::detail(conn, choice.scheme_id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(scheme))
}
