//! Watchers: the people who follow an issue (its reporter and assignee from the start); the
//! notifications they will receive arrive with the job queue.

use diesel::prelude::*;
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
        let changed = if watching {
            diesel::insert_into(issue_watchers::table)
                .values((issue_watchers::issue_id.eq(issue.id), issue_watchers::user_id.eq(user_id)))
                .on_conflict_do_nothing()
                .execute(conn)?
        } else {
            diesel::delete(row).execute(conn)?
        };
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

pub fn watchers_of(conn: &mut PgConnection, issue_id: i64) -> QueryResult<Vec<UserRef>> {
    issue_watchers::table
        .inner_join(users::table)
        .filter(issue_watchers::issue_id.eq(issue_id))
        .order(users::display_name)
        .select(UserRef::as_select())
        .load(conn)
}
