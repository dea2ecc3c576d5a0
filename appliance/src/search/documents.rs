//! What goes into the index, read from PostgreSQL: an issue with its comments and files, or a
//! page with its files, always all together (their "owner"), so that refreshing an owner is one
//! delete and a few adds and is the same however often it happens.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use tantivy::schema::Facet;
use tantivy::TantivyDocument;

use super::engine::{assignee_facet, facet, Kind};
use super::schema::Fields;
use super::tally::UNASSIGNED;
use crate::schema::{attachments, comments, issues, pages, projects, spaces, workflow_statuses};
use crate::web::pages::url_encode;

/// An issue or a page, with everything that belongs to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owner {
    Issue(i64),
    Page(i64),
}

impl Owner {
    pub fn id(self) -> i64 {
        match self {
            Owner::Issue(id) | Owner::Page(id) => id,
        }
    }

    pub fn term(self) -> String {
        match self {
            Owner::Issue(id) => format!("issue:{id}"),
            Owner::Page(id) => format!("page:{id}"),
        }
    }
}

/// Files of these types have their text indexed, up to `ATTACHMENT_TEXT_BYTES`.
pub fn has_searchable_text(content_type: &str) -> bool {
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    matches!(media_type, "text/plain" | "text/markdown" | "text/csv" | "application/json")
}

pub const ATTACHMENT_TEXT_BYTES: usize = 256 * 1024;

/// One document of the index, before it becomes Tantivy's.
#[derive(Clone, Debug)]
pub struct SearchDoc {
    pub owner: Owner,
    pub kind: Kind,
    pub entity_id: i64,
    pub key: Option<String>,
    pub label: String,
    pub title: String,
    pub body: String,
    pub url: String,
    pub context: String,
    pub place: Place,
    pub status: Option<String>,
    /// `Some(None)`: an unassigned issue.
    pub assignee: Option<Option<i64>>,
    pub updated: DateTime<Utc>,
}

/// The project or space a document is in: what decides who may see it.
#[derive(Clone, Copy, Debug)]
pub enum Place {
    Project(i64),
    Space(i64),
}

impl SearchDoc {
    pub fn into_tantivy(self, fields: &Fields) -> TantivyDocument {
        let mut doc = TantivyDocument::new();
        doc.add_text(fields.owner, self.owner.term());
        doc.add_text(fields.kind, self.kind.as_str());
        doc.add_u64(fields.entity_id, self.entity_id as u64);
        if let Some(key) = &self.key {
            doc.add_text(fields.key, key.to_lowercase());
        }
        doc.add_text(fields.label, &self.label);
        doc.add_text(fields.title, &self.title);
        doc.add_text(fields.body, &self.body);
        doc.add_text(fields.title_pairs, &self.title);
        doc.add_text(fields.body_pairs, &self.body);
        doc.add_text(fields.url, &self.url);
        doc.add_text(fields.context, &self.context);
        match self.place {
            Place::Project(id) => doc.add_u64(fields.project, id as u64),
            Place::Space(id) => doc.add_u64(fields.space, id as u64),
        }
        if let Some(status) = &self.status {
            doc.add_text(fields.status, status);
        }
        if let Some(assignee) = self.assignee {
            doc.add_u64(fields.assignee, assignee.map_or(UNASSIGNED, |id| id as u64));
        }
        let mut facets: Vec<Facet> = vec![facet(&["type", self.kind.as_str()])];
        facets.push(match self.place {
            Place::Project(id) => facet(&["project", &id.to_string()]),
            Place::Space(id) => facet(&["space", &id.to_string()]),
        });
        if let Some(status) = &self.status {
            facets.push(facet(&["status", status]));
        }
        if let Some(assignee) = self.assignee {
            facets.push(assignee_facet(assignee));
        }
        for value in facets {
            doc.add_facet(fields.facets, value);
        }
        doc.add_date(fields.updated, tantivy::DateTime::from_timestamp_secs(self.updated.timestamp()));
        doc
    }
}

/// Reads the first bytes of a stored file, for files with searchable text.
pub type TextReader<'a> = dyn FnMut(&str) -> Option<String> + 'a;

#[derive(Queryable)]
struct IssueRow {
    id: i64,
    project_key: String,
    project_name: String,
    number: i64,
    title: String,
    description: String,
    project_id: i64,
    status: String,
    assignee_id: Option<i64>,
    updated_at: DateTime<Utc>,
}

#[derive(Queryable)]
struct FileRow {
    id: i64,
    owner_id: Option<i64>,
    file_name: String,
    content_type: String,
    object_key: String,
    created_at: DateTime<Utc>,
}

/// Which issues to read.
pub enum Issues<'a> {
    Ids(&'a [i64]),
    /// The next `limit` issues after id `after`, of one project or of all.
    Range {
        project: Option<i64>,
        after: i64,
        limit: i64,
    },
}

/// The documents of the chosen issues, their comments and their files.
pub fn issue_documents(
    conn: &mut PgConnection,
    which: Issues<'_>,
    read_text: &mut TextReader<'_>,
) -> QueryResult<Vec<SearchDoc>> {
    let query = issues::table
        .inner_join(projects::table)
        .inner_join(workflow_statuses::table)
        .select((
            issues::id,
            projects::key,
            projects::name,
            issues::number,
            issues::title,
            issues::description,
            issues::project_id,
            workflow_statuses::name,
            issues::assignee_id,
            issues::updated_at,
        ))
        .order(issues::id)
        .into_boxed();
    let rows: Vec<IssueRow> = match which {
        Issues::Ids(ids) => query.filter(issues::id.eq_any(ids)).load(conn)?,
        Issues::Range { project, after, limit } => {
            let query = query.filter(issues::id.gt(after)).limit(limit);
            match project {
                Some(id) => query.filter(issues::project_id.eq(id)).load(conn)?,
                None => query.load(conn)?,
            }
        }
    };
    let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
    let found_comments: Vec<(i64, i64, String, DateTime<Utc>)> = comments::table
        .filter(comments::issue_id.eq_any(&ids))
        .select((comments::id, comments::issue_id, comments::body, comments::updated_at))
        .order(comments::id)
        .load(conn)?;
    let files: Vec<FileRow> = attachments::table
        .filter(attachments::issue_id.eq_any(&ids))
        .select(file_columns(attachments::issue_id))
        .order(attachments::id)
        .load(conn)?;
    let mut docs = Vec::with_capacity(rows.len() + found_comments.len() + files.len());
    let by_id: std::collections::HashMap<i64, &IssueRow> = rows.iter().map(|row| (row.id, row)).collect();
    for row in &rows {
        let key = format!("{}-{}", row.project_key, row.number);
        docs.push(SearchDoc {
            owner: Owner::Issue(row.id),
            kind: Kind::Issue,
            entity_id: row.id,
            key: Some(key.clone()),
            label: key.clone(),
            title: row.title.clone(),
            body: row.description.clone(),
            url: format!("/issues/{key}"),
            context: format!("{} · {}", row.project_name, row.status),
            place: Place::Project(row.project_id),
            status: Some(row.status.clone()),
            assignee: Some(row.assignee_id),
            updated: row.updated_at,
        });
    }
    for (id, issue_id, body, updated) in found_comments {
        let Some(issue) = by_id.get(&issue_id) else { continue };
        let key = format!("{}-{}", issue.project_key, issue.number);
        docs.push(SearchDoc {
            owner: Owner::Issue(issue_id),
            kind: Kind::Comment,
            entity_id: id,
            key: None,
            label: key.clone(),
            title: String::new(),
            body,
            url: format!("/issues/{key}/comments/{id}"),
            context: format!("Comment on {key} {}", issue.title),
            place: Place::Project(issue.project_id),
            status: None,
            assignee: None,
            updated,
        });
    }
    for file in files {
        let Some(issue) = file.owner_id.and_then(|id| by_id.get(&id)) else { continue };
        let key = format!("{}-{}", issue.project_key, issue.number);
        let context = format!("File on {key} {}", issue.title);
        docs.push(file_document(
            file,
            Owner::Issue(issue.id),
            key,
            context,
            Place::Project(issue.project_id),
            read_text,
        ));
    }
    Ok(docs)
}

fn file_columns<C>(
    owner: C,
) -> (
    attachments::id,
    C,
    attachments::file_name,
    attachments::content_type,
    attachments::object_key,
    attachments::created_at,
) {
    (
        attachments::id,
        owner,
        attachments::file_name,
        attachments::content_type,
        attachments::object_key,
        attachments::created_at,
    )
}

fn file_document(
    file: FileRow,
    owner: Owner,
    label: String,
    context: String,
    place: Place,
    read_text: &mut TextReader<'_>,
) -> SearchDoc {
    let body = if has_searchable_text(&file.content_type) {
        read_text(&file.object_key).unwrap_or_default()
    } else {
        String::new()
    };
    SearchDoc {
        owner,
        kind: Kind::Attachment,
        entity_id: file.id,
        key: None,
        label,
        url: format!("/attachments/{}/{}", file.id, url_encode(&file.file_name)),
        title: file.file_name,
        body,
        context,
        place,
        status: None,
        assignee: None,
        updated: file.created_at,
    }
}

/// A documentation page as it is indexed.
#[derive(Queryable)]
pub struct PageRow {
    pub id: i64,
    pub title: String,
    pub body: String,
    pub space_id: i64,
    pub space_key: String,
    pub space_name: String,
    pub updated_at: DateTime<Utc>,
}

impl From<PageRow> for SearchDoc {
    fn from(row: PageRow) -> SearchDoc {
        SearchDoc {
            owner: Owner::Page(row.id),
            kind: Kind::Page,
            entity_id: row.id,
            key: None,
            label: row.space_key,
            title: row.title,
            body: row.body,
            url: format!("/pages/{}", row.id),
            context: row.space_name,
            place: Place::Space(row.space_id),
            status: None,
            assignee: None,
            updated: row.updated_at,
        }
    }
}

/// Which pages to read.
pub enum Pages<'a> {
    Ids(&'a [i64]),
    /// The next `limit` pages after id `after`, of one space or of all.
    Range {
        space: Option<i64>,
        after: i64,
        limit: i64,
    },
}

/// The documents of the chosen pages and their files.
pub fn page_documents(
    conn: &mut PgConnection,
    which: Pages<'_>,
    read_text: &mut TextReader<'_>,
) -> QueryResult<Vec<SearchDoc>> {
    let query = pages::table
        .inner_join(spaces::table)
        .select((pages::id, pages::title, pages::body, pages::space_id, spaces::key, spaces::name, pages::updated_at))
        .order(pages::id)
        .into_boxed();
    let rows: Vec<PageRow> = match which {
        Pages::Ids(ids) => query.filter(pages::id.eq_any(ids)).load(conn)?,
        Pages::Range { space: None, after, limit } => query.filter(pages::id.gt(after)).limit(limit).load(conn)?,
        Pages::Range { space: Some(space), after, limit } => {
            query.filter(pages::space_id.eq(space).and(pages::id.gt(after))).limit(limit).load(conn)?
        }
    };
    let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
    let files: Vec<FileRow> = attachments::table
        .filter(attachments::page_id.eq_any(&ids))
        .select(file_columns(attachments::page_id))
        .order(attachments::id)
        .load(conn)?;
    let by_id: std::collections::HashMap<i64, &PageRow> = rows.iter().map(|row| (row.id, row)).collect();
    let mut docs: Vec<SearchDoc> = Vec::with_capacity(rows.len() + files.len());
    for file in files {
        let Some(page) = file.owner_id.and_then(|id| by_id.get(&id)) else { continue };
        let context = format!("File on page {}", page.title);
        docs.push(file_document(
            file,
            Owner::Page(page.id),
            page.space_key.clone(),
            context,
            Place::Space(page.space_id),
            read_text,
        ));
    }
    docs.extend(rows.into_iter().map(SearchDoc::from));
    Ok(docs)
}

/// How many documents a full rebuild will write, for its progress line.
pub fn count_all(conn: &mut PgConnection) -> QueryResult<i64> {
    let issues: i64 = issues::table.count().get_result(conn)?;
    let comments: i64 = comments::table.count().get_result(conn)?;
    let pages: i64 = pages::table.count().get_result(conn)?;
    let files: i64 = attachments::table.count().get_result(conn)?;
    Ok(issues + comments + pages + files)
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_files_are_searchable_whatever_their_charset_and_html_is_not() {
        for searchable in ["text/plain; charset=utf-8", "text/markdown", "text/csv", "application/json"] {
            assert!(super::has_searchable_text(searchable), "{searchable}");
        }
        for not in ["text/html", "image/png", "application/octet-stream"] {
            assert!(!super::has_searchable_text(not), "{not}");
        }
    }
}
