//! The audit log as evidence: every committed row sealed into one hash chain after its commit,
//! even under concurrent writers, by the node's sealer or by `outpost audit verify`, which
//! finds an edited row, a deleted row, and a chain rewritten after a head was recorded.

use std::process::Command;

use serde_json::json;

use crate::support::TestApp;

fn verify(app: &TestApp, expect_head: Option<&str>) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_outpost"));
    command
        .args(["audit", "verify", "--config", "/dev/null"])
        .env("OUTPOST_DATABASE_URL", app.config.database.url.clone());
    if let Some(head) = expect_head {
        command.args(["--expect-head", head]);
    }
    let output = command.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

fn head(report: &str) -> String {
    report.split("Head: ").nth(1).unwrap().trim().to_owned()
}

/// Runs `statement` with the log's guards off, as someone with the database's keys could.
fn tamper(app: &TestApp, statement: &str) {
    app.sql("ALTER TABLE audit_log DISABLE TRIGGER USER");
    app.sql(statement);
    app.sql("ALTER TABLE audit_log ENABLE TRIGGER USER");
}

#[test]
fn concurrent_writers_build_one_unbroken_chain() {
    let app = TestApp::start();
    let admin = app.user("root", true);
    let token = app.token(&admin);
    let created = app.client().api("POST", "/api/v1/projects", Some(&token), Some(r#"{"key":"OPS","name":"Ops"}"#));
    assert_eq!(created.status, 201);
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let (base, token) = (app.base.clone(), token.clone());
            std::thread::spawn(move || {
                let mut api = crate::support::Client::new(&base);
                for n in 0..10 {
                    let body = json!({ "title": format!("writer {writer} issue {n}") }).to_string();
                    let reply = api.api("POST", "/api/v1/projects/OPS/issues", Some(&token), Some(&body));
                    assert_eq!(reply.status, 201, "{}", reply.body);
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    // The test server runs no sealer: the writers' rows wait, and running the background
    // work seals them, in the order they were written.
    assert!(app.count("audit_log WHERE row_hash IS NULL") >= 40, "nothing seals inside a writer's commit");
    app.run_jobs();
    assert_eq!(app.count("audit_log WHERE row_hash IS NULL"), 0, "every committed row is sealed");
    assert_eq!(
        app.value("SELECT (array_agg(id ORDER BY chain_position) = array_agg(id ORDER BY id))::text FROM audit_log"),
        "true"
    );
    let (ok, report) = verify(&app, None);
    assert!(ok, "{report}");
    let rows = app.count("audit_log");
    assert!(report.contains(&format!("Checked {rows} audit rows.")), "{report}");
}

#[test]
fn the_sealer_seals_each_committed_row_within_a_moment() {
    let app = TestApp::start();
    let admin = app.user("root", true);
    let token = app.token(&admin);
    let stop = outpost::jobs::worker::Stop::default();
    let sealer = outpost::audit::sealer::spawn(app.pool.clone(), stop.clone()).unwrap();
    let created = app.client().api("POST", "/api/v1/projects", Some(&token), Some(r#"{"key":"OPS","name":"Ops"}"#));
    assert_eq!(created.status, 201);
    let waited = std::time::Instant::now();
    while app.count("audit_log WHERE row_hash IS NULL") > 0 {
        assert!(waited.elapsed() < std::time::Duration::from_secs(10), "the sealer did not seal the new row");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    stop.request();
    sealer.join().unwrap();
    assert_eq!(app.count("audit_log WHERE action = 'project.created' AND chain_position IS NOT NULL"), 1);
    let (ok, report) = verify(&app, None);
    assert!(ok && !report.contains("Sealed"), "{report}");
}

#[test]
fn verify_finds_edited_deleted_and_rewritten_rows() {
    let app = TestApp::start();
    let admin = app.user("root", true);
    let token = app.token(&admin);
    let mut api = app.client();
    for key in ["OPS", "WEB", "DOC"] {
        let body = json!({ "key": key, "name": key }).to_string();
        assert_eq!(api.api("POST", "/api/v1/projects", Some(&token), Some(&body)).status, 201);
    }
    let (ok, report) = verify(&app, None);
    assert!(ok, "{report}");
    let recorded = head(&report);

    // The guards hold without tampering: the log refuses to change.
    let refused = diesel::RunQueryDsl::execute(
        diesel::sql_query("UPDATE audit_log SET action = 'forged' WHERE action = 'project.created'"),
        &mut app.conn(),
    );
    assert!(refused.is_err());

    // An edited row.
    tamper(&app, "UPDATE audit_log SET after_state = '{\"key\": \"EVIL\"}' WHERE id = (SELECT min(id) FROM audit_log WHERE action = 'project.created')");
    let (ok, report) = verify(&app, None);
    assert!(!ok && report.contains("was edited: its content no longer matches its hash"), "{report}");
    assert!(report.contains("failed verification: 1 problem"), "{report}");

    // The same row rewritten with every later hash recomputed: only the recorded head tells.
    tamper(
        &app,
        "DO $$ DECLARE last_hash BYTEA; r audit_log; BEGIN \
           FOR r IN SELECT * FROM audit_log ORDER BY chain_position LOOP \
             UPDATE audit_log SET previous_hash = last_hash, row_hash = audit_log_digest(r, last_hash) \
             WHERE id = r.id RETURNING row_hash INTO last_hash; \
           END LOOP; END $$",
    );
    let (ok, report) = verify(&app, None);
    assert!(ok, "a consistent rewrite passes on its own: {report}");
    let (ok, report) = verify(&app, Some(&recorded));
    assert!(!ok && report.contains("no longer has the hash recorded for it"), "{report}");

    // A deleted row breaks the link of the row after it.
    let (_, report) = verify(&app, None);
    let after_rewrite = head(&report);
    tamper(&app, "DELETE FROM audit_log WHERE chain_position = (SELECT min(chain_position) + 1 FROM audit_log)");
    let (ok, report) = verify(&app, Some(&after_rewrite));
    assert!(!ok && report.contains("a row is missing or was rewritten"), "{report}");

    // A row waiting for its seal may be sealed, and nothing else: a seal that changes its
    // content is refused.
    app.sql("INSERT INTO audit_log (action, entity_type, entity_id) VALUES ('project.deleted', 'project', 1)");
    let forged = diesel::RunQueryDsl::execute(
        diesel::sql_query("UPDATE audit_log SET row_hash = '\\x00', action = 'forged' WHERE row_hash IS NULL"),
        &mut app.conn(),
    );
    assert!(forged.is_err());
    // Verifying seals what is waiting first, then checks it with the rest.
    let (ok, report) = verify(&app, None);
    assert!(!ok && report.contains("Sealed 1 row(s) that were waiting to be sealed."), "{report}");
    assert_eq!(app.count("audit_log WHERE row_hash IS NULL"), 0);

    let (ok, report) = verify(&app, Some("12"));
    assert!(!ok && report.contains("--expect-head: write it as POSITION:HASH"), "{report}");
}

#[test]
fn auditors_filter_page_and_export_the_log_and_others_may_not() {
    let app = TestApp::start();
    let admin = app.user("root", true);
    let token = app.token(&admin);
    let mut api = app.client();
    let body = json!({ "key": "OPS", "name": "Ops" }).to_string();
    assert_eq!(api.api("POST", "/api/v1/projects", Some(&token), Some(&body)).status, 201);
    let mut browser = app.client();
    assert_eq!(browser.sign_in("root", "wrong password").status, 401);
    assert_eq!(browser.sign_in("root", crate::support::PASSWORD).status, 303);
    let auditor = {
        let new = outpost::identity::users::NewUser {
            username: "audrey".into(),
            display_name: "Audrey".into(),
            email: "audrey@example.test".into(),
            password: crate::support::PASSWORD.into(),
            role: outpost::identity::roles::GlobalRole::Auditor,
            is_service: false,
        };
        outpost::identity::users::create(&mut app.conn(), &outpost::audit::Actor::system(), new).unwrap()
    };
    let audit_token = app.token(&auditor);
    let get = |api: &mut crate::support::Client, query: &str| {
        api.api("GET", &format!("/api/v1/audit?{query}"), Some(&audit_token), None)
    };

    let waiting = get(&mut api, "").json();
    assert_eq!(waiting["entries"][0]["row_hash"], serde_json::Value::Null, "a row waiting for its seal shows none");
    app.run_jobs();
    let all = get(&mut api, "").json();
    let actions: Vec<&str> = all["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for expected in ["project.created", "session.created", "login.failed", "user.created"] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    assert_eq!(all["next_cursor"], serde_json::Value::Null);
    assert!(all["entries"][0]["row_hash"].as_str().unwrap().len() == 64, "rows show their seal");
    let by_root = get(&mut api, "actor=root&action=project.").json();
    assert_eq!(by_root["entries"].as_array().unwrap().len(), 1, "{by_root}");
    assert_eq!(by_root["entries"][0]["after"]["key"], "OPS");
    let anonymous = get(&mut api, "actor=system&action=login.failed").json();
    assert_eq!(anonymous["entries"][0]["after"]["username"], "root", "{anonymous}");
    let project_id = app.value("SELECT id::text FROM projects WHERE key = 'OPS'");
    assert_eq!(get(&mut api, &format!("object=project:{project_id}")).json()["entries"].as_array().unwrap().len(), 1);
    assert_eq!(get(&mut api, "from=2000-01-01&to=2000-01-02").json()["entries"].as_array().unwrap().len(), 0);

    for (query, field) in [
        ("action=DROP%20TABLE", "action"),
        ("actor=ghost", "actor"),
        ("object=issue:x", "object"),
        ("from=yesterday", "from"),
        ("from=2026-02-01&to=2026-01-01", "to"),
        ("cursor=-4", "cursor"),
    ] {
        let reply = get(&mut api, query);
        assert_eq!(
            (reply.status, reply.json()["error"]["field"].as_str().map(str::to_owned)),
            (422, Some(field.to_owned())),
            "{query}"
        );
    }

    let csv = api.api("GET", "/api/v1/audit/export?format=csv&action=project.", Some(&audit_token), None);
    assert_eq!(csv.status, 200);
    let lines: Vec<&str> = csv.body.lines().collect();
    assert!(lines[0].starts_with("id,occurred_at,actor,actor_ip,action") && lines.len() == 2, "{}", csv.body);
    let json = api.api("GET", "/api/v1/audit/export?format=json", Some(&audit_token), None);
    assert!(json.json().as_array().unwrap().len() >= 4);
    assert_eq!(api.api("GET", "/api/v1/audit/export?format=xml", Some(&audit_token), None).status, 422);

    // Not for users; the auditor's page shows the rows and the filters.
    let member = app.user("mia", false);
    let member_token = app.token(&member);
    assert_eq!(api.api("GET", "/api/v1/audit", Some(&member_token), None).status, 403);
    let mut auditor_browser = app.client();
    auditor_browser.sign_in("audrey", crate::support::PASSWORD);
    let page = auditor_browser.get("/admin/audit?action=project.");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<code>project.created</code>") && page.body.contains("href=\"/admin/audit\""),
        "{}",
        page.body
    );
    let export = auditor_browser.get("/admin/audit/export?format=csv");
    assert_eq!(export.status, 200);
    let refused = auditor_browser.get("/admin/audit?from=nonsense");
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("“nonsense” is not a date"));
}
