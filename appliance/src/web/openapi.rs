//! The REST API's OpenAPI 3.1 document, generated from the handlers' own annotations
//! (`#[utoipa::path]` beside each handler, `ToSchema` on the types they read and answer), served
//! at `/api/v1/openapi.json`, and the reference page at `/help/api` rendered from the same
//! document on the server.
//!
//! Conventions every operation shares are added here once rather than on each handler: the
//! bearer-token security scheme, and the error answers (every refusal has the `ErrorBody`
//! shape and a status that says what kind of refusal it is).

use std::sync::OnceLock;

use actix_web::HttpResponse;
use askama::Template;
use serde::Deserialize;
use serde_json::Value;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::{AdditionalProperties, Schema};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{IntoParams, Modify, OpenApi};

use super::errors::{ErrorBody, PageError};
use super::extract::SignedIn;
use super::pages::{render, Nav};
use crate::attachments::api as attachment_api;
use crate::automation::{
    actions as automation_actions, api as automation_api, pages as automation_pages, rules as automation_rules,
};
use crate::docs::api as docs_api;
use crate::identity::{admin_api, project_roles_api};
use crate::integrations::{api as webhook_api, deployment_pages};
use crate::notify::pages as notification_pages;
use crate::work::{api as work_api, csv_api, issue_actions_api, planning_api, settings_api};

/// A project in the path.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectPath {
    /// The project's key.
    #[param(example = "OPS")]
    pub key: String,
}

/// An issue in the path.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct IssuePath {
    /// The issue's key.
    #[param(example = "OPS-1")]
    pub issue: String,
}

/// An issue of a given project in the path.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectIssuePath {
    /// The project's key.
    #[param(example = "OPS")]
    pub key: String,
    /// The issue's key.
    #[param(example = "OPS-1")]
    pub issue: String,
}

/// A numbered object of an issue (a link) in the path.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct IssueItemPath {
    /// The issue's key.
    #[param(example = "OPS-1")]
    pub issue: String,
    /// The object's id.
    #[param(example = 1)]
    pub id: i64,
}

/// A project's named catalogue entry (a version, a component, a custom field) in the path.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectNamePath {
    /// The project's key.
    #[param(example = "OPS")]
    pub key: String,
    /// The entry's name.
    #[param(example = "1.0")]
    pub name: String,
}

/// A project's numbered object (a rule, a webhook) in the path.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectItemPath {
    /// The project's key.
    #[param(example = "OPS")]
    pub key: String,
    /// The object's id.
    #[param(example = 1)]
    pub id: i64,
}

/// The `If-Match` header an update may carry.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IfMatchHeader {
    /// The `ETag` the object had when read (`"3f2a…"`, or `*` for any): the update is refused
    /// with 412 if the object changed since, or if the value is not an ETag list.
    #[serde(rename = "If-Match", default)]
    pub if_match: String,
}

/// `POST …/{id}/{action}`: which rule or webhook, and what to do with it.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SwitchPath {
    /// The project's key.
    #[param(example = "OPS")]
    pub key: String,
    /// The object's id.
    #[param(example = 1)]
    pub id: i64,
    /// `enable` or `disable`.
    #[param(pattern = "^(enable|disable)$", example = "disable")]
    pub action: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Outpost REST API",
        version = "1",
        description = "Everything a person can do in Outpost's pages, over JSON. Authenticate with a personal \
                       API token (Settings → API tokens) as `Authorization: Bearer op_…`. Errors always have \
                       the `ErrorBody` shape; `error.field` names the input a refusal is about."
    ),
    paths(
        work_api::list_projects,
        work_api::create_project,
        work_api::get_project,
        project_roles_api::list,
        admin_api::project_scheme,
        admin_api::set_project_scheme,
        crate::audit::pages::api_list,
        crate::audit::pages::api_export,
        crate::audit::pages::api_project_list,
        crate::license::pages::api_show,
        crate::operations::pages::api,
        crate::operations::usage_pages::api,
        crate::license::pages::api_install,
        admin_api::list_users,
        admin_api::create_user,
        admin_api::change_user,
        admin_api::service_tokens,
        admin_api::create_service_token,
        admin_api::revoke_service_token,
        admin_api::list_teams,
        admin_api::create_team,
        admin_api::get_team,
        admin_api::update_team,
        admin_api::delete_team,
        admin_api::add_member,
        admin_api::remove_member,
        admin_api::list_schemes,
        admin_api::create_scheme,
        admin_api::get_scheme,
        admin_api::put_scheme,
        admin_api::delete_scheme,
        project_roles_api::grant,
        project_roles_api::revoke,
        work_api::list_issues,
        work_api::create_issue,
        work_api::get_project_issue,
        work_api::get_issue,
        work_api::update_issue,
        issue_actions_api::delete_issue,
        work_api::get_history,
        work_api::list_comments,
        work_api::create_comment,
        work_api::find_issues,
        crate::search::handlers::search_api,
        csv_api::export,
        csv_api::import,
        planning_api::move_issue,
        issue_actions_api::create_link,
        issue_actions_api::delete_link,
        issue_actions_api::log_work,
        issue_actions_api::watch,
        issue_actions_api::unwatch,
        settings_api::get_workflow,
        settings_api::put_workflow,
        settings_api::get_fields,
        settings_api::add_version,
        settings_api::remove_version,
        settings_api::add_component,
        settings_api::remove_component,
        settings_api::add_field,
        settings_api::set_choices,
        settings_api::remove_field,
        planning_api::list_sprints,
        planning_api::create_sprint,
        planning_api::start_sprint,
        planning_api::complete_sprint,
        planning_api::board,
        planning_api::list_filters,
        planning_api::create_filter,
        planning_api::delete_filter,
        planning_api::bulk_edit,
        automation_api::list,
        automation_api::create,
        automation_api::get,
        automation_api::update,
        automation_api::delete,
        automation_api::switch,
        automation_api::runs,
        automation_pages::receive,
        webhook_api::list,
        webhook_api::create,
        webhook_api::delete,
        webhook_api::switch,
        webhook_api::deliveries,
        webhook_api::redeliver,
        deployment_pages::receive,
        deployment_pages::api_list,
        deployment_pages::api_releases,
        notification_pages::api_list,
        notification_pages::api_mark_read,
        attachment_api::list_for_issue,
        attachment_api::upload_to_issue,
        attachment_api::list_for_page,
        attachment_api::upload_to_page,
        attachment_api::get,
        attachment_api::content,
        attachment_api::delete,
        docs_api::list_spaces,
        docs_api::create_space,
        docs_api::outline,
        docs_api::create_page,
        docs_api::get_page,
        docs_api::update_page,
        docs_api::move_page,
        docs_api::delete_page,
        docs_api::list_versions,
        docs_api::get_version,
        docs_api::restore_version,
    ),
    components(schemas(ErrorBody, automation_rules::Draft, automation_actions::Action)),
    modifiers(&Conventions),
    security(("token" = [])),
    tags(
        (name = "projects", description = "Projects and their settings"),
        (name = "administration", description = "Accounts, teams and permission schemes (administrators)"),
        (name = "issues", description = "Issues: create, read, change, find"),
        (name = "comments", description = "Comments on issues"),
        (name = "planning", description = "Sprints, boards, saved filters, moving and bulk-changing issues"),
        (name = "automation", description = "A project's automation rules and their execution logs"),
        (name = "webhooks", description = "Outgoing webhooks of a project, or global ones (administrators) at \
                                          the same paths without `/projects/{key}`"),
        (name = "deployments", description = "Deployments reported by CI pipelines, and releases"),
        (name = "notifications", description = "The caller's in-app notifications"),
        (name = "docs", description = "Documentation spaces, the page tree, pages and their versions"),
        (name = "attachments", description = "Files attached to issues and documentation pages: streamed \
                                             uploads (multipart), downloads, removal"),
        (name = "search", description = "Full-text search over issues, comments, pages and files"),
    )
)]
pub struct ApiDoc;

/// The error answers every operation can give.
const ERROR_STATUSES: &[(&str, &str)] = &[
    ("400", "The request could not be read (malformed JSON, a wrong type, an unknown field)."),
    ("401", "No valid API token."),
    ("403", "The token's user may not do this."),
    ("404", "There is no such object, or the caller may not know it exists."),
    ("409", "The request conflicts with the object's state."),
    ("413", "The body is too large."),
    ("422", "The input was understood but breaks a rule; `error.field` names the input."),
    ("429", "Too many requests; try again later."),
    ("503", "The database (or, for search, the search index) is unavailable; try again in a moment."),
];

struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("token", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        for (status, description) in ERROR_STATUSES {
            let response = ResponseBuilder::new()
                .description(*description)
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
                )
                .build();
            components.responses.insert(format!("Error{status}"), RefOr::T(response));
        }
        // serde refuses unknown fields in each kind of action; utoipa does not say so for
        // the variants of an internally tagged enum, so the document is told here.
        if let Some(RefOr::T(Schema::OneOf(kinds))) = components.schemas.get_mut("Action") {
            for kind in &mut kinds.items {
                if let RefOr::T(Schema::Object(object)) = kind {
                    object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
                }
            }
        }
        mirror_global_webhooks(openapi);
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for operation in operations.into_iter().flatten() {
                add_error_answers(operation);
            }
        }
    }
}

/// Global webhooks (administrators) have the same operations as a project's, at the same
/// paths without `/projects/{key}`; one handler serves both, so the annotations state the
/// project scope and this adds the global one.
fn mirror_global_webhooks(openapi: &mut utoipa::openapi::OpenApi) {
    const PROJECT_SCOPE: &str = "/api/v1/projects/{key}/webhooks";
    let mirrored: Vec<(String, PathItem)> = openapi
        .paths
        .paths
        .iter()
        .filter_map(|(path, item)| Some((path.strip_prefix(PROJECT_SCOPE)?, item)))
        .map(|(rest, item)| {
            let mut item = item.clone();
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for operation in operations.into_iter().flatten() {
                if let Some(parameters) = operation.parameters.as_mut() {
                    parameters.retain(|p| p.name != "key");
                }
                operation.operation_id = operation.operation_id.as_ref().map(|id| format!("global_{id}"));
                operation.summary = operation.summary.as_ref().map(|s| format!("{s} (global hooks: administrators)"));
            }
            (format!("/api/v1/webhooks{rest}"), item)
        })
        .collect();
    openapi.paths.paths.extend(mirrored);
}

fn add_error_answers(operation: &mut Operation) {
    for (status, _) in ERROR_STATUSES {
        operation
            .responses
            .responses
            .entry((*status).to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(format!("Error{status}"))));
    }
}

/// The document as JSON, built once.
fn document_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| ApiDoc::openapi().to_pretty_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")))
}

/// `GET /api/v1/openapi.json`: public, like any API reference; it holds no data.
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(document_text())
}

/// One operation as the reference page shows it.
pub struct OperationView {
    pub method: String,
    pub path: String,
    pub anchor: String,
    pub summary: String,
    /// Name, where (path, query), whether required (yes, no), meaning.
    pub parameters: Vec<(String, String, &'static str, String)>,
    pub request: Option<String>,
    pub responses: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "help/api.html")]
struct ReferencePage {
    nav: Nav,
    title: String,
    description: String,
    tags: Vec<(String, String, Vec<OperationView>)>,
    schemas: Vec<(String, String)>,
}

/// The name a `$ref` points to, or the schema written out.
fn schema_text(schema: &Value) -> String {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference.rsplit('/').next().unwrap_or(reference).to_owned(),
        None => serde_json::to_string(schema).unwrap_or_default(),
    }
}

fn operations(doc: &Value) -> Vec<(String, OperationView)> {
    let mut found = Vec::new();
    let paths = doc.get("paths").and_then(Value::as_object).into_iter().flatten();
    for (path, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(operation) = item.get(method) else { continue };
            let text = |key: &str| operation.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
            let tag = operation.pointer("/tags/0").and_then(Value::as_str).unwrap_or("other").to_owned();
            let parameters = operation
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|p| {
                    let field = |key: &str| p.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
                    let required = if p.get("required").and_then(Value::as_bool) == Some(true) { "yes" } else { "no" };
                    (field("name"), field("in"), required, field("description"))
                })
                .collect();
            let request = operation.pointer("/requestBody/content/application~1json/schema").map(schema_text);
            let responses = operation
                .get("responses")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter(|(status, _)| status.starts_with('2'))
                .map(|(status, response)| {
                    let body = response.pointer("/content/application~1json/schema").map(schema_text);
                    (status.clone(), body.unwrap_or_else(|| "no body".to_owned()))
                })
                .collect();
            let summary =
                [text("summary"), text("description")].into_iter().find(|t| !t.is_empty()).unwrap_or_default();
            let anchor = format!("{method}-{}", path.replace(['/', '{', '}'], "-"));
            found.push((
                tag,
                OperationView {
                    method: method.to_uppercase(),
                    path: path.clone(),
                    anchor,
                    summary,
                    parameters,
                    request,
                    responses,
                },
            ));
        }
    }
    found
}

/// `GET /help/api`: the reference, from the same document.
pub async fn reference(signed_in: SignedIn) -> Result<HttpResponse, PageError> {
    let doc: Value = serde_json::from_str(document_text()).unwrap_or(Value::Null);
    let mut tags: Vec<(String, String, Vec<OperationView>)> = doc
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|tag| {
            let field = |key: &str| tag.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
            (field("name"), field("description"), Vec::new())
        })
        .collect();
    for (tag, operation) in operations(&doc) {
        match tags.iter_mut().find(|(name, _, _)| *name == tag) {
            Some((_, _, list)) => list.push(operation),
            None => tags.push((tag, String::new(), vec![operation])),
        }
    }
    let schemas = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, schema)| (name.clone(), serde_json::to_string_pretty(schema).unwrap_or_default()))
        .collect();
    let text = |pointer: &str| doc.pointer(pointer).and_then(Value::as_str).unwrap_or("").to_owned();
    let page = ReferencePage {
        nav: Nav::for_user(&signed_in, "help"),
        title: text("/info/title"),
        description: text("/info/description"),
        tags,
        schemas,
    };
    Ok(render(&page)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_documents_its_error_answers_and_is_tagged() {
        let doc: Value = serde_json::from_str(document_text()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let found = operations(&doc);
        assert!(found.len() >= 60, "{}", found.len());
        for (tag, operation) in &found {
            assert_ne!(tag, "other", "{} {} has no tag", operation.method, operation.path);
            assert!(!operation.summary.is_empty(), "{} {} has no summary", operation.method, operation.path);
            assert!(!operation.responses.is_empty(), "{} {} has no success answer", operation.method, operation.path);
        }
        let paths = doc["paths"].as_object().unwrap();
        for item in paths.values() {
            for operation in item.as_object().unwrap().values() {
                for status in ["400", "401", "404", "422"] {
                    assert!(operation["responses"].get(status).is_some(), "{operation}");
                }
            }
        }
    }
}
