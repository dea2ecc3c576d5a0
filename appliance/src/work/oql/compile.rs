//! Compiles an OQL query into SQL over `issues i` (joined with `projects p` and
//! `workflow_statuses s` by the caller). Field names, operators and functions are checked
//! against the tables below; names of projects, people and statuses are resolved to ids here,
//! so the SQL compares indexed id columns. Every value the user wrote becomes a bind parameter:
//! the SQL text holds only column names and operators chosen by this file.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use super::dates::{self, Moment};
use super::sql::{Bind, OrderTerm, SortValue, SqlBuilder};
use super::syntax::{CompareOp, Expr, Field, Query, Span, Value, ValueKind};
use crate::errors::AppError;
use crate::schema::{custom_fields, issues, projects, users, workflow_statuses};
use crate::work::fields::FieldKind;
use crate::work::issues::parse_key;
use crate::work::kinds::{IssueType, Priority, StatusCategory};
use crate::work::workflows::normalized;

/// What OQL's functions and scope mean for this query.
pub struct Context {
    /// `currentUser()`.
    pub me: i64,
    /// Relative dates count from here.
    pub now: DateTime<Utc>,
    /// When set, status names resolve in this project's workflow only.
    pub project_id: Option<i64>,
}

/// The fields OQL knows, by the names (and synonyms) users type, and how each is queried.
/// A name that is none of these is looked up among the projects' custom fields.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Known {
    Project,
    Key,
    Type,
    Status,
    Category,
    Priority,
    /// A user column; the flag says whether it can be empty.
    Person(&'static str, bool),
    /// A text column searched with `~`.
    Text(&'static str),
    /// Title or description.
    AnyText,
    /// A timestamp expression; the flag says whether it can be empty.
    Date(&'static str, bool),
    Labels,
    Component,
    FixVersion,
    Parent,
    Epic,
    Points,
    Sprint,
    /// The backlog order: for ORDER BY only.
    Rank,
    /// A custom field: its ids (one per project that has a field of that name) and kind.
    Custom(Vec<i64>, FieldKind),
}

impl Known {
    /// Whether the field's column can be empty.
    fn nullable(&self) -> bool {
        match self {
            Known::Person(_, nullable) | Known::Date(_, nullable) => *nullable,
            Known::FixVersion | Known::Parent | Known::Epic | Known::Points | Known::Sprint => true,
            _ => false,
        }
    }
}

const FIELDS: &[(&str, Known)] = &[
    ("project", Known::Project),
    ("key", Known::Key),
    ("issue", Known::Key),
    ("issuekey", Known::Key),
    ("type", Known::Type),
    ("issuetype", Known::Type),
    ("status", Known::Status),
    ("statuscategory", Known::Category),
    ("category", Known::Category),
    ("priority", Known::Priority),
    ("assignee", Known::Person("i.assignee_id", true)),
    ("reporter", Known::Person("i.reporter_id", false)),
    ("title", Known::Text("i.title")),
    ("summary", Known::Text("i.title")),
    ("description", Known::Text("i.description")),
    ("text", Known::AnyText),
    ("created", Known::Date("i.created_at", false)),
    ("updated", Known::Date("i.updated_at", false)),
    // A due date is a day; it compares as that day's start, in UTC.
    ("due", Known::Date("(i.due_date::timestamp AT TIME ZONE 'UTC')", true)),
    ("duedate", Known::Date("(i.due_date::timestamp AT TIME ZONE 'UTC')", true)),
    ("labels", Known::Labels),
    ("label", Known::Labels),
    ("component", Known::Component),
    ("components", Known::Component),
    ("fixversion", Known::FixVersion),
    ("version", Known::FixVersion),
    ("parent", Known::Parent),
    ("epic", Known::Epic),
    ("points", Known::Points),
    ("storypoints", Known::Points),
    ("sprint", Known::Sprint),
    ("rank", Known::Rank),
];

const FIELD_LIST: &str =
    "project, key, type, status, statusCategory, priority, assignee, reporter, title, description, \
     text, created, updated, due, labels, component, fixVersion, parent, epic, points, sprint, or a custom field's name";

/// An error about the query, pointing at the column where the problem is.
pub(super) fn oql_error(span: Span, message: String) -> AppError {
    AppError::invalid("oql", format!("{message} (at column {}).", span.start + 1))
}

/// `%`, `_` and `\` are wildcards to ILIKE; a user typing them means the characters.
pub fn like_pattern(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// Adds `query`'s filter and ordering to `sql`.
pub fn compile(
    conn: &mut PgConnection,
    query: &Query,
    context: &Context,
    sql: &mut SqlBuilder,
) -> Result<(), AppError> {
    let mut compiler = Compiler { conn, context, sql, statuses: None };
    if let Some(filter) = &query.filter {
        let condition = compiler.expr(filter)?;
        compiler.sql.and(condition);
    }
    for term in &query.order_by {
        let known = compiler.known(&term.field)?;
        let column = order_column(&term.field, &known, context.project_id.is_some())?;
        // Priority ranks run 1 (highest) to 5: "DESC" means most urgent first.
        let descending = if column.0 == "i.priority" { !term.descending } else { term.descending };
        let (column, value) = column;
        compiler.sql.order_by(OrderTerm { column, descending, nullable: known.nullable(), value });
    }
    Ok(())
}

/// The column ORDER BY sorts a field by, and what it holds. Within one project, keys sort
/// by number alone, which the `(project_id, number)` index answers in order.
fn order_column(field: &Field, known: &Known, in_one_project: bool) -> Result<(&'static str, SortValue), AppError> {
    use SortValue::{Float, Integer, Text, Timestamp};
    Ok(match known {
        Known::Key if in_one_project => ("i.number", Integer),
        Known::Key | Known::Project => ("p.key", Text),
        Known::Type => ("i.issue_type", Text),
        Known::Status | Known::Category => ("s.position", Integer),
        Known::Priority => ("i.priority", Integer),
        Known::Person(column, _) => (column, Integer),
        Known::Text(column) => (column, Text),
        Known::Date(column, _) => (column, Timestamp),
        Known::FixVersion => ("i.fix_version_id", Integer),
        Known::Sprint => ("i.sprint_id", Integer),
        Known::Rank => ("i.rank", Integer),
        Known::Parent | Known::Epic => ("i.parent_id", Integer),
        Known::Points => ("i.story_points", Float),
        Known::AnyText | Known::Labels | Known::Component | Known::Custom(..) => {
            return Err(oql_error(field.span, format!("Issues cannot be sorted by \"{}\"", field.name)))
        }
    })
}

/// One status of some workflow, for resolving names.
struct KnownStatus {
    id: i64,
    name: String,
    category: StatusCategory,
}

pub(super) struct Compiler<'c> {
    pub(super) conn: &'c mut PgConnection,
    pub(super) context: &'c Context,
    pub(super) sql: &'c mut SqlBuilder,
    /// Loaded on first use: the statuses of the project in scope, or of every project.
    statuses: Option<Vec<KnownStatus>>,
}

/// What a clause asks of its field.
pub(super) enum Predicate<'a> {
    Compare(CompareOp, &'a Value),
    In { negated: bool, values: &'a [Value] },
    Empty { negated: bool },
}

impl Compiler<'_> {
    /// What `field` names: a built-in field, or a custom field of the projects in scope.
    fn known(&mut self, field: &Field) -> Result<Known, AppError> {
        let wanted = field.name.to_lowercase();
        if let Some((_, known)) = FIELDS.iter().find(|(name, _)| *name == wanted) {
            return Ok(known.clone());
        }
        let mut query = custom_fields::table
            .filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>("lower(name) = ")
                    .bind::<diesel::sql_types::Text, _>(wanted),
            )
            .select((custom_fields::id, custom_fields::kind))
            .into_boxed();
        if let Some(project_id) = self.context.project_id {
            query = query.filter(custom_fields::project_id.eq(project_id));
        }
        let found: Vec<(i64, FieldKind)> = query.load(self.conn)?;
        let Some(kind) = found.first().map(|(_, kind)| *kind) else {
            return Err(oql_error(field.span, format!("Unknown field \"{}\"; OQL knows: {FIELD_LIST}", field.name)));
        };
        // Fields of one name but different kinds in different projects cannot be compared alike.
        let ids = found.iter().filter(|(_, k)| *k == kind).map(|(id, _)| *id).collect();
        Ok(Known::Custom(ids, kind))
    }

    fn expr(&mut self, expr: &Expr) -> Result<String, AppError> {
        Ok(match expr {
            Expr::And(left, right) => format!("({}) AND ({})", self.expr(left)?, self.expr(right)?),
            Expr::Or(left, right) => format!("({}) OR ({})", self.expr(left)?, self.expr(right)?),
            // A clause on an empty field is NULL, not false; NOT must still match that issue.
            Expr::Not(inner) => format!("NOT coalesce(({}), FALSE)", self.expr(inner)?),
            Expr::Compare { field, op, value } => self.clause(field, Predicate::Compare(*op, value))?,
            Expr::In { field, negated, values } => self.clause(field, Predicate::In { negated: *negated, values })?,
            Expr::Empty { field, negated } => self.clause(field, Predicate::Empty { negated: *negated })?,
        })
    }

    fn clause(&mut self, field: &Field, predicate: Predicate<'_>) -> Result<String, AppError> {
        match self.known(field)? {
            Known::Project => self.id_clause(field, "i.project_id", false, predicate, |c, v| c.project_ids(v)),
            Known::Key => self.id_clause(field, "i.id", false, predicate, |c, v| c.issue_ids(v)),
            Known::Status => self.id_clause(field, "i.status_id", false, predicate, |c, v| c.status_ids(v)),
            Known::Category => self.id_clause(field, "i.status_id", false, predicate, |c, v| c.category_status_ids(v)),
            Known::Person(column, nullable) => self.id_clause(field, column, nullable, predicate, |c, v| c.user_ids(v)),
            Known::FixVersion => self.id_clause(field, "i.fix_version_id", true, predicate, |c, v| c.version_ids(v)),
            Known::Parent => self.id_clause(field, "i.parent_id", true, predicate, |c, v| c.issue_ids(v)),
            Known::Epic => self.epic_clause(field, predicate),
            Known::Sprint => self.id_clause(field, "i.sprint_id", true, predicate, |c, v| c.sprint_ids(v)),
            Known::Rank => {
                Err(oql_error(field.span, "rank orders issues (ORDER BY rank) but cannot be compared".to_owned()))
            }
            Known::Type => self.type_clause(field, predicate),
            Known::Priority => self.priority_clause(field, predicate),
            Known::Text(column) => self.text_clause(field, &[column], predicate),
            Known::AnyText => self.text_clause(field, &["i.title", "i.description"], predicate),
            Known::Date(column, nullable) => self.date_clause(field, column, nullable, predicate),
            Known::Points => self.number_clause(field, "i.story_points", predicate),
            Known::Labels => self.labels_clause(field, predicate),
            Known::Component => self.component_clause(field, predicate),
            Known::Custom(ids, kind) => self.custom_clause(field, &ids, kind, predicate),
        }
    }

    /// `=`, `!=`, `IN`, `NOT IN` (and `IS EMPTY` on nullable columns) over an id column, with
    /// the values resolved to ids by `resolve`.
    pub(super) fn id_clause(
        &mut self,
        field: &Field,
        column: &str,
        nullable: bool,
        predicate: Predicate<'_>,
        resolve: fn(&mut Self, &Value) -> Result<Vec<i64>, AppError>,
    ) -> Result<String, AppError> {
        let (negated, values): (bool, Vec<&Value>) = match predicate {
            Predicate::Compare(CompareOp::Eq, value) => (false, vec![value]),
            Predicate::Compare(CompareOp::Ne, value) => (true, vec![value]),
            Predicate::In { negated, values } => (negated, values.iter().collect()),
            Predicate::Empty { negated } => {
                if !nullable {
                    return Err(oql_error(field.span, format!("{} is never empty", field.name)));
                }
                return Ok(format!("{column} IS {}NULL", if negated { "NOT " } else { "" }));
            }
            Predicate::Compare(op, value) => {
                return Err(oql_error(
                    value.span,
                    format!("{} can be compared with =, !=, IN or NOT IN, not {}", field.name, op.as_str()),
                ))
            }
        };
        let mut ids = Vec::new();
        for value in values {
            ids.extend(resolve(self, value)?);
        }
        ids.sort_unstable();
        ids.dedup();
        let placeholder = self.sql.bind(Bind::Int8Array(ids));
        Ok(if negated { format!("{column} <> ALL({placeholder})") } else { format!("{column} = ANY({placeholder})") })
    }

    fn type_clause(&mut self, field: &Field, predicate: Predicate<'_>) -> Result<String, AppError> {
        let (negated, values): (bool, Vec<&Value>) = match predicate {
            Predicate::Compare(CompareOp::Eq, value) => (false, vec![value]),
            Predicate::Compare(CompareOp::Ne, value) => (true, vec![value]),
            Predicate::In { negated, values } => (negated, values.iter().collect()),
            Predicate::Empty { .. } => return Err(oql_error(field.span, "type is never empty".to_owned())),
            Predicate::Compare(op, value) => {
                return Err(oql_error(
                    value.span,
                    format!("type can be compared with =, !=, IN or NOT IN, not {}", op.as_str()),
                ))
            }
        };
        let mut names = Vec::new();
        for value in values {
            let text = literal(value)?;
            let issue_type = IssueType::parse(&normalized(&text)).map_err(|_| {
                oql_error(value.span, format!("Unknown issue type \"{text}\"; use epic, story, task, bug or subtask"))
            })?;
            names.push(issue_type.as_str().to_owned());
        }
        let list: Vec<String> = names.into_iter().map(|n| self.sql.bind(Bind::Text(n))).collect();
        Ok(format!("i.issue_type {}IN ({})", if negated { "NOT " } else { "" }, list.join(", ")))
    }

    fn priority_clause(&mut self, field: &Field, predicate: Predicate<'_>) -> Result<String, AppError> {
        let rank = |value: &Value| -> Result<i16, AppError> {
            let text = literal(value)?;
            Priority::parse(&text.to_lowercase()).map(Priority::rank).map_err(|_| {
                oql_error(value.span, format!("Unknown priority \"{text}\"; use highest, high, medium, low or lowest"))
            })
        };
        match predicate {
            Predicate::Empty { .. } => Err(oql_error(field.span, "priority is never empty".to_owned())),
            Predicate::In { negated, values } => {
                let mut placeholders = Vec::new();
                for value in values {
                    let rank = rank(value)?;
                    placeholders.push(self.sql.bind(Bind::Int2(rank)));
                }
                Ok(format!("i.priority {}IN ({})", if negated { "NOT " } else { "" }, placeholders.join(", ")))
            }
            Predicate::Compare(op, value) => {
                // A higher priority has a lower rank, so the comparison flips.
                let sql_op = match op {
                    CompareOp::Eq => "=",
                    CompareOp::Ne => "<>",
                    CompareOp::Gt => "<",
                    CompareOp::Ge => "<=",
                    CompareOp::Lt => ">",
                    CompareOp::Le => ">=",
                    CompareOp::Contains | CompareOp::NotContains => {
                        return Err(oql_error(value.span, format!("priority cannot be searched with {}", op.as_str())))
                    }
                };
                let placeholder = self.sql.bind(Bind::Int2(rank(value)?));
                Ok(format!("i.priority {sql_op} {placeholder}"))
            }
        }
    }

    fn text_clause(&mut self, field: &Field, columns: &[&str], predicate: Predicate<'_>) -> Result<String, AppError> {
        match predicate {
            Predicate::Compare(op @ (CompareOp::Contains | CompareOp::NotContains), value) => {
                let text = literal(value)?;
                if text.trim().is_empty() {
                    return Err(oql_error(value.span, format!("Searching {} needs some text", field.name)));
                }
                let placeholder = self.sql.bind(Bind::Text(like_pattern(text.trim())));
                let any = columns.iter().map(|c| format!("{c} ILIKE {placeholder}")).collect::<Vec<_>>().join(" OR ");
                Ok(if op == CompareOp::Contains { any } else { format!("NOT ({any})") })
            }
            Predicate::Empty { negated } if columns == ["i.description"] => {
                Ok(format!("i.description {} ''", if negated { "<>" } else { "=" }))
            }
            _ => Err(oql_error(
                field.span,
                format!("{} is searched with ~ (contains) or !~ (does not contain)", field.name),
            )),
        }
    }

    pub(super) fn date_clause(
        &mut self,
        field: &Field,
        column: &str,
        nullable: bool,
        predicate: Predicate<'_>,
    ) -> Result<String, AppError> {
        if let (Predicate::Empty { negated }, true) = (&predicate, nullable) {
            return Ok(format!("{column} IS {}NULL", if *negated { "NOT " } else { "" }));
        }
        let Predicate::Compare(op, value) = predicate else {
            return Err(oql_error(field.span, format!("{} is compared with =, !=, <, >, <= or >=", field.name)));
        };
        let moment = dates::moment(self.context.now, value)?;
        // A plain date means the whole day: "= 2026-11-01" is that day, "> 2026-11-01" after it.
        let (start, end) = match moment {
            Moment::Day(start) => (start, Some(start + Duration::days(1))),
            Moment::Instant(instant) => (instant, None),
        };
        let mut bound = |instant: DateTime<Utc>| self.sql.bind(Bind::Timestamptz(instant));
        Ok(match (op, end) {
            (CompareOp::Eq, Some(end)) => format!("{column} >= {} AND {column} < {}", bound(start), bound(end)),
            (CompareOp::Ne, Some(end)) => format!("{column} < {} OR {column} >= {}", bound(start), bound(end)),
            (CompareOp::Gt, Some(end)) => format!("{column} >= {}", bound(end)),
            (CompareOp::Le, Some(end)) => format!("{column} < {}", bound(end)),
            (CompareOp::Eq, None) => format!("{column} = {}", bound(start)),
            (CompareOp::Ne, None) => format!("{column} <> {}", bound(start)),
            (CompareOp::Gt, None) => format!("{column} > {}", bound(start)),
            (CompareOp::Le, None) => format!("{column} <= {}", bound(start)),
            (CompareOp::Lt, _) => format!("{column} < {}", bound(start)),
            (CompareOp::Ge, _) => format!("{column} >= {}", bound(start)),
            (CompareOp::Contains | CompareOp::NotContains, _) => {
                return Err(oql_error(value.span, format!("{} cannot be searched with {}", field.name, op.as_str())))
            }
        })
    }

    fn project_ids(&mut self, value: &Value) -> Result<Vec<i64>, AppError> {
        let key = literal(value)?.to_uppercase();
        let id = projects::table
            .filter(projects::key.eq(&key))
            .select(projects::id)
            .first::<i64>(self.conn)
            .optional()?
            .ok_or_else(|| oql_error(value.span, format!("There is no project {key}")))?;
        Ok(vec![id])
    }

    pub(super) fn issue_ids(&mut self, value: &Value) -> Result<Vec<i64>, AppError> {
        let text = literal(value)?;
        let (project_key, number) = parse_key(&text)
            .map_err(|_| oql_error(value.span, format!("\"{text}\" is not an issue key like OPS-42")))?;
        let id = issues::table
            .inner_join(projects::table)
            .filter(projects::key.eq(&project_key).and(issues::number.eq(number)))
            .select(issues::id)
            .first::<i64>(self.conn)
            .optional()?
            .ok_or_else(|| oql_error(value.span, format!("There is no issue {project_key}-{number}")))?;
        Ok(vec![id])
    }

    pub(super) fn user_ids(&mut self, value: &Value) -> Result<Vec<i64>, AppError> {
        if let ValueKind::Function { name, args } = &value.kind {
            if name.eq_ignore_ascii_case("currentuser") && args.is_empty() {
                return Ok(vec![self.context.me]);
            }
            return Err(oql_error(value.span, format!("Unknown function {name}() for a person; use currentUser()")));
        }
        let name = literal(value)?;
        let id = users::table
            .filter(users::username.eq(name.to_lowercase()))
            .select(users::id)
            .first::<i64>(self.conn)
            .optional()?
            .ok_or_else(|| oql_error(value.span, format!("There is no user named {name}")))?;
        Ok(vec![id])
    }

    fn known_statuses(&mut self) -> Result<&[KnownStatus], AppError> {
        if self.statuses.is_none() {
            let mut query = workflow_statuses::table
                .select((workflow_statuses::id, workflow_statuses::name, workflow_statuses::category))
                .into_boxed();
            if let Some(project_id) = self.context.project_id {
                query = query.filter(workflow_statuses::project_id.eq(project_id));
            }
            let rows: Vec<(i64, String, StatusCategory)> = query.load(self.conn)?;
            self.statuses =
                Some(rows.into_iter().map(|(id, name, category)| KnownStatus { id, name, category }).collect());
        }
        Ok(self.statuses.as_deref().unwrap_or_default())
    }

    /// A status name matches that status in every workflow in scope.
    fn status_ids(&mut self, value: &Value) -> Result<Vec<i64>, AppError> {
        let name = literal(value)?;
        let wanted = normalized(&name);
        let ids: Vec<i64> =
            self.known_statuses()?.iter().filter(|s| normalized(&s.name) == wanted).map(|s| s.id).collect();
        if ids.is_empty() {
            let mut names: Vec<&str> = self.known_statuses()?.iter().map(|s| s.name.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            return Err(oql_error(
                value.span,
                format!("Unknown status \"{name}\"; statuses are: {}", names.join(", ")),
            ));
        }
        Ok(ids)
    }

    fn category_status_ids(&mut self, value: &Value) -> Result<Vec<i64>, AppError> {
        let name = literal(value)?;
        let wanted = normalized(&name);
        let category = StatusCategory::ALL
            .iter()
            .copied()
            .find(|c| normalized(c.as_str()) == wanted || normalized(c.label()) == wanted)
            .ok_or_else(|| {
                oql_error(value.span, format!("Unknown status category \"{name}\"; use todo, in_progress or done"))
            })?;
        Ok(self.known_statuses()?.iter().filter(|s| s.category == category).map(|s| s.id).collect())
    }
}

/// The text of a word or quoted value; functions and relative dates are not names.
pub(super) fn literal(value: &Value) -> Result<String, AppError> {
    match &value.kind {
        ValueKind::Word(text) | ValueKind::Quoted(text) => Ok(text.clone()),
        ValueKind::Function { name, .. } => Err(oql_error(value.span, format!("{name}() cannot be used here"))),
        ValueKind::RelativeDate { .. } => Err(oql_error(value.span, "A relative date cannot be used here".to_owned())),
    }
}
