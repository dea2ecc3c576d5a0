//! The system page for administrators (`/admin/system`) and the same report for monitoring
//! (`GET /api/v1/admin/system`).

use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::health::{self, Report};
use crate::audit::{self, Change};
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};
use crate::web::errors::{ApiError, PageError};
use crate::web::extract::{ApiCaller, CsrfForm, SignedIn};
use crate::web::pages::{redirect, render_with_status, status_for, Nav};
use crate::web::AppState;

#[derive(Template)]
#[template(path = "admin/system.html")]
struct SystemPage {
    nav: Nav,
    report: Report,
    /// This node's log level, when logging is set up here.
    log_level: Option<String>,
    /// What was typed into the log level form, kept when it is refused.
    level_draft: String,
    error: Option<AppError>,
}

impl SystemPage {
    fn when(&self, at: &DateTime<Utc>) -> String {
        at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    }

    /// How long this node has run: "3 days 4 hours", "25 minutes".
    fn uptime(&self) -> String {
        let seconds = (self.report.checked_at - self.report.started_at).num_seconds().max(0);
        let (days, hours, minutes) = (seconds / 86_400, seconds % 86_400 / 3_600, seconds % 3_600 / 60);
        let unit = |n: i64, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        match (days, hours) {
            (0, 0) if minutes == 0 => "under a minute".to_owned(),
            (0, 0) => unit(minutes, "minute"),
            (0, _) => format!("{} {}", unit(hours, "hour"), unit(minutes, "minute")),
            _ => format!("{} {}", unit(days, "day"), unit(hours, "hour")),
        }
    }

    fn summary(&self) -> String {
        let count = |level| self.report.checks.iter().filter(|check| check.level == level).count();
        let needing = |n: usize| health::counted(n as i64, "part needs attention", "parts need attention");
        let failing = |n: usize| health::counted(n as i64, "part is failing", "parts are failing");
        match (count(health::Level::Red), count(health::Level::Amber)) {
            (0, 0) => "Every part is working.".to_owned(),
            (0, amber) => format!("{}.", needing(amber)),
            (red, 0) => format!("{}.", failing(red)),
            (red, amber) => format!("{}, and {}.", failing(red), needing(amber)),
        }
    }
}

async fn show(
    signed_in: &SignedIn,
    state: &AppState,
    level_draft: String,
    error: Option<AppError>,
) -> Result<HttpResponse, PageError> {
    let report = health::report(state).await;
    let log_level = crate::telemetry::level();
    let status = status_for(error.as_ref());
    let page = SystemPage { nav: Nav::for_user(signed_in, "admin"), report, log_level, level_draft, error };
    Ok(render_with_status(&page, status)?)
}

/// `GET /admin/system`: each part of the installation, green, amber or red with the reason.
pub async fn page(signed_in: SignedIn, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    authorize(signed_in.user(), Action::Administer)?;
    let draft = crate::telemetry::level().unwrap_or_default();
    show(&signed_in, &state, draft, None).await
}

#[derive(Deserialize)]
pub struct LevelForm {
    #[serde(default)]
    level: String,
}

/// `POST /admin/system/log-level`: changes this node's log level until it restarts (audited);
/// a level that is not one is refused with the text kept.
pub async fn set_log_level(form: CsrfForm<LevelForm>, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    authorize(signed_in.user(), Action::Administer)?;
    let before = crate::telemetry::level();
    if let Err(problem) = crate::telemetry::set_level(&data.level) {
        return show(&signed_in, &state, data.level, Some(AppError::invalid("level", format!("{problem}.")))).await;
    }
    let (actor, level) = (signed_in.actor.clone(), data.level.trim().to_owned());
    crate::db::run(&state.pool, move |conn| {
        Ok(audit::record(
            conn,
            &actor,
            Change {
                action: "log.level_changed",
                entity_type: "installation",
                entity_id: 0,
                before: Some(json!({ "level": before })),
                after: Some(json!({ "level": level })),
            },
        )?)
    })
    .await?;
    Ok(redirect("/admin/system#log-level"))
}

/// The health of each part of the installation as this node sees it (administrators): the
/// database, object store, search index, jobs, mail, license, TLS certificate, key and disk.
/// The answer is 200 whatever the levels: `level` is the worst of them.
#[utoipa::path(get, path = "/api/v1/admin/system", tag = "administration",
    responses((status = 200, body = Report)))]
pub async fn api(caller: ApiCaller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    authorize(&caller.user, Action::Administer)?;
    Ok(HttpResponse::Ok().json(health::report(&state).await))
}
