//! Issue numbers stay distinct and consecutive when many creates race.

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
}
