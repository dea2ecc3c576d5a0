//! What the issue page, the API's issue and a create's answer show beside an issue's own
//! row, read in one statement: its further fields, the people it names, its watchers, and
//! which of its seldom-filled lists hold anything. Read as four statements, their round
//! trips cost PostgreSQL more than running them did.

use std::sync::LazyLock;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Jsonb, Nullable, Text};
use serde_json::Value;

use super::issue_fields::{DetailRow, Details, DETAIL_COLUMNS};
use super::issues::Issue;
use crate::identity::users::UserRef;

/// Which of an issue's seldom-filled lists hold anything. Most issues have no sub-issues,
/// links, work log, files, deployments or mentions; each list is read only when it does.
#[derive(Debug, QueryableByName)]
pub struct Filled {
    #[diesel(sql_type = Bool)]
    pub children: bool,
    #[diesel(sql_type = Bool)]
    pub links: bool,
    #[diesel(sql_type = Bool)]
    pub work_logs: bool,
    #[diesel(sql_type = Bool)]
    pub attachments: bool,
    #[diesel(sql_type = Bool)]
    pub deployments: bool,
    #[diesel(sql_type = Bool)]
    pub mentions: bool,
}

/// What `load` finds when `filled`, else nothing.
pub fn when<T: Default, E>(filled: bool, load: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    if filled {
        load()
    } else {
        Ok(T::default())
    }
}

/// An issue's surroundings (see the module's comment).
pub struct Described {
    pub details: Details,
    pub assignee: Option<UserRef>,
    pub reporter: UserRef,
    /// By display name.
    pub watchers: Vec<UserRef>,
    pub filled: Filled,
}

#[derive(QueryableByName)]
struct DescribedRow {
    #[diesel(embed)]
    details: DetailRow,
    #[diesel(sql_type = BigInt)]
    reporter_id: i64,
    #[diesel(sql_type = Text)]
    reporter_username: String,
    #[diesel(sql_type = Text)]
    reporter_display_name: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    assignee_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    assignee_username: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    assignee_display_name: Option<String>,
    /// `[id, username, display name]` of each watcher.
    #[diesel(sql_type = Jsonb)]
    watchers: Value,
    #[diesel(embed)]
    filled: Filled,
}

static DESCRIBED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {DETAIL_COLUMNS}, \
            r.id AS reporter_id, r.username AS reporter_username, r.display_name AS reporter_display_name, \
            a.id AS assignee_id, a.username AS assignee_username, a.display_name AS assignee_display_name, \
            coalesce((SELECT jsonb_agg(jsonb_build_array(w.id, w.username, w.display_name) \
                                       ORDER BY w.display_name, w.id) \
                        FROM issue_watchers iw JOIN users w ON w.id = iw.user_id \
                       WHERE iw.issue_id = i.id), '[]'::jsonb) AS watchers, \
            EXISTS (SELECT 1 FROM issues c WHERE c.parent_id = i.id) AS children, \
            EXISTS (SELECT 1 FROM issue_links WHERE source_id = i.id) \
              OR EXISTS (SELECT 1 FROM issue_links WHERE target_id = i.id) AS links, \
            EXISTS (SELECT 1 FROM work_logs WHERE issue_id = i.id) AS work_logs, \
            EXISTS (SELECT 1 FROM attachments WHERE issue_id = i.id) AS attachments, \
            EXISTS (SELECT 1 FROM deployment_issues WHERE issue_id = i.id) AS deployments, \
            EXISTS (SELECT 1 FROM page_mentions WHERE issue_id = i.id) AS mentions \
         FROM issues i \
         JOIN users r ON r.id = i.reporter_id \
         LEFT JOIN users a ON a.id = i.assignee_id \
         WHERE i.id = $1"
    )
});

/// `issue`'s surroundings as they are now (inside a transaction: as it sees them).
pub fn describe(conn: &mut PgConnection, issue: &Issue) -> QueryResult<Described> {
    let row: DescribedRow =
        crate::db::Prepared(diesel::sql_query(DESCRIBED.as_str()).bind::<BigInt, _>(issue.id)).get_result(conn)?;
    let reporter =
        UserRef { id: row.reporter_id, username: row.reporter_username, display_name: row.reporter_display_name };
    // The people as the statement read them: the row in hand may be a moment older.
    let assignee = match (row.assignee_id, row.assignee_username, row.assignee_display_name) {
        (Some(id), Some(username), Some(display_name)) => Some(UserRef { id, username, display_name }),
        _ => None,
    };
    Ok(Described {
        details: row.details.into_details(),
        assignee,
        reporter,
        watchers: watchers_in(&row.watchers),
        filled: row.filled,
    })
}

fn watchers_in(listed: &Value) -> Vec<UserRef> {
    let Value::Array(watchers) = listed else { return Vec::new() };
    watchers
        .iter()
        .filter_map(|watcher| {
            Some(UserRef {
                id: watcher.get(0)?.as_i64()?,
                username: watcher.get(1)?.as_str()?.to_owned(),
                display_name: watcher.get(2)?.as_str()?.to_owned(),
            })
        })
        .collect()
}
