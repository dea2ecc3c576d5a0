//! The Kanban and Scrum board pages, and moving an issue from a board or the backlog: a
//! workflow transition, a new rank and a new sprint, in one transaction. Drag and drop
//! (`static/board.js`) posts the same form the no-JavaScript controls post, asking for JSON.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use askama::Template;
use serde::Deserialize;
use serde_json::json;

use super::backlog_pages;
use super::boards::{self, Board, Source, Swimlanes};
use super::issue_pages::issue_for;
use super::projects::{self, Project};
use super::ranking::Placement;
use super::saved_filters::{self, SavedFilter};
use super::sprints::{self, Sprint};
use super::workflows::Workflow;
use crate::db;
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};
use crate::web::errors::{ApiError, PageError};
use crate::web::extract::{CsrfForm, SignedIn};
use crate::web::pages::{redirect, render_with_status, status_for, url_encode, Nav};
use crate::web::AppState;

#[derive(Clone, Debug, Default, Deserialize)]
pub struct BoardQuery {
    /// A saved filter's id, as the Kanban board's source.
    pub filter: Option<String>,
    pub swimlanes: Option<String>,
}

#[derive(Template)]
#[template(path = "boards/board.html")]
struct BoardPage {
    nav: Nav,
    project: Project,
    /// `Some` on the Scrum board.
    sprint: Option<Sprint>,
    scrum: bool,
    board: Option<Board>,
    filters: Vec<SavedFilter>,
    chosen_filter: Option<i64>,
    swimlanes: Swimlanes,
    error: Option<AppError>,
}

impl BoardPage {
    fn view(&self) -> &'static str {
        if self.scrum {
            "sprint-board"
        } else {
            "board"
        }
    }

    fn lane_options(&self) -> [(&'static str, &'static str); 3] {
        [("none", "No swimlanes"), ("assignee", "By assignee"), ("epic", "By epic")]
    }

    fn filter_value(&self) -> String {
        self.chosen_filter.map(|id| id.to_string()).unwrap_or_default()
    }
}

/// Renders a board; `error` is a refused move, shown above the columns.
pub async fn board_page(
    signed_in: &SignedIn,
    state: &AppState,
    key: String,
    scrum: bool,
    query: BoardQuery,
    error: Option<AppError>,
) -> Result<HttpResponse, PageError> {
    let user = signed_in.user().clone();
    let swimlanes = Swimlanes::parse(query.swimlanes.as_deref())?;
    let chosen_filter = match query.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
        None => None,
        Some(text) => Some(
            text.parse::<i64>()
                .map_err(|_| AppError::invalid("filter", format!("\"{text}\" is not a saved filter.")))?,
        ),
    };
    let (project, sprint, board, filters) = db::run(&state.pool, move |conn| {
        let project = projects::find_by_key(conn, &key)?;
        authorize(&user, Action::ViewProject(&project))?;
        let filters = saved_filters::visible(conn, &user, project.id)?;
        let source_query = match chosen_filter {
            Some(id) => {
                let filter = saved_filters::find_visible(conn, &user, project.id, id)?;
                Some(saved_filters::check_query(conn, &project, user.id, &filter.oql)?)
            }
            None => None,
        };
        let sprint =
            if scrum { sprints::open_sprints(conn, project.id)?.into_iter().find(Sprint::is_active) } else { None };
        let workflow = Workflow::of(conn, &project)?;
        let board = if scrum && sprint.is_none() {
            None
        } else {
            let source = Source {
                project_id: project.id,
                filter: source_query.as_ref(),
                sprint: sprint.as_ref().map(|s| s.id),
                swimlanes,
                me: user.id,
            };
            Some(boards::load(conn, &workflow, &source)?)
        };
        Ok((project, sprint, board, filters))
    })
    .await?;
    let status = status_for(error.as_ref());
    let page = BoardPage {
        nav: Nav::for_user(signed_in, "projects"),
        project,
        sprint,
        scrum,
        board,
        filters,
        chosen_filter,
        swimlanes,
        error,
    };
    Ok(render_with_status(&page, status)?)
}

pub async fn kanban(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<BoardQuery>,
) -> Result<HttpResponse, PageError> {
    board_page(&signed_in, &state, path.into_inner(), false, query.into_inner(), None).await
}

pub async fn scrum(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<BoardQuery>,
) -> Result<HttpResponse, PageError> {
    board_page(&signed_in, &state, path.into_inner(), true, query.into_inner(), None).await
}

/// A move as a board, the backlog or a script sends it. Every part is optional: a status to
/// transition to, a place in the rank order, a sprint (`backlog` for none).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct MoveForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    before: String,
    #[serde(default)]
    after: String,
    #[serde(default)]
    direction: String,
    #[serde(default)]
    sprint: String,
    /// Which page to return to: `board`, `sprint-board` or `backlog`.
    #[serde(default)]
    view: String,
    #[serde(default)]
    filter: String,
    #[serde(default)]
    swimlanes: String,
}

impl MoveForm {
    /// The sprint part: `None` leaves it, `Some(None)` is the backlog.
    fn sprint(&self) -> Result<Option<Option<i64>>, AppError> {
        match self.sprint.trim() {
            "" => Ok(None),
            "backlog" => Ok(Some(None)),
            id => id
                .parse::<i64>()
                .map(|id| Some(Some(id)))
                .map_err(|_| AppError::invalid("sprint", format!("\"{id}\" is not a sprint."))),
        }
    }

    fn return_path(&self, project_key: &str) -> String {
        let mut path = match self.view.as_str() {
            "sprint-board" => format!("/projects/{project_key}/sprint-board?"),
            "backlog" => return format!("/projects/{project_key}/backlog"),
            _ => format!("/projects/{project_key}/board?"),
        };
        for (name, value) in [("filter", &self.filter), ("swimlanes", &self.swimlanes)] {
            if !value.is_empty() {
                path.push_str(&format!("{name}={}&", url_encode(value)));
            }
        }
        path.trim_end_matches(['?', '&']).to_owned()
    }
}

fn wants_json(req: &HttpRequest) -> bool {
    req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("application/json"))
}

/// `POST /issues/{key}/move`.
pub async fn move_issue(
    req: HttpRequest,
    form: CsrfForm<MoveForm>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let key = path.into_inner();
    let (project, issue) = issue_for(&state, &signed_in, &key, |p, i| Action::EditIssue(p, i)).await?;
    let parsed = Placement::parse(Some(&data.before), Some(&data.after), Some(&data.direction))
        .and_then(|placement| Ok((placement, data.sprint()?)));
    let (actor, mover, target, status) =
        (signed_in.actor.clone(), signed_in.user().clone(), project.clone(), data.status.clone());
    let moved = match parsed {
        Err(error) => Err(error),
        Ok((placement, sprint)) => {
            db::run(&state.pool, move |conn| {
                let status = Some(status.trim().to_owned()).filter(|s| !s.is_empty());
                boards::move_card(conn, &actor, &mover, &target, issue, status, sprint, placement)
            })
            .await
        }
    };
    if wants_json(&req) {
        return Ok(match moved {
            Ok(status) => HttpResponse::Ok().json(json!({ "key": key, "status": status })),
            Err(error) => ApiError(error).error_response(),
        });
    }
    match moved {
        Ok(_) => Ok(redirect(&data.return_path(&project.key))),
        Err(error @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => match data.view.as_str() {
            "backlog" => backlog_pages::backlog_page(&signed_in, &state, project.key, Some(error)).await,
            view => {
                let query = BoardQuery { filter: Some(data.filter.clone()), swimlanes: Some(data.swimlanes.clone()) };
                board_page(&signed_in, &state, project.key, view == "sprint-board", query, Some(error)).await
            }
        },
        Err(other) => Err(other.into()),
    }
}
