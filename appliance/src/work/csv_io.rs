//! CSV export and import of a project's issues. An import maps each column to a field, then
//! creates every row in one transaction, each row in a savepoint of its own: a dry run, or an
//! import with a bad row that the user did not choose to skip, rolls the whole transaction
//! back, so a preview checks exactly what the import would do and nothing is half-written.
//! Rows whose parent is another row of the file are created after it.

use std::collections::HashMap;

use diesel::prelude::*;
use serde::Serialize;

use super::fields::Catalogue;
use super::issue_fields::{self, parse_date, parse_points, DetailChanges};
use super::issue_list::ListedIssue;
use super::issues::{self, NewIssue};
use super::kinds::{IssueType, Priority};
use super::projects::Project;
use super::time_tracking::{format_duration, parse_duration};
use super::workflows::normalized;
use crate::audit::Actor;
use crate::db::Abort;
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};
use crate::identity::users::User;
use crate::schema::users;

/// Rows one import takes at most.
pub const ROWS_MAX: usize = 5000;

/// What a column feeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Ignore,
    /// The row's key in the file: used only so other rows can name it as their parent.
    Key,
    Type,
    Status,
    Priority,
    Title,
    Description,
    Assignee,
    Reporter,
    Parent,
    Labels,
    Components,
    FixVersion,
    DueDate,
    StoryPoints,
    Estimate,
    Custom(String),
}

/// The built-in targets: form value, label, and the header names that mean it.
const TARGETS: &[(&str, &str, &[&str])] = &[
    ("key", "Key (for parent links within the file)", &["key", "issuekey", "issue"]),
    ("type", "Type", &["type", "issuetype"]),
    ("status", "Status", &["status"]),
    ("priority", "Priority", &["priority"]),
    ("title", "Title", &["title", "summary"]),
    ("description", "Description", &["description"]),
    ("assignee", "Assignee", &["assignee"]),
    ("reporter", "Reporter", &["reporter"]),
    ("parent", "Parent", &["parent", "epic", "epiclink"]),
    ("labels", "Labels", &["labels", "label"]),
    ("components", "Components", &["components", "component"]),
    ("fix_version", "Fix version", &["fixversion", "fixversions", "version"]),
    ("due_date", "Due date", &["duedate", "due"]),
    ("story_points", "Story points", &["storypoints", "points"]),
    ("estimate", "Estimate", &["estimate", "originalestimate"]),
];

impl Target {
    pub fn value(&self) -> String {
        let name = match self {
            Target::Ignore => "",
            Target::Custom(name) => return format!("custom:{name}"),
            Target::Key => "key",
            Target::Type => "type",
            Target::Status => "status",
            Target::Priority => "priority",
            Target::Title => "title",
            Target::Description => "description",
            Target::Assignee => "assignee",
            Target::Reporter => "reporter",
            Target::Parent => "parent",
            Target::Labels => "labels",
            Target::Components => "components",
            Target::FixVersion => "fix_version",
            Target::DueDate => "due_date",
            Target::StoryPoints => "story_points",
            Target::Estimate => "estimate",
        };
        name.to_owned()
    }

    /// From a form value (as `value` writes it).
    pub fn parse(value: &str) -> Result<Target, AppError> {
        Ok(match value.trim() {
            "" => Target::Ignore,
            "key" => Target::Key,
            "type" => Target::Type,
            "status" => Target::Status,
            "priority" => Target::Priority,
            "title" => Target::Title,
            "description" => Target::Description,
            "assignee" => Target::Assignee,
            "reporter" => Target::Reporter,
            "parent" => Target::Parent,
            "labels" => Target::Labels,
            "components" => Target::Components,
            "fix_version" => Target::FixVersion,
            "due_date" => Target::DueDate,
            "story_points" => Target::StoryPoints,
            "estimate" => Target::Estimate,
            other => match other.strip_prefix("custom:") {
                Some(name) if !name.trim().is_empty() => Target::Custom(name.trim().to_owned()),
                _ => {
                    return Err(AppError::invalid(
                        "mapping",
                        format!("\"{other}\" is not a field a column can be imported into."),
                    ))
                }
            },
        })
    }

    /// The target a header most likely means, in this project's catalogue.
    pub fn guess(header: &str, catalogue: &Catalogue) -> Target {
        let wanted = normalized(header);
        if let Some((value, _, _)) = TARGETS.iter().find(|(_, _, names)| names.contains(&wanted.as_str())) {
            return Target::parse(value).unwrap_or(Target::Ignore);
        }
        let custom = header.trim().strip_prefix("custom:").unwrap_or(header.trim());
        catalogue
            .custom_fields
            .iter()
            .find(|f| normalized(&f.name) == normalized(custom))
            .map_or(Target::Ignore, |f| Target::Custom(f.name.clone()))
    }

    /// Every choice for a column, with its label, for the mapping form.
    pub fn choices(catalogue: &Catalogue) -> Vec<(String, String)> {
        let mut choices = vec![(String::new(), "(do not import)".to_owned())];
        choices.extend(TARGETS.iter().map(|(value, label, _)| ((*value).to_owned(), (*label).to_owned())));
        choices.extend(catalogue.custom_fields.iter().map(|f| (format!("custom:{}", f.name), f.name.clone())));
        choices
    }
}

/// A parsed file: its header and data rows, each with its line number.
#[derive(Clone, Debug)]
pub struct Parsed {
    pub headers: Vec<String>,
    pub rows: Vec<(usize, Vec<String>)>,
}

/// Reads CSV text: UTF-8 (a byte-order mark is fine), a header line, at most `ROWS_MAX` rows.
pub fn parse(bytes: &[u8]) -> Result<Parsed, AppError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()].iter().filter(|b| **b == b'\n').count() + 1;
        AppError::invalid("file", format!("The file is not UTF-8 text: line {line} has bytes that are not. Save it as UTF-8 (CSV UTF-8 in spreadsheets) and try again."))
    })?;
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| AppError::invalid("file", format!("The first line cannot be read as CSV: {e}.")))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    if headers.iter().all(String::is_empty) {
        return Err(AppError::invalid("file", "The file is empty; its first line must name the columns."));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            AppError::invalid("file", format!("Line {line} is not valid CSV: {e}."))
        })?;
        if record.iter().all(|field| field.trim().is_empty()) {
            continue;
        }
        if rows.len() == ROWS_MAX {
            return Err(AppError::invalid(
                "file",
                format!("The file has more than {ROWS_MAX} rows; import at most {ROWS_MAX} at a time."),
            ));
        }
        let line = record.position().map_or(0, |p| p.line() as usize);
        rows.push((line, record.iter().map(str::to_owned).collect()));
    }
    Ok(Parsed { headers, rows })
}

/// What happened to one row.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RowOutcome {
    pub line: usize,
    /// The key it was (or in a dry run, would be) given.
    pub key: Option<String>,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub rows: Vec<RowOutcome>,
    pub created: usize,
    pub failed: usize,
    /// Whether anything was written: false for a dry run, or when a bad row stopped it.
    pub written: bool,
}

fn check_mapping(mapping: &[Target], headers: &[String], catalogue: &Catalogue) -> Result<(), AppError> {
    if !mapping.contains(&Target::Title) {
        return Err(AppError::invalid("mapping", "Map a column to Title: every issue needs one."));
    }
    for (index, target) in mapping.iter().enumerate() {
        if *target != Target::Ignore && mapping[..index].contains(target) {
            return Err(AppError::invalid(
                "mapping",
                format!("Two columns are mapped to {}; map each field once.", target.value()),
            ));
        }
        if let Target::Custom(name) = target {
            catalogue.custom_field(name).map_err(|_| {
                let header = headers.get(index).map_or("?", String::as_str);
                AppError::invalid(
                    "mapping",
                    format!("Column \"{header}\" maps to a custom field {name} that this project does not have."),
                )
            })?;
        }
    }
    Ok(())
}

/// One row as the fields of a new issue, or the reason it cannot be one.
fn to_new(row: &[String], mapping: &[Target], parent: Option<String>) -> Result<(NewIssue, Option<String>), AppError> {
    let cell = |target: &Target| {
        mapping.iter().position(|t| t == target).and_then(|i| row.get(i)).map(|v| v.trim()).filter(|v| !v.is_empty())
    };
    let list = |target: &Target| {
        cell(target).map(|v| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect::<Vec<_>>())
    };
    let custom = mapping
        .iter()
        .enumerate()
        .filter_map(|(i, t)| match t {
            Target::Custom(name) => {
                let value = row.get(i).map(|v| v.trim()).unwrap_or("");
                Some((name.clone(), value.split(", ").map(str::to_owned).filter(|v| !v.is_empty()).collect()))
            }
            _ => None,
        })
        .collect();
    let details = DetailChanges {
        parent: Some(parent),
        due_date: Some(parse_date("due_date", cell(&Target::DueDate).unwrap_or(""))?),
        story_points: Some(parse_points(cell(&Target::StoryPoints).unwrap_or(""))?),
        estimate_minutes: Some(cell(&Target::Estimate).map(|e| parse_duration("estimate", e)).transpose()?),
        fix_version: Some(cell(&Target::FixVersion).map(str::to_owned)),
        labels: Some(list(&Target::Labels).unwrap_or_default()),
        components: Some(list(&Target::Components).unwrap_or_default()),
        custom,
    };
    let new = NewIssue {
        issue_type: cell(&Target::Type).map_or(Ok(IssueType::Task), |t| IssueType::parse(&normalized(t)))?,
        status: cell(&Target::Status).map(str::to_owned),
        priority: cell(&Target::Priority).map_or(Ok(Priority::Medium), |p| Priority::parse(&p.to_lowercase()))?,
        title: cell(&Target::Title).unwrap_or("").to_owned(),
        description: mapping
            .iter()
            .position(|t| *t == Target::Description)
            .and_then(|i| row.get(i))
            .cloned()
            .unwrap_or_default(),
        assignee: cell(&Target::Assignee).map(str::to_owned),
        details,
    };
    Ok((new, cell(&Target::Reporter).map(str::to_owned)))
}

/// How an import runs (also the API's query string: `?dry_run=true&skip_bad_rows=true`).
#[derive(Clone, Copy, Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct ImportOptions {
    /// Check every row as the import would, then roll back.
    pub dry_run: bool,
    /// Import the good rows even when some are bad (otherwise one bad row stops it all).
    pub skip_bad_rows: bool,
}

/// Imports `parsed` into `project` as `mapping` says, reported by `importer` unless a
/// reporter column names someone else, which only who administers the project may do (a
/// migration from another tracker keeps its reporters; nobody else signs issues in others' names).
pub fn import(
    conn: &mut PgConnection,
    actor: &Actor,
    project: &Project,
    importer: &User,
    (parsed, mapping): (&Parsed, &[Target]),
    options: ImportOptions,
) -> Result<ImportReport, AppError> {
    let ImportOptions { dry_run, skip_bad_rows } = options;
    let catalogue = Catalogue::load(conn, project.id)?;
    check_mapping(mapping, &parsed.headers, &catalogue)?;
    let key_column = mapping.iter().position(|t| *t == Target::Key);
    let parent_column = mapping.iter().position(|t| *t == Target::Parent);
    let file_key =
        |row: &[String]| key_column.and_then(|i| row.get(i)).map(|k| k.trim().to_uppercase()).filter(|k| !k.is_empty());
    let parent_of = |row: &[String]| {
        parent_column.and_then(|i| row.get(i)).map(|k| k.trim().to_uppercase()).filter(|k| !k.is_empty())
    };
    let in_file: HashMap<String, usize> =
        parsed.rows.iter().enumerate().filter_map(|(index, (_, row))| file_key(row).map(|k| (k, index))).collect();
    // Parents first: a row waits for the row it names as its parent (two levels at most).
    let depth = |index: usize| {
        let mut depth = 0;
        let mut current = index;
        while let Some(parent) = parent_of(&parsed.rows[current].1).and_then(|p| in_file.get(&p).copied()) {
            depth += 1;
            current = parent;
            if depth > 3 {
                break;
            }
        }
        depth
    };
    let mut order: Vec<usize> = (0..parsed.rows.len()).collect();
    order.sort_by_key(|index| (depth(*index), *index));

    let may_name_reporters = authorize(importer, Action::ManageProject(project)).is_ok();
    let mut outcomes: Vec<Option<RowOutcome>> = vec![None; parsed.rows.len()];
    let mut created_keys: HashMap<String, String> = HashMap::new();
    let result = conn.transaction::<(), Abort, _>(|conn| {
        for index in order {
            let (line, row) = &parsed.rows[index];
            let parent = match parent_of(row) {
                Some(parent) if in_file.contains_key(&parent) => match created_keys.get(&parent) {
                    Some(new_key) => Some(new_key.clone()),
                    None => {
                        let parent_line = parsed.rows[in_file[&parent]].0;
                        outcomes[index] = Some(RowOutcome {
                            line: *line,
                            key: None,
                            error: Some(format!("Its parent {parent} (line {parent_line}) was not imported.")),
                        });
                        continue;
                    }
                },
                other => other,
            };
            let attempt = conn.transaction::<_, AppError, _>(|conn| {
                let (new, reporter) = to_new(row, mapping, parent)?;
                let reporter_id = match reporter {
                    None => importer.id,
                    Some(name) if name.eq_ignore_ascii_case(&importer.username) => importer.id,
                    Some(name) if !may_name_reporters => {
                        return Err(AppError::invalid(
                            "reporter",
                            format!(
                                "Only who administers {} may import issues reported by others ({name}); \
                                 leave the reporter column out.",
                                project.key
                            ),
                        ))
                    }
                    Some(name) => users::table
                        .filter(users::username.eq(name.to_lowercase()))
                        .select(users::id)
                        .first(conn)
                        .optional()?
                        .ok_or_else(|| AppError::invalid("reporter", format!("There is no user named {name}.")))?,
                };
                issues::create(conn, actor, project, reporter_id, new).map(|created| created.issue)
            });
            outcomes[index] = Some(match attempt {
                Ok(issue) => {
                    let key = format!("{}-{}", project.key, issue.number);
                    if let Some(old) = file_key(row) {
                        created_keys.insert(old, key.clone());
                    }
                    RowOutcome { line: *line, key: Some(key), error: None }
                }
                Err(error @ (AppError::Invalid { .. } | AppError::BadRequest { .. } | AppError::Conflict { .. })) => {
                    let column = error.field().map(|f| format!("{f}: ")).unwrap_or_default();
                    RowOutcome { line: *line, key: None, error: Some(format!("{column}{error}")) }
                }
                Err(other) => return Err(Abort::Failed(other)),
            });
        }
        let failed = outcomes.iter().flatten().any(|o| o.error.is_some());
        if dry_run || (failed && !skip_bad_rows) {
            return Err(Abort::Deliberately(()));
        }
        Ok(())
    });
    let rows: Vec<RowOutcome> = outcomes.into_iter().flatten().collect();
    let failed = rows.iter().filter(|o| o.error.is_some()).count();
    let written = match result {
        Ok(()) => true,
        Err(Abort::Deliberately(())) => false,
        Err(Abort::Failed(error)) => return Err(error),
    };
    Ok(ImportReport { created: rows.len() - failed, failed, written, rows })
}

/// The export's columns, before the project's custom fields.
const EXPORT_COLUMNS: [&str; 17] = [
    "key",
    "type",
    "status",
    "priority",
    "title",
    "description",
    "assignee",
    "reporter",
    "parent",
    "labels",
    "components",
    "fix_version",
    "due_date",
    "story_points",
    "estimate",
    "created",
    "updated",
];

/// `issues` as CSV, one row each, with every field (custom ones as `custom:<name>`).
pub fn export(conn: &mut PgConnection, project: &Project, issues: &[ListedIssue]) -> Result<Vec<u8>, AppError> {
    let catalogue = Catalogue::load(conn, project.id)?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = EXPORT_COLUMNS.iter().map(|c| (*c).to_owned()).collect();
    header.extend(catalogue.custom_fields.iter().map(|f| format!("custom:{}", f.name)));
    let fail = |e: csv::Error| AppError::internal(format!("writing CSV: {e}"));
    writer.write_record(&header).map_err(fail)?;
    let reporters: HashMap<i64, String> =
        users::table.select((users::id, users::username)).load::<(i64, String)>(conn)?.into_iter().collect();
    for listed in issues {
        let issue = &listed.issue;
        let details = issue_fields::details_of(conn, issue)?;
        let mut record = vec![
            listed.key.clone(),
            issue.issue_type.as_str().to_owned(),
            listed.status.clone(),
            issue.priority.as_str().to_owned(),
            issue.title.clone(),
            issue.description.clone(),
            listed.assignee.as_ref().map(|a| a.username.clone()).unwrap_or_default(),
            reporters.get(&issue.reporter_id).cloned().unwrap_or_default(),
            details.parent.unwrap_or_default(),
            details.labels.join(", "),
            details.components.join(", "),
            details.fix_version.unwrap_or_default(),
            issue.due_date.map(|d| d.to_string()).unwrap_or_default(),
            issue.story_points.map(|p| p.to_string()).unwrap_or_default(),
            issue.estimate_minutes.map(|m| format_duration(i64::from(m))).unwrap_or_default(),
            issue.created_at.to_rfc3339(),
            issue.updated_at.to_rfc3339(),
        ];
        record.extend(details.custom.into_iter().map(|(_, value)| value.unwrap_or_default()));
        writer.write_record(&record).map_err(fail)?;
    }
    writer.into_inner().map_err(|e| AppError::internal(format!("writing CSV: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_that_are_not_utf8_or_too_long_are_refused_by_line() {
        let latin1 = b"title,description\nCaf\xe9,ok\n";
        assert_eq!(
            parse(latin1).unwrap_err().to_string(),
            "The file is not UTF-8 text: line 2 has bytes that are not. Save it as UTF-8 (CSV UTF-8 in spreadsheets) and try again."
        );
        assert!(parse(b"").unwrap_err().to_string().contains("empty"));
        let mut long = String::from("title\n");
        for n in 0..=ROWS_MAX {
            long.push_str(&format!("Row {n}\n"));
        }
        assert!(parse(long.as_bytes()).unwrap_err().to_string().contains("more than 5000 rows"));
        let unterminated = parse(b"title,description\n\"open,x\n");
        assert!(unterminated.is_ok() || unterminated.unwrap_err().field() == Some("file"));
    }

    #[test]
    fn a_bom_is_skipped_and_blank_lines_are_ignored() {
        let parsed = parse("\u{feff}Summary,Story Points\n\"Quoted, with comma\",3\n,\n".as_bytes()).unwrap();
        assert_eq!(parsed.headers, ["Summary", "Story Points"]);
        assert_eq!(parsed.rows, [(2, vec!["Quoted, with comma".to_owned(), "3".to_owned()])]);
        let catalogue = Catalogue::default();
        assert_eq!(Target::guess("Summary", &catalogue), Target::Title);
        assert_eq!(Target::guess("Story Points", &catalogue), Target::StoryPoints);
        assert_eq!(Target::guess("Fix Version", &catalogue), Target::FixVersion);
        assert_eq!(Target::guess("Colour", &catalogue), Target::Ignore);
    }

    #[test]
    fn mappings_need_a_title_and_each_field_once() {
        let catalogue = Catalogue::default();
        let headers = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(
            check_mapping(&[Target::Type, Target::Ignore], &headers, &catalogue).unwrap_err().field(),
            Some("mapping")
        );
        let twice = check_mapping(&[Target::Title, Target::Title], &headers, &catalogue).unwrap_err();
        assert_eq!(twice.to_string(), "Two columns are mapped to title; map each field once.");
        for target in [Target::Key, Target::Estimate, Target::Custom("Tier".into()), Target::Ignore] {
            assert_eq!(Target::parse(&target.value()).unwrap(), target);
        }
    }
}
