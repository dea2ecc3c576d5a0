//! Issue numbers stay distinct and consecutive when many creates race, and a refused create
//! takes no number.

use diesel::RunQueryDsl;

use crate::support::TestApp;

#[test]
fn a_burst_of_concurrent_creates_gets_distinct_consecutive_numbers() {
    let app = TestApp::start_with(&[("OUTPOST_DATABASE_POOL_SIZE", "12"), ("OUTPOST_SERVER_WORKERS", "4")]);
    let admin = app.user("root", true);
    let token = app.token(&admin);
    let mut client = app.client();
    assert_eq!(client.api("POST", "/api/v1/projects", Some(&token), Some(r#"{"key":"OPS","name":"Ops"}"#)).status, 201);

    const CREATES: usize = 40;
    let keys: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..CREATES)
            .map(|n| {
                let (base, token) = (app.base.clone(), token.clone());
                scope.spawn(move || {
                    let mut client = crate::support::Client::new(&base);
                    let reply = client.api(
                        "POST",
                        "/api/v1/projects/OPS/issues",
                        Some(&token),
                        Some(&format!(r#"{{"title":"Burst {n}"}}"#)),
                    );
                    assert_eq!(reply.status, 201, "{}", reply.body);
                    reply.json()["key"].as_str().unwrap().to_owned()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut numbers: Vec<i64> = keys.iter().map(|k| k.trim_start_matches("OPS-").parse().unwrap()).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=CREATES as i64).collect::<Vec<_>>());
    assert_eq!(app.count("audit_log WHERE action = 'issue.created'"), CREATES as i64);
    assert_eq!(app.count("outbox WHERE topic = 'issue.created'"), CREATES as i64);

    // The number is taken after the checks: refusals leave no gap.
    for refused in [r#"{"title":"x","status":"Nowhere"}"#, r#"{"title":"x","assignee":"nobody"}"#, r#"{"title":""}"#] {
        let reply = client.api("POST", "/api/v1/projects/OPS/issues", Some(&token), Some(refused));
        assert_eq!(reply.status, 422, "{refused}: {}", reply.body);
    }
    let next = client.api("POST", "/api/v1/projects/OPS/issues", Some(&token), Some(r#"{"title":"After"}"#));
    assert_eq!(next.json()["key"], format!("OPS-{}", CREATES + 1));
    // Issues created at once may share a rank; lists show the newest of them first, and
    // moving the other up passes it.
    diesel::sql_query("UPDATE issues SET rank = 7 WHERE id IN (SELECT id FROM issues ORDER BY id LIMIT 2)")
        .execute(&mut app.conn())
        .unwrap();
    let shown = || app.value("SELECT string_agg(number::text, ',' ORDER BY rank, id DESC) FROM issues WHERE rank <= 7");
    let (older, newer) = (
        app.value("SELECT number::text FROM issues ORDER BY id LIMIT 1"),
        app.value("SELECT number::text FROM issues ORDER BY id LIMIT 1 OFFSET 1"),
    );
    assert_eq!(shown(), format!("{newer},{older}"));
    let moved =
        client.api("POST", &format!("/api/v1/issues/OPS-{older}/move"), Some(&token), Some(r#"{"direction":"up"}"#));
    assert!(moved.status < 300, "{}", moved.body);
    assert_eq!(shown(), format!("{older},{newer}"));
}

/// A number taken on its own commits without waiting for the disk; that must stay with its
/// statement: not linger on the pooled connection, not reach a caller's transaction.
#[test]
fn a_number_taken_without_waiting_for_the_disk_leaves_every_other_commit_waiting() {
    use diesel::Connection;
    use outpost::work::projects::take_issue_slot;

    let app = TestApp::start();
    let admin = app.user("root", true);
    let token = app.token(&admin);
    let mut client = app.client();
    assert_eq!(client.api("POST", "/api/v1/projects", Some(&token), Some(r#"{"key":"OPS","name":"Ops"}"#)).status, 201);
    let project_id: i64 = app.value("SELECT id::text FROM projects WHERE key = 'OPS'").parse().unwrap();

    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        synchronous_commit: String,
    }
    let setting = |conn: &mut diesel::PgConnection| {
        diesel::sql_query("SHOW synchronous_commit").get_result::<Setting>(conn).unwrap().synchronous_commit
    };
    let mut conn = app.conn();
    // Test clusters run without waiting for the disk at all; this connection does.
    diesel::sql_query("SET synchronous_commit TO on").execute(&mut conn).unwrap();
    assert_eq!(take_issue_slot(&mut conn, project_id).unwrap().number, 1);
    assert_eq!(setting(&mut conn), "on", "the setting ended with the number's own commit");
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        assert_eq!(take_issue_slot(conn, project_id)?.number, 2);
        assert_eq!(setting(conn), "on", "a caller's transaction still waits for the disk at commit");
        Ok(())
    })
    .unwrap();
    diesel::sql_query("RESET synchronous_commit").execute(&mut conn).unwrap();
    assert_eq!(app.value("SELECT next_issue_number::text FROM projects WHERE key = 'OPS'"), "3");
}
