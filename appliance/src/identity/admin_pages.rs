//! Administration of people: accounts (create, global role, deactivate and reactivate, a
//! one-time password) and teams (create, rename, members, delete). Every form comes back
//! with what was typed and the reason when it is refused.

use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::accounts::{self, Account};
use super::mfa::{self, Requirement};
use super::passwords;
use super::permissions::{authorize, Action};
use super::roles::GlobalRole;
use super::teams::{self, TeamDetail, TeamSummary};
use super::tokens::{self, TokenScope};
use super::users::{self, NewUser};
use crate::db;
use crate::errors::AppError;
use crate::web::errors::PageError;
use crate::web::extract::{CsrfForm, SignedIn};
use crate::web::pages::{redirect, render_with_status, status_for, Nav};
use crate::web::AppState;

/// Every input of the people pages' forms; each form sends its own part.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PeopleForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    /// "on" for a service account.
    #[serde(default)]
    service: String,
    /// A service token's scope.
    #[serde(default)]
    scope: String,
}

fn global_role(text: &str) -> Result<GlobalRole, AppError> {
    GlobalRole::parse(text.trim())
        .ok_or_else(|| AppError::invalid("role", format!("“{text}” is not a role; use admin, user or auditor.")))
}

/// What the users page shows once: a new account's or a reset password, or a service token.
pub enum Secret {
    NewAccount { username: String, password: String },
    NewPassword { username: String, password: String },
    Token { username: String, token: String },
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    nav: Nav,
    accounts: Vec<Account>,
    roles: [GlobalRole; 3],
    scopes: [TokenScope; 3],
    /// Who must use two-factor sign-in, and the choices.
    mfa_required: Requirement,
    requirements: [Requirement; 3],
    /// A secret just made, shown this once.
    secret: Option<Secret>,
    typed: PeopleForm,
    error: Option<AppError>,
}

impl UsersPage {
    fn role_label(&self, role: &str) -> &'static str {
        GlobalRole::parse(role).map_or("User", GlobalRole::label)
    }

    fn is_required(&self, requirement: &Requirement) -> bool {
        *requirement == self.mfa_required
    }
}

async fn users_page(
    signed_in: &SignedIn,
    state: &AppState,
    secret: Option<Secret>,
    refused: Option<(PeopleForm, AppError)>,
) -> Result<HttpResponse, PageError> {
    let (accounts, mfa_required) =
        db::run(&state.pool, |conn| Ok((accounts::list(conn)?, mfa::requirement(conn)?))).await?;
    let (typed, error) = refused.map_or((PeopleForm::default(), None), |(form, error)| (form, Some(error)));
    let status = status_for(error.as_ref());
    let page = UsersPage {
        nav: Nav::for_user(signed_in, "admin"),
        accounts,
        roles: GlobalRole::ALL,
        scopes: TokenScope::ALL,
        mfa_required,
        requirements: Requirement::ALL,
        secret,
        typed,
        error,
    };
    Ok(render_with_status(&page, status)?)
}

/// `GET /admin/users`.
pub async fn users(signed_in: SignedIn, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    authorize(signed_in.user(), Action::Administer)?;
    users_page(&signed_in, &state, None, None).await
}

/// `POST /admin/users`: a new account with a generated password, shown once (a service
/// account has none: it gets tokens).
pub async fn create_user(form: CsrfForm<PeopleForm>, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    authorize(signed_in.user(), Action::Administer)?;
    let (actor, input) = (signed_in.actor.clone(), data.clone());
    let password = passwords::generate();
    let secret = password.clone();
    let created = db::run(&state.pool, move |conn| {
        let new = NewUser {
            username: input.username.trim().to_lowercase(),
            display_name: input.display_name.clone(),
            email: input.email.clone(),
            password: secret,
            role: global_role(&input.role)?,
            is_service: input.service == "on",
        };
        users::create(conn, &actor, new)
    })
    .await;
    match created {
        Ok(user) if user.is_service => Ok(redirect(&format!("/admin/users#user-{}", user.username))),
        Ok(user) => {
            let secret = Secret::NewAccount { username: user.username, password };
            users_page(&signed_in, &state, Some(secret), None).await
        }
        Err(error) => users_page(&signed_in, &state, None, Some((data, error))).await,
    }
}

/// `POST /admin/users/{username}/{action}`: role, deactivate, reactivate, password, or a
/// token for a service account.
pub async fn change_user(
    form: CsrfForm<PeopleForm>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    authorize(signed_in.user(), Action::Administer)?;
    let (username, action) = path.into_inner();
    let (actor, input) = (signed_in.actor.clone(), data.clone());
    let done = db::run(&state.pool, move |conn| match action.as_str() {
        "role" => accounts::set_role(conn, &actor, &username, global_role(&input.role)?).map(|_| None),
        "deactivate" => accounts::set_active(conn, &actor, &username, false).map(|_| None),
        "reactivate" => accounts::set_active(conn, &actor, &username, true).map(|_| None),
        "password" => {
            if accounts::find(conn, &username)?.is_service {
                return Err(AppError::conflict(
                    "user",
                    format!("{username} is a service account: it has tokens, not a password."),
                ));
            }
            let password = passwords::generate();
            users::set_password(conn, &actor, &username, &password, true)?;
            Ok(Some(Secret::NewPassword { username, password }))
        }
        "token" => {
            let owner = accounts::find_service(conn, &username)?;
            let scope = TokenScope::parse(&input.scope)?;
            let (_, token) = tokens::create(conn, &actor, &owner, &input.name, scope, None)?;
            Ok(Some(Secret::Token { username, token }))
        }
        other => Err(AppError::not_found(format!("There is no account action \"{other}\"."))),
    })
    .await;
    match done {
        Ok(Some(secret)) => users_page(&signed_in, &state, Some(secret), None).await,
        Ok(None) => Ok(redirect("/admin/users")),
        Err(error @ AppError::NotFound(_)) => Err(error.into()),
        Err(error) => users_page(&signed_in, &state, None, Some((data, error))).await,
    }
}

#[derive(Template)]
#[template(path = "admin/teams.html")]
struct TeamsPage {
    nav: Nav,
    teams: Vec<TeamSummary>,
    typed: PeopleForm,
    error: Option<AppError>,
}

/// `GET /admin/teams`.
pub async fn teams(signed_in: SignedIn, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    authorize(signed_in.user(), Action::Administer)?;
    let teams = db::run(&state.pool, |conn| Ok(teams::list(conn)?)).await?;
    let page = TeamsPage { nav: Nav::for_user(&signed_in, "admin"), teams, typed: PeopleForm::default(), error: None };
    Ok(render_with_status(&page, status_for(None))?)
}

/// `POST /admin/teams`.
pub async fn create_team(form: CsrfForm<PeopleForm>, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    authorize(signed_in.user(), Action::Administer)?;
    let (actor, input) = (signed_in.actor.clone(), data.clone());
    let created = db::run(&state.pool, move |conn| teams::create(conn, &actor, &input.name, &input.description)).await;
    match created {
        Ok(team) => Ok(redirect(&format!("/admin/teams/{}", team.id))),
        Err(error) => {
            let teams = db::run(&state.pool, |conn| Ok(teams::list(conn)?)).await?;
            let status = status_for(Some(&error));
            let page = TeamsPage { nav: Nav::for_user(&signed_in, "admin"), teams, typed: data, error: Some(error) };
            Ok(render_with_status(&page, status)?)
        }
    }
}

#[derive(Template)]
#[template(path = "admin/team.html")]
struct TeamPage {
    nav: Nav,
    team: TeamDetail,
    typed: PeopleForm,
    error: Option<AppError>,
}

async fn team_page(
    signed_in: &SignedIn,
    state: &AppState,
    id: i64,
    refused: Option<(PeopleForm, AppError)>,
) -> Result<HttpResponse, PageError> {
    let team = db::run(&state.pool, move |conn| teams::detail(conn, id)).await?;
    let (typed, error) = refused.map_or_else(
        || {
            (
                PeopleForm {
                    name: team.team.name.clone(),
                    description: team.team.description.clone(),
                    ..PeopleForm::default()
                },
                None,
            )
        },
        |(form, error)| (form, Some(error)),
    );
    let status = status_for(error.as_ref());
    Ok(render_with_status(&TeamPage { nav: Nav::for_user(signed_in, "admin"), team, typed, error }, status)?)
}

/// `GET /admin/teams/{id}`.
pub async fn team(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    authorize(signed_in.user(), Action::Administer)?;
    team_page(&signed_in, &state, path.into_inner(), None).await
}

/// `POST /admin/teams/{id}/{action}`: rename, add, remove or delete.
pub async fn change_team(
    form: CsrfForm<PeopleForm>,
    state: web::Data<AppState>,
    path: web::Path<(i64, String)>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    authorize(signed_in.user(), Action::Administer)?;
    let (id, action) = path.into_inner();
    let (actor, input) = (signed_in.actor.clone(), data.clone());
    let deleting = action == "delete";
    let done = db::run(&state.pool, move |conn| match action.as_str() {
        "rename" => teams::update(conn, &actor, id, &input.name, &input.description).map(drop),
        "add" => teams::add_member(conn, &actor, id, &input.username),
        "remove" => teams::remove_member(conn, &actor, id, &input.username),
        "delete" => teams::delete(conn, &actor, id),
        other => Err(AppError::not_found(format!("There is no team action \"{other}\"."))),
    })
    .await;
    match done {
        Ok(()) if deleting => Ok(redirect("/admin/teams")),
        Ok(()) => Ok(redirect(&format!("/admin/teams/{id}"))),
        Err(error @ AppError::NotFound(_)) if deleting => Err(error.into()),
        Err(error) => team_page(&signed_in, &state, id, Some((data, error))).await,
    }
}
