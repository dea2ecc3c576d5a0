//! The page tree of a space: parents, order among siblings (positions 0, 1, 2… without gaps),
//! moves that can never make a cycle, and the outline pages show.

use std::collections::HashMap;

use diesel::prelude::*;
use serde_json::json;

use super::pages::{self, Page};
use super::spaces;
use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::schema::pages as pages_table;
use crate::web::markdown::escape_html;

/// A page as the outline knows it.
#[derive(Clone, Debug, Queryable, QueryableByName)]
pub struct Node {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub id: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    pub parent_id: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub position: i32,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub title: String,
}

/// How many pages of one list the tree beside a page shows; the space's page lists all.
const PER_LIST: i64 = 100;

/// The pages of a space in outline order (parents before children, siblings by position),
/// each with its depth.
pub struct Outline {
    pub entries: Vec<(Node, usize)>,
}

fn siblings_of(space_id: i64, parent_id: Option<i64>) -> pages_table::BoxedQuery<'static, diesel::pg::Pg> {
    let in_space = pages_table::table.filter(pages_table::space_id.eq(space_id)).into_boxed();
    match parent_id {
        Some(parent) => in_space.filter(pages_table::parent_id.eq(parent)),
        None => in_space.filter(pages_table::parent_id.is_null()),
    }
}

pub fn sibling_count(conn: &mut PgConnection, space_id: i64, parent_id: Option<i64>) -> QueryResult<i32> {
    let count: i64 = siblings_of(space_id, parent_id).count().get_result(conn)?;
    Ok(count as i32)
}

/// Shifts the siblings after a page that left `position` one place up.
pub fn close_gap(conn: &mut PgConnection, space_id: i64, parent_id: Option<i64>, position: i32) -> QueryResult<()> {
    let after: Vec<i64> = siblings_of(space_id, parent_id)
        .filter(pages_table::position.gt(position))
        .select(pages_table::id)
        .load(conn)?;
    diesel::update(pages_table::table.filter(pages_table::id.eq_any(after)))
        .set(pages_table::position.eq(pages_table::position - 1))
        .execute(conn)
        .map(drop)
}

pub fn outline(conn: &mut PgConnection, space_id: i64) -> QueryResult<Outline> {
    let nodes: Vec<Node> = pages_table::table
        .filter(pages_table::space_id.eq(space_id))
        .order((pages_table::position, pages_table::id))
        .select((pages_table::id, pages_table::parent_id, pages_table::position, pages_table::title))
        .load(conn)?;
    Ok(Outline::of(nodes))
}

/// The part of a space's outline a page shows beside itself: the top level, and the lists
/// opened on the way down to `page_id` and below it — as a file browser shows a folder —
/// at most `PER_LIST` pages of each (the path always). Read alone, without the rest: the
/// whole outline of a space of 15,000 pages made every page view 2 MB and 40 ms.
pub fn around(conn: &mut PgConnection, space_id: i64, page_id: i64) -> QueryResult<Outline> {
    let nodes: Vec<Node> = crate::db::Prepared(
        diesel::sql_query(
            // Each list read on its own through the tree indexes, first `PER_LIST` only: a
            // window over the whole level read and sorted every top-level page of a space.
            "WITH RECURSIVE path AS ( \
                 SELECT id, parent_id FROM pages WHERE id = $2 AND space_id = $1 \
                 UNION ALL SELECT p.id, p.parent_id FROM pages p JOIN path ON p.id = path.parent_id \
             ), top AS ( \
                 SELECT id, parent_id, position, title FROM pages \
                  WHERE space_id = $1 AND parent_id IS NULL ORDER BY position, id LIMIT $3 \
             ), below AS ( \
                 SELECT listed.* FROM path, LATERAL ( \
                     SELECT id, parent_id, position, title FROM pages \
                      WHERE space_id = $1 AND parent_id = path.id ORDER BY position, id LIMIT $3 \
                 ) AS listed \
             ) \
             SELECT id, parent_id, position, title FROM top \
             UNION SELECT id, parent_id, position, title FROM below \
             UNION SELECT id, parent_id, position, title FROM pages WHERE id IN (SELECT id FROM path) \
             ORDER BY position, id",
        )
        .bind::<diesel::sql_types::BigInt, _>(space_id)
        .bind::<diesel::sql_types::BigInt, _>(page_id)
        .bind::<diesel::sql_types::BigInt, _>(PER_LIST),
    )
    .load(conn)?;
    Ok(Outline::of(nodes))
}

impl Outline {
    /// Nodes in position order, arranged parents first, each followed by its subtree.
    fn of(nodes: Vec<Node>) -> Outline {
        let mut children: HashMap<Option<i64>, Vec<Node>> = HashMap::new();
        for node in nodes {
            children.entry(node.parent_id).or_default().push(node);
        }
        let mut entries = Vec::new();
        // Depth-first, pushing each level's children reversed so the first comes out first.
        let mut stack: Vec<(Node, usize)> =
            children.remove(&None).unwrap_or_default().into_iter().rev().map(|node| (node, 0)).collect();
        while let Some((node, depth)) = stack.pop() {
            let below = children.remove(&Some(node.id)).unwrap_or_default();
            stack.extend(below.into_iter().rev().map(|child| (child, depth + 1)));
            entries.push((node, depth));
        }
        Outline { entries }
    }

    /// The ids from the top of the tree down to `id`'s parent.
    pub fn ancestors(&self, id: i64) -> Vec<&Node> {
        let by_id: HashMap<i64, &Node> = self.entries.iter().map(|(node, _)| (node.id, node)).collect();
        let mut chain = Vec::new();
        let mut current = by_id.get(&id).and_then(|node| node.parent_id);
        while let Some(parent) = current.and_then(|parent| by_id.get(&parent)) {
            chain.push(*parent);
            current = parent.parent_id;
            if chain.len() > self.entries.len() {
                break;
            }
        }
        chain.reverse();
        chain
    }

    /// `id` and every page below it.
    pub fn subtree(&self, id: i64) -> Vec<i64> {
        let Some(start) = self.entries.iter().position(|(node, _)| node.id == id) else { return Vec::new() };
        let depth = self.entries[start].1;
        let mut ids = vec![id];
        ids.extend(self.entries[start + 1..].iter().take_while(|(_, d)| *d > depth).map(|(node, _)| node.id));
        ids
    }

    /// The outline as nested lists of links, the current page marked for assistive technology.
    pub fn to_html(&self, current: Option<i64>) -> String {
        let mut html = String::from("<ul class=\"page-tree\">");
        let mut open_depth = 0;
        for (index, (node, depth)) in self.entries.iter().enumerate() {
            if index > 0 {
                if *depth > open_depth {
                    html.push_str("<ul>");
                } else {
                    html.push_str("</li>");
                    for _ in *depth..open_depth {
                        html.push_str("</ul></li>");
                    }
                }
            }
            open_depth = *depth;
            let marker = if current == Some(node.id) { " aria-current=\"page\"" } else { "" };
            html.push_str(&format!("<li><a href=\"/pages/{}\"{marker}>{}</a>", node.id, escape_html(&node.title)));
        }
        if !self.entries.is_empty() {
            html.push_str("</li>");
            for _ in 0..open_depth {
                html.push_str("</ul></li>");
            }
        }
        html.push_str("</ul>");
        html
    }
}

/// Moves `page` under `new_parent` (or to the top level) at `position` among its new siblings
/// (0 is first; past the end means last). A page cannot move under itself or its own
/// descendants, and stays in its space.
pub fn move_page(
    conn: &mut PgConnection,
    actor: &Actor,
    page_id: i64,
    new_parent: Option<i64>,
    position: i32,
) -> Result<Page, AppError> {
    conn.transaction(|conn| {
        let page = pages::find(conn, page_id)?;
        spaces::lock(conn, page.space_id)?;
        // Read again under the lock: the page may have moved while we waited for it.
        let page = pages::find(conn, page_id)?;
        if let Some(parent_id) = new_parent {
            let parent = pages::find(conn, parent_id)
                .map_err(|_| AppError::invalid("parent_id", format!("There is no page {parent_id} to move under.")))?;
            if parent.space_id != page.space_id {
                return Err(AppError::invalid("parent_id", "A page can only move within its own space."));
            }
            if outline(conn, page.space_id)?.subtree(page.id).contains(&parent_id) {
                return Err(AppError::invalid(
                    "parent_id",
                    format!(
                        "\"{}\" cannot move under \"{}\": that page is inside it, which would make a loop.",
                        page.title, parent.title
                    ),
                ));
            }
        }
        if position < 0 {
            return Err(AppError::invalid("position", "The position must be 1 or more."));
        }
        // Leave the old place first (the page itself is left out of every count below), so a
        // move within the same parent counts its siblings right.
        close_gap(conn, page.space_id, page.parent_id, page.position)?;
        let others = siblings_of(page.space_id, new_parent).filter(pages_table::id.ne(page.id));
        let count: i64 = others.count().get_result(conn)?;
        let position = position.min(count as i32);
        let after: Vec<i64> = siblings_of(page.space_id, new_parent)
            .filter(pages_table::id.ne(page.id))
            .filter(pages_table::position.ge(position))
            .select(pages_table::id)
            .load(conn)?;
        diesel::update(pages_table::table.filter(pages_table::id.eq_any(after)))
            .set(pages_table::position.eq(pages_table::position + 1))
            .execute(conn)?;
        let moved: Page = diesel::update(pages_table::table.find(page.id))
            .set((pages_table::parent_id.eq(new_parent), pages_table::position.eq(position)))
            .returning(Page::as_returning())
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "page.moved",
                entity_type: "page",
                entity_id: page.id,
                before: Some(json!({ "parent_id": page.parent_id, "position": page.position })),
                after: Some(json!({ "parent_id": moved.parent_id, "position": moved.position })),
            },
        )?;
        Ok(moved)
    })
}
