//! The migrations run up, down and up again to the same schema, and every foreign key has an
//! index (PostgreSQL does not make one, and deletes and joins crawl without it).

use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_migrations::MigrationHarness;
use outpost::db::{self, MIGRATIONS};

use crate::support::TestDb;

#[derive(QueryableByName, PartialEq, Debug)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

/// Tables, columns, indexes, constraints and triggers of the public schema, as sorted text.
fn schema(conn: &mut PgConnection) -> Vec<String> {
    let query = "
        SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') AS line
          FROM information_schema.columns WHERE table_schema = 'public'
        UNION ALL SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'
        UNION ALL SELECT conrelid::regclass || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = 'public'::regnamespace
        UNION ALL SELECT tgrelid::regclass || ' ' || tgname FROM pg_trigger WHERE NOT tgisinternal
        ORDER BY 1";
    diesel::sql_query(query).load::<Line>(conn).unwrap().into_iter().map(|l| l.line).collect()
}

#[test]
fn migrations_run_up_down_and_up_to_the_same_schema() {
    let db = TestDb::empty();
    let mut conn = db.connect();
    let empty = schema(&mut conn);
    let applied = db::migrate(&mut conn).unwrap();
    assert!(!applied.is_empty());
    let up = schema(&mut conn);
    assert!(up.iter().any(|l| l.starts_with("issues.title text")), "{up:?}");
    conn.revert_all_migrations(MIGRATIONS).unwrap();
    let down = schema(&mut conn);
    let leftovers: Vec<&String> =
        down.iter().filter(|l| !l.contains("__diesel_schema_migrations") && !empty.contains(l)).collect();
    assert!(leftovers.is_empty(), "down migrations leave {leftovers:?}");
    db::migrate(&mut conn).unwrap();
    assert_eq!(schema(&mut conn), up);
    assert!(db::migrate(&mut conn).unwrap().is_empty(), "a second run applies nothing");
}

#[test]
fn every_foreign_key_has_an_index() {
    let db = TestDb::new();
    let mut conn = db.connect();
    let missing = diesel::sql_query(
        "SELECT c.conrelid::regclass || '(' || a.attname || ')' AS line
           FROM pg_constraint c
           JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
          WHERE c.contype = 'f'
            AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1])",
    )
    .load::<Line>(&mut conn)
    .unwrap();
    assert!(missing.is_empty(), "foreign keys without an index: {missing:?}");
}

#[test]
fn the_audit_log_refuses_updates_and_deletes() {
    let db = TestDb::new();
    let mut conn = db.connect();
    diesel::sql_query("INSERT INTO audit_log (action, entity_type, entity_id) VALUES ('x.y', 'x', 1)")
        .execute(&mut conn)
        .unwrap();
    let update = diesel::sql_query("UPDATE audit_log SET action = 'forged'").execute(&mut conn);
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = diesel::sql_query("DELETE FROM audit_log").execute(&mut conn);
    assert!(delete.unwrap_err().to_string().contains("append-only"));
}
