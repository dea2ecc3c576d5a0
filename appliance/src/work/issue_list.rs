//! Finding issues: a project's filtered, sorted, paginated list, and the home page's lists.
//! The same `IssueQuery` serves the list page's query string and the API's.

use std::collections::HashMap;

use diesel::pg::Pg;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::issues::Issue;
use super::kinds::{IssueType, Status};
use crate::errors::AppError;
use crate::identity::users::{self, UserRef};
use crate::schema::{issues, projects, users as users_table};

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 200;

/// The query string as a user or client wrote it.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct IssueQuery {
    pub status: Option<String>,
    pub assignee: Option<String>,
    #[serde(rename = "type")]
    pub issue_type: Option<String>,
    pub q: Option<String>,
    pub sort: Option<String>,
    pub order: Option<String>,
    pub page: Option<String>,
    pub per_page: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assignee {
    Nobody,
    User(i64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFilter {
    Open,
    Is(Status),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Updated,
    Created,
    Priority,
    Key,
}

impl SortKey {
    pub const ALL: [(SortKey, &'static str); 4] = [
        (SortKey::Updated, "updated"),
        (SortKey::Created, "created"),
        (SortKey::Priority, "priority"),
        (SortKey::Key, "key"),
    ];

    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(key, _)| *key == self).map_or("updated", |(_, name)| name)
    }
}

/// A parsed, valid filter.
#[derive(Clone, Debug)]
pub struct IssueFilter {
    pub status: Option<StatusFilter>,
    pub assignee: Option<Assignee>,
    pub issue_type: Option<IssueType>,
    pub text: Option<String>,
    pub sort: SortKey,
    pub descending: bool,
    pub page: i64,
    pub per_page: i64,
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl IssueFilter {
    /// Parses `query`; `me` is the user that `assignee=me` means. Each bad value is refused
    /// with an error naming its parameter.
    pub fn parse(conn: &mut PgConnection, query: &IssueQuery, me: i64) -> Result<Self, AppError> {
        let status = match given(&query.status) {
            None | Some("any") => None,
            Some("open") => Some(StatusFilter::Open),
            Some(name) => Some(StatusFilter::Is(Status::parse(name)?)),
        };
        let assignee = match given(&query.assignee) {
            None | Some("any") => None,
            Some("none") => Some(Assignee::Nobody),
            Some("me") => Some(Assignee::User(me)),
            Some(name) => {
                let id = users::find_by_username(conn, name)?
                    .ok_or_else(|| AppError::invalid("assignee", format!("There is no user named {name}.")))?
                    .id;
                Some(Assignee::User(id))
            }
        };
        let issue_type = given(&query.issue_type).map(IssueType::parse).transpose()?;
        let text = given(&query.q).map(|q| q.chars().take(200).collect());
        let sort = match given(&query.sort) {
            None => SortKey::Updated,
            Some(name) => SortKey::ALL.iter().find(|(_, n)| *n == name).map(|(key, _)| *key).ok_or_else(|| {
                AppError::invalid(
                    "sort",
                    format!("Unknown sort \"{name}\"; use one of: updated, created, priority, key."),
                )
            })?,
        };
        let descending = match given(&query.order) {
            None | Some("desc") => true,
            Some("asc") => false,
            Some(other) => {
                return Err(AppError::invalid("order", format!("Unknown order \"{other}\"; use asc or desc.")))
            }
        };
        let page = whole_number(&query.page, "page", 1, 1..=100_000)?;
        let per_page = whole_number(&query.per_page, "per_page", DEFAULT_PAGE_SIZE, 1..=MAX_PAGE_SIZE)?;
        Ok(Self { status, assignee, issue_type, text, sort, descending, page, per_page })
    }
}

fn whole_number(
    value: &Option<String>,
    field: &str,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, AppError> {
    let Some(text) = given(value) else {
        return Ok(default);
    };
    match text.parse::<i64>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(AppError::invalid(
            field,
            format!("{field} must be a whole number from {} to {}.", range.start(), range.end()),
        )),
    }
}

/// An issue as lists show it.
#[derive(Clone, Debug, Serialize)]
pub struct ListedIssue {
    pub key: String,
    #[serde(flatten)]
    pub issue: Issue,
    pub assignee: Option<UserRef>,
}

pub struct IssuePage {
    pub issues: Vec<ListedIssue>,
    pub has_more: bool,
}

/// `%`, `_` and `\` are wildcards to ILIKE; a user typing them means the characters.
fn like_pattern(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

pub fn list(conn: &mut PgConnection, project_id: i64, filter: &IssueFilter) -> QueryResult<IssuePage> {
    let mut query = issues::table
        .inner_join(projects::table)
        .filter(issues::project_id.eq(project_id))
        .select((Issue::as_select(), projects::key))
        .into_boxed::<Pg>();
    match filter.status {
        None => {}
        Some(StatusFilter::Open) => query = query.filter(issues::status.ne(Status::Done)),
        Some(StatusFilter::Is(status)) => query = query.filter(issues::status.eq(status)),
    }
    match filter.assignee {
        None => {}
        Some(Assignee::Nobody) => query = query.filter(issues::assignee_id.is_null()),
        Some(Assignee::User(id)) => query = query.filter(issues::assignee_id.eq(id)),
    }
    if let Some(issue_type) = filter.issue_type {
        query = query.filter(issues::issue_type.eq(issue_type));
    }
    if let Some(text) = &filter.text {
        query = query.filter(issues::title.ilike(like_pattern(text)));
    }
    query = match (filter.sort, filter.descending) {
        (SortKey::Updated, true) => query.order((issues::updated_at.desc(), issues::id.desc())),
        (SortKey::Updated, false) => query.order((issues::updated_at.asc(), issues::id.asc())),
        (SortKey::Created, true) => query.order(issues::number.desc()),
        (SortKey::Created, false) => query.order(issues::number.asc()),
        (SortKey::Key, true) => query.order(issues::number.desc()),
        (SortKey::Key, false) => query.order(issues::number.asc()),
        // "Descending priority" reads as "most urgent first": rank 1 first.
        (SortKey::Priority, true) => query.order((issues::priority.asc(), issues::updated_at.desc())),
        (SortKey::Priority, false) => query.order((issues::priority.desc(), issues::updated_at.desc())),
    };
    // One extra row says whether there is a next page, without counting them all.
    let rows: Vec<(Issue, String)> =
        query.limit(filter.per_page + 1).offset((filter.page - 1) * filter.per_page).load(conn)?;
    let has_more = rows.len() as i64 > filter.per_page;
    let rows = rows.into_iter().take(filter.per_page as usize).collect();
    Ok(IssuePage { issues: with_people(conn, rows)?, has_more })
}

/// Open issues assigned to `user_id`, most recently updated first.
pub fn assigned_to(conn: &mut PgConnection, user_id: i64, limit: i64) -> QueryResult<Vec<ListedIssue>> {
    let rows = issues::table
        .inner_join(projects::table)
        .filter(issues::assignee_id.eq(user_id).and(issues::status.ne(Status::Done)))
        .order(issues::updated_at.desc())
        .limit(limit)
        .select((Issue::as_select(), projects::key))
        .load(conn)?;
    with_people(conn, rows)
}

pub fn recently_updated(conn: &mut PgConnection, limit: i64) -> QueryResult<Vec<ListedIssue>> {
    let rows = issues::table
        .inner_join(projects::table)
        .order(issues::updated_at.desc())
        .limit(limit)
        .select((Issue::as_select(), projects::key))
        .load(conn)?;
    with_people(conn, rows)
}

fn with_people(conn: &mut PgConnection, rows: Vec<(Issue, String)>) -> QueryResult<Vec<ListedIssue>> {
    let mut ids: Vec<i64> = rows.iter().filter_map(|(issue, _)| issue.assignee_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let people: HashMap<i64, UserRef> = if ids.is_empty() { HashMap::new() } else { users::refs_by_ids(conn, &ids)? };
    Ok(rows
        .into_iter()
        .map(|(issue, project_key)| ListedIssue {
            key: format!("{project_key}-{}", issue.number),
            assignee: issue.assignee_id.and_then(|id| people.get(&id).cloned()),
            issue,
        })
        .collect())
}

/// Who an issue is assigned to and who reported it, for the issue page and API.
pub fn people_of(conn: &mut PgConnection, issue: &Issue) -> QueryResult<(Option<UserRef>, UserRef)> {
    let reporter = users_table::table.find(issue.reporter_id).select(UserRef::as_select()).first(conn)?;
    let assignee = match issue.assignee_id {
        Some(id) => Some(users_table::table.find(id).select(UserRef::as_select()).first(conn)?),
        None => None,
    };
    Ok((assignee, reporter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_typed_by_users_are_literal() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
