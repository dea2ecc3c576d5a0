//! Finding issues: a project's filtered, sorted, paginated list, and the home page's lists.
//! The same `IssueQuery` serves the list page's query string and the API's. The simple
//! filters (status, assignee, type, title text) and an OQL query (`oql=`) build one
//! parameterised statement through `oql::SqlBuilder`, so there is one query path.

use chrono::Utc;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use serde::{Deserialize, Serialize};

use super::fields::Catalogue;
use super::issues::Issue;
use super::kinds::{IssueType, StatusCategory};
use super::list_columns::{self, Column};
use super::list_cursor;
use super::oql::{self, Bind, Context, OrderTerm, SortValue, SqlBuilder};
use super::workflows::Workflow;
use crate::errors::AppError;
use crate::identity::permissions::readable_scope;
use crate::identity::users::{self, User, UserRef};
use crate::search::engine::Scope;

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 200;

/// The query string as a user or client wrote it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IssueQuery {
    pub oql: Option<String>,
    /// Extra columns, comma-separated: `points,labels,custom:Tier`.
    pub columns: Option<String>,
    pub status: Option<String>,
    pub assignee: Option<String>,
    #[serde(rename = "type")]
    pub issue_type: Option<String>,
    pub q: Option<String>,
    pub sort: Option<String>,
    pub order: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1)]
    pub page: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub per_page: Option<String>,
    /// The `next_cursor` of the previous page: the page after it, however the list changed
    /// meanwhile (instead of `page`).
    pub cursor: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assignee {
    Nobody,
    User(i64),
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
    pub oql: Option<oql::Query>,
    /// Status ids to keep (`status=open` is every status not in the Done category).
    pub statuses: Option<Vec<i64>>,
    pub assignee: Option<Assignee>,
    pub issue_type: Option<IssueType>,
    pub text: Option<String>,
    /// `None`: the OQL query's ORDER BY, or most recently updated first.
    pub sort: Option<SortKey>,
    pub descending: bool,
    pub page: i64,
    pub per_page: i64,
    /// Where the page starts instead of `page`: after the row a previous page ended with.
    pub cursor: Option<String>,
    pub columns: Vec<Column>,
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl IssueFilter {
    /// Parses `query` for a list of `workflow`'s project; `me` is the user that
    /// `assignee=me` means. Each bad value is refused with an error naming its parameter.
    pub fn parse(conn: &mut PgConnection, query: &IssueQuery, me: i64, workflow: &Workflow) -> Result<Self, AppError> {
        let oql = given(&query.oql).map(oql::parse).transpose().map_err(|e| AppError::invalid("oql", e.to_string()))?;
        let statuses = match given(&query.status) {
            None | Some("any") => None,
            Some("open") => Some(workflow.ids_in(&[StatusCategory::Todo, StatusCategory::InProgress])),
            Some(name) => Some(vec![workflow.find(name)?.id]),
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
            None => None,
            Some(name) => {
                Some(SortKey::ALL.iter().find(|(_, n)| *n == name).map(|(key, _)| *key).ok_or_else(|| {
                    AppError::invalid(
                        "sort",
                        format!("Unknown sort \"{name}\"; use one of: updated, created, priority, key."),
                    )
                })?)
            }
        };
        let descending = match given(&query.order) {
            None | Some("desc") => true,
            Some("asc") => false,
            Some(other) => {
                return Err(AppError::invalid("order", format!("Unknown order \"{other}\"; use asc or desc.")))
            }
        };
        let (page, per_page) = paging(query)?;
        let cursor = given(&query.cursor).map(str::to_owned);
        let columns = match given(&query.columns) {
            None => Vec::new(),
            Some(text) => Column::parse_list(text, &Catalogue::load(conn, workflow.project_id)?)?,
        };
        Ok(Self { oql, statuses, assignee, issue_type, text, sort, descending, page, per_page, cursor, columns })
    }

    /// The sort in effect, for column headers: an explicit sort, else "updated" unless the
    /// OQL query orders the list itself.
    pub fn shown_sort(&self) -> Option<(SortKey, bool)> {
        match (self.sort, &self.oql) {
            (Some(sort), _) => Some((sort, self.descending)),
            (None, Some(query)) if !query.order_by.is_empty() => None,
            (None, _) => Some((SortKey::Updated, true)),
        }
    }
}

/// The page number and page size a query asks for, within bounds.
pub fn paging(query: &IssueQuery) -> Result<(i64, i64), AppError> {
    if given(&query.cursor).is_some() && given(&query.page).is_some() {
        return Err(AppError::invalid("cursor", "Give either page or cursor, not both."));
    }
    let page = whole_number(&query.page, "page", 1, 1..=100_000)?;
    let per_page = whole_number(&query.per_page, "per_page", DEFAULT_PAGE_SIZE, 1..=MAX_PAGE_SIZE)?;
    Ok((page, per_page))
}

/// A whole-number query parameter within `range`, or `default` when it is absent.
pub fn whole_number(
    value: &Option<String>,
    field: &str,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, AppError> {
    // Absent means the default; present but empty (`?page=`) is a wrong value like any other.
    let Some(text) = value.as_deref().map(str::trim) else {
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
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ListedIssue {
    pub key: String,
    #[serde(flatten)]
    pub issue: Issue,
    pub status: String,
    pub status_category: StatusCategory,
    pub assignee: Option<UserRef>,
    /// The list's extra columns (header, value), when it asked for some.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "columns_as_object")]
    #[schema(value_type = Option<std::collections::BTreeMap<String, String>>)]
    pub columns: Vec<(String, String)>,
}

fn columns_as_object<S: serde::Serializer>(columns: &[(String, String)], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_map(columns.iter().map(|(header, value)| (header, value)))
}

pub struct IssuePage {
    pub issues: Vec<ListedIssue>,
    pub has_more: bool,
    /// Where the next page starts, when there is one.
    pub next_cursor: Option<String>,
}

#[derive(QueryableByName)]
struct ListedRow {
    #[diesel(embed)]
    issue: Issue,
    #[diesel(sql_type = Text)]
    project_key: String,
    #[diesel(sql_type = Text)]
    status_name: String,
    #[diesel(sql_type = Text)]
    status_category: StatusCategory,
    #[diesel(sql_type = Nullable<Text>)]
    assignee_username: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    assignee_display_name: Option<String>,
    /// The row's sort values, for a cursor after it.
    #[diesel(sql_type = Text)]
    sort_key: String,
}

impl From<ListedRow> for ListedIssue {
    fn from(row: ListedRow) -> Self {
        let assignee = match (row.issue.assignee_id, row.assignee_username, row.assignee_display_name) {
            (Some(id), Some(username), Some(display_name)) => Some(UserRef { id, username, display_name }),
            _ => None,
        };
        ListedIssue {
            key: format!("{}-{}", row.project_key, row.issue.number),
            issue: row.issue,
            status: row.status_name,
            status_category: row.status_category,
            assignee,
            columns: Vec::new(),
        }
    }
}

/// Runs one statement for a list: the issues with their project key, status and assignee,
/// filtered and ordered as `sql` says, `limit` rows from `offset`.
pub fn load(conn: &mut PgConnection, sql: SqlBuilder, limit: i64, offset: i64) -> Result<Vec<ListedIssue>, AppError> {
    Ok(load_keyed(conn, sql, limit, offset, Descriptions::Read)?.into_iter().map(|(issue, _)| issue).collect())
}

/// [`load`] with every description left empty, for what shows cards (boards, the backlog)
/// or needs only ids: reading a sprint's 300 descriptions made the board's statement take
/// 9 ms rather than 2.
pub fn load_cards(
    conn: &mut PgConnection,
    sql: SqlBuilder,
    limit: i64,
    offset: i64,
) -> Result<Vec<ListedIssue>, AppError> {
    Ok(load_keyed(conn, sql, limit, offset, Descriptions::LeftOut)?.into_iter().map(|(issue, _)| issue).collect())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Descriptions {
    Read,
    LeftOut,
}

/// [`load`], each issue with its sort key for a cursor after it.
fn load_keyed(
    conn: &mut PgConnection,
    mut sql: SqlBuilder,
    limit: i64,
    offset: i64,
    descriptions: Descriptions,
) -> Result<Vec<(ListedIssue, String)>, AppError> {
    let (limit, offset) = (sql.bind(Bind::Int8(limit)), sql.bind(Bind::Int8(offset)));
    let compiled = sql.finish();
    // The id breaks ties, so pages never repeat or skip an issue.
    let order: Vec<String> = list_cursor::full_order(&compiled.order).iter().map(OrderTerm::sql).collect();
    let statement = format!(
        "SELECT i.id, i.project_id, i.number, i.issue_type, i.status_id, i.priority, i.title, {} AS description, \
                i.assignee_id, i.reporter_id, i.created_at, i.updated_at, \
                i.parent_id, i.due_date, i.story_points, i.estimate_minutes, i.fix_version_id, i.rank, i.sprint_id, \
                p.key AS project_key, s.name AS status_name, s.category AS status_category, \
                a.username AS assignee_username, a.display_name AS assignee_display_name, \
                {} AS sort_key \
           FROM issues i \
           JOIN projects p ON p.id = i.project_id \
           JOIN workflow_statuses s ON s.id = i.status_id \
           LEFT JOIN users a ON a.id = i.assignee_id \
          WHERE {} ORDER BY {} LIMIT {limit} OFFSET {offset}",
        if descriptions == Descriptions::Read { "i.description" } else { "''::text" },
        list_cursor::sort_key_sql(&compiled.order),
        compiled.condition,
        order.join(", ")
    );
    let query = compiled.bind_to(diesel::sql_query(statement).into_boxed::<Pg>());
    let rows: Vec<ListedRow> =
        if compiled.keep_plan { crate::db::Prepared(query).load(conn)? } else { query.load(conn)? };
    Ok(rows
        .into_iter()
        .map(|mut row| {
            let key = std::mem::take(&mut row.sort_key);
            (ListedIssue::from(row), key)
        })
        .collect())
}

/// A project's issues as `filter` says.
///
/// Why this stays one indexed query: the statement always constrains `i.project_id`, and
/// every other condition compares an id or rank column (statuses, people and projects are
/// resolved to ids before the statement is built), so PostgreSQL picks among the composite
/// indexes that lead with `project_id`: `(project_id, updated_at DESC)` walks the default
/// "recently updated" order and stops after one page, `(project_id, number)` serves key
/// order, `(project_id, status_id)` narrows status filters, `(assignee_id, updated_at)` serves
/// "assigned to", and the trigram index on `title` answers `~` searches. Joins to projects,
/// statuses and users are by primary key for the page's rows only.
pub fn list(conn: &mut PgConnection, project_id: i64, filter: &IssueFilter, me: i64) -> Result<IssuePage, AppError> {
    let sql = filtered(conn, project_id, filter, me)?;
    let mut page = page_of(conn, sql, filter.page, filter.per_page, filter.cursor.as_deref())?;
    list_columns::fill(conn, &mut page.issues, &filter.columns)?;
    Ok(page)
}

/// Every issue `filter` finds (its paging aside), up to `limit`; `None` when there are more.
pub fn all_matching(
    conn: &mut PgConnection,
    project_id: i64,
    filter: &IssueFilter,
    me: i64,
    limit: i64,
) -> Result<Option<Vec<ListedIssue>>, AppError> {
    let sql = filtered(conn, project_id, filter, me)?;
    let issues = load(conn, sql, limit + 1, 0)?;
    Ok(Some(issues).filter(|found| found.len() as i64 <= limit))
}

/// The statement for a project's issues as `filter` says: its conditions and order.
fn filtered(conn: &mut PgConnection, project_id: i64, filter: &IssueFilter, me: i64) -> Result<SqlBuilder, AppError> {
    let mut sql = SqlBuilder::default();
    let project = sql.bind(Bind::Int8(project_id));
    sql.and(format!("i.project_id = {project}"));
    if let Some(statuses) = &filter.statuses {
        let ids = sql.bind(Bind::Int8Array(statuses.clone()));
        sql.and(format!("i.status_id = ANY({ids})"));
    }
    match filter.assignee {
        None => {}
        Some(Assignee::Nobody) => sql.and("i.assignee_id IS NULL".to_owned()),
        Some(Assignee::User(id)) => {
            let id = sql.bind(Bind::Int8(id));
            sql.and(format!("i.assignee_id = {id}"));
        }
    }
    if let Some(issue_type) = filter.issue_type {
        let name = sql.bind(Bind::Text(issue_type.as_str().to_owned()));
        sql.and(format!("i.issue_type = {name}"));
    }
    if let Some(text) = &filter.text {
        let pattern = sql.bind(Bind::Text(oql::compile::like_pattern(text)));
        sql.and(format!("i.title ILIKE {pattern}"));
    }
    if let Some(sort) = filter.sort {
        sort_terms(sort, filter.descending).into_iter().for_each(|term| sql.order_by(term));
    }
    if let Some(query) = &filter.oql {
        let context = Context { me, now: Utc::now(), project_id: Some(project_id) };
        oql::compile::compile(conn, query, &context, &mut sql)?;
    }
    if !sql.has_order() {
        sort_terms(SortKey::Updated, true).into_iter().for_each(|term| sql.order_by(term));
    }
    Ok(sql)
}

/// Page `page` of `per_page` rows, or the `per_page` rows after `cursor`. One extra row says
/// whether there is a next page, without counting them all.
fn page_of(
    conn: &mut PgConnection,
    mut sql: SqlBuilder,
    page: i64,
    per_page: i64,
    cursor: Option<&str>,
) -> Result<IssuePage, AppError> {
    let offset = match cursor {
        Some(cursor) => {
            list_cursor::resume_after(&mut sql, cursor)?;
            0
        }
        None => (page - 1) * per_page,
    };
    let order = sql.order().to_vec();
    let mut rows = load_keyed(conn, sql, per_page + 1, offset, Descriptions::Read)?;
    let has_more = rows.len() as i64 > per_page;
    rows.truncate(per_page as usize);
    let next_cursor = rows.last().filter(|_| has_more).map(|(_, key)| list_cursor::encode(&order, key));
    Ok(IssuePage { issues: rows.into_iter().map(|(issue, _)| issue).collect(), has_more, next_cursor })
}

fn sort_terms(sort: SortKey, descending: bool) -> Vec<OrderTerm> {
    use SortValue::{Integer, Timestamp};
    let term = |column, value, descending| OrderTerm { column, descending, nullable: false, value };
    match sort {
        SortKey::Updated => vec![term("i.updated_at", Timestamp, descending)],
        SortKey::Created | SortKey::Key => vec![term("i.number", Integer, descending)],
        // "Descending priority" reads as "most urgent first": rank 1 first.
        SortKey::Priority => vec![term("i.priority", Integer, !descending), term("i.updated_at", Timestamp, true)],
    }
}

/// Open issues assigned to `user_id`, most recently updated first.
/// Keeps a list that spans projects to the projects `reader` may browse.
fn within_readable(conn: &mut PgConnection, reader: &User, sql: &mut SqlBuilder) -> Result<(), AppError> {
    if let Scope::Only { projects, .. } = readable_scope(conn, reader)? {
        let allowed = sql.bind(Bind::Int8Array(projects));
        sql.and(format!("i.project_id = ANY({allowed})"));
    }
    Ok(())
}

/// The reader's open issues, in the projects they may still browse.
pub fn assigned_to(conn: &mut PgConnection, reader: &User, limit: i64) -> Result<Vec<ListedIssue>, AppError> {
    let user_id = reader.id;
    let mut sql = SqlBuilder::default();
    within_readable(conn, reader, &mut sql)?;
    let (user, done) = (sql.bind(Bind::Int8(user_id)), sql.bind(Bind::Text(StatusCategory::Done.as_str().to_owned())));
    sql.and(format!("i.assignee_id = {user} AND s.category <> {done}"));
    sql.order_by(OrderTerm::desc("i.updated_at", SortValue::Timestamp));
    load(conn, sql, limit, 0)
}

pub fn recently_updated(conn: &mut PgConnection, reader: &User, limit: i64) -> Result<Vec<ListedIssue>, AppError> {
    let mut sql = SqlBuilder::default();
    within_readable(conn, reader, &mut sql)?;
    sql.order_by(OrderTerm::desc("i.updated_at", SortValue::Timestamp));
    load(conn, sql, limit, 0)
}

/// The issues directly below `issue_id` (an epic's stories, a story's sub-tasks), by key.
pub fn children_of(conn: &mut PgConnection, issue_id: i64) -> Result<Vec<ListedIssue>, AppError> {
    let mut sql = SqlBuilder::default();
    let parent = sql.bind(Bind::Int8(issue_id));
    sql.and(format!("i.parent_id = {parent}"));
    sql.keep_plan();
    sql.order_by(OrderTerm::asc("i.number", SortValue::Integer));
    load(conn, sql, 1000, 0)
}

/// Issues found by a whole OQL query across every project, for the API's search: page
/// `page`, or the page after `cursor`.
pub fn search(
    conn: &mut PgConnection,
    query: &oql::Query,
    reader: &User,
    (page, per_page): (i64, i64),
    cursor: Option<&str>,
) -> Result<IssuePage, AppError> {
    let mut sql = SqlBuilder::default();
    within_readable(conn, reader, &mut sql)?;
    let context = Context { me: reader.id, now: Utc::now(), project_id: None };
    oql::compile::compile(conn, query, &context, &mut sql)?;
    if !sql.has_order() {
        sql.order_by(OrderTerm::desc("i.updated_at", SortValue::Timestamp));
    }
    page_of(conn, sql, page, per_page, cursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_typed_by_users_are_literal() {
        assert_eq!(oql::compile::like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
