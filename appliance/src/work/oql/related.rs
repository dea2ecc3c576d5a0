//! OQL clauses over what lives beside the issue row: labels, components, the epic above a
//! sub-task's parent, story points, fix versions, and custom field values. Each becomes an
//! EXISTS over the indexed side table, so a query still reads one statement.

use diesel::prelude::*;

use super::compile::{literal, oql_error, Compiler, Predicate};
use super::dates::{self, Moment};
use super::sql::Bind;
use super::syntax::{CompareOp, Field, Value, ValueKind};
use crate::errors::AppError;
use crate::schema::{components, sprints, versions};
use crate::work::fields::FieldKind;

/// `=`/`IN` (positive) or `!=`/`NOT IN` (negated) and their values; other operators are
/// refused naming `allowed`.
fn membership<'a>(field: &Field, predicate: Predicate<'a>, allowed: &str) -> Result<(bool, Vec<&'a Value>), AppError> {
    match predicate {
        Predicate::Compare(CompareOp::Eq, value) => Ok((false, vec![value])),
        Predicate::Compare(CompareOp::Ne, value) => Ok((true, vec![value])),
        Predicate::In { negated, values } => Ok((negated, values.iter().collect())),
        Predicate::Compare(op, value) => {
            Err(oql_error(value.span, format!("{} can be compared with {allowed}, not {}", field.name, op.as_str())))
        }
        Predicate::Empty { .. } => Err(oql_error(field.span, format!("{} can be compared with {allowed}", field.name))),
    }
}

fn exists(negated: bool, subquery: String) -> String {
    format!("{}EXISTS ({subquery})", if negated { "NOT " } else { "" })
}

fn sql_operator(op: CompareOp) -> Option<&'static str> {
    Some(match op {
        CompareOp::Eq => "=",
        CompareOp::Ne => "<>",
        CompareOp::Lt => "<",
        CompareOp::Gt => ">",
        CompareOp::Le => "<=",
        CompareOp::Ge => ">=",
        CompareOp::Contains | CompareOp::NotContains => return None,
    })
}

impl Compiler<'_> {
    /// `labels = db`, `labels IN (db, infra)` (any of them), `labels IS EMPTY`.
    pub(super) fn labels_clause(&mut self, field: &Field, predicate: Predicate<'_>) -> Result<String, AppError> {
        const OWN: &str = "SELECT 1 FROM issue_labels l WHERE l.issue_id = i.id";
        if let Predicate::Empty { negated } = predicate {
            return Ok(exists(!negated, OWN.to_owned()));
        }
        let (negated, values) = membership(field, predicate, "=, !=, IN, NOT IN or IS EMPTY")?;
        let labels: Vec<String> =
            values.into_iter().map(|v| literal(v).map(|l| l.to_lowercase())).collect::<Result<_, _>>()?;
        let list = self.sql.bind(Bind::TextArray(labels));
        Ok(exists(negated, format!("{OWN} AND l.label = ANY({list})")))
    }

    /// `component = Database`: by name, in the projects in scope.
    pub(super) fn component_clause(&mut self, field: &Field, predicate: Predicate<'_>) -> Result<String, AppError> {
        const OWN: &str = "SELECT 1 FROM issue_components c WHERE c.issue_id = i.id";
        if let Predicate::Empty { negated } = predicate {
            return Ok(exists(!negated, OWN.to_owned()));
        }
        let (negated, values) = membership(field, predicate, "=, !=, IN, NOT IN or IS EMPTY")?;
        let mut ids = Vec::new();
        for value in values {
            let name = literal(value)?;
            let mut query = components::table
                .filter(
                    diesel::dsl::sql::<diesel::sql_types::Bool>("lower(name) = ")
                        .bind::<diesel::sql_types::Text, _>(name.to_lowercase()),
                )
                .select(components::id)
                .into_boxed();
            if let Some(project_id) = self.context.project_id {
                query = query.filter(components::project_id.eq(project_id));
            }
            let found: Vec<i64> = query.load(self.conn)?;
            if found.is_empty() {
                return Err(oql_error(value.span, format!("There is no component \"{name}\"")));
            }
            ids.extend(found);
        }
        let list = self.sql.bind(Bind::Int8Array(ids));
        Ok(exists(negated, format!("{OWN} AND c.component_id = ANY({list})")))
    }

    /// Fix version names, in the projects in scope.
    pub(super) fn version_ids(&mut self, value: &Value) -> Result<Vec<i64>, AppError> {
        let name = literal(value)?;
        let mut query = versions::table
            .filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>("lower(name) = ")
                    .bind::<diesel::sql_types::Text, _>(name.to_lowercase()),
            )
            .select(versions::id)
            .into_boxed();
        if let Some(project_id) = self.context.project_id {
            query = query.filter(versions::project_id.eq(project_id));
        }
        let ids: Vec<i64> = query.load(self.conn)?;
        if ids.is_empty() {
            return Err(oql_error(value.span, format!("There is no version \"{name}\"")));
        }
        Ok(ids)
    }

    /// Sprints by name in the projects in scope, or `openSprints()` (active and planned) and
    /// `closedSprints()`.
    pub(super) fn sprint_ids(&mut self, value: &Value) -> Result<Vec<i64>, AppError> {
        let mut query = sprints::table.select(sprints::id).into_boxed();
        if let Some(project_id) = self.context.project_id {
            query = query.filter(sprints::project_id.eq(project_id));
        }
        match &value.kind {
            ValueKind::Function { name, args } if args.is_empty() && name.eq_ignore_ascii_case("opensprints") => {
                Ok(query.filter(sprints::state.ne("closed")).load(self.conn)?)
            }
            ValueKind::Function { name, args } if args.is_empty() && name.eq_ignore_ascii_case("closedsprints") => {
                Ok(query.filter(sprints::state.eq("closed")).load(self.conn)?)
            }
            ValueKind::Function { name, .. } => Err(oql_error(
                value.span,
                format!("Unknown function {name}() for a sprint; use openSprints() or closedSprints()"),
            )),
            _ => {
                let name = literal(value)?;
                let ids: Vec<i64> = query
                    .filter(
                        diesel::dsl::sql::<diesel::sql_types::Bool>("lower(name) = ")
                            .bind::<diesel::sql_types::Text, _>(name.to_lowercase()),
                    )
                    .load(self.conn)?;
                if ids.is_empty() {
                    return Err(oql_error(value.span, format!("There is no sprint \"{name}\"")));
                }
                Ok(ids)
            }
        }
    }

    /// `epic = OPS-1`: the epic's own children, and the sub-tasks below them.
    pub(super) fn epic_clause(&mut self, field: &Field, predicate: Predicate<'_>) -> Result<String, AppError> {
        let (negated, values) = membership(field, predicate, "=, !=, IN or NOT IN")?;
        let mut ids = Vec::new();
        for value in values {
            ids.extend(self.issue_ids(value)?);
        }
        let list = self.sql.bind(Bind::Int8Array(ids));
        let below = format!(
            "i.parent_id = ANY({list}) OR EXISTS (SELECT 1 FROM issues pi WHERE pi.id = i.parent_id AND pi.parent_id = ANY({list}))"
        );
        Ok(if negated { format!("NOT coalesce(({below}), FALSE)") } else { below })
    }

    /// Comparisons of a nullable number column.
    pub(super) fn number_clause(
        &mut self,
        field: &Field,
        column: &str,
        predicate: Predicate<'_>,
    ) -> Result<String, AppError> {
        match predicate {
            Predicate::Empty { negated } => Ok(format!("{column} IS {}NULL", if negated { "NOT " } else { "" })),
            Predicate::In { negated, values } => {
                let mut placeholders = Vec::new();
                for value in values {
                    let number = self.number(value)?;
                    placeholders.push(self.sql.bind(Bind::Float8(number)));
                }
                Ok(format!("{column} {}IN ({})", if negated { "NOT " } else { "" }, placeholders.join(", ")))
            }
            Predicate::Compare(op, value) => {
                let operator = sql_operator(op).ok_or_else(|| {
                    oql_error(value.span, format!("{} cannot be searched with {}", field.name, op.as_str()))
                })?;
                let number = self.number(value)?;
                let placeholder = self.sql.bind(Bind::Float8(number));
                Ok(format!("{column} {operator} {placeholder}"))
            }
        }
    }

    fn number(&self, value: &Value) -> Result<f64, AppError> {
        let text = literal(value)?;
        text.parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .ok_or_else(|| oql_error(value.span, format!("\"{text}\" is not a number")))
    }

    /// A custom field's clause, by its kind. Values are stored as JSON (see `fields`); `v.value
    /// #>> '{}'` reads a JSON scalar as text.
    pub(super) fn custom_clause(
        &mut self,
        field: &Field,
        ids: &[i64],
        kind: FieldKind,
        predicate: Predicate<'_>,
    ) -> Result<String, AppError> {
        let fields = self.sql.bind(Bind::Int8Array(ids.to_vec()));
        let own = format!("SELECT 1 FROM custom_values v WHERE v.issue_id = i.id AND v.field_id = ANY({fields})");
        if let Predicate::Empty { negated } = predicate {
            return Ok(exists(!negated, own));
        }
        let (negated, condition) = match kind {
            FieldKind::Text => match predicate {
                Predicate::Compare(op @ (CompareOp::Contains | CompareOp::NotContains), value) => {
                    let pattern = self.sql.bind(Bind::Text(super::compile::like_pattern(literal(value)?.trim())));
                    (op == CompareOp::NotContains, format!("v.value #>> '{{}}' ILIKE {pattern}"))
                }
                other => {
                    let (negated, values) = membership(field, other, "~, !~, =, != or IS EMPTY")?;
                    let texts =
                        values.into_iter().map(|v| literal(v).map(|t| t.to_lowercase())).collect::<Result<_, _>>()?;
                    let list = self.sql.bind(Bind::TextArray(texts));
                    (negated, format!("lower(v.value #>> '{{}}') = ANY({list})"))
                }
            },
            FieldKind::Number => {
                let condition = self.number_clause(field, "(v.value #>> '{}')::float8", predicate)?;
                (false, condition)
            }
            FieldKind::Date => {
                let Predicate::Compare(op, value) = predicate else {
                    return Err(oql_error(
                        field.span,
                        format!("{} is compared with =, !=, <, >, <= or >=", field.name),
                    ));
                };
                let operator = sql_operator(op).ok_or_else(|| {
                    oql_error(value.span, format!("{} cannot be searched with {}", field.name, op.as_str()))
                })?;
                // Stored as YYYY-MM-DD, which sorts as text the way dates do.
                let day = match dates::moment(self.context.now, value)? {
                    Moment::Day(start) | Moment::Instant(start) => start.date_naive().to_string(),
                };
                let placeholder = self.sql.bind(Bind::Text(day));
                (false, format!("v.value #>> '{{}}' {operator} {placeholder}"))
            }
            FieldKind::Select | FieldKind::MultiSelect => {
                let (negated, values) = membership(field, predicate, "=, !=, IN, NOT IN or IS EMPTY")?;
                let choices =
                    values.into_iter().map(|v| literal(v).map(|t| t.to_lowercase())).collect::<Result<_, _>>()?;
                let list = self.sql.bind(Bind::TextArray(choices));
                let condition = if kind == FieldKind::Select {
                    format!("lower(v.value #>> '{{}}') = ANY({list})")
                } else {
                    format!("EXISTS (SELECT 1 FROM jsonb_array_elements_text(v.value) e WHERE lower(e) = ANY({list}))")
                };
                (negated, condition)
            }
            FieldKind::User => {
                let (negated, values) = membership(field, predicate, "=, !=, IN, NOT IN or IS EMPTY")?;
                let mut people = Vec::new();
                for value in values {
                    people.extend(self.user_ids(value)?.into_iter().map(|id| id.to_string()));
                }
                let list = self.sql.bind(Bind::TextArray(people));
                (negated, format!("v.value #>> '{{}}' = ANY({list})"))
            }
        };
        Ok(exists(negated, format!("{own} AND {condition}")))
    }
}
