//! The license for administrators: `/admin/license` (what is installed, seats in use, features,
//! and a form to paste a new one), `GET/PUT /api/v1/license`, and the guard that turns every
//! write into a refusal once the installation is read-only.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{middleware, web, HttpResponse};
use askama::Template;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::signed::day_and_time;
use super::{Feature, Mode, Status};
use crate::db;
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};
use crate::web::errors::{ApiError, PageError};
use crate::web::extract::{ApiCaller, ApiJson, CsrfForm, SignedIn};
use crate::web::pages::{redirect, render_with_status, status_for, Nav};
use crate::web::AppState;

/// The license as the page and the API show it.
#[derive(Serialize, ToSchema)]
pub struct LicenseBody {
    #[serde(flatten)]
    mode: Mode,
    installation_id: String,
    license_id: Option<String>,
    customer: Option<String>,
    edition: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    seats: i64,
    seats_used: i64,
    /// The features in force (every feature in evaluation mode).
    features: Vec<String>,
    /// Why an installed license is not in force, if it is not.
    problem: Option<String>,
}

impl LicenseBody {
    fn of(status: Status, seats_used: i64) -> LicenseBody {
        let payload = status.license.as_ref().map(|license| &license.payload);
        LicenseBody {
            installation_id: status.installation_id.clone(),
            license_id: payload.map(|p| p.license_id.clone()),
            customer: payload.map(|p| p.customer_name.clone()),
            edition: payload.map(|p| p.edition.clone()),
            expires_at: payload.map(|p| p.expires_at),
            seats: status.seat_limit(),
            seats_used,
            features: Feature::ALL.iter().filter(|f| status.has(**f)).map(|f| f.as_str().to_owned()).collect(),
            problem: status.problem.clone(),
            mode: status.mode,
        }
    }
}

async fn body(state: &AppState) -> Result<LicenseBody, AppError> {
    db::run(&state.pool, |conn| Ok(LicenseBody::of(super::current(conn)?, super::seats_used(conn)?))).await
}

#[derive(Template)]
#[template(path = "admin/license.html")]
struct LicensePage {
    nav: Nav,
    license: LicenseBody,
    draft: String,
    error: Option<AppError>,
}

impl LicensePage {
    fn when(&self, at: &DateTime<Utc>) -> String {
        day_and_time(*at)
    }

    fn mode_text(&self) -> String {
        match &self.license.mode {
            Mode::Evaluation => "Evaluation".to_owned(),
            Mode::Licensed => "Licensed".to_owned(),
            Mode::Grace { read_only_from } => format!("Expired: read-only from {}", day_and_time(*read_only_from)),
            Mode::ReadOnly { since } => format!("Read-only since {}", day_and_time(*since)),
        }
    }
}

async fn page(
    signed_in: &SignedIn,
    state: &AppState,
    draft: String,
    error: Option<AppError>,
) -> Result<HttpResponse, PageError> {
    let license = body(state).await?;
    let status = status_for(error.as_ref());
    Ok(render_with_status(&LicensePage { nav: Nav::for_user(signed_in, "admin"), license, draft, error }, status)?)
}

/// `GET /admin/license`.
pub async fn show(signed_in: SignedIn, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    authorize(signed_in.user(), Action::Administer)?;
    page(&signed_in, &state, String::new(), None).await
}

#[derive(Deserialize)]
pub struct InstallForm {
    #[serde(default)]
    license: String,
}

/// `POST /admin/license`: installs the pasted license, or shows why not with the text kept.
pub async fn install(form: CsrfForm<InstallForm>, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    authorize(signed_in.user(), Action::Administer)?;
    let (actor, text) = (signed_in.actor.clone(), data.license.clone());
    match db::run(&state.pool, move |conn| super::install(conn, &actor, &text)).await {
        Ok(_) => Ok(redirect("/admin/license")),
        Err(error @ AppError::Invalid { .. }) => page(&signed_in, &state, data.license, Some(error)).await,
        Err(other) => Err(other.into()),
    }
}

/// The installed license, seats in use and features (administrators).
#[utoipa::path(get, path = "/api/v1/license", tag = "administration",
    responses((status = 200, body = LicenseBody)))]
pub async fn api_show(caller: ApiCaller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    authorize(&caller.user, Action::Administer)?;
    Ok(HttpResponse::Ok().json(body(&state).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LicenseInput {
    /// The license file's text, armour included.
    license: String,
}

/// Installs a license (administrators); refused with 422 and the reason when it does not verify,
/// has not started, has expired or belongs to another installation.
#[utoipa::path(put, path = "/api/v1/license", tag = "administration", request_body = LicenseInput,
    responses((status = 200, body = LicenseBody)))]
pub async fn api_install(
    caller: ApiCaller,
    state: web::Data<AppState>,
    input: ApiJson<LicenseInput>,
) -> Result<HttpResponse, ApiError> {
    authorize(&caller.user, Action::Administer)?;
    let (actor, text) = (caller.actor.clone(), input.0.license);
    db::run(&state.pool, move |conn| super::install(conn, &actor, &text)).await?;
    Ok(HttpResponse::Ok().json(body(&state).await?))
}

/// What stays open in read-only mode: signing in and out, and installing a license.
fn open_when_read_only(path: &str) -> bool {
    path == "/login"
        || path.starts_with("/login/")
        || path == "/logout"
        || path == "/admin/license"
        || path == "/api/v1/license"
}

/// Refuses every write once the license's grace period has ended; reads go on as ever.
pub async fn read_only_guard(
    req: ServiceRequest,
    next: middleware::Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let writes = !matches!(*req.method(), actix_web::http::Method::GET | actix_web::http::Method::HEAD);
    if writes && !open_when_read_only(req.path()) {
        if let Some(state) = req.app_data::<web::Data<AppState>>() {
            let status = db::run(&state.pool, |conn| Ok(super::current(conn)?)).await;
            if let Ok(status) = status.as_ref().map(Status::read_only) {
                if status {
                    let refusal = AppError::forbidden(
                        "Outpost is read-only because its license expired and the grace period ended; nothing was changed. An administrator can install a new license under Administration → License.",
                    );
                    return Err(match req.path().starts_with("/api/") {
                        true => ApiError(refusal).into(),
                        false => PageError::App(refusal).into(),
                    });
                }
            }
        }
    }
    next.call(req).await
}
