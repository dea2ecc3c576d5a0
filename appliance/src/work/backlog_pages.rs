//! The backlog page: the active and planned sprints with their issues, then the ranked
//! backlog; creating, starting and completing sprints. Issues are reordered and moved
//! between sprints by dragging (`static/board.js`) or with each row's buttons and picker.

use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::issue_fields::parse_date;
use super::issue_list::{self, ListedIssue};
use super::oql::{Bind, OrderTerm, SortValue, SqlBuilder};
use super::project_pages::project_for;
use super::projects::{self, Project};
use super::sprints::{self, NewSprint, Sprint};
use crate::db;
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};
use crate::web::errors::PageError;
use crate::web::extract::{CsrfForm, SignedIn};
use crate::web::pages::{redirect, render_with_status, status_for, Nav};
use crate::web::AppState;

/// Rows the backlog shows per list; the rest are reached through the issue list.
pub const ROWS_MAX: i64 = 500;

#[derive(Template)]
#[template(path = "boards/backlog.html")]
struct BacklogPage {
    nav: Nav,
    project: Project,
    /// Open sprints (active first) with their issues in rank order.
    sprints: Vec<(Sprint, Vec<ListedIssue>)>,
    backlog: Vec<ListedIssue>,
    can_manage: bool,
    new_sprint: SprintForm,
    error: Option<AppError>,
}

impl BacklogPage {
    fn planned(&self) -> Vec<&Sprint> {
        self.sprints.iter().map(|(s, _)| s).filter(|s| s.is_planned()).collect()
    }

    /// The sprints an issue can be moved to from a row: the open ones (id, name).
    fn planned_choices(&self) -> Vec<(String, String)> {
        self.sprints.iter().map(|(s, _)| (s.id.to_string(), s.name.clone())).collect()
    }

    fn points(&self, issues: &[ListedIssue]) -> f64 {
        // A fold from +0.0: an empty float sum is -0.0, which would print as "-0".
        issues.iter().filter_map(|i| i.issue.story_points).fold(0.0, |total, points| total + points)
    }
}

/// The issues of one list: sprint `sprint`, or the backlog's unfinished issues (`None`).
fn list_of(
    conn: &mut diesel::PgConnection,
    project_id: i64,
    sprint: Option<i64>,
) -> Result<Vec<ListedIssue>, AppError> {
    let mut sql = SqlBuilder::default();
    let project = sql.bind(Bind::Int8(project_id));
    sql.and(format!("i.project_id = {project}"));
    match sprint {
        Some(id) => {
            let id = sql.bind(Bind::Int8(id));
            sql.and(format!("i.sprint_id = {id}"));
        }
        None => {
            let done = sql.bind(Bind::Text("done".to_owned()));
            sql.and(format!("i.sprint_id IS NULL AND s.category <> {done} AND i.issue_type <> 'subtask'"));
        }
    }
    sql.order_by(OrderTerm::asc("i.rank", SortValue::Integer));
    sql.keep_plan();
    issue_list::load_cards(conn, sql, ROWS_MAX, 0)
}

pub async fn backlog_page(
    signed_in: &SignedIn,
    state: &AppState,
    key: String,
    error: Option<AppError>,
) -> Result<HttpResponse, PageError> {
    render_page(signed_in, state, key, SprintForm::default(), error).await
}

async fn render_page(
    signed_in: &SignedIn,
    state: &AppState,
    key: String,
    new_sprint: SprintForm,
    error: Option<AppError>,
) -> Result<HttpResponse, PageError> {
    let user = signed_in.user().clone();
    let (project, sprints, backlog) = db::run(&state.pool, move |conn| {
        let project = projects::find_by_key(conn, &key)?;
        authorize(&user, Action::ViewProject(&project))?;
        let mut with_issues = Vec::new();
        for sprint in sprints::open_sprints(conn, project.id)? {
            let issues = list_of(conn, project.id, Some(sprint.id))?;
            with_issues.push((sprint, issues));
        }
        let backlog = list_of(conn, project.id, None)?;
        Ok((project, with_issues, backlog))
    })
    .await?;
    let can_manage = authorize(signed_in.user(), Action::ManageSprints(&project)).is_ok();
    let status = status_for(error.as_ref());
    let page = BacklogPage {
        nav: Nav::for_user(signed_in, "projects"),
        project,
        sprints,
        backlog,
        can_manage,
        new_sprint,
        error,
    };
    Ok(render_with_status(&page, status)?)
}

pub async fn show(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    backlog_page(&signed_in, &state, path.into_inner(), None).await
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct SprintForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    goal: String,
    #[serde(default)]
    starts_on: String,
    #[serde(default)]
    ends_on: String,
}

pub async fn create_sprint(
    form: CsrfForm<SprintForm>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let project = project_for(&state, &signed_in, path.into_inner(), |p| Action::ManageSprints(p)).await?;
    let parsed = parse_date("starts_on", &data.starts_on).and_then(|starts_on| {
        Ok(NewSprint {
            name: data.name.clone(),
            goal: data.goal.clone(),
            starts_on,
            ends_on: parse_date("ends_on", &data.ends_on)?,
        })
    });
    let (actor, target) = (signed_in.actor.clone(), project.clone());
    let created = match parsed {
        Ok(new) => db::run(&state.pool, move |conn| sprints::create(conn, &actor, &target, new)).await.map(|_| ()),
        Err(error) => Err(error),
    };
    match created {
        Ok(()) => Ok(redirect(&format!("/projects/{}/backlog", project.key))),
        Err(error @ AppError::Invalid { .. }) => render_page(&signed_in, &state, project.key, data, Some(error)).await,
        Err(other) => Err(other.into()),
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct CompleteForm {
    /// A planned sprint's id for the unfinished issues; empty: the backlog.
    #[serde(default)]
    move_to: String,
}

/// Starts (`action` = start) or completes (`action` = complete) a sprint.
pub async fn sprint_action(
    form: CsrfForm<CompleteForm>,
    state: web::Data<AppState>,
    path: web::Path<(String, i64, String)>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let (key, sprint_id, action) = path.into_inner();
    let project = project_for(&state, &signed_in, key, |p| Action::ManageSprints(p)).await?;
    let (actor, target) = (signed_in.actor.clone(), project.clone());
    let done = match (action.as_str(), data.move_to.trim()) {
        ("start", _) => {
            db::run(&state.pool, move |conn| sprints::start(conn, &actor, &target, sprint_id)).await.map(|_| ())
        }
        ("complete", "") => db::run(&state.pool, move |conn| sprints::complete(conn, &actor, &target, sprint_id, None))
            .await
            .map(|_| ()),
        ("complete", text) => match text.parse::<i64>() {
            Ok(move_to) => {
                db::run(&state.pool, move |conn| sprints::complete(conn, &actor, &target, sprint_id, Some(move_to)))
                    .await
                    .map(|_| ())
            }
            Err(_) => Err(AppError::invalid("move_to", format!("\"{text}\" is not a sprint."))),
        },
        (other, _) => Err(AppError::not_found(format!("There is no sprint action \"{other}\"."))),
    };
    match done {
        Ok(()) => Ok(redirect(&format!("/projects/{}/backlog", project.key))),
        Err(error @ AppError::Invalid { .. }) => backlog_page(&signed_in, &state, project.key, Some(error)).await,
        Err(other) => Err(other.into()),
    }
}
