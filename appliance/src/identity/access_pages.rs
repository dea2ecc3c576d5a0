//! Who may do what, as pages: the permission schemes (administrators) and a project's Access
//! page (its administrators): the roles it grants and the scheme it uses.

use actix_web::{web, HttpResponse};
use askama::Template;

use super::permissions::{authorize, Action};
use super::project_roles::{self, Grantee, RoleGrant};
use super::roles::{ProjectPermission, ProjectRole};
use super::schemes::{self, SchemeDetail};
use crate::db;
use crate::errors::AppError;
use crate::web::errors::PageError;
use crate::web::extract::{CsrfForm, SignedIn};
use crate::web::pages::{redirect, render_with_status, status_for, Nav};
use crate::web::AppState;
use crate::work::project_pages::project_for;
use crate::work::projects::Project;

/// A form as raw pairs: the scheme grid sends one `grant` per ticked box.
type Pairs = Vec<(String, String)>;

fn value<'a>(pairs: &'a Pairs, name: &str) -> &'a str {
    pairs.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str())
}

#[derive(Template)]
#[template(path = "admin/schemes.html")]
struct SchemesPage {
    nav: Nav,
    schemes: Vec<SchemeDetail>,
    typed_name: String,
    error: Option<AppError>,
}

async fn schemes_page(
    signed_in: &SignedIn,
    state: &AppState,
    refused: Option<(String, AppError)>,
) -> Result<HttpResponse, PageError> {
    let schemes = db::run(&state.pool, schemes::list).await?;
    let (typed_name, error) = refused.map_or((String::new(), None), |(name, error)| (name, Some(error)));
    let status = status_for(error.as_ref());
    Ok(render_with_status(&SchemesPage { nav: Nav::for_user(signed_in, "admin"), schemes, typed_name, error }, status)?)
}

/// `GET /admin/schemes`.
pub async fn list(signed_in: SignedIn, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    authorize(signed_in.user(), Action::Administer)?;
    schemes_page(&signed_in, &state, None).await
}

/// `POST /admin/schemes`: a copy of an existing scheme under a new name.
pub async fn copy(form: CsrfForm<Pairs>, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    authorize(signed_in.user(), Action::Administer)?;
    let name = value(&data, "name").to_owned();
    let from = value(&data, "from").parse::<i64>();
    let actor = signed_in.actor.clone();
    let typed = name.clone();
    let copied = db::run(&state.pool, move |conn| {
        let from = from.map_err(|_| AppError::invalid("from", "Choose the scheme to copy."))?;
        schemes::copy(conn, &actor, from, &name, "")
    })
    .await;
    match copied {
        Ok(scheme) => Ok(redirect(&format!("/admin/schemes/{}", scheme.id))),
        Err(error) => schemes_page(&signed_in, &state, Some((typed, error))).await,
    }
}

#[derive(Template)]
#[template(path = "admin/scheme.html")]
struct SchemePage {
    nav: Nav,
    scheme: SchemeDetail,
    permissions: [ProjectPermission; 11],
    roles: [ProjectRole; 4],
    error: Option<AppError>,
}

async fn scheme_page(
    signed_in: &SignedIn,
    state: &AppState,
    id: i64,
    error: Option<AppError>,
) -> Result<HttpResponse, PageError> {
    let scheme = db::run(&state.pool, move |conn| schemes::detail(conn, id)).await?;
    let status = status_for(error.as_ref());
    let page = SchemePage {
        nav: Nav::for_user(signed_in, "admin"),
        scheme,
        permissions: ProjectPermission::ALL,
        roles: ProjectRole::ALL,
        error,
    };
    Ok(render_with_status(&page, status)?)
}

/// `GET /admin/schemes/{id}`.
pub async fn show(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    authorize(signed_in.user(), Action::Administer)?;
    scheme_page(&signed_in, &state, path.into_inner(), None).await
}

/// `POST /admin/schemes/{id}/{action}`: save (name, description and grid) or delete.
pub async fn change(
    form: CsrfForm<Pairs>,
    state: web::Data<AppState>,
    path: web::Path<(i64, String)>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    authorize(signed_in.user(), Action::Administer)?;
    let (id, action) = path.into_inner();
    let actor = signed_in.actor.clone();
    let deleting = action == "delete";
    let done = db::run(&state.pool, move |conn| match action.as_str() {
        "save" => {
            let ticked = data.iter().filter(|(name, _)| name == "grant").filter_map(|(_, v)| v.split_once(':'));
            let grid = schemes::grid_from_pairs(ticked)?;
            schemes::update(conn, &actor, id, value(&data, "name"), value(&data, "description"), &grid).map(drop)
        }
        "delete" => schemes::delete(conn, &actor, id),
        other => Err(AppError::not_found(format!("There is no scheme action \"{other}\"."))),
    })
    .await;
    match done {
        Ok(()) if deleting => Ok(redirect("/admin/schemes")),
        Ok(()) => Ok(redirect(&format!("/admin/schemes/{id}"))),
        Err(error @ AppError::NotFound(_)) => Err(error.into()),
        Err(error) => scheme_page(&signed_in, &state, id, Some(error)).await,
    }
}

#[derive(Template)]
#[template(path = "projects/access.html")]
struct AccessPage {
    nav: Nav,
    project: Project,
    grants: Vec<RoleGrant>,
    scheme: SchemeDetail,
    schemes: Vec<(i64, String)>,
    permissions: [ProjectPermission; 11],
    roles: [ProjectRole; 4],
    typed: Pairs,
    error: Option<AppError>,
}

impl AccessPage {
    fn typed(&self, name: &str) -> &str {
        value(&self.typed, name)
    }

    fn is_current_scheme(&self, id: &i64) -> bool {
        *id == self.project.permission_scheme_id
    }
}

async fn access_page(
    signed_in: &SignedIn,
    state: &AppState,
    project: Project,
    refused: Option<(Pairs, AppError)>,
) -> Result<HttpResponse, PageError> {
    let (project_id, scheme_id) = (project.id, project.permission_scheme_id);
    let (grants, scheme, schemes) = db::run(&state.pool, move |conn| {
        let all = schemes::list(conn)?.into_iter().map(|s| (s.scheme.id, s.scheme.name)).collect();
        Ok((project_roles::list(conn, project_id)?, schemes::detail(conn, scheme_id)?, all))
    })
    .await?;
    let (typed, error) = refused.map_or((Pairs::new(), None), |(typed, error)| (typed, Some(error)));
    let status = status_for(error.as_ref());
    let page = AccessPage {
        nav: Nav::for_user(signed_in, "projects"),
        project,
        grants,
        scheme,
        schemes,
        permissions: ProjectPermission::ALL,
        roles: ProjectRole::ALL,
        typed,
        error,
    };
    Ok(render_with_status(&page, status)?)
}

/// `GET /projects/{key}/access`.
pub async fn access(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let project = project_for(&state, &signed_in, path.into_inner(), |p| Action::ManageProject(p)).await?;
    access_page(&signed_in, &state, project, None).await
}

fn grantee(pairs: &Pairs) -> Result<Grantee, AppError> {
    let name = value(pairs, "name").trim();
    match value(pairs, "kind") {
        "everyone" => Ok(Grantee::Everyone),
        "team" if !name.is_empty() => Ok(Grantee::Team(name.to_owned())),
        "user" if !name.is_empty() => Ok(Grantee::User(name.to_owned())),
        "team" | "user" => Err(AppError::invalid("name", "Name the user or team to grant the role to.")),
        _ => Err(AppError::invalid("kind", "Choose whom to grant the role to: a user, a team or everyone.")),
    }
}

/// `POST /projects/{key}/access/{action}`: grant, revoke, use a scheme, or copy the scheme.
pub async fn change_access(
    form: CsrfForm<Pairs>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let (key, action) = path.into_inner();
    let project = project_for(&state, &signed_in, key, |p| Action::ManageProject(p)).await?;
    let (actor, target, input) = (signed_in.actor.clone(), project.clone(), data.clone());
    let done = db::run(&state.pool, move |conn| match action.as_str() {
        "grant" => {
            let role = ProjectRole::parse(value(&input, "role")).ok_or_else(|| {
                AppError::invalid("role", "Choose a role: project admin, member, reporter or viewer.")
            })?;
            project_roles::grant(conn, &actor, &target, role, &grantee(&input)?).map(drop)
        }
        "revoke" => {
            let id = value(&input, "grant")
                .parse::<i64>()
                .map_err(|_| AppError::invalid("grant", "Choose a grant to remove."))?;
            project_roles::revoke(conn, &actor, &target, id)
        }
        "scheme" => {
            let id =
                value(&input, "scheme").parse::<i64>().map_err(|_| AppError::invalid("scheme", "Choose a scheme."))?;
            schemes::assign(conn, &actor, &target, id)
        }
        "copy-scheme" => {
            let name = format!("{} scheme", target.key);
            let copied =
                schemes::copy(conn, &actor, target.permission_scheme_id, &name, &format!("Made for {}.", target.key))?;
            schemes::assign(conn, &actor, &target, copied.id)
        }
        other => Err(AppError::not_found(format!("There is no access action \"{other}\"."))),
    })
    .await;
    match done {
        Ok(()) => Ok(redirect(&format!("/projects/{}/access", project.key))),
        Err(error @ AppError::NotFound(_)) => Err(error.into()),
        Err(error) => access_page(&signed_in, &state, project, Some((data, error))).await,
    }
}
