//! The fixed vocabularies of work: an issue's type and priority, and the category of a workflow
//! status. Type and category are stored as their names, priority as a rank (1 = highest) so
//! that sorting by it is an index scan. Each is parsed at the edge with an error that names
//! the field. (The statuses themselves are per project: see `workflows`.)

use diesel::deserialize::{self, FromSql};
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{Int2, Text};

use crate::errors::AppError;

/// Declares an enum with its names (URLs, forms, API), labels (pages) and serde form.
macro_rules! vocabulary {
    ($name:ident, $sql:ty, $field:literal, $noun:literal, { $($variant:ident = ($text:literal, $label:literal)),+ $(,)? }) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, diesel::AsExpression, diesel::FromSqlRow)]
        #[diesel(sql_type = $sql)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label),+ }
            }

            pub fn parse(text: &str) -> Result<Self, AppError> {
                match text.trim() {
                    $($text => Ok($name::$variant),)+
                    other => Err(AppError::invalid($field, format!(
                        "Unknown {} \"{}\"; use one of: {}.",
                        $noun, other, [$($text),+].join(", ")
                    ))),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        /// In the OpenAPI document: a string, one of the names.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// Stores a vocabulary as its name in a TEXT column.
macro_rules! stored_as_text {
    ($name:ident) => {
        impl ToSql<Text, Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                <str as ToSql<Text, Pg>>::to_sql(self.as_str(), out)
            }
        }

        impl FromSql<Text, Pg> for $name {
            fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
                let text = <String as FromSql<Text, Pg>>::from_sql(value)?;
                Self::parse(&text).map_err(|e| e.to_string().into())
            }
        }
    };
}

vocabulary!(IssueType, Text, "issue_type", "issue type", {
    Epic = ("epic", "Epic"),
    Story = ("story", "Story"),
    Task = ("task", "Task"),
    Bug = ("bug", "Bug"),
    Subtask = ("subtask", "Sub-task"),
});
stored_as_text!(IssueType);

vocabulary!(StatusCategory, Text, "category", "status category", {
    Todo = ("todo", "To do"),
    InProgress = ("in_progress", "In progress"),
    Done = ("done", "Done"),
});
stored_as_text!(StatusCategory);

vocabulary!(Priority, Int2, "priority", "priority", {
    Highest = ("highest", "Highest"),
    High = ("high", "High"),
    Medium = ("medium", "Medium"),
    Low = ("low", "Low"),
    Lowest = ("lowest", "Lowest"),
});

impl Priority {
    /// 1 for highest … 5 for lowest: the stored form.
    pub fn rank(self) -> i16 {
        match self {
            Priority::Highest => 1,
            Priority::High => 2,
            Priority::Medium => 3,
            Priority::Low => 4,
            Priority::Lowest => 5,
        }
    }
}

impl ToSql<Int2, Pg> for Priority {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <i16 as ToSql<Int2, Pg>>::to_sql(&self.rank(), &mut out.reborrow())
    }
}

impl FromSql<Int2, Pg> for Priority {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        let rank = <i16 as FromSql<Int2, Pg>>::from_sql(value)?;
        Priority::ALL
            .iter()
            .copied()
            .find(|p| p.rank() == rank)
            .ok_or_else(|| format!("priority rank {rank} is out of range").into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused_by_field() {
        for category in StatusCategory::ALL {
            assert_eq!(StatusCategory::parse(category.as_str()).unwrap(), *category);
        }
        let error = StatusCategory::parse("closed").unwrap_err();
        assert_eq!(error.field(), Some("category"));
        assert_eq!(error.to_string(), "Unknown status category \"closed\"; use one of: todo, in_progress, done.");
        assert_eq!(IssueType::parse("story").unwrap(), IssueType::Story);
        assert_eq!(Priority::parse("urgent").unwrap_err().field(), Some("priority"));
    }

    #[test]
    fn priority_ranks_order_from_highest() {
        let ranks: Vec<i16> = Priority::ALL.iter().map(|p| p.rank()).collect();
        assert_eq!(ranks, vec![1, 2, 3, 4, 5]);
    }
}
