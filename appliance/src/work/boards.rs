//! Boards: a project's issues in columns by workflow status, ordered by rank, optionally in
//! swimlanes by assignee or epic. The Kanban board shows the whole project (or a saved
//! filter's issues); the Scrum board shows the active sprint. Cards move with the same rules
//! as everywhere: a workflow transition, then a rank.

use std::collections::HashMap;

use chrono::{Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text};

use super::issue_list::{self, ListedIssue};
use super::issues::{self, Issue, IssueChanges};
use super::kinds::StatusCategory;
use super::oql::{self, Bind, Context, OrderTerm, SortValue, SqlBuilder};
use super::projects::Project;
use super::ranking::{self, Placement};
use super::sprints;
use super::workflows::{Workflow, WorkflowStatus};
use crate::audit::Actor;
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};
use crate::identity::users::User;

/// Cards a board shows at most; a bigger board says it was cut.
pub const CARDS_MAX: i64 = 1000;
/// A Kanban board keeps finished work in sight for this long.
pub const DONE_VISIBLE_DAYS: i64 = 14;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Swimlanes {
    None,
    Assignee,
    Epic,
}

impl Swimlanes {
    pub fn parse(text: Option<&str>) -> Result<Self, AppError> {
        match text.map(str::trim).unwrap_or("") {
            "" | "none" => Ok(Swimlanes::None),
            "assignee" => Ok(Swimlanes::Assignee),
            "epic" => Ok(Swimlanes::Epic),
            other => Err(AppError::invalid(
                "swimlanes",
                format!("Unknown swimlanes \"{other}\"; use none, assignee or epic."),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Swimlanes::None => "none",
            Swimlanes::Assignee => "assignee",
            Swimlanes::Epic => "epic",
        }
    }
}

/// One horizontal lane: its title and its cards per column (in the workflow's order).
pub struct Lane {
    pub title: Option<String>,
    pub cells: Vec<Vec<ListedIssue>>,
}

pub struct Board {
    pub statuses: Vec<WorkflowStatus>,
    pub lanes: Vec<Lane>,
    /// Cards per column over all lanes, for the header and WIP limits.
    pub counts: Vec<usize>,
    pub truncated: bool,
}

impl Board {
    /// Whether column `index` holds more cards than its WIP limit allows.
    pub fn over_limit(&self, index: &usize) -> bool {
        let limit = self.statuses.get(*index).and_then(|s| s.wip_limit);
        limit.is_some_and(|limit| self.counts.get(*index).copied().unwrap_or(0) > limit as usize)
    }
}

/// What a board shows.
pub struct Source<'a> {
    pub project_id: i64,
    /// A saved filter's query; its ORDER BY is ignored, boards are in rank order.
    pub filter: Option<&'a oql::Query>,
    /// The Scrum board's sprint; `None` for the Kanban board.
    pub sprint: Option<i64>,
    pub swimlanes: Swimlanes,
    pub me: i64,
}

pub fn load(conn: &mut PgConnection, workflow: &Workflow, source: &Source<'_>) -> Result<Board, AppError> {
    let mut sql = SqlBuilder::default();
    let project = sql.bind(Bind::Int8(source.project_id));
    sql.and(format!("i.project_id = {project}"));
    sql.order_by(OrderTerm::asc("i.rank", SortValue::Integer));
    match source.sprint {
        Some(sprint) => {
            let sprint = sql.bind(Bind::Int8(sprint));
            sql.and(format!("i.sprint_id = {sprint}"));
        }
        None => {
            let (done, since) = (
                sql.bind(Bind::Text(StatusCategory::Done.as_str().to_owned())),
                sql.bind(Bind::Timestamptz(Utc::now() - Duration::days(DONE_VISIBLE_DAYS))),
            );
            sql.and(format!("(s.category <> {done} OR i.updated_at >= {since})"));
        }
    }
    if source.filter.is_none() {
        sql.keep_plan();
    }
    if let Some(query) = source.filter {
        let filter_only = oql::Query { filter: query.filter.clone(), order_by: Vec::new() };
        let context = Context { me: source.me, now: Utc::now(), project_id: Some(source.project_id) };
        oql::compile::compile(conn, &filter_only, &context, &mut sql)?;
    }
    let mut cards = issue_list::load_cards(conn, sql, CARDS_MAX + 1, 0)?;
    let truncated = cards.len() as i64 > CARDS_MAX;
    cards.truncate(CARDS_MAX as usize);

    let lane_of: HashMap<i64, Option<String>> = match source.swimlanes {
        Swimlanes::None => HashMap::new(),
        Swimlanes::Assignee => cards
            .iter()
            .map(|c| {
                (c.issue.id, Some(c.assignee.as_ref().map_or("Unassigned".to_owned(), |a| a.display_name.clone())))
            })
            .collect(),
        Swimlanes::Epic => epics_of(conn, &cards)?,
    };
    let column = |card: &ListedIssue| workflow.statuses.iter().position(|s| s.id == card.issue.status_id);
    let mut lanes: Vec<Lane> = Vec::new();
    let mut counts = vec![0; workflow.statuses.len()];
    for card in cards {
        let Some(index) = column(&card) else { continue };
        counts[index] += 1;
        let title = match source.swimlanes {
            Swimlanes::None => None,
            Swimlanes::Assignee => lane_of.get(&card.issue.id).cloned().flatten(),
            Swimlanes::Epic => {
                Some(lane_of.get(&card.issue.id).cloned().flatten().unwrap_or_else(|| "No epic".to_owned()))
            }
        };
        let lane = match lanes.iter().position(|lane| lane.title == title) {
            Some(position) => position,
            None => {
                lanes.push(Lane { title: title.clone(), cells: vec![Vec::new(); workflow.statuses.len()] });
                lanes.len() - 1
            }
        };
        lanes[lane].cells[index].push(card);
    }
    if lanes.is_empty() {
        lanes.push(Lane { title: None, cells: vec![Vec::new(); workflow.statuses.len()] });
    }
    // Named lanes in name order; "Unassigned" and "No epic" last.
    lanes.sort_by_key(|lane| {
        let title = lane.title.clone().unwrap_or_default();
        (title == "Unassigned" || title == "No epic", title)
    });
    Ok(Board { statuses: workflow.statuses.clone(), lanes, counts, truncated })
}

/// Moves a card, as a board, the backlog or the API asks: a transition to `status`, a sprint
/// (`Some(None)`: the backlog) and a place in the rank order, all in one transaction.
/// Returns the status the issue is in afterwards. The caller has checked that `mover` may edit
/// the issue; a move to another status also needs the right to move issues between statuses.
#[allow(clippy::too_many_arguments)]
pub fn move_card(
    conn: &mut PgConnection,
    actor: &Actor,
    mover: &User,
    project: &Project,
    issue: Issue,
    status: Option<String>,
    sprint: Option<Option<i64>>,
    placement: Option<Placement>,
) -> Result<String, AppError> {
    conn.transaction(|conn| {
        // A card reordered within its column names the status it is already in: no transition.
        let status = match status {
            Some(name) if Workflow::load(conn, project.id)?.find(&name)?.id == issue.status_id => None,
            other => other,
        };
        if status.is_some() {
            authorize(mover, Action::TransitionIssue(project))?;
        }
        let mut issue = issue;
        if status.is_some() {
            issue = issues::update(conn, actor, project, issue.id, IssueChanges { status, ..IssueChanges::default() })?;
        }
        if let Some(sprint) = sprint {
            sprints::put(conn, actor, project, &issue, sprint)?;
        }
        if let Some(placement) = placement {
            ranking::place(conn, actor, project, &issue, &placement)?;
        }
        Ok(Workflow::load(conn, project.id)?.status(issue.status_id)?.name.clone())
    })
}

#[derive(QueryableByName)]
struct EpicRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    epic: String,
}

/// The epic above each card ("OPS-1 Storage rework"): its parent if that is an epic, or its
/// parent's parent for a sub-task.
fn epics_of(conn: &mut PgConnection, cards: &[ListedIssue]) -> QueryResult<HashMap<i64, Option<String>>> {
    let ids: Vec<i64> = cards.iter().map(|c| c.issue.id).collect();
    let rows: Vec<EpicRow> = diesel::sql_query(
        "SELECT i.id, p.key || '-' || e.number || ' ' || e.title AS epic \
           FROM issues i \
           JOIN issues parent ON parent.id = i.parent_id \
           JOIN issues e ON e.id = CASE WHEN parent.issue_type = 'epic' THEN parent.id ELSE parent.parent_id END \
           JOIN projects p ON p.id = e.project_id \
          WHERE i.id = ANY($1)",
    )
    .bind::<Array<BigInt>, _>(ids)
    .load(conn)?;
    Ok(rows.into_iter().map(|row| (row.id, Some(row.epic))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swimlanes_parse_by_name() {
        assert_eq!(Swimlanes::parse(None).unwrap(), Swimlanes::None);
        assert_eq!(Swimlanes::parse(Some("epic")).unwrap(), Swimlanes::Epic);
        assert_eq!(Swimlanes::parse(Some("colour")).unwrap_err().field(), Some("swimlanes"));
    }
}
