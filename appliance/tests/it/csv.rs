//! CSV export and import: the round trip reproduces the issues, a preview writes nothing,
//! bad rows stop an import unless the user chose to skip them, and bad files are refused.

use serde_json::{json, Value};

use crate::support::{Client, TestApp, PASSWORD};

struct Setup {
    app: TestApp,
    api: Client,
    token: String,
}

/// OPS with a rich set of issues, and an empty project NEW with the same catalogue.
fn setup() -> Setup {
    let app = TestApp::start();
    let root = app.user("root", true);
    app.user("mia", false);
    let token = app.token(&root);
    let mut api = app.client();
    for key in ["OPS", "NEW"] {
        let body = json!({ "key": key, "name": key }).to_string();
        assert_eq!(api.api("POST", "/api/v1/projects", Some(&token), Some(&body)).status, 201);
        for (part, body) in [
            ("versions", r#"{"name":"2.4"}"#),
            ("components", r#"{"name":"Database"}"#),
            ("fields", r#"{"name":"Customer tier","kind":"select","options":["gold","silver"]}"#),
            ("fields", r#"{"name":"Regions","kind":"multiselect","options":["eu","us"]}"#),
        ] {
            assert_eq!(
                api.api("POST", &format!("/api/v1/projects/{key}/{part}"), Some(&token), Some(body)).status,
                201
            );
        }
    }
    for body in [
        json!({"title": "Storage epic", "issue_type": "epic", "labels": ["db"]}),
        json!({"title": "Quotes \"and\", commas", "issue_type": "story", "parent": "OPS-1", "description": "Line one\nline two, with \"quotes\"",
               "assignee": "mia", "priority": "high", "due_date": "2026-12-24", "story_points": 3.5, "estimate": "1d 2h",
               "fix_version": "2.4", "labels": ["db", "infra"], "components": ["Database"], "status": "In progress",
               "custom": {"Customer tier": "gold", "Regions": ["eu", "us"]}}),
        json!({"title": "Ünïcödé ☃ sub-task", "issue_type": "subtask", "parent": "OPS-2"}),
    ] {
        let reply = api.api("POST", "/api/v1/projects/OPS/issues", Some(&token), Some(&body.to_string()));
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    Setup { app, api, token }
}

/// The fields of an issue that an import should reproduce.
fn comparable(issue: &Value, project: &str) -> Value {
    let mut issue = issue.clone();
    let object = issue.as_object_mut().unwrap();
    for volatile in [
        "key",
        "project",
        "created_at",
        "updated_at",
        "number",
        "transitions",
        "links",
        "time_logged_minutes",
        "reporter",
    ] {
        object.remove(volatile);
    }
    if let Some(parent) = object.get("parent").and_then(Value::as_str) {
        let renamed = parent.replacen(project, "X", 1);
        object.insert("parent".into(), json!(renamed));
    }
    issue
}

#[test]
fn export_then_import_reproduces_the_issues() {
    let Setup { app: _app, mut api, token } = setup();
    let exported = api.api("GET", "/api/v1/projects/OPS/issues.csv?sort=key&order=asc", Some(&token), None);
    assert_eq!(exported.status, 200);
    assert!(exported.body.starts_with("key,type,status,priority,title,description,assignee,reporter,parent,labels,components,fix_version,due_date,story_points,estimate,created,updated,custom:Customer tier,custom:Regions"));

    let preview = api.api_raw("/api/v1/projects/NEW/import?dry_run=true", &token, "text/csv", exported.body.as_bytes());
    assert_eq!(preview.status, 200, "{}", preview.body);
    assert_eq!(preview.json()["report"]["written"], false);
    assert_eq!(preview.json()["ignored_columns"], json!(["created", "updated"]));
    assert_eq!(
        api.api("GET", "/api/v1/projects/NEW/issues", Some(&token), None).json()["issues"],
        json!([]),
        "a preview writes nothing"
    );

    let imported = api.api_raw("/api/v1/projects/NEW/import", &token, "text/csv", exported.body.as_bytes());
    assert_eq!(imported.status, 200, "{}", imported.body);
    let report = &imported.json()["report"];
    assert_eq!(
        (report["created"].as_u64(), report["failed"].as_u64(), report["written"].as_bool()),
        (Some(3), Some(0), Some(true))
    );
    for number in 1..=3 {
        let original = api.api("GET", &format!("/api/v1/issues/OPS-{number}"), Some(&token), None).json();
        let copy = api.api("GET", &format!("/api/v1/issues/NEW-{number}"), Some(&token), None).json();
        assert_eq!(comparable(&copy, "NEW"), comparable(&original, "OPS"), "OPS-{number}");
    }
}

#[test]
fn bad_rows_stop_the_import_unless_skipped_and_name_their_column() {
    let Setup { app, mut api, token } = setup();
    let csv = "Summary,Type,Story Points,Customer tier,Parent,Key\n\
               Good one,task,2,gold,,A-1\n\
               Bad points,task,lots,,,A-2\n\
               Bad tier,bug,1,platinum,,A-3\n\
               Child of bad,subtask,,,A-2,A-4\n\
               ,task,1,,,A-5\n";
    let before = app.footprint();
    let stopped = api.api_raw("/api/v1/projects/NEW/import", &token, "text/csv", csv.as_bytes());
    assert_eq!(stopped.status, 422, "{}", stopped.body);
    let rows = stopped.json()["report"]["rows"].clone();
    let errors: Vec<(u64, String)> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["error"].is_null())
        .map(|r| (r["line"].as_u64().unwrap(), r["error"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        errors,
        [
            (3, "story_points: Story points must be a number, not \"lots\".".to_owned()),
            (
                4,
                "custom.Customer tier: \"platinum\" is not a choice of Customer tier; choose from: gold, silver."
                    .to_owned()
            ),
            (5, "Its parent A-2 (line 3) was not imported.".to_owned()),
            (6, "title: Title is required.".to_owned()),
        ]
    );
    assert_eq!(app.footprint(), before, "nothing written");

    let skipped = api.api_raw("/api/v1/projects/NEW/import?skip_bad_rows=true", &token, "text/csv", csv.as_bytes());
    assert_eq!(skipped.status, 200);
    assert_eq!(
        (skipped.json()["report"]["created"].as_u64(), skipped.json()["report"]["failed"].as_u64()),
        (Some(1), Some(4))
    );
    assert_eq!(api.api("GET", "/api/v1/issues/NEW-1", Some(&token), None).json()["title"], "Good one");
}

/// Issues carry their reporter's name: a reporter column naming someone else is for who
/// administers the project (a migration); anyone else may only name themselves.
#[test]
fn only_project_admins_import_issues_in_other_peoples_names() {
    let Setup { app, mut api, token } = setup();
    let mia = app.token(&outpost::identity::users::find_by_username(&mut app.conn(), "mia").unwrap().unwrap());
    let grant = json!({ "role": "reporter", "user": "mia" }).to_string();
    assert_eq!(api.api("POST", "/api/v1/projects/NEW/roles", Some(&token), Some(&grant)).status, 201);
    let everyone = api.api("GET", "/api/v1/projects/NEW/roles", Some(&token), None).json()["grants"][0]["id"].clone();
    let revoked = api.api("DELETE", &format!("/api/v1/projects/NEW/roles/{everyone}"), Some(&token), None);
    assert_eq!(revoked.status, 204);
    let before = app.footprint();
    let csv = "Summary,Reporter\nMine,mia\nIn root's name,root\n";
    let refused = api.api_raw("/api/v1/projects/NEW/import", &mia, "text/csv", csv.as_bytes());
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(
        refused.json()["report"]["rows"][1]["error"],
        "reporter: Only who administers NEW may import issues reported by others (root); leave the reporter column out."
    );
    assert_eq!(app.footprint(), before, "nothing written");
    let own = api.api_raw("/api/v1/projects/NEW/import", &mia, "text/csv", b"Summary,Reporter\nMine,Mia\n");
    assert_eq!(own.status, 200, "{}", own.body);
    let by_admin = api.api_raw("/api/v1/projects/NEW/import", &token, "text/csv", csv.as_bytes());
    assert_eq!(by_admin.status, 200, "{}", by_admin.body);
    assert_eq!(
        app.value(
            "SELECT string_agg(u.username, ',' ORDER BY i.number) FROM issues i JOIN users u ON u.id = i.reporter_id \
                   JOIN projects p ON p.id = i.project_id WHERE p.key = 'NEW'"
        ),
        "mia,mia,root"
    );
}

#[test]
fn bad_files_are_refused_with_a_sentence() {
    let Setup { app, mut api, token } = setup();
    let before = app.footprint();
    let latin1 = api.api_raw("/api/v1/projects/NEW/import", &token, "text/csv", b"title\nCaf\xe9\n");
    assert_eq!((latin1.status, latin1.json()["error"]["field"].as_str()), (422, Some("file")));
    assert!(latin1.error_message().contains("not UTF-8 text: line 2"));
    let mut many = String::from("title\n");
    for n in 0..5001 {
        many.push_str(&format!("Row {n}\n"));
    }
    let too_many = api.api_raw("/api/v1/projects/NEW/import", &token, "text/csv", many.as_bytes());
    assert!(too_many.error_message().contains("more than 5000 rows"), "{}", too_many.body);
    let no_title = api.api_raw("/api/v1/projects/NEW/import", &token, "text/csv", b"colour\nred\n");
    assert_eq!(no_title.error_message(), "Map a column to Title: every issue needs one.");
    assert_eq!(app.footprint(), before);
}

#[test]
fn the_import_pages_upload_map_preview_and_import() {
    let Setup { app, .. } = setup();
    let mut page = app.client();
    assert_eq!(page.sign_in("root", PASSWORD).status, 303);
    let token = page.get("/projects/NEW/import").csrf_token();
    let csv = "Name,Kind,Whatever\nFirst,bug,x\nSecond,story,y\n";
    let forged = page.post_multipart("/projects/NEW/import/upload", &[("csrf_token", "forged")], csv.as_bytes());
    assert_eq!(forged.status, 403);
    let mapped = page.post_multipart("/projects/NEW/import/upload", &[("csrf_token", &token)], csv.as_bytes());
    assert_eq!(mapped.status, 200, "{}", mapped.body);
    assert!(mapped.body.contains("2 row(s)") && mapped.body.contains("<label for=\"map-0\">Name</label>"));

    let fields = |action: &str| {
        vec![
            ("csrf_token".to_owned(), token.clone()),
            ("csv".to_owned(), csv.to_owned()),
            ("map_0".to_owned(), "title".to_owned()),
            ("map_1".to_owned(), "type".to_owned()),
            ("map_2".to_owned(), String::new()),
            ("action".to_owned(), action.to_owned()),
        ]
    };
    let as_refs = |fields: &[(String, String)]| fields.iter().map(|(n, v)| (n.clone(), v.clone())).collect::<Vec<_>>();
    let preview_fields = as_refs(&fields("preview"));
    let preview_pairs: Vec<(&str, &str)> = preview_fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let before = app.footprint();
    let preview = page.post_form("/projects/NEW/import", &preview_pairs);
    assert_eq!(preview.status, 200);
    assert!(
        preview.body.contains("Preview: nothing was written")
            && preview.body.contains("would be <span class=\"mono\">NEW-1</span>")
    );
    assert_eq!(app.footprint(), before);

    let import_fields = as_refs(&fields("import"));
    let import_pairs: Vec<(&str, &str)> = import_fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let imported = page.post_form("/projects/NEW/import", &import_pairs);
    assert!(
        imported.body.contains("Imported") && imported.body.contains("href=\"/issues/NEW-2\""),
        "{}",
        imported.body
    );
    assert_eq!(app.count("issues WHERE project_id = (SELECT id FROM projects WHERE key = 'NEW')"), 2);

    let csv_out = page.get("/projects/NEW/issues.csv?type=bug");
    assert_eq!(csv_out.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(csv_out.header("content-disposition").unwrap().contains("NEW-issues.csv"));
    assert_eq!(csv_out.body.lines().count(), 2, "the header and the one bug");
}
