//! Watchers: the people who follow an issue (its reporter and assignee from the start); the
//! notifications they will receive arrive with the job queue.

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt};
use serde_json::json;

use super::issues::Issue;
use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::identity::users::UserRef;
use crate::schema::{issue_watchers, users};

/// Starts (`watching`) or stops `user_id` watching `issue`; doing what is already so writes nothing.
pub fn set_watching(
    conn: &mut PgConnection,
    actor: &Actor,
    issue: &Issue,
    user_id: i64,
    watching: bool,
) -> Result<(), AppError> {
    conn.transaction(|conn| {
        let row = issue_watchers::table
            .filter(issue_watchers::issue_id.eq(issue.id).and(issue_watchers::user_id.eq(user_id)));
        let changed = if watching { start(conn, issue.id, &[user_id])? } else { diesel::delete(row).execute(conn)? };
        if changed > 0 {
            let action = if watching { "issue.watched" } else { "issue.unwatched" };
            audit::record(
                conn,
                actor,
                Change {
                    action,
                    entity_type: "issue",
                    entity_id: issue.id,
                    before: None,
                    after: Some(json!({ "user_id": user_id })),
                },
            )?;
        }
        Ok(())
    })
}

/// Makes `users` watchers of the issue, those not already; returns how many were not. One
/// statement of fixed text, kept prepared: every create runs it (diesel's own insert with
/// `ON CONFLICT` was parsed and planned on every call).
pub fn start(conn: &mut PgConnection, issue_id: i64, users: &[i64]) -> QueryResult<usize> {
    crate::db::Prepared(
        diesel::sql_query(
            "INSERT INTO issue_watchers (issue_id, user_id) SELECT $1, unnest($2) \
             ON CONFLICT DO NOTHING RETURNING user_id",
        )
        .bind::<BigInt, _>(issue_id)
        .bind::<Array<BigInt>, _>(users),
    )
    .rows_returned(conn)
}

pub fn watchers_of(conn: &mut PgConnection, issue_id: i64) -> QueryResult<Vec<UserRef>> {
    issue_watchers::table
        .inner_join(users::table)
        .filter(issue_watchers::issue_id.eq(issue_id))
        .order(users::display_name)
        .select(UserRef::as_select())
        .load(conn)
}
