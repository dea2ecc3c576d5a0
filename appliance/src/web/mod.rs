//! The HTTP edge: the route table, middleware, and the plumbing handlers share.

pub mod assets;
pub mod errors;
pub mod extract;
pub mod health;
pub mod markdown;
pub mod openapi;
pub mod pages;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{middleware, web, App, HttpRequest, HttpResponse};

use crate::automation::{api as automation_api, pages as automation_pages};
use crate::config::Config;
use crate::db::DbPool;
use crate::errors::AppError;
use crate::identity::pages as identity_pages;
use crate::integrations::{api as webhook_api, deployment_pages, pages as webhook_pages};
use crate::jobs::pages as job_pages;
use crate::notify::pages as notification_pages;
use crate::work::{
    api as work_api, backlog_pages, board_pages, import_pages, issue_form, issue_pages, list_pages, planning_api,
    project_pages, settings_api, settings_pages, workflow_pages,
};

#[derive(Clone)]
pub struct AppState {
    pub pool: DbPool,
    pub config: Arc<Config>,
}

/// Nothing from another origin, no inline script, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
     object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::new(state))
        .app_data(extract::payload_config())
        .app_data(extract::path_config())
        .app_data(extract::query_config())
        .wrap(
            middleware::DefaultHeaders::new()
                .add(("X-Content-Type-Options", "nosniff"))
                .add(("X-Frame-Options", "DENY"))
                .add(("Referrer-Policy", "same-origin"))
                .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY)),
        )
        .wrap(middleware::Compress::default())
        .wrap(middleware::from_fn(access_log))
        .configure(routes)
        .default_service(web::to(not_found))
}

/// Every route, top to bottom.
fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health/live", web::get().to(health::live))
        .route("/health/ready", web::get().to(health::ready))
        .route("/static/{name}", web::get().to(assets::serve))
        // Signing in and out, personal settings
        .route("/login", web::get().to(identity_pages::login_form))
        .route("/login", web::post().to(identity_pages::login))
        .route("/logout", web::post().to(identity_pages::logout))
        .route("/settings/tokens", web::get().to(identity_pages::tokens))
        .route("/settings/tokens", web::post().to(identity_pages::create_token))
        .route("/settings/tokens/{id}/revoke", web::post().to(identity_pages::revoke_token))
        // Notifications and administration
        .route("/notifications", web::get().to(notification_pages::list))
        .route("/notifications/read", web::post().to(notification_pages::mark_read))
        .route("/notifications/preferences", web::get().to(notification_pages::show_preferences))
        .route("/notifications/preferences", web::post().to(notification_pages::save_preferences))
        .route("/notifications/unsubscribe", web::get().to(notification_pages::unsubscribe_form))
        .route("/notifications/unsubscribe", web::post().to(notification_pages::unsubscribe))
        .route("/admin/jobs", web::get().to(job_pages::list))
        .route("/admin/jobs/{id}/{action}", web::post().to(job_pages::act))
        .route("/hooks/deployments/{token}", web::post().to(deployment_pages::receive))
        .route("/hooks/automation/{token}", web::post().to(automation_pages::receive))
        .route("/projects/{key}/automation", web::get().to(automation_pages::list))
        .route("/projects/{key}/automation", web::post().to(automation_pages::create))
        .route("/projects/{key}/automation/{id}", web::get().to(automation_pages::show))
        .route("/projects/{key}/automation/{id}", web::post().to(automation_pages::update))
        .route(
            "/projects/{key}/automation/{id}/{action:enable|disable|delete}",
            web::post().to(automation_pages::change),
        )
        .route("/projects/{key}/deployments", web::get().to(deployment_pages::show))
        .route("/projects/{key}/deployments/hooks", web::post().to(deployment_pages::create_hook))
        .route("/projects/{key}/deployments/hooks/{id}/revoke", web::post().to(deployment_pages::revoke_hook))
        .route("/admin/webhooks", web::get().to(webhook_pages::list))
        .route("/admin/webhooks", web::post().to(webhook_pages::create))
        .route("/admin/webhooks/{id}", web::get().to(webhook_pages::show))
        .route("/admin/webhooks/{id}/deliveries/{delivery}/redeliver", web::post().to(webhook_pages::redeliver))
        .route("/admin/webhooks/{id}/{action:enable|disable|delete}", web::post().to(webhook_pages::change))
        .route("/projects/{key}/webhooks", web::get().to(webhook_pages::list))
        .route("/projects/{key}/webhooks", web::post().to(webhook_pages::create))
        .route("/projects/{key}/webhooks/{id}", web::get().to(webhook_pages::show))
        .route(
            "/projects/{key}/webhooks/{id}/deliveries/{delivery}/redeliver",
            web::post().to(webhook_pages::redeliver),
        )
        .route("/projects/{key}/webhooks/{id}/{action:enable|disable|delete}", web::post().to(webhook_pages::change))
        // Work: pages
        .route("/", web::get().to(project_pages::home))
        .route("/projects", web::get().to(project_pages::list))
        .route("/projects", web::post().to(project_pages::create))
        .route("/projects/new", web::get().to(project_pages::new_form))
        .route("/projects/{key}", web::get().to(project_pages::show))
        .route("/projects/{key}/issues", web::get().to(list_pages::issues))
        .route("/projects/{key}/issues.csv", web::get().to(import_pages::export))
        .route("/projects/{key}/import", web::get().to(import_pages::show))
        .route("/projects/{key}/import", web::post().to(import_pages::run))
        .route("/projects/{key}/import/upload", web::post().to(import_pages::upload))
        .route("/projects/{key}/filters", web::post().to(list_pages::save_filter))
        .route("/projects/{key}/filters/{id}/delete", web::post().to(list_pages::delete_filter))
        .route("/projects/{key}/bulk", web::post().to(list_pages::bulk_edit))
        .route("/projects/{key}/issues", web::post().to(issue_form::create))
        .route("/projects/{key}/issues/new", web::get().to(issue_form::new_form))
        .route("/projects/{key}/workflow", web::get().to(workflow_pages::edit))
        .route("/projects/{key}/workflow", web::post().to(workflow_pages::save))
        .route("/projects/{key}/backlog", web::get().to(backlog_pages::show))
        .route("/projects/{key}/sprints", web::post().to(backlog_pages::create_sprint))
        .route("/projects/{key}/sprints/{id}/{action}", web::post().to(backlog_pages::sprint_action))
        .route("/projects/{key}/board", web::get().to(board_pages::kanban))
        .route("/projects/{key}/sprint-board", web::get().to(board_pages::scrum))
        .route("/projects/{key}/settings", web::get().to(settings_pages::show))
        .route("/projects/{key}/settings/{part}", web::post().to(settings_pages::save))
        .route("/help/oql", web::get().to(project_pages::oql_help))
        .route("/help/api", web::get().to(openapi::reference))
        .route("/issues/{key}", web::get().to(issue_pages::show))
        .route("/issues/{key}/edit", web::get().to(issue_form::edit_form))
        .route("/issues/{key}/edit", web::post().to(issue_form::update))
        .route("/issues/{key}/comments", web::post().to(issue_pages::comment))
        .route("/issues/{key}/transition", web::post().to(issue_pages::transition))
        .route("/issues/{key}/move", web::post().to(board_pages::move_issue))
        .route("/issues/{key}/links", web::post().to(issue_pages::link))
        .route("/issues/{key}/links/{id}/delete", web::post().to(issue_pages::unlink))
        .route("/issues/{key}/watch", web::post().to(issue_pages::watch))
        .route("/issues/{key}/work-log", web::post().to(issue_pages::log_work))
        // Work: REST API v1
        .service(
            web::scope("/api/v1")
                .route("/openapi.json", web::get().to(openapi::document))
                .route("/notifications", web::get().to(notification_pages::api_list))
                .route("/projects/{key}/deployments", web::get().to(deployment_pages::api_list))
                .route("/projects/{key}/releases", web::get().to(deployment_pages::api_releases))
                .route("/projects/{key}/automation-rules", web::get().to(automation_api::list))
                .route("/projects/{key}/automation-rules", web::post().to(automation_api::create))
                .route("/projects/{key}/automation-rules/{id}", web::get().to(automation_api::get))
                .route("/projects/{key}/automation-rules/{id}", web::put().to(automation_api::update))
                .route("/projects/{key}/automation-rules/{id}", web::delete().to(automation_api::delete))
                .route("/projects/{key}/automation-rules/{id}/runs", web::get().to(automation_api::runs))
                .route(
                    "/projects/{key}/automation-rules/{id}/{action:enable|disable}",
                    web::post().to(automation_api::switch),
                )
                .route("/webhooks", web::get().to(webhook_api::list))
                .route("/webhooks", web::post().to(webhook_api::create))
                .route("/webhooks/{id}", web::delete().to(webhook_api::change))
                .route("/webhooks/{id}/{action:enable|disable}", web::post().to(webhook_api::change))
                .route("/webhooks/{id}/deliveries", web::get().to(webhook_api::deliveries))
                .route("/webhooks/{id}/deliveries/{delivery}/redeliver", web::post().to(webhook_api::redeliver))
                .route("/projects/{key}/webhooks", web::get().to(webhook_api::list))
                .route("/projects/{key}/webhooks", web::post().to(webhook_api::create))
                .route("/projects/{key}/webhooks/{id}", web::delete().to(webhook_api::change))
                .route("/projects/{key}/webhooks/{id}/{action:enable|disable}", web::post().to(webhook_api::change))
                .route("/projects/{key}/webhooks/{id}/deliveries", web::get().to(webhook_api::deliveries))
                .route(
                    "/projects/{key}/webhooks/{id}/deliveries/{delivery}/redeliver",
                    web::post().to(webhook_api::redeliver),
                )
                .route("/notifications/read", web::post().to(notification_pages::api_mark_read))
                .route("/projects", web::get().to(work_api::list_projects))
                .route("/projects", web::post().to(work_api::create_project))
                .route("/projects/{key}", web::get().to(work_api::get_project))
                .route("/projects/{key}/workflow", web::get().to(settings_api::get_workflow))
                .route("/projects/{key}/workflow", web::put().to(settings_api::put_workflow))
                .route("/projects/{key}/board", web::get().to(planning_api::board))
                .route("/projects/{key}/fields", web::get().to(settings_api::get_fields))
                .route("/projects/{key}/{part:versions|components|fields}", web::post().to(settings_api::add_entry))
                .route(
                    "/projects/{key}/{part:versions|components|fields}/{name}",
                    web::delete().to(settings_api::remove_entry),
                )
                .route("/projects/{key}/fields/{name}", web::put().to(settings_api::set_choices))
                .route("/search", web::get().to(work_api::search))
                .route("/projects/{key}/issues.csv", web::get().to(planning_api::export))
                .route("/projects/{key}/import", web::post().to(planning_api::import))
                .route("/projects/{key}/sprints", web::get().to(planning_api::list_sprints))
                .route("/projects/{key}/sprints", web::post().to(planning_api::create_sprint))
                .route("/projects/{key}/sprints/{id}/{action}", web::post().to(planning_api::sprint_action))
                .route("/projects/{key}/filters", web::get().to(planning_api::list_filters))
                .route("/projects/{key}/filters", web::post().to(planning_api::create_filter))
                .route("/projects/{key}/filters/{id}", web::delete().to(planning_api::delete_filter))
                .route("/projects/{key}/bulk", web::post().to(planning_api::bulk_edit))
                .route("/issues/{issue}/move", web::post().to(planning_api::move_issue))
                .route("/issues/{issue}/links", web::post().to(planning_api::create_link))
                .route("/issues/{issue}/links/{id}", web::delete().to(planning_api::delete_link))
                .route("/issues/{issue}/work-log", web::post().to(planning_api::log_work))
                .route("/issues/{issue}/watchers/me", web::put().to(planning_api::watch))
                .route("/issues/{issue}/watchers/me", web::delete().to(planning_api::watch))
                .route("/projects/{key}/issues", web::get().to(work_api::list_issues))
                .route("/projects/{key}/issues", web::post().to(work_api::create_issue))
                .route("/projects/{key}/issues/{issue}", web::get().to(work_api::get_project_issue))
                .route("/issues/{issue}", web::get().to(work_api::get_issue))
                .route("/issues/{issue}", web::patch().to(work_api::update_issue))
                .route("/issues/{issue}/history", web::get().to(work_api::get_history))
                .route("/issues/{issue}/comments", web::get().to(work_api::list_comments))
                .route("/issues/{issue}/comments", web::post().to(work_api::create_comment)),
        );
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, actix_web::Error> {
    let error = AppError::not_found(format!("There is no page at {}.", req.path()));
    Err(if req.path().starts_with("/api/") {
        errors::ApiError(error).into()
    } else {
        errors::PageError::App(error).into()
    })
}

async fn access_log(
    req: ServiceRequest,
    next: middleware::Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let (method, path) = (req.method().clone(), req.path().to_owned());
    let response = next.call(req).await?;
    tracing::info!(
        target: "outpost::http",
        %method,
        %path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_secs_f64() * 1000.0,
    );
    Ok(response)
}
