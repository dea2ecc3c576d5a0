//! Links between issues: "blocks", "relates to", "duplicates". A link is stored once, read
//! "source <kind> target", and shown from each side in its own words ("is blocked by").

use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::issues::{self, Issue};
use super::kinds::StatusCategory;
use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::identity::permissions::may_browse;
use crate::identity::users::User;
use crate::schema::issue_links;

/// What a user picks: the stored kind, and whether this issue is the link's target.
pub const CHOICES: [(&str, &str, &str, bool); 5] = [
    ("blocks", "blocks", "blocks", false),
    ("is_blocked_by", "is blocked by", "blocks", true),
    ("relates", "relates to", "relates", false),
    ("duplicates", "duplicates", "duplicates", false),
    ("is_duplicated_by", "is duplicated by", "duplicates", true),
];

/// A link as seen from one issue.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
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
    reader: &User,
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
    // An issue in a project the linker may not see is as absent as one that does not exist.
    let no_such_issue = || AppError::invalid("issue", format!("There is no issue {other_key} to link to."));
    let (other_project, other) = issues::find_by_key(conn, other_key).map_err(|_| no_such_issue())?;
    if !may_browse(reader, other_project.id) {
        return Err(no_such_issue());
    }
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

/// Removes link `link_id`, which must touch `issue` (and lead to an issue `reader` may see).
pub fn unlink(
    conn: &mut PgConnection,
    actor: &Actor,
    reader: &User,
    issue: &Issue,
    link_id: i64,
) -> Result<(), AppError> {
    conn.transaction(|conn| {
        let view = links_of(conn, reader, issue.id)?
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

#[derive(QueryableByName)]
struct LinkRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    kind: String,
    /// Whether the issue is the link's target (so it reads the inverse way).
    #[diesel(sql_type = diesel::sql_types::Bool)]
    inverse: bool,
    #[diesel(sql_type = diesel::sql_types::Text)]
    other_key: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    other_project: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    title: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    category: StatusCategory,
}

/// Every link of an issue, from its side, in one query; links to issues in projects `reader`
/// may not see are left out, as those issues are.
pub fn links_of(conn: &mut PgConnection, reader: &User, issue_id: i64) -> QueryResult<Vec<LinkView>> {
    let rows: Vec<LinkRow> = crate::db::Prepared(diesel::sql_query(
        "SELECT l.id, l.kind, l.target_id = $1 AS inverse, p.key || '-' || o.number AS other_key, o.project_id AS other_project, o.title, \
                s.name AS status, s.category \
           FROM issue_links l \
           JOIN issues o ON o.id = CASE WHEN l.source_id = $1 THEN l.target_id ELSE l.source_id END \
           JOIN projects p ON p.id = o.project_id \
           JOIN workflow_statuses s ON s.id = o.status_id \
          WHERE l.source_id = $1 OR l.target_id = $1 \
          ORDER BY l.id",
    )
    .bind::<diesel::sql_types::BigInt, _>(issue_id))
    .load(conn)?;
    let mut views: Vec<LinkView> = rows
        .into_iter()
        .filter(|row| may_browse(reader, row.other_project))
        .map(|row| LinkView {
            id: row.id,
            phrase: phrase(&row.kind, row.inverse),
            key: row.other_key,
            title: row.title,
            status: row.status,
            status_category: row.category,
        })
        .collect();
    views.sort_by_key(|v| (v.phrase, v.id));
    Ok(views)
}
