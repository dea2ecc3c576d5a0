//! The workflow editor: a project's statuses (name, category, WIP limit, order, removal, one
//! new status at a time) and a matrix of the transitions allowed between them, saved together.

use std::collections::{BTreeMap, HashSet};

use actix_web::{web, HttpResponse};
use askama::Template;

use super::kinds::StatusCategory;
use super::project_pages::project_for;
use super::projects::Project;
use super::workflows::{self, StatusDraft, Workflow, WorkflowDraft};
use crate::db;
use crate::errors::AppError;
use crate::identity::permissions::Action;
use crate::web::errors::PageError;
use crate::web::extract::{CsrfForm, SignedIn};
use crate::web::pages::{redirect, render, render_with_status, status_for, Nav};
use crate::web::AppState;

/// One status row as the editor shows it (and as the user typed it, after a refusal).
#[derive(Clone, Debug, Default)]
struct EditorRow {
    id: Option<i64>,
    name: String,
    category: String,
    wip_limit: String,
    order: String,
    remove: bool,
}

#[derive(Template)]
#[template(path = "projects/workflow.html")]
struct WorkflowPage {
    nav: Nav,
    project: Project,
    rows: Vec<EditorRow>,
    /// Allowed moves, as (from row, to row) indexes.
    allowed: HashSet<(usize, usize)>,
    saved: bool,
    error: Option<AppError>,
}

impl WorkflowPage {
    fn categories(&self) -> &'static [StatusCategory] {
        StatusCategory::ALL
    }

    fn is_allowed(&self, from: &usize, to: &usize) -> bool {
        self.allowed.contains(&(*from, *to))
    }

    /// Existing statuses only: a new one gets its transitions once it exists.
    fn existing(&self) -> Vec<(usize, &EditorRow)> {
        self.rows.iter().enumerate().filter(|(_, row)| row.id.is_some()).collect()
    }
}

fn rows_of(workflow: &Workflow) -> (Vec<EditorRow>, HashSet<(usize, usize)>) {
    let mut rows: Vec<EditorRow> = workflow
        .statuses
        .iter()
        .enumerate()
        .map(|(index, s)| EditorRow {
            id: Some(s.id),
            name: s.name.clone(),
            category: s.category.as_str().to_owned(),
            wip_limit: s.wip_limit.map(|w| w.to_string()).unwrap_or_default(),
            order: (index + 1).to_string(),
            remove: false,
        })
        .collect();
    let mut allowed = HashSet::new();
    for (from_index, from) in workflow.statuses.iter().enumerate() {
        for (to_index, to) in workflow.statuses.iter().enumerate() {
            if from.id != to.id && workflow.allows(from.id, to.id) {
                allowed.insert((from_index, to_index));
            }
        }
    }
    rows.push(EditorRow { category: StatusCategory::InProgress.as_str().to_owned(), ..EditorRow::default() });
    (rows, allowed)
}

pub async fn edit(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<BTreeMap<String, String>>,
) -> Result<HttpResponse, PageError> {
    let project = project_for(&state, &signed_in, path.into_inner(), |p| Action::ManageProject(p)).await?;
    let project_id = project.id;
    let workflow = db::run(&state.pool, move |conn| Ok(Workflow::load(conn, project_id)?)).await?;
    let (rows, allowed) = rows_of(&workflow);
    let saved = query.contains_key("saved");
    let page = WorkflowPage { nav: Nav::for_user(&signed_in, "projects"), project, rows, allowed, saved, error: None };
    Ok(render(&page)?)
}

/// Reads the editor's fields: `status_N_id`, `_name`, `_category`, `_wip`, `_order`,
/// `_remove` per row, and `t_FROM_TO` for each allowed move.
fn read_form(fields: &[(String, String)]) -> (Vec<EditorRow>, HashSet<(usize, usize)>) {
    let mut rows: BTreeMap<usize, EditorRow> = BTreeMap::new();
    let mut allowed = HashSet::new();
    for (name, value) in fields {
        if let Some(rest) = name.strip_prefix("status_") {
            let Some((index, part)) = rest.split_once('_') else { continue };
            let Ok(index) = index.parse::<usize>() else { continue };
            if index > workflows::STATUSES_MAX * 2 {
                continue;
            }
            let row = rows.entry(index).or_default();
            match part {
                "id" => row.id = value.trim().parse().ok(),
                "name" => row.name = value.clone(),
                "category" => row.category = value.clone(),
                "wip" => row.wip_limit = value.clone(),
                "order" => row.order = value.clone(),
                "remove" => row.remove = !value.is_empty(),
                _ => {}
            }
        } else if let Some(rest) = name.strip_prefix("t_") {
            let pair = rest.split_once('_').and_then(|(f, t)| Some((f.parse().ok()?, t.parse().ok()?)));
            if let Some(pair) = pair {
                allowed.insert(pair);
            }
        }
    }
    // Rows keep their submitted indexes, so the transition matrix still lines up.
    let highest = rows.keys().next_back().copied().unwrap_or(0);
    let rows = (0..=highest).map(|i| rows.remove(&i).unwrap_or_default()).collect();
    (rows, allowed)
}

/// Turns the rows into a draft: statuses sorted by their order field, transitions re-indexed
/// to match, and a new status allowed to move to and from every other.
fn to_draft(rows: &[EditorRow], allowed: &HashSet<(usize, usize)>) -> Result<WorkflowDraft, AppError> {
    let mut order: Vec<(i64, usize)> = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        if row.id.is_none() && row.name.trim().is_empty() {
            continue;
        }
        let position = match row.order.trim() {
            "" => i64::MAX,
            text => text.parse::<i64>().map_err(|_| {
                AppError::invalid("statuses", format!("The order of \"{}\" must be a whole number.", row.name.trim()))
            })?,
        };
        order.push((position, index));
    }
    order.sort_by_key(|(position, index)| (*position, *index));
    let mut statuses = Vec::with_capacity(order.len());
    let mut new_index = vec![None; rows.len()];
    for (position, (_, index)) in order.iter().enumerate() {
        let row = &rows[*index];
        let category = StatusCategory::parse(&row.category)
            .map_err(|_| AppError::invalid("statuses", format!("Choose a category for \"{}\".", row.name.trim())))?;
        let wip_limit = match row.wip_limit.trim() {
            "" => None,
            text => Some(text.parse::<i32>().map_err(|_| {
                AppError::invalid(
                    "statuses",
                    format!("The WIP limit of \"{}\" must be a whole number from 1 to 999, or empty.", row.name.trim()),
                )
            })?),
        };
        statuses.push(StatusDraft { id: row.id, name: row.name.clone(), category, wip_limit, remove: row.remove });
        new_index[*index] = Some(position);
    }
    let mut transitions: Vec<(usize, usize)> = allowed
        .iter()
        .filter(|(from, to)| {
            rows.get(*from).is_some_and(|r| r.id.is_some()) && rows.get(*to).is_some_and(|r| r.id.is_some())
        })
        .filter_map(|(from, to)| {
            Some((new_index.get(*from).copied().flatten()?, new_index.get(*to).copied().flatten()?))
        })
        .collect();
    for (position, status) in statuses.iter().enumerate() {
        if status.id.is_none() {
            for other in 0..statuses.len() {
                transitions.push((position, other));
                transitions.push((other, position));
            }
        }
    }
    Ok(WorkflowDraft { statuses, transitions })
}

pub async fn save(
    form: CsrfForm<Vec<(String, String)>>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let project = project_for(&state, &signed_in, path.into_inner(), |p| Action::ManageProject(p)).await?;
    let (rows, allowed) = read_form(&data);
    let saved = match to_draft(&rows, &allowed) {
        Ok(draft) => {
            let (actor, target) = (signed_in.actor.clone(), project.clone());
            db::run(&state.pool, move |conn| workflows::save(conn, &actor, &target, draft)).await
        }
        Err(error) => Err(error),
    };
    match saved {
        Ok(_) => Ok(redirect(&format!("/projects/{}/workflow?saved", project.key))),
        Err(error @ AppError::Invalid { .. }) => {
            let status = status_for(Some(&error));
            let page = WorkflowPage {
                nav: Nav::for_user(&signed_in, "projects"),
                project,
                rows,
                allowed,
                saved: false,
                error: Some(error),
            };
            Ok(render_with_status(&page, status)?)
        }
        Err(other) => Err(other.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, value: &str) -> (String, String) {
        (name.to_owned(), value.to_owned())
    }

    #[test]
    fn rows_are_ordered_and_transitions_follow_them() {
        let fields = vec![
            field("status_0_id", "10"),
            field("status_0_name", "Open"),
            field("status_0_category", "todo"),
            field("status_0_order", "2"),
            field("status_1_id", "11"),
            field("status_1_name", "Closed"),
            field("status_1_category", "done"),
            field("status_1_order", "1"),
            field("status_2_name", "Review"),
            field("status_2_category", "in_progress"),
            field("status_2_order", ""),
            field("t_0_1", "on"),
        ];
        let (rows, allowed) = read_form(&fields);
        let draft = to_draft(&rows, &allowed).unwrap();
        let names: Vec<&str> = draft.statuses.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["Closed", "Open", "Review"]);
        assert!(draft.transitions.contains(&(1, 0)), "Open → Closed, re-indexed: {:?}", draft.transitions);
        assert!(!draft.transitions.contains(&(0, 1)), "Closed → Open was not ticked");
        assert!(draft.transitions.contains(&(2, 0)) && draft.transitions.contains(&(1, 2)), "the new status connects");
    }

    #[test]
    fn bad_numbers_name_the_status() {
        let fields =
            vec![field("status_0_name", "Open"), field("status_0_category", "todo"), field("status_0_wip", "lots")];
        let (rows, allowed) = read_form(&fields);
        let error = to_draft(&rows, &allowed).unwrap_err();
        assert_eq!(error.to_string(), "The WIP limit of \"Open\" must be a whole number from 1 to 999, or empty.");
    }
}
