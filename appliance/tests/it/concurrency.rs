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
