//! The issue page: an issue with its fields, children, links, work log, history and
//! comments, and the actions taken from it (transitions, comments).

use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::comments::{self, CommentWithAuthor, Comments};
use super::described::{self, when, Described};
use super::history::{self, History, Stretch};
use super::issue_fields::Details;
use super::issue_list::{self, whole_number, ListedIssue};
use super::issues::{self, Issue, IssueChanges};
use super::kinds::{IssueType, StatusCategory};
use super::links::{self, LinkView};
use super::projects::Project;
use super::time_tracking::{self, format_duration, parse_duration, WorkLog};
use super::watchers;
use super::workflows::{Workflow, WorkflowStatus};
use crate::attachments::{self, Attachment, Owner};
use crate::db;
use crate::docs::mentions::{self, Mention};
use crate::errors::AppError;
use crate::identity::permissions::Action;
use crate::identity::users::UserRef;
use crate::integrations::deployments::{self, Deployment};
use crate::web::errors::PageError;
use crate::web::extract::{CsrfForm, SignedIn};
use crate::web::markdown;
use crate::web::pages::{redirect, render, render_with_status, status_for, Nav};
use crate::web::AppState;

/// The issue a URL names, once the user is allowed `action` on its project.
pub(super) async fn issue_for(
    state: &AppState,
    signed_in: &SignedIn,
    key: &str,
    action: for<'a> fn(&'a Project, &'a Issue) -> Action<'a>,
) -> Result<(Project, Issue), AppError> {
    let key = key.to_owned();
    let (project, issue) = db::run(&state.pool, move |conn| issues::find_by_key(conn, &key)).await?;
    issues::authorize_on(signed_in.user(), &project, &issue, action)?;
    Ok((project, issue))
}

/// Where on the issue page an action was refused, so its message shows beside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Transition,
    Comment,
    Link,
    WorkLog,
    Delete,
}

/// A refused action: where, why, and what the user had typed (a comment or work note).
struct Refusal {
    section: Section,
    error: AppError,
    draft: String,
}

#[derive(Template)]
#[template(path = "issues/show.html")]
struct IssuePage {
    nav: Nav,
    me: i64,
    project: Project,
    key: String,
    issue: Issue,
    status: WorkflowStatus,
    /// Where the workflow lets the issue move from its status.
    transitions: Vec<WorkflowStatus>,
    description_html: String,
    assignee: Option<UserRef>,
    reporter: UserRef,
    details: Details,
    children: Vec<ListedIssue>,
    links: Vec<LinkView>,
    watchers: Vec<UserRef>,
    work_logs: Vec<(WorkLog, UserRef)>,
    /// The latest changes; the history page has them all.
    history: History,
    comments: RenderedComments,
    /// The latest deployment per environment that shipped this issue.
    deployments: Vec<Deployment>,
    /// Attached files with who attached each.
    attachments: Vec<(Attachment, String)>,
    /// Documentation pages (the viewer may read) that name this issue.
    mentions: Vec<Mention>,
    max_upload_mb: u64,
    /// Whether the reader may delete the issue, so the page offers it only then.
    may_delete: bool,
    refusal: Option<Refusal>,
}

impl IssuePage {
    fn upload_url(&self) -> String {
        format!("/issues/{}/attachments", self.key)
    }

    fn error_in(&self, section: Section) -> Option<&AppError> {
        self.refusal.as_ref().filter(|r| r.section == section).map(|r| &r.error)
    }

    fn draft_in(&self, section: Section) -> &str {
        self.refusal.as_ref().filter(|r| r.section == section).map_or("", |r| r.draft.as_str())
    }

    fn watching(&self) -> bool {
        self.watchers.iter().any(|w| w.id == self.me)
    }

    fn time_logged(&self) -> i64 {
        self.work_logs.iter().map(|(log, _)| i64::from(log.minutes)).sum()
    }

    fn duration(&self, minutes: i64) -> String {
        format_duration(minutes)
    }

    fn estimate(&self) -> Option<String> {
        self.issue.estimate_minutes.map(|m| format_duration(i64::from(m)))
    }

    /// Children done, of all; and story points done, of all.
    fn progress(&self) -> (usize, usize, f64, f64) {
        let done: Vec<&ListedIssue> =
            self.children.iter().filter(|c| c.status_category == StatusCategory::Done).collect();
        let points =
            |issues: &mut dyn Iterator<Item = &ListedIssue>| issues.filter_map(|c| c.issue.story_points).sum::<f64>();
        (done.len(), self.children.len(), points(&mut done.iter().copied()), points(&mut self.children.iter()))
    }

    fn percent_done(&self) -> usize {
        let (done, total, _, _) = self.progress();
        (done * 100).checked_div(total).unwrap_or(0)
    }

    fn link_choices(&self) -> &'static [(&'static str, &'static str, &'static str, bool)] {
        &links::CHOICES
    }

    fn child_type(&self) -> &'static str {
        if self.issue.issue_type == IssueType::Epic {
            "story"
        } else {
            "subtask"
        }
    }
}

/// How many of an issue's latest changes its page shows.
const HISTORY_ON_ISSUE_PAGE: i64 = 50;
/// How many changes a page of the history page shows.
const HISTORY_PAGE_SIZE: i64 = 100;
/// How many of an issue's latest comments its page shows.
const COMMENTS_ON_ISSUE_PAGE: i64 = 50;
/// How many comments a page of the comments page shows.
const COMMENTS_PAGE_SIZE: i64 = 100;

/// Comments with their Markdown rendered, and how many the issue has.
struct RenderedComments {
    rendered: Vec<(CommentWithAuthor, String)>,
    total: i64,
}

impl RenderedComments {
    fn of(comments: Comments) -> RenderedComments {
        let total = comments.total;
        let rendered = comments.shown.into_iter().map(|c| {
            let html = markdown::to_html(&c.comment.body);
            (c, html)
        });
        RenderedComments { rendered: rendered.collect(), total }
    }

    fn is_cut(&self) -> bool {
        self.total > self.rendered.len() as i64
    }
}

async fn issue_page(
    signed_in: &SignedIn,
    state: &AppState,
    key: String,
    refusal: Option<Refusal>,
) -> Result<HttpResponse, PageError> {
    let user = signed_in.user().clone();
    let (nav, me) = (Nav::for_user(signed_in, "projects"), signed_in.user().id);
    let max_upload_mb = state.config.storage.max_upload_bytes / (1024 * 1024);
    // Everything, Markdown rendering included, happens on the blocking pool.
    let page = db::run(&state.pool, move |conn| {
        let (project, issue) = issues::find_by_key(conn, &key)?;
        issues::authorize_on(&user, &project, &issue, |p, _| Action::ViewProject(p))?;
        let workflow = Workflow::of(conn, &project)?;
        let Described { details, assignee, reporter, watchers, filled } = described::describe(conn, &issue)?;
        let comments =
            RenderedComments::of(comments::comments_of(conn, issue.id, Stretch::Latest(COMMENTS_ON_ISSUE_PAGE))?);
        Ok(IssuePage {
            nav,
            me,
            key: format!("{}-{}", project.key, issue.number),
            description_html: markdown::to_html(&issue.description),
            status: workflow.status(issue.status_id)?.clone(),
            transitions: workflow.targets(issue.status_id).cloned().collect(),
            assignee,
            reporter,
            details,
            children: when(filled.children, || issue_list::children_of(conn, issue.id))?,
            links: when(filled.links, || links::links_of(conn, &user, issue.id))?,
            watchers,
            work_logs: when(filled.work_logs, || time_tracking::logs_of(conn, issue.id))?,
            history: history::history_of(conn, &user, issue.id, Stretch::Latest(HISTORY_ON_ISSUE_PAGE))?,
            comments,
            deployments: when(filled.deployments, || deployments::latest_for_issue(conn, issue.id))?,
            attachments: when(filled.attachments, || attachments::of_owner(conn, Owner::Issue(issue.id)))?,
            mentions: when(filled.mentions, || mentions::pages_mentioning(conn, &user, issue.id))?,
            max_upload_mb,
            may_delete: issues::authorize_on(&user, &project, &issue, |p, _| Action::DeleteIssue(p)).is_ok(),
            project,
            issue,
            refusal,
        })
    })
    .await?;
    let http_status = status_for(page.refusal.as_ref().map(|r| &r.error));
    Ok(render_with_status(&page, http_status)?)
}

/// After an action from the issue page: back to it, or the page with the refusal in place.
async fn after_action(
    signed_in: &SignedIn,
    state: &AppState,
    key: String,
    section: Section,
    draft: String,
    outcome: Result<String, AppError>,
) -> Result<HttpResponse, PageError> {
    match outcome {
        Ok(anchor) => Ok(redirect(&format!("/issues/{key}{anchor}"))),
        Err(error @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => {
            issue_page(signed_in, state, key, Some(Refusal { section, error, draft })).await
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn show(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    issue_page(&signed_in, &state, path.into_inner(), None).await
}

#[derive(Template)]
#[template(path = "issues/history.html")]
struct HistoryPage {
    nav: Nav,
    project: Project,
    key: String,
    title: String,
    history: History,
    pager: Pager,
}

/// Where a page of a list of an issue's is among the list's pages, for the links between them.
struct Pager {
    /// The list's address, without the page.
    path: String,
    page: i64,
    last: i64,
}

impl Pager {
    /// Page `page` of a list of `total` entries, `size` to a page, at `path`; a page past the
    /// last is refused with how many there are (`has_pages`: "the history of OPS-1 has").
    fn of(path: String, page: i64, (total, size): (i64, i64), has_pages: &str) -> Result<Pager, AppError> {
        let last = (total.max(1) + size - 1) / size;
        if page > last {
            let why = format!("page must be a whole number from 1 to {last}: {has_pages} {last} pages.");
            return Err(AppError::invalid("page", why));
        }
        Ok(Pager { path, page, last })
    }
}

#[derive(Deserialize)]
pub struct PageQuery {
    page: Option<String>,
}

impl PageQuery {
    /// The page asked for, 1 unless given.
    fn number(&self) -> Result<i64, AppError> {
        whole_number(&self.page, "page", 1, 1..=1_000_000)
    }
}

/// Every change to an issue, oldest first, a hundred to a page.
pub async fn history_page(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, PageError> {
    let page = query.number()?;
    let (project, issue) = issue_for(&state, &signed_in, &path, |p, _| Action::ViewProject(p)).await?;
    let user = signed_in.user().clone();
    let history = db::run(&state.pool, move |conn| {
        Ok(history::history_of(conn, &user, issue.id, Stretch::Page { number: page, size: HISTORY_PAGE_SIZE })?)
    })
    .await?;
    let key = format!("{}-{}", project.key, issue.number);
    let pager = Pager::of(
        format!("/issues/{key}/history"),
        page,
        (history.total, HISTORY_PAGE_SIZE),
        &format!("the history of {key} has"),
    )?;
    let nav = Nav::for_user(&signed_in, "projects");
    Ok(render(&HistoryPage { nav, key, title: issue.title, project, history, pager })?)
}

#[derive(Template)]
#[template(path = "issues/comments.html")]
struct CommentsPage {
    nav: Nav,
    project: Project,
    key: String,
    title: String,
    comments: RenderedComments,
    pager: Pager,
}

/// Every comment on an issue, oldest first, a hundred to a page: the issue page shows the
/// latest fifty.
pub async fn comments_page(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, PageError> {
    let page = query.number()?;
    let (project, issue) = issue_for(&state, &signed_in, &path, |p, _| Action::ViewProject(p)).await?;
    let comments = db::run(&state.pool, move |conn| {
        let comments = comments::comments_of(conn, issue.id, Stretch::Page { number: page, size: COMMENTS_PAGE_SIZE })?;
        Ok(RenderedComments::of(comments))
    })
    .await?;
    let key = format!("{}-{}", project.key, issue.number);
    let pager = Pager::of(
        format!("/issues/{key}/comments"),
        page,
        (comments.total, COMMENTS_PAGE_SIZE),
        &format!("the comments on {key} fill"),
    )?;
    let nav = Nav::for_user(&signed_in, "projects");
    Ok(render(&CommentsPage { nav, key, title: issue.title, project, comments, pager })?)
}

/// Where one comment is shown: the issue page for its latest comments, else the page of the
/// comments page holding it. Search hits and links to a comment come here, since an older
/// comment is not on the issue page.
pub async fn show_comment(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, PageError> {
    let (key, comment_id) = path.into_inner();
    let (project, issue) = issue_for(&state, &signed_in, &key, |p, _| Action::ViewProject(p)).await?;
    let issue_id = issue.id;
    let page = db::run(&state.pool, move |conn| {
        Ok(comments::page_of(conn, issue_id, comment_id, (COMMENTS_ON_ISSUE_PAGE, COMMENTS_PAGE_SIZE))?)
    })
    .await?;
    let key = format!("{}-{}", project.key, issue.number);
    Ok(redirect(&match page {
        None => format!("/issues/{key}#comment-{comment_id}"),
        Some(page) => format!("/issues/{key}/comments?page={page}#comment-{comment_id}"),
    }))
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
    let (_, issue) = issue_for(&state, &signed_in, &key, |p, _| Action::Comment(p)).await?;
    let (actor, author, body) = (signed_in.actor.clone(), signed_in.user().id, data.body.clone());
    let outcome = db::run(&state.pool, move |conn| comments::create(conn, &actor, &issue, author, &body)).await;
    let outcome = outcome.map(|comment| format!("#comment-{}", comment.id));
    after_action(&signed_in, &state, key, Section::Comment, data.body, outcome).await
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
    let (project, issue) = issue_for(&state, &signed_in, &key, |p, _| Action::TransitionIssue(p)).await?;
    let changes = IssueChanges { status: Some(data.status), ..IssueChanges::default() };
    let actor = signed_in.actor.clone();
    let outcome = db::run(&state.pool, move |conn| issues::update(conn, &actor, &project, issue.id, changes)).await;
    after_action(&signed_in, &state, key, Section::Transition, String::new(), outcome.map(|_| String::new())).await
}

#[derive(Deserialize)]
pub struct LinkForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    issue: String,
}

pub async fn link(
    form: CsrfForm<LinkForm>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let key = path.into_inner();
    let (_, issue) = issue_for(&state, &signed_in, &key, |p, i| Action::EditIssue(p, i)).await?;
    let (actor, user, issue_key, draft) =
        (signed_in.actor.clone(), signed_in.user().clone(), key.clone(), data.issue.clone());
    let outcome =
        db::run(&state.pool, move |conn| links::link(conn, &actor, &user, &issue, &issue_key, &data.kind, &data.issue))
            .await;
    after_action(&signed_in, &state, key, Section::Link, draft, outcome.map(|()| "#links".to_owned())).await
}

pub async fn unlink(
    form: CsrfForm<TransitionForm>,
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, .. } = form;
    let (key, link_id) = path.into_inner();
    let (_, issue) = issue_for(&state, &signed_in, &key, |p, i| Action::EditIssue(p, i)).await?;
    let (actor, user) = (signed_in.actor.clone(), signed_in.user().clone());
    let outcome = db::run(&state.pool, move |conn| links::unlink(conn, &actor, &user, &issue, link_id)).await;
    after_action(&signed_in, &state, key, Section::Link, String::new(), outcome.map(|()| "#links".to_owned())).await
}

#[derive(Deserialize)]
pub struct WatchForm {
    #[serde(default)]
    watching: String,
}

pub async fn watch(
    form: CsrfForm<WatchForm>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let key = path.into_inner();
    let (_, issue) = issue_for(&state, &signed_in, &key, |p, _| Action::ViewProject(p)).await?;
    let (actor, me, watching) = (signed_in.actor.clone(), signed_in.user().id, data.watching == "on");
    db::run(&state.pool, move |conn| watchers::set_watching(conn, &actor, &issue, me, watching)).await?;
    Ok(redirect(&format!("/issues/{key}")))
}

#[derive(Deserialize)]
pub struct WorkLogForm {
    #[serde(default)]
    time_spent: String,
    #[serde(default)]
    note: String,
}

pub async fn log_work(
    form: CsrfForm<WorkLogForm>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let key = path.into_inner();
    let (_, issue) = issue_for(&state, &signed_in, &key, |p, i| Action::EditIssue(p, i)).await?;
    let (actor, me, draft) = (signed_in.actor.clone(), signed_in.user().id, data.time_spent.clone());
    let outcome = match parse_duration("time_spent", &data.time_spent) {
        Ok(minutes) => {
            db::run(&state.pool, move |conn| time_tracking::log_work(conn, &actor, &issue, me, minutes, &data.note))
                .await
        }
        Err(error) => Err(error),
    };
    after_action(&signed_in, &state, key, Section::WorkLog, draft, outcome.map(|_| "#work-log".to_owned())).await
}

#[derive(Deserialize)]
pub struct DeleteForm {
    /// The issue's key, typed again: deleting cannot be undone.
    #[serde(default)]
    confirm: String,
}

/// `POST /issues/{key}/delete`: deletes the issue once its key is typed back, then shows the
/// project's issues.
pub async fn delete(
    form: CsrfForm<DeleteForm>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let key = path.into_inner();
    let (project, issue) = issue_for(&state, &signed_in, &key, |p, _| Action::DeleteIssue(p)).await?;
    let shown_key = format!("{}-{}", project.key, issue.number);
    let outcome = if data.confirm.trim().eq_ignore_ascii_case(&shown_key) {
        let (actor, project_key) = (signed_in.actor.clone(), project.key.clone());
        db::run(&state.pool, move |conn| issues::delete(conn, &actor, &project, issue.id)).await.map(|()| project_key)
    } else {
        Err(AppError::invalid("confirm", format!("Type {shown_key} to confirm; nothing was deleted.")))
    };
    match outcome {
        Ok(project_key) => Ok(redirect(&format!("/projects/{project_key}/issues"))),
        Err(error) => after_action(&signed_in, &state, key, Section::Delete, data.confirm, Err(error)).await,
    }
}
