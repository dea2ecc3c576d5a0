//! Pages: an issue, creating and editing one, and commenting.

use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::comments::{self, CommentWithAuthor};
use super::issue_list;
use super::issues::{self, Issue, IssueChanges, NewIssue};
use super::kinds::{IssueType, Priority};
use super::projects::{self, Project};
use super::workflows::{Workflow, WorkflowStatus};
use crate::db;
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};
use crate::identity::users::{self, UserRef};
use crate::web::errors::PageError;
use crate::web::extract::{CsrfForm, SignedIn};
use crate::web::markdown;
use crate::web::pages::{redirect, render_with_status, status_for, Nav};
use crate::web::AppState;

/// The create and edit form as submitted: every field a string, parsed by `to_new`/`to_changes`
/// so that a bad value comes back to the user beside its field, with everything they typed.
#[derive(Clone, Default, Deserialize)]
pub struct IssueForm {
    #[serde(default)]
    title: String,
    #[serde(default, rename = "type")]
    issue_type: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    assignee: String,
}

impl IssueForm {
    fn from_issue(issue: &Issue, status: &WorkflowStatus, assignee: Option<&UserRef>) -> Self {
        Self {
            title: issue.title.clone(),
            issue_type: issue.issue_type.as_str().to_owned(),
            status: status.name.clone(),
            priority: issue.priority.as_str().to_owned(),
            description: issue.description.clone(),
            assignee: assignee.map(|a| a.username.clone()).unwrap_or_default(),
        }
    }

    fn to_new(&self) -> Result<NewIssue, AppError> {
        let or = |value: &str, default: &'static str| {
            if value.trim().is_empty() {
                default.to_owned()
            } else {
                value.to_owned()
            }
        };
        Ok(NewIssue {
            issue_type: IssueType::parse(&or(&self.issue_type, "task"))?,
            status: Some(self.status.clone()).filter(|s| !s.trim().is_empty()),
            priority: Priority::parse(&or(&self.priority, "medium"))?,
            title: self.title.clone(),
            description: self.description.clone(),
            assignee: Some(self.assignee.clone()).filter(|a| !a.trim().is_empty()),
        })
    }

    fn to_changes(&self) -> Result<IssueChanges, AppError> {
        let new = self.to_new()?;
        Ok(IssueChanges {
            issue_type: Some(new.issue_type),
            status: new.status,
            priority: Some(new.priority),
            title: Some(new.title),
            description: Some(new.description),
            assignee: Some(new.assignee),
        })
    }
}

#[derive(Template)]
#[template(path = "issues/form.html")]
struct IssueFormPage {
    nav: Nav,
    project: Project,
    /// `None` when creating.
    issue_key: Option<String>,
    form: IssueForm,
    people: Vec<UserRef>,
    /// The statuses offered: all of them when creating, the current one and where the
    /// workflow lets it move when editing.
    statuses: Vec<WorkflowStatus>,
    error: Option<AppError>,
}

impl IssueFormPage {
    fn types(&self) -> &'static [IssueType] {
        IssueType::ALL
    }

    fn initial_status(&self) -> &str {
        self.statuses.first().map_or("", |s| s.name.as_str())
    }

    fn priorities(&self) -> &'static [Priority] {
        Priority::ALL
    }

    fn is(&self, value: &str, option: &str, default: &str) -> bool {
        if value.is_empty() {
            option == default
        } else {
            value == option
        }
    }
}

/// The create form (`current` is `None`) or the edit form of an issue in status `current`.
async fn form_page(
    signed_in: &SignedIn,
    state: &AppState,
    project: Project,
    issue: Option<(String, i64)>,
    form: IssueForm,
    error: Option<AppError>,
) -> Result<HttpResponse, PageError> {
    let project_id = project.id;
    let current = issue.as_ref().map(|(_, status_id)| *status_id);
    let (people, statuses) = db::run(&state.pool, move |conn| {
        let workflow = Workflow::load(conn, project_id)?;
        let statuses = match current {
            None => workflow.statuses.clone(),
            Some(from) => workflow.statuses.iter().filter(|s| workflow.allows(from, s.id)).cloned().collect(),
        };
        Ok((users::active_refs(conn)?, statuses))
    })
    .await?;
    let status = status_for(error.as_ref());
    let issue_key = issue.map(|(key, _)| key);
    let page =
        IssueFormPage { nav: Nav::for_user(signed_in, "projects"), project, issue_key, form, people, statuses, error };
    Ok(render_with_status(&page, status)?)
}

pub async fn new_form(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let key = path.into_inner();
    let project = db::run(&state.pool, move |conn| projects::find_by_key(conn, &key)).await?;
    authorize(signed_in.user(), Action::CreateIssue(&project))?;
    form_page(&signed_in, &state, project, None, IssueForm::default(), None).await
}

pub async fn create(
    form: CsrfForm<IssueForm>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let key = path.into_inner();
    let project = db::run(&state.pool, move |conn| projects::find_by_key(conn, &key)).await?;
    authorize(signed_in.user(), Action::CreateIssue(&project))?;
    let created = match data.to_new() {
        Ok(new) => {
            let (actor, reporter, target) = (signed_in.actor.clone(), signed_in.user().id, project.clone());
            db::run(&state.pool, move |conn| issues::create(conn, &actor, &target, reporter, new)).await
        }
        Err(error) => Err(error),
    };
    match created {
        Ok(issue) => Ok(redirect(&format!("/issues/{}-{}", project.key, issue.number))),
        Err(error @ AppError::Invalid { .. }) => form_page(&signed_in, &state, project, None, data, Some(error)).await,
        Err(other) => Err(other.into()),
    }
}

/// The issue a URL names, once the user is allowed `action` on its project.
async fn issue_for(
    state: &AppState,
    signed_in: &SignedIn,
    key: &str,
    action: for<'a> fn(&'a Project) -> Action<'a>,
) -> Result<(Project, Issue), AppError> {
    let key = key.to_owned();
    let (project, issue) = db::run(&state.pool, move |conn| issues::find_by_key(conn, &key)).await?;
    authorize(signed_in.user(), action(&project))?;
    Ok((project, issue))
}

#[derive(Template)]
#[template(path = "issues/show.html")]
struct IssuePage {
    nav: Nav,
    project: Project,
    key: String,
    issue: Issue,
    status: WorkflowStatus,
    /// Where the workflow lets the issue move from its status.
    transitions: Vec<WorkflowStatus>,
    description_html: String,
    assignee: Option<UserRef>,
    reporter: UserRef,
    comments: Vec<(CommentWithAuthor, String)>,
    comment_draft: String,
    /// A refused comment or transition, shown where the user acted.
    comment_error: Option<AppError>,
    transition_error: Option<AppError>,
}

/// What the issue page shows after a refused action, beside the place it was refused.
enum Refusal {
    None,
    Comment { draft: String, error: AppError },
    Transition(AppError),
}

async fn issue_page(
    signed_in: &SignedIn,
    state: &AppState,
    key: String,
    refusal: Refusal,
) -> Result<HttpResponse, PageError> {
    let user = signed_in.user().clone();
    let (project, issue, workflow, assignee, reporter, comments) = db::run(&state.pool, move |conn| {
        let (project, issue) = issues::find_by_key(conn, &key)?;
        authorize(&user, Action::ViewProject(&project))?;
        let workflow = Workflow::load(conn, project.id)?;
        let (assignee, reporter) = issue_list::people_of(conn, &issue)?;
        let comments = comments::list_for_issue(conn, issue.id)?;
        Ok((project, issue, workflow, assignee, reporter, comments))
    })
    .await?;
    let status = workflow.status(issue.status_id)?.clone();
    let transitions = workflow.targets(issue.status_id).cloned().collect();
    let (comment_draft, comment_error, transition_error) = match refusal {
        Refusal::None => (String::new(), None, None),
        Refusal::Comment { draft, error } => (draft, Some(error), None),
        Refusal::Transition(error) => (String::new(), None, Some(error)),
    };
    let comments = comments
        .into_iter()
        .map(|c| {
            let html = markdown::to_html(&c.comment.body);
            (c, html)
        })
        .collect();
    let http_status = status_for(comment_error.as_ref().or(transition_error.as_ref()));
    let page = IssuePage {
        nav: Nav::for_user(signed_in, "projects"),
        key: format!("{}-{}", project.key, issue.number),
        description_html: markdown::to_html(&issue.description),
        project,
        issue,
        status,
        transitions,
        assignee,
        reporter,
        comments,
        comment_draft,
        comment_error,
        transition_error,
    };
    Ok(render_with_status(&page, http_status)?)
}

pub async fn show(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    issue_page(&signed_in, &state, path.into_inner(), Refusal::None).await
}

pub async fn edit_form(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let (project, issue) = issue_for(&state, &signed_in, &path, |p| Action::EditIssue(p)).await?;
    let (shown, project_id) = (issue.clone(), project.id);
    let (assignee, status) = db::run(&state.pool, move |conn| {
        let (assignee, _) = issue_list::people_of(conn, &shown)?;
        let status = Workflow::load(conn, project_id)?.status(shown.status_id)?.clone();
        Ok((assignee, status))
    })
    .await?;
    let form = IssueForm::from_issue(&issue, &status, assignee.as_ref());
    let key = format!("{}-{}", project.key, issue.number);
    form_page(&signed_in, &state, project, Some((key, issue.status_id)), form, None).await
}

pub async fn update(
    form: CsrfForm<IssueForm>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let key = path.into_inner();
    let (project, issue) = issue_for(&state, &signed_in, &key, |p| Action::EditIssue(p)).await?;
    let updated = match data.to_changes() {
        Ok(changes) => {
            let (actor, target, issue_id) = (signed_in.actor.clone(), project.clone(), issue.id);
            db::run(&state.pool, move |conn| issues::update(conn, &actor, &target, issue_id, changes)).await
        }
        Err(error) => Err(error),
    };
    match updated {
        Ok(_) => Ok(redirect(&format!("/issues/{}-{}", project.key, issue.number))),
        Err(error @ AppError::Invalid { .. }) => {
            form_page(&signed_in, &state, project, Some((key, issue.status_id)), data, Some(error)).await
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
pub struct CommentForm {
    #[serde(default)]
    body: String,
}

pub async fn comment(
    form: CsrfForm<CommentForm>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let key = path.into_inner();
    let (_, issue) = issue_for(&state, &signed_in, &key, |p| Action::Comment(p)).await?;
    let (actor, author, body) = (signed_in.actor.clone(), signed_in.user().id, data.body.clone());
    match db::run(&state.pool, move |conn| comments::create(conn, &actor, &issue, author, &body)).await {
        Ok(comment) => Ok(redirect(&format!("/issues/{key}#comment-{}", comment.id))),
        Err(error @ AppError::Invalid { .. }) => {
            issue_page(&signed_in, &state, key, Refusal::Comment { draft: data.body, error }).await
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
pub struct TransitionForm {
    #[serde(default)]
    status: String,
}

/// Moves an issue to another status, if its workflow allows; a refusal comes back on the
/// issue page beside the transition buttons.
pub async fn transition(
    form: CsrfForm<TransitionForm>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let key = path.into_inner();
    let (project, issue) = issue_for(&state, &signed_in, &key, |p| Action::EditIssue(p)).await?;
    let changes = IssueChanges { status: Some(data.status), ..IssueChanges::default() };
    let actor = signed_in.actor.clone();
    match db::run(&state.pool, move |conn| issues::update(conn, &actor, &project, issue.id, changes)).await {
        Ok(_) => Ok(redirect(&format!("/issues/{key}"))),
        Err(error @ AppError::Invalid { .. }) => issue_page(&signed_in, &state, key, Refusal::Transition(error)).await,
        Err(other) => Err(other.into()),
    }
}
