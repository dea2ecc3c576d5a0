//! Links between issues: "blocks", "relates to", "duplicates". A link is stored once, read
//! "source <kind> target", and shown from each side in its own words ("is blocked by").

use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::issues::{self, Issue};
use super::kinds::StatusCategory;
use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::schema::{issue_links, issues as issues_table, projects, workflow_statuses};

/// What a user picks: the stored kind, and whether this issue is the link's target.
pub const CHOICES: [(&str, &str, &str, bool); 5] = [
    ("blocks", "blocks", "blocks", false),
    ("is_blocked_by", "is blocked by", "blocks", true),
    ("relates", "relates to", "relates", false),
    ("duplicates", "duplicates", "duplicates", false),
    ("is_duplicated_by", "is duplicated by", "duplicates", true),
];

/// A link as seen from one issue.
#[derive(Clone, Debug, Serialize)]
pub struct LinkView {
    pub id: i64,
    /// "blocks", "is blocked by", …
    pub phrase: &'static str,
    pub key: String,
    pub title: String,
    pub status: String,
    pub status_category: StatusCategory,
}

fn phrase(kind: &str, from_target: bool) -> &'static str {
    CHOICES
        .iter()
        .find(|(_, _, k, inverse)| *k == kind && *inverse == from_target)
        .map_or("relates to", |(_, p, _, _)| p)
}

/// Links `issue` (`issue_key`) to the issue `other_key` as `choice` says.
pub fn link(
    conn: &mut PgConnection,
    actor: &Actor,
    issue: &Issue,
    issue_key: &str,
    choice: &str,
    other_key: &str,
) -> Result<(), AppError> {
    let (_, _, kind, inverse) = CHOICES.iter().copied().find(|(name, ..)| *name == choice).ok_or_else(|| {
        AppError::invalid(
            "kind",
            format!("Unknown link \"{choice}\"; use blocks, is_blocked_by, relates, duplicates or is_duplicated_by."),
        )
    })?;
    let other_key = other_key.trim();
    if other_key.is_empty() {
        return Err(AppError::invalid("issue", "Name the issue to link to, like OPS-12."));
    }
    let (other_project, other) = issues::find_by_key(conn, other_key)
        .map_err(|_| AppError::invalid("issue", format!("There is no issue {other_key} to link to.")))?;
    let other_key = format!("{}-{}", other_project.key, other.number);
    if other.id == issue.id {
        return Err(AppError::invalid("issue", "An issue cannot be linked to itself."));
    }
    let (source, target) = if inverse { (other.id, issue.id) } else { (issue.id, other.id) };
    conn.transaction(|conn| {
        let mut existing = issue_links::table
            .filter(issue_links::kind.eq(kind))
            .filter(issue_links::source_id.eq(source).and(issue_links::target_id.eq(target)))
            .into_boxed();
        if kind == "relates" {
            existing = existing.or_filter(
                issue_links::kind
                    .eq(kind)
                    .and(issue_links::source_id.eq(target))
                    .and(issue_links::target_id.eq(source)),
            );
        }
        let taken: i64 = existing.count().get_result(conn)?;
        if taken > 0 {
            return Err(AppError::conflict(
                "issue",
                format!("{issue_key} already {} {other_key}.", phrase(kind, inverse)),
            ));
        }
        let id: i64 = diesel::insert_into(issue_links::table)
            .values((issue_links::source_id.eq(source), issue_links::target_id.eq(target), issue_links::kind.eq(kind)))
            .returning(issue_links::id)
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "issue.linked",
                entity_type: "issue",
                entity_id: issue.id,
                before: None,
                after: Some(json!({ "link_id": id, "link": format!("{} {other_key}", phrase(kind, inverse)) })),
            },
        )?;
        Ok(())
    })
}

/// Removes link `link_id`, which must touch `issue`.
pub fn unlink(conn: &mut PgConnection, actor: &Actor, issue: &Issue, link_id: i64) -> Result<(), AppError> {
    conn.transaction(|conn| {
        let view = links_of(conn, issue.id)?
            .into_iter()
            .find(|link| link.id == link_id)
            .ok_or_else(|| AppError::not_found("That link does not exist on this issue."))?;
        diesel::delete(issue_links::table.find(link_id)).execute(conn)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "issue.unlinked",
                entity_type: "issue",
                entity_id: issue.id,
                before: Some(json!({ "link_id": link_id, "link": format!("{} {}", view.phrase, view.key) })),
                after: None,
            },
        )?;
        Ok(())
    })
}

/// Every link of an issue, from its side, outgoing first.
pub fn links_of(conn: &mut PgConnection, issue_id: i64) -> QueryResult<Vec<LinkView>> {
    let rows: Vec<(i64, i64, i64, String)> = issue_links::table
        .filter(issue_links::source_id.eq(issue_id).or(issue_links::target_id.eq(issue_id)))
        .order(issue_links::id)
        .select((issue_links::id, issue_links::source_id, issue_links::target_id, issue_links::kind))
        .load(conn)?;
    let mut views = Vec::with_capacity(rows.len());
    for (id, source, target, kind) in rows {
        let (other, from_target) = if source == issue_id { (target, false) } else { (source, true) };
        let (key, number, title, status, category): (String, i64, String, String, StatusCategory) = issues_table::table
            .inner_join(projects::table)
            .inner_join(workflow_statuses::table)
            .filter(issues_table::id.eq(other))
            .select((
                projects::key,
                issues_table::number,
                issues_table::title,
                workflow_statuses::name,
                workflow_statuses::category,
            ))
            .first(conn)?;
        views.push(LinkView {
            id,
            phrase: phrase(&kind, from_target),
            key: format!("{key}-{number}"),
            title,
            status,
            status_category: category,
        });
    }
    views.sort_by_key(|v| (v.phrase, v.id));
    Ok(views)
}
