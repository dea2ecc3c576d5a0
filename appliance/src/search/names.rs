//! The names a search page shows for the ids its facets count: projects and spaces by key and
//! name, assignees by display name.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text};

use super::engine::FacetCounts;

/// Names for the ids in facets and filters.
#[derive(Default)]
pub struct Names {
    /// Key and name.
    pub projects: HashMap<i64, (String, String)>,
    /// Key and name.
    pub spaces: HashMap<i64, (String, String)>,
    /// Display name.
    pub users: HashMap<i64, String>,
}

/// One statement for the three kinds of names (three round trips before, on every search).
const NAMES: &str = "SELECT 'project' AS kind, id, key, name FROM projects WHERE id = ANY($1) \
     UNION ALL SELECT 'space', id, key, name FROM spaces WHERE id = ANY($2) \
     UNION ALL SELECT 'user', id, '', display_name FROM users WHERE id = ANY($3)";

#[derive(QueryableByName)]
struct Named {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = Text)]
    name: String,
}

pub fn names_for(conn: &mut PgConnection, facets: &FacetCounts) -> QueryResult<Names> {
    let project_ids: Vec<i64> = facets.projects.values.iter().map(|(id, _)| *id).collect();
    let space_ids: Vec<i64> = facets.spaces.values.iter().map(|(id, _)| *id).collect();
    let user_ids: Vec<i64> = facets.assignees.values.iter().filter_map(|(id, _)| *id).collect();
    let rows: Vec<Named> = crate::db::Prepared(
        diesel::sql_query(NAMES)
            .bind::<Array<BigInt>, _>(project_ids)
            .bind::<Array<BigInt>, _>(space_ids)
            .bind::<Array<BigInt>, _>(user_ids),
    )
    .load(conn)?;
    let mut names = Names::default();
    for Named { kind, id, key, name } in rows {
        match kind.as_str() {
            "project" => {
                names.projects.insert(id, (key, name));
            }
            "space" => {
                names.spaces.insert(id, (key, name));
            }
            _ => {
                names.users.insert(id, name);
            }
        }
    }
    Ok(names)
}
