//! The notifications table: writing one per user per event, listing, counting, marking read.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::Reason;
use crate::schema::{notifications, users};

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = notifications)]
pub struct Notification {
    pub id: i64,
    pub user_id: i64,
    pub event_id: i64,
    pub reason: String,
    pub actor_id: Option<i64>,
    pub subject: String,
    pub summary: String,
    pub link: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
    pub emailed_at: Option<DateTime<Utc>>,
}

/// One notification to write.
pub struct NewNotification<'a> {
    pub user_id: i64,
    pub event_id: i64,
    pub reason: Reason,
    pub actor_id: Option<i64>,
    pub subject: &'a str,
    pub summary: &'a str,
    pub link: &'a str,
}

/// Writes it unless this user already has one for this event (a retried job). Returns the new
/// notification, or `None` if it was already there.
pub fn insert(conn: &mut PgConnection, new: &NewNotification<'_>) -> QueryResult<Option<Notification>> {
    diesel::insert_into(notifications::table)
        .values((
            notifications::user_id.eq(new.user_id),
            notifications::event_id.eq(new.event_id),
            notifications::reason.eq(new.reason.as_str()),
            notifications::actor_id.eq(new.actor_id),
            notifications::subject.eq(new.subject),
            notifications::summary.eq(new.summary),
            notifications::link.eq(new.link),
        ))
        .on_conflict((notifications::user_id, notifications::event_id))
        .do_nothing()
        .returning(Notification::as_returning())
        .get_result(conn)
        .optional()
}

pub fn mark_emailed(conn: &mut PgConnection, ids: &[i64]) -> QueryResult<usize> {
    diesel::update(notifications::table.filter(notifications::id.eq_any(ids)))
        .set(notifications::emailed_at.eq(diesel::dsl::now))
        .execute(conn)
}

/// A page of a user's notifications, newest first, with who caused each.
pub fn list(
    conn: &mut PgConnection,
    user_id: i64,
    unread_only: bool,
    before_id: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<(Notification, Option<String>)>> {
    let mut query = notifications::table
        .left_join(users::table.on(users::id.nullable().eq(notifications::actor_id)))
        .filter(notifications::user_id.eq(user_id))
        .order(notifications::id.desc())
        .limit(limit)
        .select((Notification::as_select(), users::display_name.nullable()))
        .into_boxed();
    if unread_only {
        query = query.filter(notifications::read_at.is_null());
    }
    if let Some(before) = before_id {
        query = query.filter(notifications::id.lt(before));
    }
    query.load(conn)
}

pub fn unread_count(conn: &mut PgConnection, user_id: i64) -> QueryResult<i64> {
    notifications::table
        .filter(notifications::user_id.eq(user_id))
        .filter(notifications::read_at.is_null())
        .count()
        .get_result(conn)
}

/// Marks `ids` (or all when `None`) of the user's notifications read. Someone else's ids are
/// ignored, not refused: they are not the user's to know about.
pub fn mark_read(conn: &mut PgConnection, user_id: i64, ids: Option<&[i64]>) -> QueryResult<usize> {
    let mine = notifications::table
        .filter(notifications::user_id.eq(user_id))
        .filter(notifications::read_at.is_null())
        .into_boxed();
    let targets = match ids {
        Some(ids) => mine.filter(notifications::id.eq_any(ids.to_vec())),
        None => mine,
    };
    diesel::update(notifications::table.filter(notifications::id.eq_any(targets.select(notifications::id))))
        .set(notifications::read_at.eq(diesel::dsl::now))
        .execute(conn)
}
