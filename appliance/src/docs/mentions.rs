//! Which issues a page names (`OPS-42` in its running text), kept with each save, so the issue
//! can show the pages that mention it.

use std::collections::BTreeSet;

use diesel::prelude::*;

use super::spaces::Space;
use crate::identity::permissions::{authorize, Action};
use crate::identity::users::User;
use crate::schema::{issues, page_mentions, pages, projects, spaces};

/// Keys past this many on one page are not recorded (a page listing thousands of issues is a
/// report, and its links still work).
const MENTIONS_MAX: usize = 500;

/// Records the issues of `keys` that exist as the page's mentions, replacing the old ones.
pub fn replace(conn: &mut PgConnection, page_id: i64, keys: &BTreeSet<String>) -> QueryResult<()> {
    diesel::delete(page_mentions::table.filter(page_mentions::page_id.eq(page_id))).execute(conn)?;
    let mut wanted: Vec<(String, i64)> = keys
        .iter()
        .filter_map(|key| key.rsplit_once('-'))
        .filter_map(|(project, number)| Some((project.to_owned(), number.parse().ok()?)))
        .collect();
    wanted.truncate(MENTIONS_MAX);
    let project_keys: Vec<&str> = wanted.iter().map(|(project, _)| project.as_str()).collect();
    let numbers: Vec<i64> = wanted.iter().map(|(_, number)| *number).collect();
    // One query for all keys: candidates by project key and number, then exact pairs.
    let found: Vec<(i64, String, i64)> = issues::table
        .inner_join(projects::table)
        .filter(projects::key.eq_any(&project_keys))
        .filter(issues::number.eq_any(&numbers))
        .select((issues::id, projects::key, issues::number))
        .load(conn)?;
    let rows: Vec<_> = found
        .into_iter()
        .filter(|(_, project, number)| wanted.iter().any(|(p, n)| p == project && n == number))
        .map(|(issue_id, _, _)| (page_mentions::page_id.eq(page_id), page_mentions::issue_id.eq(issue_id)))
        .collect();
    diesel::insert_into(page_mentions::table).values(rows).on_conflict_do_nothing().execute(conn).map(drop)
}

/// A page that mentions an issue, as the issue page lists it.
#[derive(Clone, Debug, Queryable)]
pub struct Mention {
    pub page_id: i64,
    pub title: String,
    pub space: Space,
}

/// The pages mentioning the issue that `user` may read.
pub fn pages_mentioning(conn: &mut PgConnection, user: &User, issue_id: i64) -> QueryResult<Vec<Mention>> {
    let all: Vec<Mention> = page_mentions::table
        .inner_join(pages::table.inner_join(spaces::table))
        .filter(page_mentions::issue_id.eq(issue_id))
        .order((spaces::key, pages::title))
        .select((pages::id, pages::title, Space::as_select()))
        .load(conn)?;
    Ok(all.into_iter().filter(|mention| authorize(user, Action::ViewSpace(&mention.space)).is_ok()).collect())
}
