//! Comments on issues, in Markdown.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::issues::Issue;
use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::identity::users::UserRef;
use crate::schema::{comments, issues, users};

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

pub fn list_for_issue(conn: &mut PgConnection, issue_id: i64) -> QueryResult<Vec<CommentWithAuthor>> {
    let rows: Vec<(Comment, UserRef)> = comments::table
        .inner_join(users::table)
        .filter(comments::issue_id.eq(issue_id))
        .order((comments::created_at.asc(), comments::id.asc()))
        .select((Comment::as_select(), UserRef::as_select()))
        .load(conn)?;
    Ok(rows.into_iter().map(|(comment, author)| CommentWithAuthor { comment, author }).collect())
}
