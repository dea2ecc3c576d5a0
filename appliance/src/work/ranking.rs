//! The backlog order. Each issue has a rank, spaced `GAP` apart, so moving one issue writes
//! one row (the midpoint of its new neighbours); when neighbours leave no room, the project's
//! ranks are spaced out again in one statement. Moves are serialised per project by a lock on
//! the project row.

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use serde_json::json;

use super::issues::{self, Issue};
use super::projects::Project;
use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::schema::{issues as issues_table, projects};

pub const GAP: i64 = 1 << 20;

/// Where an issue goes in the order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Just before / after the issue with this key.
    Before(String),
    After(String),
    Top,
    Bottom,
    /// One place up or down among the issues of the same sprint (or the backlog).
    Up,
    Down,
}

impl Placement {
    /// From a form or JSON: `before=OPS-3`, `after=OPS-3`, or `direction=up|down|top|bottom`.
    pub fn parse(before: Option<&str>, after: Option<&str>, direction: Option<&str>) -> Result<Option<Self>, AppError> {
        let given = |value: Option<&str>| value.map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        Ok(match (given(before), given(after), given(direction)) {
            (Some(key), None, None) => Some(Placement::Before(key)),
            (None, Some(key), None) => Some(Placement::After(key)),
            (None, None, Some(direction)) => Some(match direction.as_str() {
                "top" => Placement::Top,
                "bottom" => Placement::Bottom,
                "up" => Placement::Up,
                "down" => Placement::Down,
                other => {
                    return Err(AppError::invalid(
                        "direction",
                        format!("Unknown direction \"{other}\"; use up, down, top or bottom."),
                    ))
                }
            }),
            (None, None, None) => None,
            _ => return Err(AppError::invalid("before", "Give one of before, after or direction, not several.")),
        })
    }
}

/// The rank that puts a new issue at the bottom of its project's backlog.
pub fn bottom_rank(conn: &mut PgConnection, project_id: i64) -> QueryResult<i64> {
    let highest: Option<i64> = issues_table::table
        .filter(issues_table::project_id.eq(project_id))
        .select(diesel::dsl::max(issues_table::rank))
        .first(conn)?;
    Ok(highest.unwrap_or(0) + GAP)
}

/// Spaces the project's ranks `GAP` apart again, keeping their order as lists show it.
fn respace(conn: &mut PgConnection, project_id: i64) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE issues SET rank = ordered.n * $2 \
           FROM (SELECT id, row_number() OVER (ORDER BY rank, id DESC) AS n FROM issues WHERE project_id = $1) AS ordered \
          WHERE issues.id = ordered.id",
    )
    .bind::<BigInt, _>(project_id)
    .bind::<BigInt, _>(GAP)
    .execute(conn)
}

/// The id and rank of the issue next to the one at `(rank, id)` in the project (the one
/// before it if `before`), among issues of sprint `sprint` when `same_sprint` says so. Issues
/// created at the same moment can share a rank; among them the newest comes first, as every
/// list shows them (`list_cursor::TIE_BREAK`).
fn neighbour(
    conn: &mut PgConnection,
    project_id: i64,
    (rank, id): (i64, i64),
    before: bool,
    same_sprint: Option<Option<i64>>,
) -> QueryResult<Option<(i64, i64)>> {
    let mut query = issues_table::table
        .filter(issues_table::project_id.eq(project_id))
        .select((issues_table::id, issues_table::rank))
        .into_boxed();
    query = if before {
        query
            .filter(issues_table::rank.lt(rank).or(issues_table::rank.eq(rank).and(issues_table::id.gt(id))))
            .order((issues_table::rank.desc(), issues_table::id.asc()))
    } else {
        query
            .filter(issues_table::rank.gt(rank).or(issues_table::rank.eq(rank).and(issues_table::id.lt(id))))
            .order((issues_table::rank.asc(), issues_table::id.desc()))
    };
    match same_sprint {
        Some(Some(sprint)) => query = query.filter(issues_table::sprint_id.eq(sprint)),
        Some(None) => query = query.filter(issues_table::sprint_id.is_null()),
        None => {}
    }
    query.first(conn).optional()
}

/// The rank `placement` gives `issue`, or `None` when it is already there.
fn target_rank(
    conn: &mut PgConnection,
    project: &Project,
    issue: &Issue,
    placement: &Placement,
) -> Result<Option<i64>, AppError> {
    let anchor = |conn: &mut PgConnection, key: &str| -> Result<Issue, AppError> {
        let (other_project, other) = issues::find_by_key(conn, key)?;
        if other_project.id != project.id {
            return Err(AppError::invalid(
                "before",
                format!(
                    "{}-{} can only be ranked among {} issues; {}-{} is in {}.",
                    project.key, issue.number, project.key, other_project.key, other.number, other_project.key
                ),
            ));
        }
        Ok(other)
    };
    Ok(match placement {
        Placement::Top => {
            let lowest: Option<i64> = issues_table::table
                .filter(issues_table::project_id.eq(project.id))
                .select(diesel::dsl::min(issues_table::rank))
                .first(conn)?;
            Some(lowest.unwrap_or(0) - GAP).filter(|_| lowest != Some(issue.rank))
        }
        Placement::Bottom => {
            let bottom = bottom_rank(conn, project.id)?;
            Some(bottom).filter(|b| *b - GAP != issue.rank)
        }
        Placement::Up | Placement::Down => {
            let before = *placement == Placement::Up;
            match neighbour(conn, project.id, (issue.rank, issue.id), before, Some(issue.sprint_id))? {
                None => None,
                Some((id, _)) => {
                    let other: Issue = issues_table::table.find(id).select(Issue::as_select()).first(conn)?;
                    let key = format!("{}-{}", project.key, other.number);
                    let placement = if before { Placement::Before(key) } else { Placement::After(key) };
                    return target_rank(conn, project, issue, &placement);
                }
            }
        }
        Placement::Before(key) | Placement::After(key) => {
            let other = anchor(conn, key)?;
            if other.id == issue.id {
                return Ok(None);
            }
            let before = matches!(placement, Placement::Before(_));
            let far = neighbour(conn, project.id, (other.rank, other.id), before, None)?;
            if far.is_some_and(|(id, _)| id == issue.id) {
                return Ok(None);
            }
            match far {
                Some((_, far_rank)) if (far_rank - other.rank).abs() > 1 => Some((far_rank + other.rank) / 2),
                Some(_) => {
                    respace(conn, project.id)?;
                    let issue: Issue = issues_table::table.find(issue.id).select(Issue::as_select()).first(conn)?;
                    return target_rank(conn, project, &issue, placement);
                }
                None if before => Some(other.rank - GAP),
                None => Some(other.rank + GAP),
            }
        }
    })
}

/// Moves `issue` as `placement` says, inside the caller's transaction, with its audit record.
pub fn place(
    conn: &mut PgConnection,
    actor: &Actor,
    project: &Project,
    issue: &Issue,
    placement: &Placement,
) -> Result<(), AppError> {
    projects::table.find(project.id).select(projects::id).for_update().first::<i64>(conn)?;
    let current: Issue = issues_table::table.find(issue.id).select(Issue::as_select()).first(conn)?;
    let Some(rank) = target_rank(conn, project, &current, placement)? else {
        return Ok(());
    };
    diesel::update(issues_table::table.find(issue.id)).set(issues_table::rank.eq(rank)).execute(conn)?;
    let placed = match placement {
        Placement::Before(key) => format!("before {key}"),
        Placement::After(key) => format!("after {key}"),
        Placement::Top => "top".to_owned(),
        Placement::Bottom => "bottom".to_owned(),
        Placement::Up => "up".to_owned(),
        Placement::Down => "down".to_owned(),
    };
    audit::record(
        conn,
        actor,
        Change {
            action: "issue.ranked",
            entity_type: "issue",
            entity_id: issue.id,
            before: None,
            after: Some(json!({ "placed": placed })),
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placements_parse_one_way_only() {
        assert_eq!(Placement::parse(Some("OPS-2"), None, None).unwrap(), Some(Placement::Before("OPS-2".into())));
        assert_eq!(Placement::parse(None, Some(" "), Some("top")).unwrap(), Some(Placement::Top));
        assert_eq!(Placement::parse(None, None, None).unwrap(), None);
        assert_eq!(Placement::parse(None, None, Some("sideways")).unwrap_err().field(), Some("direction"));
        assert!(Placement::parse(Some("OPS-1"), Some("OPS-2"), None).is_err());
    }
}
