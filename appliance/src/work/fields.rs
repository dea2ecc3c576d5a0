//! A project's field catalogue: its versions (releases), components and custom fields, and
//! the typed check of a custom field's value. Which values an issue holds lives in
//! `issue_fields`.

use chrono::NaiveDate;
use diesel::deserialize::{self, FromSql};
use diesel::pg::{Pg, PgValue};
use diesel::prelude::*;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;
use serde::Serialize;
use serde_json::{json, Value};

use super::projects::Project;
use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::schema::{components, custom_fields, custom_values, issue_components, issues, users, versions};

pub const NAME_MAX: usize = 60;
pub const OPTIONS_MAX: usize = 50;

#[derive(Clone, Debug, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = versions)]
pub struct Version {
    #[serde(skip)]
    pub id: i64,
    #[serde(skip)]
    pub project_id: i64,
    pub name: String,
    pub release_date: Option<NaiveDate>,
    pub released: bool,
}

#[derive(Clone, Debug, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = components)]
pub struct Component {
    #[serde(skip)]
    pub id: i64,
    #[serde(skip)]
    pub project_id: i64,
    pub name: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, diesel::AsExpression, diesel::FromSqlRow, utoipa::ToSchema)]
#[diesel(sql_type = Text)]
#[serde(rename_all = "lowercase")]
pub enum FieldKind {
    Text,
    Number,
    Date,
    Select,
    MultiSelect,
    User,
}

impl FieldKind {
    pub const ALL: [FieldKind; 6] = [
        FieldKind::Text,
        FieldKind::Number,
        FieldKind::Date,
        FieldKind::Select,
        FieldKind::MultiSelect,
        FieldKind::User,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Number => "number",
            FieldKind::Date => "date",
            FieldKind::Select => "select",
            FieldKind::MultiSelect => "multiselect",
            FieldKind::User => "user",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            FieldKind::Text => "Text",
            FieldKind::Number => "Number",
            FieldKind::Date => "Date",
            FieldKind::Select => "Select (one choice)",
            FieldKind::MultiSelect => "Multi-select",
            FieldKind::User => "User",
        }
    }

    pub fn parse(text: &str) -> Result<Self, AppError> {
        FieldKind::ALL.iter().copied().find(|k| k.as_str() == text.trim()).ok_or_else(|| {
            AppError::invalid(
                "kind",
                format!("Unknown field kind \"{}\"; use text, number, date, select, multiselect or user.", text.trim()),
            )
        })
    }

    pub fn has_options(self) -> bool {
        matches!(self, FieldKind::Select | FieldKind::MultiSelect)
    }
}

impl ToSql<Text, Pg> for FieldKind {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <str as ToSql<Text, Pg>>::to_sql(self.as_str(), out)
    }
}

impl FromSql<Text, Pg> for FieldKind {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, Pg>>::from_sql(value)?;
        Self::parse(&text).map_err(|e| e.to_string().into())
    }
}

#[derive(Clone, Debug, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = custom_fields)]
pub struct CustomField {
    #[serde(skip)]
    pub id: i64,
    #[serde(skip)]
    pub project_id: i64,
    pub name: String,
    pub kind: FieldKind,
    pub options: Vec<String>,
    pub position: i32,
}

impl CustomField {
    /// The stored JSON for `input` typed into this field, or an error naming the field. An
    /// empty input clears the value (`None`).
    pub fn value_of(&self, conn: &mut PgConnection, input: &[String]) -> Result<Option<Value>, AppError> {
        let field = || format!("custom.{}", self.name);
        let given: Vec<&str> = input.iter().map(|v| v.trim()).filter(|v| !v.is_empty()).collect();
        if given.is_empty() {
            return Ok(None);
        }
        if self.kind != FieldKind::MultiSelect && given.len() > 1 {
            return Err(AppError::invalid(&field(), format!("{} takes one value.", self.name)));
        }
        let one = given[0];
        let value = match self.kind {
            FieldKind::Text => {
                if one.chars().count() > 1000 {
                    return Err(AppError::invalid(&field(), format!("{} must be at most 1000 characters.", self.name)));
                }
                json!(one)
            }
            FieldKind::Number => {
                let number: f64 = one.parse().ok().filter(|n: &f64| n.is_finite()).ok_or_else(|| {
                    AppError::invalid(&field(), format!("{} must be a number, not \"{one}\".", self.name))
                })?;
                // Whole numbers stay whole: 3, not 3.0.
                if number.fract() == 0.0 && number.abs() < 1e15 {
                    json!(number as i64)
                } else {
                    json!(number)
                }
            }
            FieldKind::Date => {
                let date = NaiveDate::parse_from_str(one, "%Y-%m-%d").map_err(|_| {
                    AppError::invalid(&field(), format!("{} must be a date like 2026-12-31, not \"{one}\".", self.name))
                })?;
                json!(date.to_string())
            }
            FieldKind::Select => json!(self.option(one, &field())?),
            FieldKind::MultiSelect => {
                let mut chosen = Vec::new();
                for value in given {
                    let option = self.option(value, &field())?;
                    if !chosen.contains(&option) {
                        chosen.push(option);
                    }
                }
                json!(chosen)
            }
            FieldKind::User => {
                let id: i64 = users::table
                    .filter(users::username.eq(one.to_lowercase()).and(users::is_active.eq(true)))
                    .select(users::id)
                    .first(conn)
                    .optional()?
                    .ok_or_else(|| AppError::invalid(&field(), format!("There is no active user named {one}.")))?;
                json!(id)
            }
        };
        Ok(Some(value))
    }

    fn option(&self, value: &str, field: &str) -> Result<String, AppError> {
        self.options.iter().find(|o| o.eq_ignore_ascii_case(value)).cloned().ok_or_else(|| {
            AppError::invalid(
                field,
                format!("\"{value}\" is not a choice of {}; choose from: {}.", self.name, self.options.join(", ")),
            )
        })
    }
}

/// A project's whole catalogue, loaded together for forms and pages.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Catalogue {
    pub versions: Vec<Version>,
    pub components: Vec<Component>,
    pub custom_fields: Vec<CustomField>,
}

impl Catalogue {
    pub fn load(conn: &mut PgConnection, project_id: i64) -> QueryResult<Catalogue> {
        Ok(Catalogue {
            versions: versions::table
                .filter(versions::project_id.eq(project_id))
                .order((versions::released.asc(), versions::release_date.asc().nulls_last(), versions::name.asc()))
                .select(Version::as_select())
                .load(conn)?,
            components: components::table
                .filter(components::project_id.eq(project_id))
                .order(components::name.asc())
                .select(Component::as_select())
                .load(conn)?,
            custom_fields: custom_fields::table
                .filter(custom_fields::project_id.eq(project_id))
                .order((custom_fields::position.asc(), custom_fields::id.asc()))
                .select(CustomField::as_select())
                .load(conn)?,
        })
    }

    pub fn version(&self, name: &str) -> Result<&Version, AppError> {
        self.versions.iter().find(|v| v.name.eq_ignore_ascii_case(name.trim())).ok_or_else(|| {
            let names: Vec<&str> = self.versions.iter().map(|v| v.name.as_str()).collect();
            AppError::invalid(
                "fix_version",
                format!("There is no version \"{}\" in this project; versions: {}.", name.trim(), or_none(&names)),
            )
        })
    }

    pub fn component(&self, name: &str) -> Result<&Component, AppError> {
        self.components.iter().find(|c| c.name.eq_ignore_ascii_case(name.trim())).ok_or_else(|| {
            let names: Vec<&str> = self.components.iter().map(|c| c.name.as_str()).collect();
            AppError::invalid(
                "components",
                format!("There is no component \"{}\" in this project; components: {}.", name.trim(), or_none(&names)),
            )
        })
    }

    pub fn custom_field(&self, name: &str) -> Result<&CustomField, AppError> {
        self.custom_fields.iter().find(|f| f.name.eq_ignore_ascii_case(name.trim())).ok_or_else(|| {
            AppError::invalid("custom", format!("There is no custom field \"{}\" in this project.", name.trim()))
        })
    }
}

fn or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "none yet".to_owned()
    } else {
        names.join(", ")
    }
}

fn check_name(field: &str, what: &str, name: &str, max: usize) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > max {
        return Err(AppError::invalid(field, format!("{what} names must be 1 to {max} characters.")));
    }
    Ok(name.to_owned())
}

/// What a catalogue entry change records.
fn record(conn: &mut PgConnection, actor: &Actor, project: &Project, action: &str, after: Value) -> QueryResult<()> {
    audit::record(
        conn,
        actor,
        Change { action, entity_type: "project", entity_id: project.id, before: None, after: Some(after) },
    )
}

pub fn add_version(
    conn: &mut PgConnection,
    actor: &Actor,
    project: &Project,
    name: &str,
    release_date: Option<NaiveDate>,
) -> Result<(), AppError> {
    let name = check_name("name", "Version", name, NAME_MAX)?;
    conn.transaction(|conn| {
        if Catalogue::load(conn, project.id)?.version(&name).is_ok() {
            return Err(AppError::conflict("name", format!("There is already a version \"{name}\".")));
        }
        diesel::insert_into(versions::table)
            .values((
                versions::project_id.eq(project.id),
                versions::name.eq(&name),
                versions::release_date.eq(release_date),
            ))
            .execute(conn)?;
        Ok(record(conn, actor, project, "version.created", json!({ "name": name, "release_date": release_date }))?)
    })
}

/// Marks a version released (or not): released versions drop to the end of pickers.
pub fn set_released(
    conn: &mut PgConnection,
    actor: &Actor,
    project: &Project,
    name: &str,
    released: bool,
) -> Result<(), AppError> {
    conn.transaction(|conn| {
        let version = Catalogue::load(conn, project.id)?.version(name)?.clone();
        diesel::update(versions::table.find(version.id)).set(versions::released.eq(released)).execute(conn)?;
        Ok(record(conn, actor, project, "version.updated", json!({ "name": version.name, "released": released }))?)
    })
}

pub fn add_component(conn: &mut PgConnection, actor: &Actor, project: &Project, name: &str) -> Result<(), AppError> {
    let name = check_name("name", "Component", name, NAME_MAX)?;
    conn.transaction(|conn| {
        if Catalogue::load(conn, project.id)?.component(&name).is_ok() {
            return Err(AppError::conflict("name", format!("There is already a component \"{name}\".")));
        }
        diesel::insert_into(components::table)
            .values((components::project_id.eq(project.id), components::name.eq(&name)))
            .execute(conn)?;
        Ok(record(conn, actor, project, "component.created", json!({ "name": name }))?)
    })
}

/// A new custom field; select kinds need their choices, comma-separated.
pub fn add_custom_field(
    conn: &mut PgConnection,
    actor: &Actor,
    project: &Project,
    name: &str,
    kind: FieldKind,
    options: &str,
) -> Result<(), AppError> {
    let name = check_name("name", "Field", name, 40)?;
    let choices = clean_choices(options)?;
    if kind.has_options() && choices.is_empty() {
        return Err(AppError::invalid("options", "A select field needs its choices, separated by commas."));
    }
    if !kind.has_options() && !choices.is_empty() {
        return Err(AppError::invalid("options", "Only select and multi-select fields have choices."));
    }
    conn.transaction(|conn| {
        let catalogue = Catalogue::load(conn, project.id)?;
        if catalogue.custom_field(&name).is_ok() {
            return Err(AppError::conflict("name", format!("There is already a field \"{name}\".")));
        }
        let position = catalogue.custom_fields.len() as i32;
        diesel::insert_into(custom_fields::table)
            .values((
                custom_fields::project_id.eq(project.id),
                custom_fields::name.eq(&name),
                custom_fields::kind.eq(kind),
                custom_fields::options.eq(&choices),
                custom_fields::position.eq(position),
            ))
            .execute(conn)?;
        Ok(record(
            conn,
            actor,
            project,
            "custom_field.created",
            json!({ "name": name, "kind": kind, "options": choices }),
        )?)
    })
}

/// Removes a version or component, refused while issues use it; or a custom field, whose
/// values go with it (the audit log keeps them in each issue's history).
pub fn remove(
    conn: &mut PgConnection,
    actor: &Actor,
    project: &Project,
    part: Part,
    name: &str,
) -> Result<(), AppError> {
    conn.transaction(|conn| {
        let catalogue = Catalogue::load(conn, project.id)?;
        let (action, removed) = match part {
            Part::Version => {
                let version = catalogue.version(name)?;
                let used: i64 = issues::table.filter(issues::fix_version_id.eq(version.id)).count().get_result(conn)?;
                if used > 0 {
                    return Err(AppError::invalid(
                        "name",
                        format!("Version {} is the fix version of {used} issue(s); change them first.", version.name),
                    ));
                }
                diesel::delete(versions::table.find(version.id)).execute(conn)?;
                ("version.deleted", version.name.clone())
            }
            Part::Component => {
                let component = catalogue.component(name)?;
                let used: i64 = issue_components::table
                    .filter(issue_components::component_id.eq(component.id))
                    .count()
                    .get_result(conn)?;
                if used > 0 {
                    return Err(AppError::invalid(
                        "name",
                        format!("Component {} is on {used} issue(s); take it off them first.", component.name),
                    ));
                }
                diesel::delete(components::table.find(component.id)).execute(conn)?;
                ("component.deleted", component.name.clone())
            }
            Part::CustomField => {
                let field = catalogue.custom_field(name)?;
                diesel::delete(custom_fields::table.find(field.id)).execute(conn)?;
                ("custom_field.deleted", field.name.clone())
            }
        };
        Ok(record(conn, actor, project, action, json!({ "name": removed }))?)
    })
}

/// Which part of the catalogue an entry belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Version,
    Component,
    CustomField,
}

/// Replaces a select field's choices; a choice that issues still hold cannot be dropped.
pub fn set_choices(
    conn: &mut PgConnection,
    actor: &Actor,
    project: &Project,
    name: &str,
    options: &str,
) -> Result<(), AppError> {
    conn.transaction(|conn| {
        let field = Catalogue::load(conn, project.id)?.custom_field(name)?.clone();
        if !field.kind.has_options() {
            return Err(AppError::invalid(
                "options",
                format!("{} is not a select field; it has no choices.", field.name),
            ));
        }
        let choices = clean_choices(options)?;
        if choices.is_empty() {
            return Err(AppError::invalid("options", "A select field needs its choices, separated by commas."));
        }
        let values: Vec<Value> = custom_values::table
            .filter(custom_values::field_id.eq(field.id))
            .select(custom_values::value)
            .load(conn)?;
        let held = |choice: &String| {
            values.iter().any(|v| match v {
                Value::String(s) => s.eq_ignore_ascii_case(choice),
                Value::Array(items) => items.iter().any(|i| i.as_str().is_some_and(|s| s.eq_ignore_ascii_case(choice))),
                _ => false,
            })
        };
        if let Some(dropped) =
            field.options.iter().find(|o| !choices.iter().any(|c| c.eq_ignore_ascii_case(o)) && held(o))
        {
            return Err(AppError::invalid(
                "options",
                format!("Issues still have \"{dropped}\" in {}; change them before dropping the choice.", field.name),
            ));
        }
        diesel::update(custom_fields::table.find(field.id)).set(custom_fields::options.eq(&choices)).execute(conn)?;
        Ok(record(conn, actor, project, "custom_field.updated", json!({ "name": field.name, "options": choices }))?)
    })
}

/// Choices as typed, comma-separated: trimmed, without repeats, within the limits.
fn clean_choices(options: &str) -> Result<Vec<String>, AppError> {
    let mut choices: Vec<String> = Vec::new();
    for option in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        if option.chars().count() > NAME_MAX {
            return Err(AppError::invalid("options", format!("Choices must be at most {NAME_MAX} characters.")));
        }
        if !choices.iter().any(|c| c.eq_ignore_ascii_case(option)) {
            choices.push(option.to_owned());
        }
    }
    if choices.len() > OPTIONS_MAX {
        return Err(AppError::invalid("options", format!("A field can have at most {OPTIONS_MAX} choices.")));
    }
    Ok(choices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_kinds_round_trip_and_unknown_kinds_name_the_field() {
        for kind in FieldKind::ALL {
            assert_eq!(FieldKind::parse(kind.as_str()).unwrap(), kind);
        }
        assert_eq!(FieldKind::parse("colour").unwrap_err().field(), Some("kind"));
    }
}
