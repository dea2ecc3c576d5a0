//! The migrations run up, down and up again to the same schema, and every foreign key has an
//! index (PostgreSQL does not make one, and deletes and joins crawl without it).

use diesel::connection::SimpleConnection;
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

#[test]
fn an_existing_installation_keeps_its_issues_through_the_workflow_migration() {
    let db = TestDb::empty();
    let mut conn = db.connect();
    // Migrate as far as the foundation, as an installation from 2026-11-22 was.
    conn.run_next_migration(MIGRATIONS).unwrap();
    conn.batch_execute(
        "INSERT INTO users (username, display_name, email, password_hash) VALUES ('ann', 'Ann', 'ann@example.test', 'x');
         INSERT INTO projects (key, name, lead_id, next_issue_number) VALUES ('OLD', 'Old', 1, 5);
         INSERT INTO issues (project_id, number, issue_type, status, priority, title, reporter_id) VALUES
            (1, 1, 'task', 'todo', 3, 'a', 1), (1, 2, 'bug', 'in_progress', 1, 'b', 1),
            (1, 3, 'story', 'in_review', 2, 'c', 1), (1, 4, 'epic', 'done', 5, 'd', 1);",
    )
    .unwrap();
    db::migrate(&mut conn).unwrap();
    let statuses = diesel::sql_query(
        "SELECT i.number || ' ' || s.name || ' ' || s.category || ' ' || i.rank AS line
           FROM issues i JOIN workflow_statuses s ON s.id = i.status_id ORDER BY i.number",
    )
    .load::<Line>(&mut conn)
    .unwrap();
    let lines: Vec<&str> = statuses.iter().map(|l| l.line.as_str()).collect();
    assert_eq!(
        lines,
        [
            "1 To do todo 1048576",
            "2 In progress in_progress 2097152",
            "3 In review in_progress 3145728",
            "4 Done done 4194304"
        ]
    );
    let transitions =
        diesel::sql_query("SELECT count(*)::text AS line FROM workflow_transitions").load::<Line>(&mut conn).unwrap();
    assert_eq!(transitions[0].line, "8", "the default workflow's moves");
}
