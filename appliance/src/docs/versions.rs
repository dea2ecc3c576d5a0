//! A page's kept versions: the list, one version, a line diff between two, and restoring an
//! old one (which saves its text as a new version, so nothing in between is lost).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use similar::{ChangeTag, TextDiff};

use super::pages::{self, Draft, Saved};
use crate::audit::Actor;
use crate::errors::AppError;
use crate::schema::{page_versions, users};

#[derive(Clone, Debug, Queryable, Selectable, Serialize)]
#[diesel(table_name = page_versions)]
pub struct PageVersion {
    pub page_id: i64,
    pub version: i32,
    pub title: String,
    pub body: String,
    #[serde(skip)]
    pub author_id: i64,
    pub note: String,
    pub created_at: DateTime<Utc>,
}

/// Every version of a page, newest first, with its author's name.
pub fn list(conn: &mut PgConnection, page_id: i64) -> QueryResult<Vec<(PageVersion, String)>> {
    page_versions::table
        .inner_join(users::table)
        .filter(page_versions::page_id.eq(page_id))
        .order(page_versions::version.desc())
        .select((PageVersion::as_select(), users::display_name))
        .load(conn)
}

pub fn find(conn: &mut PgConnection, page_id: i64, version: i32) -> Result<(PageVersion, String), AppError> {
    page_versions::table
        .inner_join(users::table)
        .filter(page_versions::page_id.eq(page_id))
        .filter(page_versions::version.eq(version))
        .select((PageVersion::as_select(), users::display_name))
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found(format!("Page {page_id} has no version {version}.")))
}

/// Saves version `version`'s title and text as the page's newest version.
pub fn restore(
    conn: &mut PgConnection,
    actor: &Actor,
    page_id: i64,
    version: i32,
    base_version: i32,
) -> Result<Saved, AppError> {
    conn.transaction(|conn| {
        let (old, _) = find(conn, page_id, version)?;
        let draft = Draft { title: old.title, body: old.body };
        pages::save(conn, actor, page_id, base_version, draft, &format!("Restored version {version}"))
    })
}

/// One line of a diff: kept, removed (only in the older text) or added (only in the newer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DiffLine {
    pub kind: &'static str,
    pub old_number: Option<usize>,
    pub new_number: Option<usize>,
    pub text: String,
}

/// The line diff from `old` to `new`, unchanged stretches cut to `context` lines around changes.
pub fn diff(old: &str, new: &str, context: usize) -> Vec<Vec<DiffLine>> {
    let diff = TextDiff::from_lines(old, new);
    diff.grouped_ops(context)
        .iter()
        .map(|group| {
            group
                .iter()
                .flat_map(|op| diff.iter_changes(op))
                .map(|change| DiffLine {
                    kind: match change.tag() {
                        ChangeTag::Equal => "same",
                        ChangeTag::Delete => "removed",
                        ChangeTag::Insert => "added",
                    },
                    old_number: change.old_index().map(|i| i + 1),
                    new_number: change.new_index().map(|i| i + 1),
                    text: change.value().trim_end_matches('\n').to_owned(),
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::diff;

    #[test]
    fn a_diff_shows_removed_and_added_lines_with_their_numbers() {
        let hunks = diff("one\ntwo\nthree\n", "one\n2\nthree\nfour\n", 3);
        assert_eq!(hunks.len(), 1);
        let lines: Vec<(&str, Option<usize>, Option<usize>, &str)> =
            hunks[0].iter().map(|l| (l.kind, l.old_number, l.new_number, l.text.as_str())).collect();
        assert_eq!(
            lines,
            [
                ("same", Some(1), Some(1), "one"),
                ("removed", Some(2), None, "two"),
                ("added", None, Some(2), "2"),
                ("same", Some(3), Some(3), "three"),
                ("added", None, Some(4), "four"),
            ]
        );
        assert!(diff("same\n", "same\n", 3).is_empty());
    }
}
