//! Extra columns of an issue list: planning fields, labels, components, versions, sprints
//! and custom fields, chosen per list (`columns=points,labels,custom:Tier`). Their values are
//! read for the page's issues in one query per column, never per row.

use std::collections::HashMap;

use diesel::prelude::*;
use serde_json::Value;

use super::fields::{Catalogue, FieldKind};
use super::issue_fields::shown;
use super::issue_list::ListedIssue;
use super::time_tracking::format_duration;
use crate::errors::AppError;
use crate::schema::{components, custom_values, issue_components, issue_labels, sprints, users, versions};

#[derive(Clone, Debug, PartialEq)]
pub enum Column {
    Points,
    Due,
    Estimate,
    Labels,
    Components,
    FixVersion,
    Sprint,
    Custom { id: i64, name: String, kind: FieldKind },
}

/// The built-in columns: name in the URL, and header.
pub const BUILT_IN: [(&str, &str); 7] = [
    ("points", "Points"),
    ("due", "Due"),
    ("estimate", "Estimate"),
    ("labels", "Labels"),
    ("components", "Components"),
    ("fix_version", "Fix version"),
    ("sprint", "Sprint"),
];

impl Column {
    /// Parses `points,labels,custom:Tier`; an unknown name is refused naming the choices.
    pub fn parse_list(text: &str, catalogue: &Catalogue) -> Result<Vec<Column>, AppError> {
        let mut columns = Vec::new();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let column = match name {
                "points" => Column::Points,
                "due" => Column::Due,
                "estimate" => Column::Estimate,
                "labels" => Column::Labels,
                "components" => Column::Components,
                "fix_version" => Column::FixVersion,
                "sprint" => Column::Sprint,
                other => {
                    let field = other.strip_prefix("custom:").and_then(|n| catalogue.custom_field(n).ok()).ok_or_else(|| {
                        AppError::invalid(
                            "columns",
                            format!("Unknown column \"{other}\"; use points, due, estimate, labels, components, fix_version, sprint or custom:<field>."),
                        )
                    })?;
                    Column::Custom { id: field.id, name: field.name.clone(), kind: field.kind }
                }
            };
            if !columns.contains(&column) {
                columns.push(column);
            }
        }
        Ok(columns)
    }

    pub fn header(&self) -> String {
        match self {
            Column::Custom { name, .. } => name.clone(),
            other => {
                BUILT_IN.iter().find(|(name, _)| other.name() == *name).map_or(String::new(), |(_, h)| (*h).to_owned())
            }
        }
    }

    pub fn name(&self) -> String {
        match self {
            Column::Points => "points".to_owned(),
            Column::Due => "due".to_owned(),
            Column::Estimate => "estimate".to_owned(),
            Column::Labels => "labels".to_owned(),
            Column::Components => "components".to_owned(),
            Column::FixVersion => "fix_version".to_owned(),
            Column::Sprint => "sprint".to_owned(),
            Column::Custom { name, .. } => format!("custom:{name}"),
        }
    }
}

/// Groups `(issue id, text)` rows into each issue's comma-separated text.
fn joined(rows: Vec<(i64, String)>) -> HashMap<i64, String> {
    let mut by_issue: HashMap<i64, String> = HashMap::new();
    for (issue, text) in rows {
        let entry = by_issue.entry(issue).or_default();
        if !entry.is_empty() {
            entry.push_str(", ");
        }
        entry.push_str(&text);
    }
    by_issue
}

/// Fills each issue's `columns` with the values of `columns`, in that order.
pub fn fill(conn: &mut PgConnection, issues: &mut [ListedIssue], columns: &[Column]) -> QueryResult<()> {
    if columns.is_empty() || issues.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = issues.iter().map(|i| i.issue.id).collect();
    for column in columns {
        let values: HashMap<i64, String> = match column {
            Column::Points => {
                issues.iter().filter_map(|i| Some((i.issue.id, i.issue.story_points?.to_string()))).collect()
            }
            Column::Due => issues.iter().filter_map(|i| Some((i.issue.id, i.issue.due_date?.to_string()))).collect(),
            Column::Estimate => issues
                .iter()
                .filter_map(|i| Some((i.issue.id, format_duration(i64::from(i.issue.estimate_minutes?)))))
                .collect(),
            Column::Labels => joined(
                issue_labels::table
                    .filter(issue_labels::issue_id.eq_any(&ids))
                    .order((issue_labels::issue_id, issue_labels::label))
                    .select((issue_labels::issue_id, issue_labels::label))
                    .load(conn)?,
            ),
            Column::Components => joined(
                issue_components::table
                    .inner_join(components::table)
                    .filter(issue_components::issue_id.eq_any(&ids))
                    .order((issue_components::issue_id, components::name))
                    .select((issue_components::issue_id, components::name))
                    .load(conn)?,
            ),
            Column::FixVersion => {
                let version_ids: Vec<i64> = issues.iter().filter_map(|i| i.issue.fix_version_id).collect();
                let names: HashMap<i64, String> = versions::table
                    .filter(versions::id.eq_any(&version_ids))
                    .select((versions::id, versions::name))
                    .load(conn)?
                    .into_iter()
                    .collect();
                issues.iter().filter_map(|i| Some((i.issue.id, names.get(&i.issue.fix_version_id?)?.clone()))).collect()
            }
            Column::Sprint => {
                let sprint_ids: Vec<i64> = issues.iter().filter_map(|i| i.issue.sprint_id).collect();
                let names: HashMap<i64, String> = sprints::table
                    .filter(sprints::id.eq_any(&sprint_ids))
                    .select((sprints::id, sprints::name))
                    .load(conn)?
                    .into_iter()
                    .collect();
                issues.iter().filter_map(|i| Some((i.issue.id, names.get(&i.issue.sprint_id?)?.clone()))).collect()
            }
            Column::Custom { id, kind, .. } => {
                let stored: Vec<(i64, Value)> = custom_values::table
                    .filter(custom_values::field_id.eq(id).and(custom_values::issue_id.eq_any(&ids)))
                    .select((custom_values::issue_id, custom_values::value))
                    .load(conn)?;
                let people: HashMap<i64, String> = if *kind == FieldKind::User {
                    let user_ids: Vec<i64> = stored.iter().filter_map(|(_, v)| v.as_i64()).collect();
                    users::table
                        .filter(users::id.eq_any(&user_ids))
                        .select((users::id, users::username))
                        .load(conn)?
                        .into_iter()
                        .collect()
                } else {
                    HashMap::new()
                };
                stored
                    .into_iter()
                    .map(|(issue, value)| {
                        let text = match value.as_i64() {
                            Some(id) if *kind == FieldKind::User => people.get(&id).cloned().unwrap_or_default(),
                            _ => shown(&value),
                        };
                        (issue, text)
                    })
                    .collect()
            }
        };
        for issue in issues.iter_mut() {
            issue.columns.push((column.header(), values.get(&issue.issue.id).cloned().unwrap_or_default()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_parse_once_each_and_unknown_ones_are_refused() {
        let catalogue = Catalogue::default();
        assert_eq!(Column::parse_list("points, labels,points", &catalogue).unwrap(), [Column::Points, Column::Labels]);
        assert_eq!(Column::parse_list("colour", &catalogue).unwrap_err().field(), Some("columns"));
        assert_eq!(Column::Labels.header(), "Labels");
    }
}
