//! Comments on issues, in Markdown.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use std::sync::LazyLock;

use diesel::sql_types::{BigInt, Text, Timestamptz};

use super::history::{Stretch, Total};
use super::issues::Issue;
use crate::audit::{self, Actor, Change};
use crate::db::Prepared;
use crate::errors::AppError;
use crate::identity::users::UserRef;
use crate::schema::{comments, issues};

pub const BODY_MAX: usize = 65_536;

#[derive(Clone, Debug, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = comments)]
pub struct Comment {
    pub id: i64,
    #[serde(skip)]
    pub issue_id: i64,
    #[serde(skip)]
    pub author_id: i64,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CommentWithAuthor {
    #[serde(flatten)]
    pub comment: Comment,
    pub author: UserRef,
}

pub fn check_body(body: &str) -> Result<(), AppError> {
    let length = body.chars().count();
    if body.trim().is_empty() {
        return Err(AppError::invalid("body", "Comment is empty."));
    }
    if length > BODY_MAX {
        return Err(AppError::invalid(
            "body",
            format!("Comment must be at most {BODY_MAX} characters (it has {length})."),
        ));
    }
    Ok(())
}

/// Adds a comment and marks the issue as updated, in one transaction.
pub fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    issue: &Issue,
    author_id: i64,
    body: &str,
) -> Result<Comment, AppError> {
    check_body(body)?;
    conn.transaction(|conn| {
        let comment: Comment = diesel::insert_into(comments::table)
            .values((comments::issue_id.eq(issue.id), comments::author_id.eq(author_id), comments::body.eq(body)))
            .returning(Comment::as_returning())
            .get_result(conn)?;
        diesel::update(issues::table.find(issue.id)).set(issues::updated_at.eq(Utc::now())).execute(conn)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "comment.created",
                entity_type: "comment",
                entity_id: comment.id,
                before: None,
                after: Some(json!({ "issue_id": issue.id, "body": comment.body })),
            },
        )?;
        Ok(comment)
    })
}

/// A comment as the stretch statements read it, with its author and the count of all the
/// issue's comments beside it (evaluated once).
#[derive(QueryableByName)]
struct CommentRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    issue_id: i64,
    #[diesel(sql_type = BigInt)]
    author_id: i64,
    #[diesel(sql_type = Text)]
    body: String,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    updated_at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    username: String,
    #[diesel(sql_type = Text)]
    display_name: String,
    #[diesel(sql_type = BigInt)]
    total: i64,
}

const TOTAL: &str = "(SELECT count(*) FROM comments t WHERE t.issue_id = $1)";

fn comments_in_order(direction: &str) -> String {
    format!(
        "SELECT c.id, c.issue_id, c.author_id, c.body, c.created_at, c.updated_at, u.username, u.display_name, \
                {TOTAL} AS total \
           FROM comments c JOIN users u ON u.id = c.author_id \
          WHERE c.issue_id = $1 \
          ORDER BY c.created_at {direction}, c.id {direction} LIMIT $2 OFFSET $3"
    )
}
static OLDEST_FIRST: LazyLock<String> = LazyLock::new(|| comments_in_order("ASC"));
static NEWEST_FIRST: LazyLock<String> = LazyLock::new(|| comments_in_order("DESC"));
/// The count alone, for a page past the end (no row to carry it).
static COUNTED: LazyLock<String> = LazyLock::new(|| format!("SELECT {TOTAL} AS total"));

/// A stretch of an issue's comments, oldest first, and how many the issue has.
pub struct Comments {
    pub shown: Vec<CommentWithAuthor>,
    pub total: i64,
}

/// `stretch` of the comments on issue `issue_id`, oldest first. An issue can gather thousands
/// (a build bot commenting on every run), and each is Markdown to render, so the issue page
/// shows the latest and the rest are read a page at a time.
pub fn comments_of(conn: &mut PgConnection, issue_id: i64, stretch: Stretch) -> QueryResult<Comments> {
    let sql = if stretch.newest_first() { NEWEST_FIRST.as_str() } else { OLDEST_FIRST.as_str() };
    let (limit, offset) = stretch.limit_and_offset();
    let mut rows: Vec<CommentRow> =
        Prepared(diesel::sql_query(sql).bind::<BigInt, _>(issue_id).bind::<BigInt, _>(limit).bind::<BigInt, _>(offset))
            .load(conn)?;
    let total = match (rows.first(), stretch) {
        (Some(row), _) => row.total,
        // The latest of none are none; a page past the end still tells how many there are.
        (None, Stretch::Latest(_)) => 0,
        (None, Stretch::Page { .. }) => {
            Prepared(diesel::sql_query(COUNTED.as_str()).bind::<BigInt, _>(issue_id)).get_result::<Total>(conn)?.total
        }
    };
    if stretch.newest_first() {
        rows.reverse();
    }
    let shown = rows
        .into_iter()
        .map(|row| CommentWithAuthor {
            comment: Comment {
                id: row.id,
                issue_id: row.issue_id,
                author_id: row.author_id,
                body: row.body,
                created_at: row.created_at,
                updated_at: row.updated_at,
            },
            author: UserRef { id: row.author_id, username: row.username, display_name: row.display_name },
        })
        .collect();
    Ok(Comments { shown, total })
}

/// Where a comment stands among its issue's, in the order the pages list them.
#[derive(QueryableByName)]
struct Standing {
    /// Comments of the issue, this one included: none when the issue has no such comment.
    #[diesel(sql_type = BigInt)]
    counted: i64,
    #[diesel(sql_type = BigInt)]
    older: i64,
    #[diesel(sql_type = BigInt)]
    newer: i64,
}

const STANDING: &str = "SELECT count(*) AS counted, \
            count(*) FILTER (WHERE (t.created_at, t.id) < (c.created_at, c.id)) AS older, \
            count(*) FILTER (WHERE (t.created_at, t.id) > (c.created_at, c.id)) AS newer \
       FROM comments c JOIN comments t ON t.issue_id = c.issue_id \
      WHERE c.id = $1 AND c.issue_id = $2";

/// Where comment `comment_id` of issue `issue_id` is shown: among the `latest` the issue page
/// shows (`None`), or on this page of `page_size`; `NotFound` when the issue has no such comment.
pub fn page_of(
    conn: &mut PgConnection,
    issue_id: i64,
    comment_id: i64,
    (latest, page_size): (i64, i64),
) -> QueryResult<Option<i64>> {
    let standing: Standing =
        Prepared(diesel::sql_query(STANDING).bind::<BigInt, _>(comment_id).bind::<BigInt, _>(issue_id))
            .get_result(conn)?;
    if standing.counted == 0 {
        return Err(diesel::result::Error::NotFound);
    }
    Ok((standing.newer >= latest).then_some(standing.older / page_size + 1))
}
