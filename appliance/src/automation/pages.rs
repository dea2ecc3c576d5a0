//! The automation pages: a project's rules (everyone who can see the project reads them and
//! their logs; its managers build, change, switch off and delete them), and the incoming
//! webhook that fires a webhook-triggered rule.

use std::collections::HashMap;

use actix_web::{web, HttpResponse};
use askama::Template;

use super::actions::{self, Action};
use super::engine;
use super::rules::{self, Draft, LoggedRun, Rule, Trigger};
use crate::db;
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action as Permission};
use crate::identity::users::User;
use crate::integrations::webhooks::{self, Webhook};
use crate::jobs::cleanup::KEEP_RULE_RUNS_DAYS;
use crate::jobs::queue;
use crate::web::errors::{ApiError, PageError};
use crate::web::extract::{CsrfForm, SignedIn};
use crate::web::pages::{redirect, render_with_status, status_for, Nav};
use crate::web::AppState;
use crate::work::projects::{self, Project};

/// How many log entries the rule page shows.
const LOG_SHOWN: i64 = 50;

/// One action row of the form, as typed.
#[derive(Clone, Debug, Default)]
pub struct ActionRow {
    pub kind: String,
    pub target: String,
    pub text: String,
}

/// The rule form's inputs, kept as typed so a refused form comes back filled in.
#[derive(Clone, Debug, Default)]
pub struct RuleForm {
    pub name: String,
    pub trigger: String,
    pub trigger_value: String,
    pub condition: String,
    pub rows: Vec<ActionRow>,
}

impl ActionRow {
    pub fn is(&self, kind: &str) -> bool {
        self.kind == kind
    }
}

impl RuleForm {
    pub fn trigger_is(&self, kind: &str) -> bool {
        self.trigger == kind
    }

    /// A form showing `draft`, with blank rows to add actions in.
    fn of(draft: &Draft) -> RuleForm {
        let mut rows: Vec<ActionRow> = draft
            .actions
            .iter()
            .map(|action| {
                let (kind, target, text) = action.parts();
                ActionRow { kind: kind.to_owned(), target, text }
            })
            .collect();
        rows.resize_with((rows.len() + 2).min(rules::ACTIONS_MAX), ActionRow::default);
        RuleForm {
            name: draft.name.clone(),
            trigger: draft.trigger.clone(),
            trigger_value: draft.trigger_value.clone(),
            condition: draft.condition.clone(),
            rows,
        }
    }

    fn from_fields(fields: &HashMap<String, String>) -> RuleForm {
        let field = |name: &str| fields.get(name).cloned().unwrap_or_default();
        let rows = (1..=rules::ACTIONS_MAX)
            .map(|n| ActionRow {
                kind: field(&format!("action_{n}_type")),
                target: field(&format!("action_{n}_target")),
                text: field(&format!("action_{n}_text")),
            })
            .collect();
        RuleForm {
            name: field("name"),
            trigger: field("trigger"),
            trigger_value: field("trigger_value"),
            condition: field("condition"),
            rows,
        }
    }

    /// The draft the form describes; rows without a type are left out.
    fn draft(&self) -> Result<Draft, AppError> {
        let mut actions = Vec::new();
        for (index, row) in self.rows.iter().enumerate().filter(|(_, row)| !row.kind.trim().is_empty()) {
            let action = Action::from_parts(row.kind.trim(), &row.target, &row.text).map_err(|message| {
                AppError::invalid(&format!("action_{}", index + 1), format!("Action {}: {message}", index + 1))
            })?;
            actions.push(action);
        }
        Ok(Draft {
            name: self.name.clone(),
            trigger: self.trigger.clone(),
            trigger_value: self.trigger_value.clone(),
            condition: self.condition.clone(),
            actions,
        })
    }
}

#[derive(Template)]
#[template(path = "automation/rules.html")]
struct RulesPage {
    nav: Nav,
    project: Project,
    rules: Vec<Rule>,
    can_manage: bool,
    form: RuleForm,
    hooks: Vec<Webhook>,
    error: Option<AppError>,
}

#[derive(Template)]
#[template(path = "automation/rule.html")]
struct RulePage {
    nav: Nav,
    project: Project,
    rule: Rule,
    can_manage: bool,
    form: RuleForm,
    hooks: Vec<Webhook>,
    runs: Vec<LoggedRun>,
    /// The incoming webhook's URL, right after it was made (it holds the secret).
    new_url: Option<String>,
    base_url: String,
    error: Option<AppError>,
}

/// The hooks a rule's "call webhook" action can name.
fn callable_hooks(conn: &mut diesel::PgConnection, project: &Project) -> diesel::QueryResult<Vec<Webhook>> {
    let mut hooks = webhooks::list(conn, Some(project.id))?;
    hooks.extend(webhooks::list(conn, None)?);
    Ok(hooks)
}

/// The project, after checking the user may see it; and whether they may manage its rules.
fn project_for(conn: &mut diesel::PgConnection, user: &User, key: &str) -> Result<(Project, bool), AppError> {
    let project = projects::find_allowed(conn, user, key, |p| Permission::ViewProject(p))?;
    let can_manage = authorize(user, Permission::ManageProject(&project)).is_ok();
    Ok((project, can_manage))
}

async fn rules_page(
    signed_in: SignedIn,
    state: &AppState,
    key: String,
    form: Option<RuleForm>,
    error: Option<AppError>,
) -> Result<HttpResponse, PageError> {
    let viewer = signed_in.user().clone();
    let (project, rules, hooks, can_manage) = db::run(&state.pool, move |conn| {
        let (project, can_manage) = project_for(conn, &viewer, &key)?;
        let rules = rules::list(conn, &project)?;
        let hooks = if can_manage { callable_hooks(conn, &project)? } else { Vec::new() };
        Ok((project, rules, hooks, can_manage))
    })
    .await?;
    let form = form.unwrap_or_else(|| RuleForm::of(&Draft { trigger: "issue_created".to_owned(), ..Draft::default() }));
    let status = status_for(error.as_ref());
    let page = RulesPage { nav: Nav::for_user(&signed_in, "projects"), project, rules, can_manage, form, hooks, error };
    Ok(render_with_status(&page, status)?)
}

async fn rule_page(
    signed_in: SignedIn,
    state: &AppState,
    key: String,
    rule_id: i64,
    form: Option<RuleForm>,
    new_token: Option<String>,
    error: Option<AppError>,
) -> Result<HttpResponse, PageError> {
    let viewer = signed_in.user().clone();
    let (project, rule, runs, hooks, can_manage) = db::run(&state.pool, move |conn| {
        let (project, can_manage) = project_for(conn, &viewer, &key)?;
        let rule = rules::find(conn, &project, rule_id)?;
        let runs = rules::runs(conn, rule.id, LOG_SHOWN)?;
        let hooks = if can_manage { callable_hooks(conn, &project)? } else { Vec::new() };
        Ok((project, rule, runs, hooks, can_manage))
    })
    .await?;
    let base_url = crate::notify::mail::base_url(&state.config);
    let new_url = new_token.map(|token| format!("{base_url}/hooks/automation/{token}"));
    let form = form.unwrap_or_else(|| RuleForm::of(&Draft::of(&rule)));
    let status = status_for(error.as_ref());
    let page = RulePage {
        nav: Nav::for_user(&signed_in, "projects"),
        project,
        rule,
        can_manage,
        form,
        hooks,
        runs,
        new_url,
        base_url,
        error,
    };
    Ok(render_with_status(&page, status)?)
}

/// `GET /projects/{key}/automation`
pub async fn list(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    rules_page(signed_in, &state, path.into_inner(), None, None).await
}

/// `POST /projects/{key}/automation`: a new rule, owned by whoever saves it.
pub async fn create(
    form: CsrfForm<HashMap<String, String>>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let key = path.into_inner();
    let typed = RuleForm::from_fields(&data);
    let (user, actor, lookup, submitted) =
        (signed_in.user().clone(), signed_in.actor.clone(), key.clone(), typed.clone());
    let created = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &lookup, |p| Permission::ManageProject(p))?;
        let draft = submitted.draft()?;
        rules::create(conn, &actor, &project, &draft)
    })
    .await;
    match created {
        Ok((rule, token)) => rule_page(signed_in, &state, key, rule.id, None, token, None).await,
        Err(error @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => {
            rules_page(signed_in, &state, key, Some(typed), Some(error)).await
        }
        Err(other) => Err(other.into()),
    }
}

/// `GET /projects/{key}/automation/{id}`: the rule, its form and its execution log.
pub async fn show(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, PageError> {
    let (key, rule_id) = path.into_inner();
    rule_page(signed_in, &state, key, rule_id, None, None, None).await
}

/// `POST /projects/{key}/automation/{id}`: saves the rule's new definition.
pub async fn update(
    form: CsrfForm<HashMap<String, String>>,
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let (key, rule_id) = path.into_inner();
    let typed = RuleForm::from_fields(&data);
    let (user, actor, lookup, submitted) =
        (signed_in.user().clone(), signed_in.actor.clone(), key.clone(), typed.clone());
    let saved = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &lookup, |p| Permission::ManageProject(p))?;
        let draft = submitted.draft()?;
        rules::update(conn, &actor, &project, rule_id, &draft)
    })
    .await;
    match saved {
        Ok((_, Some(token))) => rule_page(signed_in, &state, key, rule_id, None, Some(token), None).await,
        Ok((_, None)) => Ok(redirect(&format!("/projects/{key}/automation/{rule_id}"))),
        Err(error @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => {
            rule_page(signed_in, &state, key, rule_id, Some(typed), None, Some(error)).await
        }
        Err(other) => Err(other.into()),
    }
}

/// `POST /projects/{key}/automation/{id}/{enable|disable|delete}`
pub async fn change(
    form: CsrfForm<HashMap<String, String>>,
    state: web::Data<AppState>,
    path: web::Path<(String, i64, String)>,
) -> Result<HttpResponse, PageError> {
    let (user, actor) = (form.signed_in.user().clone(), form.signed_in.actor);
    let (key, rule_id, verb) = path.into_inner();
    let (lookup, deleting) = (key.clone(), verb == "delete");
    db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &lookup, |p| Permission::ManageProject(p))?;
        match verb.as_str() {
            "enable" => rules::set_enabled(conn, &actor, &project, rule_id, true).map(|_| ()),
            "disable" => rules::set_enabled(conn, &actor, &project, rule_id, false).map(|_| ()),
            "delete" => rules::delete(conn, &actor, &project, rule_id),
            other => Err(AppError::not_found(format!("There is no rule action \"{other}\"."))),
        }
    })
    .await?;
    Ok(redirect(&if deleting {
        format!("/projects/{key}/automation")
    } else {
        format!("/projects/{key}/automation/{rule_id}")
    }))
}

/// The optional body of an automation hook call; other keys (a CI system's own payload) are
/// ignored.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct HookCall {
    /// Narrows the firing to these issues (still within the rule's condition).
    #[schema(example = json!(["OPS-1"]))]
    issues: Option<Vec<String>>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Fired {
    /// The rule's name.
    rule: String,
    /// The queued job that runs it.
    job: Option<i64>,
}

/// Fires a webhook-triggered rule; it runs in the background. No API token: the URL's
/// secret (shown when the rule was saved) is the credential. The body may be empty.
#[utoipa::path(post, path = "/hooks/automation/{token}", tag = "automation", security(()),
    params(("token" = String, Path, description = "The rule's hook secret.")),
    request_body(content = Option<HookCall>), responses((status = 202, body = Fired)))]
pub async fn receive(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let token = path.into_inner();
    let issues = named_issues(&body)?;
    let (rule, job_id) = db::run(&state.pool, move |conn| {
        let rule = rules::by_hook_token(conn, &token)?;
        let job = engine::firing_job(rule.id, issues.as_deref())
            .with_idempotency_key(format!("hook:{}", crate::identity::secrets::random_hex(12)));
        let job_id = queue::enqueue(conn, &job)?;
        Ok((rule, job_id))
    })
    .await?;
    Ok(HttpResponse::Accepted().json(Fired { rule: rule.name, job: job_id }))
}

/// The issue keys a webhook call names, if its body names any.
fn named_issues(body: &[u8]) -> Result<Option<Vec<String>>, AppError> {
    if body.iter().all(u8::is_ascii_whitespace) || body.trim_ascii() == b"null" {
        return Ok(None);
    }
    let refusal = || {
        AppError::bad_request(
            Some("issues".to_owned()),
            "The body must be empty or JSON like {\"issues\": [\"OPS-1\"]}.",
        )
    };
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| refusal())?;
    if !value.is_object() {
        return Err(refusal());
    }
    let call: HookCall = serde_json::from_value(value).map_err(|_| refusal())?;
    Ok(call.issues)
}

/// For the templates: the trigger kinds and action kinds with their labels.
pub fn trigger_kinds() -> &'static [(&'static str, &'static str)] {
    &Trigger::KINDS
}

pub fn action_kinds() -> &'static [(&'static str, &'static str, &'static str, &'static str)] {
    actions::KINDS
}

pub fn keep_days() -> i64 {
    KEEP_RULE_RUNS_DAYS
}
