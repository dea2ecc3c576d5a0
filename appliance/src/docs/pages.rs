//! Pages: their rows and the rules of writing them. Every save that changes the text keeps a
//! version; a save names the version it started from and is refused when someone saved since
//! (optimistic concurrency), so nobody's words are overwritten unseen. Each change is one
//! transaction with its audit row and outbox event.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::spaces::{self, Space};
use super::{mentions, tree};
use crate::attachments::{self, Owner};
use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};
use crate::identity::users::User;
use crate::schema::{page_versions, page_watchers, pages};
use crate::web::markdown;

pub const TITLE_MAX: usize = 200;
/// A page's Markdown, in characters: a long runbook fits; a pasted log file should be attached.
pub const BODY_MAX: usize = 200_000;

#[derive(Clone, Debug, Queryable, Selectable, Serialize)]
#[diesel(table_name = pages)]
pub struct Page {
    pub id: i64,
    pub space_id: i64,
    pub parent_id: Option<i64>,
    pub position: i32,
    pub title: String,
    pub body: String,
    pub version: i32,
    #[serde(skip)]
    pub created_by: i64,
    #[serde(skip)]
    pub updated_by: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A title and text as typed into the editor, checked.
#[derive(Clone, Debug)]
pub struct Draft {
    pub title: String,
    pub body: String,
}

impl Draft {
    pub fn new(title: &str, body: &str) -> Result<Draft, AppError> {
        let title = title.trim();
        if title.is_empty() {
            return Err(AppError::invalid("title", "A page needs a title."));
        }
        if title.chars().count() > TITLE_MAX {
            return Err(AppError::invalid("title", format!("A page title must be at most {TITLE_MAX} characters.")));
        }
        if title.chars().any(char::is_control) {
            return Err(AppError::invalid("title", "A page title cannot contain control characters."));
        }
        if body.chars().count() > BODY_MAX {
            return Err(AppError::invalid(
                "body",
                format!("A page can hold at most {BODY_MAX} characters; attach long logs or data as files."),
            ));
        }
        // Browsers send CRLF from a textarea; versions and diffs compare lines, so keep one form.
        Ok(Draft { title: title.to_owned(), body: body.replace("\r\n", "\n") })
    }
}

pub fn find(conn: &mut PgConnection, id: i64) -> Result<Page, AppError> {
    found(pages::table.find(id).select(Page::as_select()).first(conn).optional()?, id)
}

fn found(page: Option<Page>, id: i64) -> Result<Page, AppError> {
    page.ok_or_else(|| AppError::not_found(format!("There is no page {id}.")))
}

/// The page and its space, once `user` is allowed `action` there (the one permission check).
pub fn find_allowed(
    conn: &mut PgConnection,
    user: &User,
    id: i64,
    action: for<'a> fn(&'a Space) -> Action<'a>,
) -> Result<(Space, Page), AppError> {
    let page = find(conn, id)?;
    let space = spaces::find(conn, page.space_id)?;
    authorize(user, action(&space))?;
    Ok((space, page))
}

/// The page, its row held until the transaction ends (saves of one page take turns).
fn lock(conn: &mut PgConnection, id: i64) -> Result<Page, AppError> {
    found(pages::table.find(id).for_update().select(Page::as_select()).first(conn).optional()?, id)
}

/// A new page at the end of `parent`'s children (or of the space's top level).
pub fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    space: &Space,
    parent_id: Option<i64>,
    draft: Draft,
) -> Result<Page, AppError> {
    let author = actor.user_id.ok_or_else(|| AppError::forbidden("Sign in to write pages."))?;
    conn.transaction(|conn| {
        spaces::lock(conn, space.id)?;
        if let Some(parent_id) = parent_id {
            let parent = find(conn, parent_id)
                .map_err(|_| AppError::invalid("parent_id", format!("There is no page {parent_id} to write under.")))?;
            if parent.space_id != space.id {
                return Err(AppError::invalid(
                    "parent_id",
                    format!("Page {parent_id} is not in the space {}.", space.key),
                ));
            }
        }
        let position = tree::sibling_count(conn, space.id, parent_id)?;
        let page: Page = diesel::insert_into(pages::table)
            .values((
                pages::space_id.eq(space.id),
                pages::parent_id.eq(parent_id),
                pages::position.eq(position),
                pages::title.eq(&draft.title),
                pages::body.eq(&draft.body),
                pages::version.eq(1),
                pages::created_by.eq(author),
                pages::updated_by.eq(author),
            ))
            .returning(Page::as_returning())
            .get_result(conn)?;
        written(conn, &page, author, "")?;
        audit::record(
            conn,
            actor,
            Change {
                action: "page.created",
                entity_type: "page",
                entity_id: page.id,
                before: None,
                after: Some(json!({ "title": page.title, "space": space.key, "parent_id": parent_id, "version": 1 })),
            },
        )?;
        Ok(page)
    })
}

/// What a save did.
pub enum Saved {
    /// A new version was kept.
    Changed(Page),
    /// The text and title were the ones already saved: nothing to keep.
    Unchanged(Page),
}

/// The sentence of a save refused because someone saved first; the editor shows both texts.
pub fn conflict(page: &Page, base_version: i32) -> AppError {
    AppError::conflict(
        "body",
        format!(
            "This page was changed by someone else while you edited it (you started from version {base_version}; \
             it is now at version {}). Your text is kept below: compare, merge and save again.",
            page.version
        ),
    )
}

/// Saves `draft` over `base_version`; refused with `conflict` when the page has moved on.
pub fn save(
    conn: &mut PgConnection,
    actor: &Actor,
    page_id: i64,
    base_version: i32,
    draft: Draft,
    note: &str,
) -> Result<Saved, AppError> {
    let author = actor.user_id.ok_or_else(|| AppError::forbidden("Sign in to write pages."))?;
    conn.transaction(|conn| {
        let before = lock(conn, page_id)?;
        if before.version != base_version {
            return Err(conflict(&before, base_version));
        }
        if before.title == draft.title && before.body == draft.body {
            return Ok(Saved::Unchanged(before));
        }
        let page: Page = diesel::update(pages::table.find(page_id))
            .set((
                pages::title.eq(&draft.title),
                pages::body.eq(&draft.body),
                pages::version.eq(before.version + 1),
                pages::updated_by.eq(author),
                pages::updated_at.eq(diesel::dsl::now),
            ))
            .returning(Page::as_returning())
            .get_result(conn)?;
        written(conn, &page, author, note)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "page.updated",
                entity_type: "page",
                entity_id: page.id,
                before: Some(json!({ "title": before.title, "version": before.version })),
                after: Some(json!({ "title": page.title, "version": page.version, "note": note })),
            },
        )?;
        Ok(Saved::Changed(page))
    })
}

/// What every write of a page's text brings along: the version kept, the issues it mentions
/// now, and its writer watching it.
fn written(conn: &mut PgConnection, page: &Page, author: i64, note: &str) -> QueryResult<()> {
    diesel::insert_into(page_versions::table)
        .values((
            page_versions::page_id.eq(page.id),
            page_versions::version.eq(page.version),
            page_versions::title.eq(&page.title),
            page_versions::body.eq(&page.body),
            page_versions::author_id.eq(author),
            page_versions::note.eq(note),
        ))
        .execute(conn)?;
    mentions::replace(conn, page.id, &markdown::render(&page.body).issue_keys)?;
    watch(conn, page.id, author)
}

/// Deletes a page without child pages, with its versions and files (their objects by job).
pub fn delete(conn: &mut PgConnection, actor: &Actor, page_id: i64) -> Result<Page, AppError> {
    conn.transaction(|conn| {
        let page = find(conn, page_id)?;
        spaces::lock(conn, page.space_id)?;
        let children = tree::sibling_count(conn, page.space_id, Some(page.id))?;
        if children > 0 {
            return Err(AppError::conflict(
                "page",
                format!(
                    "\"{}\" has {children} child page{}; move or delete them first.",
                    page.title,
                    if children == 1 { "" } else { "s" }
                ),
            ));
        }
        for (attachment, _) in attachments::of_owner(conn, Owner::Page(page.id))? {
            attachments::delete(conn, actor, &attachment)?;
        }
        diesel::delete(pages::table.find(page.id)).execute(conn)?;
        tree::close_gap(conn, page.space_id, page.parent_id, page.position)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "page.deleted",
                entity_type: "page",
                entity_id: page.id,
                before: Some(json!({ "title": page.title, "space_id": page.space_id, "version": page.version })),
                after: None,
            },
        )?;
        Ok(page)
    })
}

/// Starts watching (idempotent): writers of a page watch it from their first save.
pub fn watch(conn: &mut PgConnection, page_id: i64, user_id: i64) -> QueryResult<()> {
    diesel::insert_into(page_watchers::table)
        .values((page_watchers::page_id.eq(page_id), page_watchers::user_id.eq(user_id)))
        .on_conflict_do_nothing()
        .execute(conn)
        .map(drop)
}

pub fn unwatch(conn: &mut PgConnection, page_id: i64, user_id: i64) -> QueryResult<()> {
    diesel::delete(page_watchers::table.find((page_id, user_id))).execute(conn).map(drop)
}

pub fn is_watching(conn: &mut PgConnection, page_id: i64, user_id: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(page_watchers::table.find((page_id, user_id)))).get_result(conn)
}

pub fn watchers_of(conn: &mut PgConnection, page_id: i64) -> QueryResult<Vec<i64>> {
    page_watchers::table.filter(page_watchers::page_id.eq(page_id)).select(page_watchers::user_id).load(conn)
}
