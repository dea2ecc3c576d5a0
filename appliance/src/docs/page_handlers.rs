//! A page: reading it (with its place in the tree, its files and who watches), writing it
//! (new, edit, and the conflict page when someone saved first), moving it in the tree,
//! deleting it, and watching it.

use std::collections::HashSet;

use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::pages::{self, Draft, Page, Saved};
use super::spaces::{self, Space};
use super::tree::{self, Node};
use super::versions::{self, DiffLine};
use crate::attachments::{self, Attachment, Owner};
use crate::db;
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};
use crate::identity::users;
use crate::web::errors::PageError;
use crate::web::extract::{CsrfForm, SignedIn};
use crate::web::markdown;
use crate::web::pages::{redirect, render, render_with_status, status_for, Nav};
use crate::web::AppState;

#[derive(Template)]
#[template(path = "docs/page.html")]
struct PageView {
    nav: Nav,
    space: Space,
    page: Page,
    body_html: String,
    ancestors: Vec<Node>,
    children: Vec<Node>,
    tree_html: String,
    /// Pages this one may move under: all but itself and its descendants, in outline order.
    move_targets: Vec<(Node, usize)>,
    updated_by: String,
    watching: bool,
    can_edit: bool,
    attachments: Vec<(Attachment, String)>,
    max_upload_mb: u64,
    error: Option<AppError>,
}

impl PageView {
    fn upload_url(&self) -> String {
        format!("/pages/{}/attachments", self.page.id)
    }

    fn is_parent(&self, id: &i64) -> bool {
        self.page.parent_id == Some(*id)
    }

    fn indent(&self, depth: &usize) -> String {
        "\u{a0}\u{a0}".repeat(*depth)
    }
}

async fn page_view(
    signed_in: &SignedIn,
    state: &AppState,
    id: i64,
    error: Option<AppError>,
) -> Result<HttpResponse, PageError> {
    let (user, me) = (signed_in.user().clone(), signed_in.user().id);
    let max_upload_mb = state.config.storage.max_upload_bytes / (1024 * 1024);
    let nav = Nav::for_user(signed_in, "docs");
    // Markdown rendering (with highlighting) is work: it happens on the blocking pool too.
    let view = db::run(&state.pool, move |conn| {
        let (space, page) = pages::find_allowed(conn, &user, id, |space| Action::ViewSpace(space))?;
        let outline = tree::around(conn, space.id, page.id)?;
        // Only the page's children are loaded of what lies below it.
        let subtree: HashSet<i64> = outline.subtree(page.id).into_iter().collect();
        Ok(PageView {
            nav,
            body_html: markdown::to_html(&page.body),
            ancestors: outline.ancestors(page.id).into_iter().cloned().collect(),
            children: outline
                .entries
                .iter()
                .filter(|(node, _)| node.parent_id == Some(page.id))
                .map(|(node, _)| node.clone())
                .collect(),
            tree_html: outline.to_html(Some(page.id)),
            move_targets: outline.entries.iter().filter(|(node, _)| !subtree.contains(&node.id)).cloned().collect(),
            updated_by: users::display_name(conn, page.updated_by)?,
            watching: pages::is_watching(conn, page.id, me)?,
            can_edit: authorize(&user, Action::EditPages(&space)).is_ok(),
            attachments: attachments::of_owner(conn, Owner::Page(page.id))?,
            max_upload_mb,
            space,
            page,
            error,
        })
    })
    .await?;
    let status = status_for(view.error.as_ref());
    Ok(render_with_status(&view, status)?)
}

/// `GET /pages/{id}`
pub async fn show(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    page_view(&signed_in, &state, path.into_inner(), None).await
}

/// The editor: a new page, an edit, or the conflict after someone else saved first.
#[derive(Template)]
#[template(path = "docs/editor.html")]
struct EditorPage {
    nav: Nav,
    space: Space,
    /// The page being edited; `None` for a new page.
    page: Option<Page>,
    parent_id: Option<i64>,
    title: String,
    body: String,
    /// The version this edit starts from (sent back with the save).
    base_version: i32,
    /// When someone saved first: their version, its author, and how the texts differ.
    conflict: Option<Conflict>,
    error: Option<AppError>,
}

struct Conflict {
    theirs: Page,
    author: String,
    diff: Vec<Vec<DiffLine>>,
}

impl EditorPage {
    fn action(&self) -> String {
        match &self.page {
            Some(page) => format!("/pages/{}/edit", page.id),
            None => format!("/spaces/{}/pages", self.space.key),
        }
    }
}

#[derive(Deserialize)]
pub struct NewPageQuery {
    parent: Option<i64>,
}

/// `GET /spaces/{key}/pages/new[?parent=ID]`
pub async fn new_form(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<NewPageQuery>,
) -> Result<HttpResponse, PageError> {
    let (user, key) = (signed_in.user().clone(), path.into_inner());
    let space =
        db::run(&state.pool, move |conn| spaces::find_allowed(conn, &user, &key, |space| Action::EditPages(space)))
            .await?;
    let page = EditorPage {
        nav: Nav::for_user(&signed_in, "docs"),
        space,
        page: None,
        parent_id: query.parent,
        title: String::new(),
        body: String::new(),
        base_version: 0,
        conflict: None,
        error: None,
    };
    Ok(render(&page)?)
}

#[derive(Clone, Deserialize)]
pub struct PageForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
    /// `""` for the top level.
    #[serde(default)]
    parent_id: String,
    #[serde(default)]
    base_version: String,
}

fn parse_parent(text: &str) -> Result<Option<i64>, AppError> {
    match text.trim() {
        "" => Ok(None),
        id => id.parse().map(Some).map_err(|_| AppError::invalid("parent_id", format!("\"{id}\" is not a page id."))),
    }
}

/// `POST /spaces/{key}/pages`: a refusal shows the editor again with everything typed.
pub async fn create(
    form: CsrfForm<PageForm>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let (user, actor, key, input) =
        (signed_in.user().clone(), signed_in.actor.clone(), path.into_inner(), data.clone());
    let outcome = db::run(&state.pool, move |conn| {
        let space = spaces::find_allowed(conn, &user, &key, |space| Action::EditPages(space))?;
        let made = parse_parent(&input.parent_id)
            .and_then(|parent| Ok((parent, Draft::new(&input.title, &input.body)?)))
            .and_then(|(parent, draft)| pages::create(conn, &actor, &space, parent, draft));
        Ok((space, made))
    })
    .await?;
    match outcome {
        (_, Ok(page)) => Ok(redirect(&format!("/pages/{}", page.id))),
        (space, Err(error @ (AppError::Invalid { .. } | AppError::Conflict { .. }))) => {
            let page = EditorPage {
                nav: Nav::for_user(&signed_in, "docs"),
                space,
                page: None,
                parent_id: parse_parent(&data.parent_id).ok().flatten(),
                title: data.title,
                body: data.body,
                base_version: 0,
                conflict: None,
                error: Some(error),
            };
            Ok(render_with_status(&page, status_for(page.error.as_ref()))?)
        }
        (_, Err(other)) => Err(other.into()),
    }
}

/// `GET /pages/{id}/edit`
pub async fn edit_form(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let (user, id) = (signed_in.user().clone(), path.into_inner());
    let (space, page) =
        db::run(&state.pool, move |conn| pages::find_allowed(conn, &user, id, |space| Action::EditPages(space)))
            .await?;
    let editor = EditorPage {
        nav: Nav::for_user(&signed_in, "docs"),
        space,
        parent_id: page.parent_id,
        title: page.title.clone(),
        body: page.body.clone(),
        base_version: page.version,
        page: Some(page),
        conflict: None,
        error: None,
    };
    Ok(render(&editor)?)
}

/// `POST /pages/{id}/edit`: saved as a new version; when someone saved since the editor was
/// opened, the conflict page shows their text and keeps this one, never overwriting theirs.
pub async fn save(
    form: CsrfForm<PageForm>,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let (user, actor, id, input) = (signed_in.user().clone(), signed_in.actor.clone(), path.into_inner(), data.clone());
    let (space, current, current_author, outcome) = db::run(&state.pool, move |conn| {
        let (space, current) = pages::find_allowed(conn, &user, id, |space| Action::EditPages(space))?;
        let base_version = input.base_version.trim().parse::<i32>().map_err(|_| {
            AppError::invalid("base_version", "The form does not say which version it edits; reload the page.")
        });
        let saved = base_version.and_then(|base| {
            let draft = Draft::new(&input.title, &input.body)?;
            pages::save(conn, &actor, id, base, draft, "")
        });
        // After a refusal, the page as it is now (someone may just have saved it).
        let current = match &saved {
            Err(_) => pages::find(conn, id)?,
            Ok(_) => current,
        };
        let author = users::display_name(conn, current.updated_by)?;
        Ok((space, current, author, saved))
    })
    .await?;
    let error = match outcome {
        Ok(Saved::Changed(page) | Saved::Unchanged(page)) => return Ok(redirect(&format!("/pages/{}", page.id))),
        Err(error @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => error,
        Err(other) => return Err(other.into()),
    };
    let is_conflict = matches!(error, AppError::Conflict { .. });
    let base_version =
        if is_conflict { current.version } else { data.base_version.trim().parse().unwrap_or(current.version) };
    let conflict = is_conflict.then(|| Conflict {
        diff: versions::diff(&current.body, &data.body.replace("\r\n", "\n"), 2),
        author: current_author,
        theirs: current.clone(),
    });
    let editor = EditorPage {
        nav: Nav::for_user(&signed_in, "docs"),
        space,
        parent_id: current.parent_id,
        page: Some(current),
        title: data.title,
        body: data.body,
        base_version,
        conflict,
        error: Some(error),
    };
    Ok(render_with_status(&editor, status_for(editor.error.as_ref()))?)
}

#[derive(Clone, Deserialize)]
pub struct MoveForm {
    #[serde(default)]
    parent_id: String,
    /// 1 is first among the new siblings; empty means last.
    #[serde(default)]
    position: String,
}

/// `POST /pages/{id}/move`: a refused move (a loop, another space) shows the page with why.
pub async fn move_page(
    form: CsrfForm<MoveForm>,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let (user, actor, id) = (signed_in.user().clone(), signed_in.actor.clone(), path.into_inner());
    let outcome = db::run(&state.pool, move |conn| {
        pages::find_allowed(conn, &user, id, |space| Action::EditPages(space))?;
        let moved = parse_parent(&data.parent_id).and_then(|parent| {
            let position = match data.position.trim() {
                "" => i32::MAX,
                text => text.parse::<i32>().map(|p| p - 1).map_err(|_| {
                    AppError::invalid(
                        "position",
                        format!("\"{text}\" is not a position; give 1 for first, 2 for second…"),
                    )
                })?,
            };
            tree::move_page(conn, &actor, id, parent, position)
        });
        Ok(moved)
    })
    .await?;
    match outcome {
        Ok(page) => Ok(redirect(&format!("/pages/{}", page.id))),
        Err(error @ AppError::Invalid { .. }) => page_view(&signed_in, &state, id, Some(error)).await,
        Err(other) => Err(other.into()),
    }
}

/// `POST /pages/{id}/delete`: refused (shown on the page) while it has child pages.
pub async fn delete(
    form: CsrfForm<std::collections::HashMap<String, String>>,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let signed_in = form.signed_in;
    let (user, actor, id) = (signed_in.user().clone(), signed_in.actor.clone(), path.into_inner());
    let outcome = db::run(&state.pool, move |conn| {
        let (space, _) = pages::find_allowed(conn, &user, id, |space| Action::EditPages(space))?;
        Ok(pages::delete(conn, &actor, id).map(|_| space))
    })
    .await?;
    match outcome {
        Ok(space) => Ok(redirect(&format!("/spaces/{}", space.key))),
        Err(error @ AppError::Conflict { .. }) => page_view(&signed_in, &state, id, Some(error)).await,
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
pub struct WatchForm {
    /// `watch` or `unwatch`.
    action: String,
}

/// `POST /pages/{id}/watch`
pub async fn watch(
    form: CsrfForm<WatchForm>,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let (user, id) = (signed_in.user().clone(), path.into_inner());
    db::run(&state.pool, move |conn| {
        pages::find_allowed(conn, &user, id, |space| Action::ViewSpace(space))?;
        match data.action.as_str() {
            "watch" => Ok(pages::watch(conn, id, user.id)?),
            "unwatch" => Ok(pages::unwatch(conn, id, user.id)?),
            other => Err(AppError::invalid("action", format!("\"{other}\" is neither watch nor unwatch."))),
        }
    })
    .await?;
    Ok(redirect(&format!("/pages/{id}")))
}
