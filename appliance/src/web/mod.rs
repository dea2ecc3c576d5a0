//! The HTTP edge: the route table, middleware, and the plumbing handlers share.

pub mod assets;
pub mod errors;
pub mod etag;
pub mod extract;
pub mod health;
pub mod markdown;
pub mod observe;
pub mod openapi;
pub mod pages;
pub mod rate_limit;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::{middleware, web, App, HttpRequest, HttpResponse};

use crate::attachments::api as attachment_api;
use crate::attachments::pages as attachment_pages;
use crate::audit::pages as audit_pages;
use crate::automation::{api as automation_api, pages as automation_pages};
use crate::config::Config;
use crate::db::DbPool;
use crate::docs::{api as docs_api, page_handlers, space_handlers, version_handlers};
use crate::errors::AppError;
use crate::identity::pages as identity_pages;
use crate::identity::{access_pages, admin_pages, mfa_pages, password_pages, profile_pages, sso_pages};
use crate::identity::{admin_api, project_roles_api};
use crate::integrations::{api as webhook_api, deployment_pages, pages as webhook_pages};
use crate::jobs::pages as job_pages;
use crate::license::pages as license_pages;
use crate::notify::pages as notification_pages;
use crate::search::handlers as search_handlers;
use crate::search::SearchIndex;
use crate::storage::Storage;
use crate::work::{
    api as work_api, backlog_pages, board_pages, csv_api, import_pages, issue_actions_api, issue_form, issue_pages,
    list_pages, planning_api, project_pages, settings_api, settings_pages, workflow_pages,
};
use rate_limit::RateLimiter;

/// Runs `work` on the blocking thread pool: what is synchronous and slow (diesel, a search on
/// the index) must never block an actix worker.
pub async fn blocking<T, F>(work: F) -> Result<T, AppError>
where
    F: FnOnce() -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    web::block(work).await.map_err(|e| AppError::internal(format!("blocking pool: {e}")))?
}

#[derive(Clone)]
pub struct AppState {
    pub pool: DbPool,
    pub config: Arc<Config>,
    pub storage: Storage,
    pub search: SearchIndex,
    /// API requests counted per account and address on this node.
    pub limits: Arc<RateLimiter>,
    /// The customer-managed key-encryption keys, opened and proven at start-up.
    pub keys: Arc<crate::keys::Keyring>,
    /// The certificate served, when Outpost serves HTTPS itself.
    pub certificate: Option<Arc<crate::tls::ServedCertificate>>,
    /// When this node started serving.
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// This node's request counts and latencies, for `/metrics`.
    pub metrics: Arc<crate::operations::metrics::Metrics>,
    /// This node's API calls and active people since it last added them to the usage rows.
    pub usage: Arc<crate::operations::usage::Counter>,
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
    // Browsers that reached Outpost over TLS keep to it for a year.
    let served_over_tls = state.config.server.tls.is_some();
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
        .wrap(middleware::Condition::new(
            served_over_tls,
            middleware::DefaultHeaders::new().add((header::STRICT_TRANSPORT_SECURITY, "max-age=31536000")),
        ))
        .wrap(middleware::Compress::default())
        .wrap(middleware::from_fn(crate::license::pages::read_only_guard))
        .wrap(middleware::from_fn(refuse_nul_in_query))
        .wrap(middleware::from_fn(observe::observe))
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
        .route("/login/reset", web::get().to(password_pages::request_form))
        .route("/login/reset", web::post().to(password_pages::request))
        .route("/login/reset/{token}", web::get().to(password_pages::choose_form))
        .route("/login/reset/{token}", web::post().to(password_pages::choose))
        .route("/settings/password", web::get().to(password_pages::settings))
        .route("/settings/password", web::post().to(password_pages::change))
        .route("/login/sso", web::get().to(sso_pages::start))
        .route("/login/sso/callback", web::get().to(sso_pages::callback))
        .route("/login/code", web::get().to(mfa_pages::code_form))
        .route("/login/code", web::post().to(mfa_pages::code))
        .route("/settings/mfa", web::get().to(mfa_pages::settings))
        .route("/settings/mfa/{action}", web::post().to(mfa_pages::change))
        .route("/admin/settings/mfa", web::post().to(mfa_pages::set_requirement))
        .route("/settings/profile", web::get().to(profile_pages::show))
        .route("/settings/profile", web::post().to(profile_pages::save))
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
        .route("/admin", web::get().to(|| async { crate::web::pages::redirect("/admin/users") }))
        .route("/admin/users", web::get().to(admin_pages::users))
        .route("/admin/users", web::post().to(admin_pages::create_user))
        .route("/admin/users/{username}/{action}", web::post().to(admin_pages::change_user))
        .route("/admin/teams", web::get().to(admin_pages::teams))
        .route("/admin/teams", web::post().to(admin_pages::create_team))
        .route("/admin/teams/{id}", web::get().to(admin_pages::team))
        .route("/admin/teams/{id}/{action}", web::post().to(admin_pages::change_team))
        .route("/admin/schemes", web::get().to(access_pages::list))
        .route("/admin/schemes", web::post().to(access_pages::copy))
        .route("/admin/schemes/{id}", web::get().to(access_pages::show))
        .route("/admin/schemes/{id}/{action}", web::post().to(access_pages::change))
        .route("/admin/audit", web::get().to(audit_pages::page))
        .route("/admin/audit/export", web::get().to(audit_pages::page_export))
        .route("/admin/license", web::get().to(license_pages::show))
        .route("/admin/license", web::post().to(license_pages::install))
        .route("/admin/system", web::get().to(crate::operations::pages::page))
        .route("/admin/system/log-level", web::post().to(crate::operations::pages::set_log_level))
        .route("/metrics", web::get().to(crate::operations::metrics::scrape))
        .route("/admin/usage", web::get().to(crate::operations::usage_pages::page))
        .route("/admin/usage/export", web::get().to(crate::operations::usage_pages::export))
        .route("/admin/jobs", web::get().to(job_pages::list))
        .route("/admin/jobs/{id}/{action}", web::post().to(job_pages::act))
        // What CI systems call, with the URL's secret as credential
        .service(
            web::scope("/hooks")
                .wrap(middleware::from_fn(explain_wrong_method))
                .service(web::resource("/deployments/{token}").route(web::post().to(deployment_pages::receive)))
                .service(web::resource("/automation/{token}").route(web::post().to(automation_pages::receive))),
        )
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
        .route("/search", web::get().to(search_handlers::page))
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
        .route("/projects/{key}/access", web::get().to(access_pages::access))
        .route("/projects/{key}/audit", web::get().to(audit_pages::project_page))
        .route("/projects/{key}/audit/export", web::get().to(audit_pages::project_page_export))
        .route("/projects/{key}/access/{action}", web::post().to(access_pages::change_access))
        .route("/projects/{key}/settings/{part}", web::post().to(settings_pages::save))
        .route("/help/oql", web::get().to(project_pages::oql_help))
        .route("/help/api", web::get().to(openapi::reference))
        .route("/issues/{key}", web::get().to(issue_pages::show))
        .route("/issues/{key}/history", web::get().to(issue_pages::history_page))
        .route("/issues/{key}/edit", web::get().to(issue_form::edit_form))
        .route("/issues/{key}/edit", web::post().to(issue_form::update))
        .route("/issues/{key}/comments", web::post().to(issue_pages::comment))
        .route("/issues/{key}/comments", web::get().to(issue_pages::comments_page))
        .route("/issues/{key}/comments/{id}", web::get().to(issue_pages::show_comment))
        .route("/issues/{key}/transition", web::post().to(issue_pages::transition))
        .route("/issues/{key}/move", web::post().to(board_pages::move_issue))
        .route("/issues/{key}/links", web::post().to(issue_pages::link))
        .route("/issues/{key}/links/{id}/delete", web::post().to(issue_pages::unlink))
        .route("/issues/{key}/watch", web::post().to(issue_pages::watch))
        .route("/issues/{key}/work-log", web::post().to(issue_pages::log_work))
        .route("/issues/{key}/delete", web::post().to(issue_pages::delete))
        .route("/issues/{key}/attachments", web::post().to(attachment_pages::attach_to_issue))
        .route("/attachments/{id}/delete", web::post().to(attachment_pages::remove))
        .route("/attachments/{id}/{name}", web::get().to(attachment_pages::download))
        .route("/thumbnails/{id}", web::get().to(attachment_pages::thumbnail))
        // Documentation
        .route("/spaces", web::get().to(space_handlers::list))
        .route("/spaces", web::post().to(space_handlers::create))
        .route("/spaces/{key}", web::get().to(space_handlers::show))
        .route("/spaces/{key}/pages/new", web::get().to(page_handlers::new_form))
        .route("/spaces/{key}/pages", web::post().to(page_handlers::create))
        .route("/pages/{id}", web::get().to(page_handlers::show))
        .route("/pages/{id}/edit", web::get().to(page_handlers::edit_form))
        .route("/pages/{id}/edit", web::post().to(page_handlers::save))
        .route("/pages/{id}/move", web::post().to(page_handlers::move_page))
        .route("/pages/{id}/delete", web::post().to(page_handlers::delete))
        .route("/pages/{id}/watch", web::post().to(page_handlers::watch))
        .route("/pages/{id}/attachments", web::post().to(attachment_pages::attach_to_page))
        .route("/pages/{id}/versions", web::get().to(version_handlers::list))
        .route("/pages/{id}/versions/{version}", web::get().to(version_handlers::show))
        .route("/pages/{id}/versions/{version}/restore", web::post().to(version_handlers::restore))
        .route("/pages/{id}/diff", web::get().to(version_handlers::diff))
        // REST API v1
        .service(web::scope("/api/v1").wrap(middleware::from_fn(explain_wrong_method)).configure(api_routes));
}

/// The REST API, one resource per path with its methods: a path asked with a method it does
/// not have answers 405 with `Allow` (actix adds the header; `explain_wrong_method` the body).
fn api_routes(cfg: &mut web::ServiceConfig) {
    use web::{delete, get, patch, post, put, resource};
    cfg.service(resource("/openapi.json").route(get().to(openapi::document)))
        // Projects and their configuration
        .service(
            resource("/projects").route(get().to(work_api::list_projects)).route(post().to(work_api::create_project)),
        )
        .service(resource("/projects/{key}").route(get().to(work_api::get_project)))
        .service(
            resource("/projects/{key}/workflow")
                .route(get().to(settings_api::get_workflow))
                .route(put().to(settings_api::put_workflow)),
        )
        .service(
            resource("/projects/{key}/fields")
                .route(get().to(settings_api::get_fields))
                .route(post().to(settings_api::add_field)),
        )
        .service(
            resource("/projects/{key}/fields/{name}")
                .route(put().to(settings_api::set_choices))
                .route(delete().to(settings_api::remove_field)),
        )
        .service(resource("/projects/{key}/versions").route(post().to(settings_api::add_version)))
        .service(resource("/projects/{key}/versions/{name}").route(delete().to(settings_api::remove_version)))
        .service(resource("/projects/{key}/components").route(post().to(settings_api::add_component)))
        .service(resource("/projects/{key}/components/{name}").route(delete().to(settings_api::remove_component)))
        // Issues and comments
        .service(
            resource("/projects/{key}/issues")
                .route(get().to(work_api::list_issues))
                .route(post().to(work_api::create_issue)),
        )
        .service(resource("/projects/{key}/issues/{issue}").route(get().to(work_api::get_project_issue)))
        .service(resource("/projects/{key}/issues.csv").route(get().to(csv_api::export)))
        .service(resource("/projects/{key}/import").route(post().to(csv_api::import)))
        .service(resource("/issues").route(get().to(work_api::find_issues)))
        .service(resource("/search").route(get().to(search_handlers::search_api)))
        .service(
            resource("/issues/{issue}")
                .route(get().to(work_api::get_issue))
                .route(patch().to(work_api::update_issue))
                .route(delete().to(issue_actions_api::delete_issue)),
        )
        .service(resource("/issues/{issue}/history").route(get().to(work_api::get_history)))
        .service(
            resource("/issues/{issue}/comments")
                .route(get().to(work_api::list_comments))
                .route(post().to(work_api::create_comment)),
        )
        .service(
            resource("/issues/{issue}/attachments")
                .route(get().to(attachment_api::list_for_issue))
                .route(post().to(attachment_api::upload_to_issue)),
        )
        .service(
            resource("/pages/{id}/attachments")
                .route(get().to(attachment_api::list_for_page))
                .route(post().to(attachment_api::upload_to_page)),
        )
        .service(
            resource("/attachments/{id}")
                .route(get().to(attachment_api::get))
                .route(delete().to(attachment_api::delete)),
        )
        .service(resource("/attachments/{id}/content").route(get().to(attachment_api::content)))
        // Documentation
        .service(resource("/spaces").route(get().to(docs_api::list_spaces)).route(post().to(docs_api::create_space)))
        .service(
            resource("/spaces/{key}/pages").route(get().to(docs_api::outline)).route(post().to(docs_api::create_page)),
        )
        .service(
            resource("/pages/{id}")
                .route(get().to(docs_api::get_page))
                .route(put().to(docs_api::update_page))
                .route(delete().to(docs_api::delete_page)),
        )
        .service(resource("/pages/{id}/move").route(post().to(docs_api::move_page)))
        .service(resource("/pages/{id}/versions").route(get().to(docs_api::list_versions)))
        .service(resource("/pages/{id}/versions/{version}").route(get().to(docs_api::get_version)))
        .service(resource("/pages/{id}/versions/{version}/restore").route(post().to(docs_api::restore_version)))
        .service(resource("/issues/{issue}/links").route(post().to(issue_actions_api::create_link)))
        .service(resource("/issues/{issue}/links/{id}").route(delete().to(issue_actions_api::delete_link)))
        .service(resource("/issues/{issue}/work-log").route(post().to(issue_actions_api::log_work)))
        .service(
            resource("/issues/{issue}/watchers/me")
                .route(put().to(issue_actions_api::watch))
                .route(delete().to(issue_actions_api::unwatch)),
        )
        // Planning
        .service(resource("/issues/{issue}/move").route(post().to(planning_api::move_issue)))
        .service(resource("/projects/{key}/board").route(get().to(planning_api::board)))
        .service(
            resource("/projects/{key}/sprints")
                .route(get().to(planning_api::list_sprints))
                .route(post().to(planning_api::create_sprint)),
        )
        .service(resource("/projects/{key}/sprints/{id}/start").route(post().to(planning_api::start_sprint)))
        .service(resource("/projects/{key}/sprints/{id}/complete").route(post().to(planning_api::complete_sprint)))
        .service(
            resource("/projects/{key}/filters")
                .route(get().to(planning_api::list_filters))
                .route(post().to(planning_api::create_filter)),
        )
        .service(resource("/projects/{key}/filters/{id}").route(delete().to(planning_api::delete_filter)))
        .service(
            resource("/projects/{key}/roles")
                .route(get().to(project_roles_api::list))
                .route(post().to(project_roles_api::grant)),
        )
        .service(resource("/projects/{key}/roles/{id}").route(delete().to(project_roles_api::revoke)))
        .service(
            resource("/projects/{key}/permission-scheme")
                .route(get().to(admin_api::project_scheme))
                .route(put().to(admin_api::set_project_scheme)),
        )
        // Administration
        .service(resource("/audit").route(get().to(audit_pages::api_list)))
        .service(resource("/admin/system").route(get().to(crate::operations::pages::api)))
        .service(resource("/admin/usage").route(get().to(crate::operations::usage_pages::api)))
        .service(
            resource("/license").route(get().to(license_pages::api_show)).route(put().to(license_pages::api_install)),
        )
        .service(resource("/projects/{key}/audit").route(get().to(audit_pages::api_project_list)))
        .service(resource("/audit/export").route(get().to(audit_pages::api_export)))
        .service(resource("/users").route(get().to(admin_api::list_users)).route(post().to(admin_api::create_user)))
        .service(resource("/users/{username}").route(patch().to(admin_api::change_user)))
        .service(
            resource("/users/{username}/tokens")
                .route(get().to(admin_api::service_tokens))
                .route(post().to(admin_api::create_service_token)),
        )
        .service(resource("/users/{username}/tokens/{id}").route(delete().to(admin_api::revoke_service_token)))
        .service(resource("/teams").route(get().to(admin_api::list_teams)).route(post().to(admin_api::create_team)))
        .service(
            resource("/teams/{id}")
                .route(get().to(admin_api::get_team))
                .route(patch().to(admin_api::update_team))
                .route(delete().to(admin_api::delete_team)),
        )
        .service(
            resource("/teams/{id}/members/{username}")
                .route(put().to(admin_api::add_member))
                .route(delete().to(admin_api::remove_member)),
        )
        .service(
            resource("/permission-schemes")
                .route(get().to(admin_api::list_schemes))
                .route(post().to(admin_api::create_scheme)),
        )
        .service(
            resource("/permission-schemes/{id}")
                .route(get().to(admin_api::get_scheme))
                .route(put().to(admin_api::put_scheme))
                .route(delete().to(admin_api::delete_scheme)),
        )
        .service(resource("/projects/{key}/bulk").route(post().to(planning_api::bulk_edit)))
        // Automation
        .service(
            resource("/projects/{key}/automation-rules")
                .route(get().to(automation_api::list))
                .route(post().to(automation_api::create)),
        )
        .service(
            resource("/projects/{key}/automation-rules/{id}")
                .route(get().to(automation_api::get))
                .route(put().to(automation_api::update))
                .route(delete().to(automation_api::delete)),
        )
        .service(resource("/projects/{key}/automation-rules/{id}/runs").route(get().to(automation_api::runs)))
        .service(
            resource("/projects/{key}/automation-rules/{id}/{action:enable|disable}")
                .route(post().to(automation_api::switch)),
        )
        // Integrations: webhooks in both scopes, deployments and releases
        .configure(|cfg| webhook_routes(cfg, "/projects/{key}/webhooks"))
        .configure(|cfg| webhook_routes(cfg, "/webhooks"))
        .service(resource("/projects/{key}/deployments").route(get().to(deployment_pages::api_list)))
        .service(resource("/projects/{key}/releases").route(get().to(deployment_pages::api_releases)))
        // Notifications
        .service(resource("/notifications").route(get().to(notification_pages::api_list)))
        .service(resource("/notifications/read").route(post().to(notification_pages::api_mark_read)));
}

/// A project's webhooks and the global ones have the same operations under different bases.
fn webhook_routes(cfg: &mut web::ServiceConfig, base: &str) {
    use web::{delete, get, post, resource};
    cfg.service(resource(base.to_owned()).route(get().to(webhook_api::list)).route(post().to(webhook_api::create)))
        .service(resource(format!("{base}/{{id}}")).route(delete().to(webhook_api::delete)))
        .service(resource(format!("{base}/{{id}}/{{action:enable|disable}}")).route(post().to(webhook_api::switch)))
        .service(resource(format!("{base}/{{id}}/deliveries")).route(get().to(webhook_api::deliveries)))
        .service(
            resource(format!("{base}/{{id}}/deliveries/{{delivery}}/redeliver"))
                .route(post().to(webhook_api::redeliver)),
        );
}

/// actix answers a wrong method on a known API path with 405, `Allow` and no body; every API
/// refusal is an `ErrorBody` with a sentence, so this one gets one too.
async fn explain_wrong_method(
    req: ServiceRequest,
    next: middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let response = next.call(req).await?;
    if response.status() != actix_web::http::StatusCode::METHOD_NOT_ALLOWED {
        return Ok(response.map_into_left_body());
    }
    let allow = response.headers().get(header::ALLOW).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let (req, _) = response.into_parts();
    let message = format!("{} is not a method of {}; it answers {allow}.", req.method(), req.path());
    let body = errors::ErrorBody {
        error: errors::ErrorDetail {
            code: "method_not_allowed",
            message,
            field: None,
            error_id: None,
            request_id: observe::request_id(),
        },
    };
    let reply = HttpResponse::MethodNotAllowed().insert_header((header::ALLOW, allow)).json(body);
    Ok(ServiceResponse::new(req, reply).map_into_right_body())
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, actix_web::Error> {
    let error = AppError::not_found(format!("There is no page at {}.", req.path()));
    Err(if req.path().starts_with("/api/") {
        errors::ApiError(error).into()
    } else {
        errors::PageError::App(error).into()
    })
}

/// No name, key or filter holds a NUL character, and PostgreSQL refuses text with one: a query
/// string carrying one is refused here, naming the problem, before any handler reads it.
async fn refuse_nul_in_query(
    req: ServiceRequest,
    next: middleware::Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.query_string().to_ascii_lowercase().contains("%00") {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
        let field = pairs
            .iter()
            .find(|(name, value)| name.contains('\0') || value.contains('\0'))
            .map_or("query", |(name, _)| name.as_str());
        let refusal = crate::errors::AppError::invalid(
            field,
            format!("The parameter {field} holds a NUL character, which nothing can match; nothing was done."),
        );
        return Err(match req.path().starts_with("/api/") {
            true => errors::ApiError(refusal).into(),
            false => errors::PageError::App(refusal).into(),
        });
    }
    next.call(req).await
}
