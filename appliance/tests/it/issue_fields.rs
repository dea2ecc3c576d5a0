//! The fields beyond the basics: hierarchy and its rules, planning fields, labels,
//! components, versions, custom fields, links, watchers, work log and history, through the
//! API and the pages, with every refusal writing nothing.

use serde_json::{json, Value};

use crate::support::{Client, Reply, TestApp, PASSWORD};

struct Setup {
    app: TestApp,
    api: Client,
    admin: String,
    mia: String,
}

/// Project OPS with versions, components and custom fields; OPS-1 is an epic.
fn setup() -> Setup {
    let app = TestApp::start();
    let (root, mia) = (app.user("root", true), app.user("mia", false));
    let (admin, mia) = (app.token(&root), app.token(&mia));
    let mut api = app.client();
    assert_eq!(
        api.api("POST", "/api/v1/projects", Some(&admin), Some(r#"{"key":"OPS","name":"Operations"}"#)).status,
        201
    );
    for (part, body) in [
        ("versions", r#"{"name":"2.4","release_date":"2026-12-15"}"#),
        ("versions", r#"{"name":"2.5"}"#),
        ("components", r#"{"name":"Database"}"#),
        ("components", r#"{"name":"API"}"#),
        ("fields", r#"{"name":"Customer tier","kind":"select","options":["gold","silver"]}"#),
        ("fields", r#"{"name":"Regions","kind":"multiselect","options":["eu","us","apac"]}"#),
        ("fields", r#"{"name":"Impact","kind":"number"}"#),
        ("fields", r#"{"name":"Go-live","kind":"date"}"#),
        ("fields", r#"{"name":"Owner","kind":"user"}"#),
        ("fields", r#"{"name":"Ticket","kind":"text"}"#),
    ] {
        let reply = api.api("POST", &format!("/api/v1/projects/OPS/{part}"), Some(&admin), Some(body));
        assert_eq!(reply.status, 201, "{part} {body}: {}", reply.body);
    }
    let epic = api.api(
        "POST",
        "/api/v1/projects/OPS/issues",
        Some(&mia),
        Some(r#"{"title":"Storage rework","issue_type":"epic"}"#),
    );
    assert_eq!(epic.status, 201, "{}", epic.body);
    Setup { app, api, admin, mia }
}

fn create(api: &mut Client, token: &str, body: Value) -> Reply {
    api.api("POST", "/api/v1/projects/OPS/issues", Some(token), Some(&body.to_string()))
}

fn patch(api: &mut Client, token: &str, key: &str, body: Value) -> Reply {
    api.api("PATCH", &format!("/api/v1/issues/{key}"), Some(token), Some(&body.to_string()))
}

#[test]
fn every_field_round_trips_through_the_api() {
    let Setup { app: _app, mut api, mia, .. } = setup();
    let created = create(
        &mut api,
        &mia,
        json!({
            "title": "Move sessions to the new cluster", "issue_type": "story", "parent": "OPS-1",
            "due_date": "2026-12-01", "story_points": 5, "estimate": "2d 4h", "fix_version": "2.4",
            "labels": ["DB", "infra", "db"], "components": ["database"],
            "custom": { "Customer tier": "Gold", "Regions": ["eu", "us"], "Impact": 7.5, "Go-live": "2027-01-10", "Owner": "mia", "Ticket": "CHG-42" }
        }),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let body = created.json();
    assert_eq!(body["parent"], "OPS-1");
    assert_eq!((body["due_date"].as_str(), body["story_points"].as_f64()), (Some("2026-12-01"), Some(5.0)));
    assert_eq!((body["estimate_minutes"].as_i64(), body["fix_version"].as_str()), (Some(20 * 60), Some("2.4")));
    assert_eq!(body["labels"], json!(["db", "infra"]));
    assert_eq!(body["components"], json!(["Database"]));
    assert_eq!(
        body["custom"],
        json!({ "Customer tier": "gold", "Regions": "eu, us", "Impact": "7.5", "Go-live": "2027-01-10", "Owner": "mia", "Ticket": "CHG-42" })
    );

    let cleared = patch(
        &mut api,
        &mia,
        "OPS-2",
        json!({ "due_date": null, "story_points": null, "fix_version": null, "labels": [], "custom": { "Regions": null, "Impact": 3 } }),
    );
    assert_eq!(cleared.status, 200, "{}", cleared.body);
    let body = cleared.json();
    assert_eq!(
        (body["due_date"].clone(), body["story_points"].clone(), body["fix_version"].clone()),
        (Value::Null, Value::Null, Value::Null)
    );
    assert_eq!(body["labels"], json!([]));
    assert_eq!((body["custom"]["Regions"].clone(), body["custom"]["Impact"].as_str()), (Value::Null, Some("3")));
    assert_eq!(body["custom"]["Customer tier"], "gold", "fields not named stay as they were");
}

#[test]
fn bad_field_values_are_refused_by_name_and_write_nothing() {
    let Setup { app, mut api, mia, .. } = setup();
    let before = (app.footprint(), app.count("issue_labels"), app.count("custom_values"));
    let cases = [
        (
            json!({"title": "x", "due_date": "next week"}),
            "due_date",
            "\"next week\" is not a date; write it like 2026-12-31.",
        ),
        (json!({"title": "x", "story_points": -3}), "story_points", "Story points must be a number from 0 to 1000."),
        (json!({"title": "x", "estimate": "a while"}), "estimate", "\"a while\" is not a duration"),
        (
            json!({"title": "x", "fix_version": "9.9"}),
            "fix_version",
            "There is no version \"9.9\" in this project; versions: 2.4, 2.5.",
        ),
        (json!({"title": "x", "components": ["Frontend"]}), "components", "There is no component \"Frontend\""),
        (json!({"title": "x", "labels": ["fine", "x".repeat(51)]}), "labels", "A label must be at most 50 characters"),
        (
            json!({"title": "x", "custom": {"Customer tier": "platinum"}}),
            "custom.Customer tier",
            "\"platinum\" is not a choice of Customer tier; choose from: gold, silver.",
        ),
        (
            json!({"title": "x", "custom": {"Impact": "lots"}}),
            "custom.Impact",
            "Impact must be a number, not \"lots\".",
        ),
        (
            json!({"title": "x", "custom": {"Go-live": "soon"}}),
            "custom.Go-live",
            "Go-live must be a date like 2026-12-31",
        ),
        (json!({"title": "x", "custom": {"Owner": "ghost"}}), "custom.Owner", "There is no active user named ghost."),
        (
            json!({"title": "x", "custom": {"Customer tier": ["gold", "silver"]}}),
            "custom.Customer tier",
            "Customer tier takes one value.",
        ),
        (
            json!({"title": "x", "custom": {"Colour": "red"}}),
            "custom",
            "There is no custom field \"Colour\" in this project.",
        ),
        (json!({"title": "x", "story_points": "five"}), "story_points", "invalid type"),
    ];
    for (body, field, message) in cases {
        let reply = create(&mut api, &mia, body.clone());
        assert!(reply.status == 422 || reply.status == 400, "{body}: {}", reply.body);
        assert_eq!(reply.json()["error"]["field"].as_str(), Some(field), "{body}: {}", reply.body);
        assert!(reply.error_message().contains(message), "{body}: {} should contain {message}", reply.error_message());
    }
    assert_eq!((app.footprint(), app.count("issue_labels"), app.count("custom_values")), before);
}

#[test]
fn the_hierarchy_rules_hold_and_loops_are_refused() {
    let Setup { app, mut api, admin, mia } = setup();
    assert_eq!(create(&mut api, &mia, json!({"title": "Story", "issue_type": "story", "parent": "OPS-1"})).status, 201); // OPS-2
    assert_eq!(create(&mut api, &mia, json!({"title": "Sub", "issue_type": "subtask", "parent": "OPS-2"})).status, 201); // OPS-3
    assert_eq!(create(&mut api, &mia, json!({"title": "Other epic", "issue_type": "epic"})).status, 201); // OPS-4
    api.api("POST", "/api/v1/projects", Some(&admin), Some(r#"{"key":"WEB","name":"Web"}"#));
    api.api("POST", "/api/v1/projects/WEB/issues", Some(&mia), Some(r#"{"title":"Web epic","issue_type":"epic"}"#));

    let before = app.footprint();
    let refusals = [
        (
            "POST",
            "",
            json!({"title": "Orphan", "issue_type": "subtask"}),
            "parent",
            "A sub-task needs a parent: the story, task or bug it belongs to.",
        ),
        (
            "POST",
            "",
            json!({"title": "x", "issue_type": "subtask", "parent": "OPS-1"}),
            "parent",
            "The parent of a sub-task must be a story, task or bug; OPS-1 is an epic.",
        ),
        (
            "POST",
            "",
            json!({"title": "x", "issue_type": "story", "parent": "OPS-2"}),
            "parent",
            "The parent of a story must be an epic; OPS-2 is a story.",
        ),
        (
            "POST",
            "",
            json!({"title": "x", "issue_type": "epic", "parent": "OPS-4"}),
            "parent",
            "An epic cannot have a parent.",
        ),
        (
            "POST",
            "",
            json!({"title": "x", "parent": "WEB-1"}),
            "parent",
            "WEB-1 is in another project; a parent must be in OPS.",
        ),
        ("POST", "", json!({"title": "x", "parent": "OPS-77"}), "parent", "There is no issue OPS-77 to be the parent."),
        ("PATCH", "OPS-2", json!({"parent": "OPS-2"}), "parent", "OPS-2 cannot be its own parent."),
        (
            "PATCH",
            "OPS-1",
            json!({"issue_type": "task"}),
            "issue_type",
            "OPS-1 has a story below it, which a task cannot hold; move its children first.",
        ),
        (
            "PATCH",
            "OPS-2",
            json!({"issue_type": "subtask"}),
            "issue_type",
            "OPS-2 has a sub-task below it, which a sub-task cannot hold",
        ),
        (
            "PATCH",
            "OPS-3",
            json!({"issue_type": "story"}),
            "parent",
            "The parent of a story must be an epic; OPS-2 is a story.",
        ),
    ];
    for (method, key, body, field, message) in refusals {
        let reply = if method == "POST" {
            create(&mut api, &mia, body.clone())
        } else {
            patch(&mut api, &mia, key, body.clone())
        };
        assert_eq!(
            (reply.status, reply.json()["error"]["field"].as_str()),
            (422, Some(field)),
            "{body}: {}",
            reply.body
        );
        assert!(reply.error_message().contains(message), "{body}: {} should contain {message}", reply.error_message());
    }
    assert_eq!(app.footprint(), before);

    // A story can move to another epic; the epic page shows progress.
    assert_eq!(patch(&mut api, &mia, "OPS-2", json!({"parent": "OPS-4", "story_points": 3})).status, 200);
    assert_eq!(
        create(&mut api, &mia, json!({"title": "Done one", "parent": "OPS-4", "status": "Done", "story_points": 2}))
            .status,
        201
    );
    let mut page = app.client();
    assert_eq!(page.sign_in("mia", PASSWORD).status, 303);
    let epic = page.get("/issues/OPS-4").body;
    assert!(epic.contains("Issues in this epic") && epic.contains("1 of 2 done (50%); 2 of 5 points"), "{epic}");
    let story = page.get("/issues/OPS-2").body;
    assert!(story.contains("Sub-tasks") && story.contains("/issues/OPS-3\""), "{story}");
}

#[test]
fn oql_finds_by_the_new_fields() {
    let Setup { app: _app, mut api, mia, .. } = setup();
    for body in [
        json!({"title": "A", "issue_type": "story", "parent": "OPS-1", "labels": ["db"], "components": ["Database"], "fix_version": "2.4", "story_points": 8, "due_date": "2020-01-01", "custom": {"Customer tier": "gold", "Regions": ["eu"], "Impact": 9, "Go-live": "2027-03-01", "Owner": "mia", "Ticket": "CHG-1"}}),
        json!({"title": "B", "issue_type": "story", "parent": "OPS-1", "labels": ["infra"], "story_points": 2, "custom": {"Customer tier": "silver", "Regions": ["us", "apac"], "Impact": 1}}),
        json!({"title": "C", "issue_type": "task", "labels": ["db", "infra"], "components": ["API"]}),
    ] {
        assert_eq!(create(&mut api, &mia, body).status, 201);
    }
    assert_eq!(create(&mut api, &mia, json!({"title": "D", "issue_type": "subtask", "parent": "OPS-2"})).status, 201);
    let find = |api: &mut Client, oql: &str| -> Vec<String> {
        let reply = api.api(
            "GET",
            &format!(
                "/api/v1/projects/OPS/issues?oql={}",
                outpost::web::pages::url_encode(&format!("{oql} ORDER BY key"))
            ),
            Some(&mia),
            None,
        );
        assert_eq!(reply.status, 200, "{oql}: {}", reply.body);
        reply.json()["issues"].as_array().unwrap().iter().map(|i| i["key"].as_str().unwrap().to_owned()).collect()
    };
    let cases: &[(&str, &[&str])] = &[
        ("labels = db", &["OPS-2", "OPS-4"]),
        ("labels IN (db, infra)", &["OPS-2", "OPS-3", "OPS-4"]),
        ("labels != db AND type != epic", &["OPS-3", "OPS-5"]),
        ("labels IS EMPTY", &["OPS-1", "OPS-5"]),
        ("component = database", &["OPS-2"]),
        ("component IS NOT EMPTY", &["OPS-2", "OPS-4"]),
        ("fixVersion = 2.4", &["OPS-2"]),
        ("fixVersion IS EMPTY AND type = story", &["OPS-3"]),
        ("parent = OPS-1", &["OPS-2", "OPS-3"]),
        ("epic = OPS-1", &["OPS-2", "OPS-3", "OPS-5"]),
        ("points >= 5", &["OPS-2"]),
        ("points IS EMPTY AND type != epic", &["OPS-4", "OPS-5"]),
        ("due < now()", &["OPS-2"]),
        ("\"Customer tier\" = GOLD", &["OPS-2"]),
        ("\"Customer tier\" IN (gold, silver)", &["OPS-2", "OPS-3"]),
        ("\"Customer tier\" IS EMPTY AND type != epic", &["OPS-4", "OPS-5"]),
        ("Regions IN (apac)", &["OPS-3"]),
        ("Regions = eu OR Regions = us", &["OPS-2", "OPS-3"]),
        ("Impact > 5", &["OPS-2"]),
        ("\"Go-live\" >= 2027-01-01", &["OPS-2"]),
        ("Owner = currentUser()", &["OPS-2"]),
        ("Ticket ~ chg", &["OPS-2"]),
    ];
    for (oql, expected) in cases {
        assert_eq!(find(&mut api, oql), *expected, "{oql}");
    }
    let unknown = api.api(
        "GET",
        &format!("/api/v1/projects/OPS/issues?oql={}", outpost::web::pages::url_encode("Colour = red")),
        Some(&mia),
        None,
    );
    assert!(unknown.error_message().contains("Unknown field \"Colour\""), "{}", unknown.body);
    let bad = api.api(
        "GET",
        &format!("/api/v1/projects/OPS/issues?oql={}", outpost::web::pages::url_encode("Impact > many")),
        Some(&mia),
        None,
    );
    assert!(bad.error_message().contains("\"many\" is not a number"), "{}", bad.body);
}

#[test]
fn links_watchers_work_log_and_history_from_the_issue_page() {
    let Setup { app, mut api, mia, .. } = setup();
    assert_eq!(create(&mut api, &mia, json!({"title": "Second"})).status, 201); // OPS-2
    let mut page = app.client();
    assert_eq!(page.sign_in("mia", PASSWORD).status, 303);
    let token = page.get("/issues/OPS-2").csrf_token();

    let linked =
        page.post_form("/issues/OPS-2/links", &[("csrf_token", &token), ("kind", "is_blocked_by"), ("issue", "ops-1")]);
    assert_eq!((linked.status, linked.location.as_deref()), (303, Some("/issues/OPS-2#links")), "{}", linked.body);
    assert!(page.get("/issues/OPS-2").body.contains("is blocked by</span> <a href=\"/issues/OPS-1\""));
    assert!(
        page.get("/issues/OPS-1").body.contains("blocks</span> <a href=\"/issues/OPS-2\""),
        "seen from the other side"
    );

    let before = app.footprint();
    for (kind, issue, message) in [
        ("blocks", "OPS-2", "An issue cannot be linked to itself."),
        ("is_blocked_by", "OPS-1", "OPS-2 already is blocked by OPS-1."),
        ("blocks", "OPS-99", "There is no issue OPS-99 to link to."),
        ("causes", "OPS-1", "Unknown link &quot;causes&quot;"),
    ] {
        let reply = page.post_form("/issues/OPS-2/links", &[("csrf_token", &token), ("kind", kind), ("issue", issue)]);
        assert!(reply.status == 422 || reply.status == 409, "{kind} {issue}: {}", reply.status);
        let body = reply.body.replace("&#34;", "&quot;");
        assert!(body.contains(message) && body.contains("id=\"link-error\""), "{kind} {issue} should say {message}");
        assert!(body.contains(&format!("value=\"{issue}\"")), "the typed key is kept");
    }
    for (spent, message) in [("soon", "&quot;soon&quot; is not a duration"), ("0m", "Log at least one minute of work.")]
    {
        let reply =
            page.post_form("/issues/OPS-2/work-log", &[("csrf_token", &token), ("time_spent", spent), ("note", "")]);
        assert_eq!(reply.status, 422);
        assert!(reply.body.replace("&#34;", "&quot;").contains(message), "{spent}");
    }
    assert_eq!(app.footprint(), before);

    let logged = page.post_form(
        "/issues/OPS-2/work-log",
        &[("csrf_token", &token), ("time_spent", "1h 30m"), ("note", "Rehearsal")],
    );
    assert_eq!(logged.status, 303);
    let unwatched = page.post_form("/issues/OPS-2/watch", &[("csrf_token", &token), ("watching", "off")]);
    assert_eq!(unwatched.status, 303);
    let shown = page.get("/issues/OPS-2").body;
    assert!(shown.contains("1h 30m logged.") && shown.contains("Rehearsal"), "{shown}");
    assert!(shown.contains("aria-pressed=\"false\">Watch (0)"), "mia stopped watching her issue");

    assert_eq!(
        patch(&mut api, &mia, "OPS-2", json!({"status": "In progress", "labels": ["db"], "title": "Second, renamed"}))
            .status,
        200
    );
    let history = api.api("GET", "/api/v1/issues/OPS-2/history", Some(&mia), None).json();
    let entries = history["history"].as_array().unwrap();
    let summaries: Vec<&str> = entries.iter().map(|e| e["summary"].as_str().unwrap()).collect();
    assert_eq!(
        summaries,
        ["created the issue", "linked: is blocked by OPS-1", "logged 1h 30m", "stopped watching", "changed"]
    );
    let changes: Vec<(&str, &str, &str)> = entries[4]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["field"].as_str().unwrap(), c["from"].as_str().unwrap(), c["to"].as_str().unwrap()))
        .collect();
    assert_eq!(
        changes,
        [("Title", "Second", "Second, renamed"), ("Status", "To do", "In progress"), ("Labels", "", "db")]
    );
    let page_history = page.get("/issues/OPS-2").body;
    assert!(page_history.contains("<del>To do</del> → <ins>In progress</ins>"), "{page_history}");
}

#[test]
fn the_settings_page_adds_catalogue_entries_for_the_lead_only() {
    let Setup { app, .. } = setup();
    let mut root = app.client();
    assert_eq!(root.sign_in("root", PASSWORD).status, 303);
    let token = root.get("/projects/OPS/settings").csrf_token();
    let added = root.post_form("/projects/OPS/settings/components", &[("csrf_token", &token), ("name", "Frontend")]);
    assert_eq!(added.status, 303);
    let before = app.footprint();
    let twice = root.post_form("/projects/OPS/settings/components", &[("csrf_token", &token), ("name", "frontend")]);
    assert_eq!(twice.status, 409);
    assert!(twice.body.replace("&#34;", "&quot;").contains("There is already a component &quot;frontend&quot;."));
    let no_choices = root.post_form(
        "/projects/OPS/settings/fields",
        &[("csrf_token", &token), ("name", "Size"), ("kind", "select"), ("options", "")],
    );
    assert_eq!(no_choices.status, 422);
    assert!(
        no_choices.body.contains("A select field needs its choices, separated by commas.")
            && no_choices.body.contains("value=\"Size\"")
    );
    let bad_date = root.post_form(
        "/projects/OPS/settings/versions",
        &[("csrf_token", &token), ("name", "3.0"), ("release_date", "someday")],
    );
    assert_eq!(bad_date.status, 422);
    assert_eq!(app.footprint(), before);
    let released = root
        .post_form("/projects/OPS/settings/release", &[("csrf_token", &token), ("name", "2.4"), ("released", "on")]);
    assert_eq!(released.status, 303);
    assert!(root.get("/projects/OPS/settings").body.contains("Released — undo"));

    let mut mia = app.client();
    assert_eq!(mia.sign_in("mia", PASSWORD).status, 303);
    assert_eq!(mia.get("/projects/OPS/settings").status, 403);
}

#[test]
fn the_issue_form_carries_every_field_and_keeps_input_on_refusal() {
    let Setup { app, .. } = setup();
    let mut mia = app.client();
    assert_eq!(mia.sign_in("mia", PASSWORD).status, 303);
    let form = mia.get("/projects/OPS/issues/new?type=subtask&parent=OPS-1");
    assert!(
        form.body.contains("name=\"custom.Customer tier\"")
            && form.body.contains("<option value=\"OPS-1\">Storage rework</option>")
    );
    assert!(form.body.contains("value=\"OPS-1\" list=\"epics\""), "the parent is pre-filled");
    let token = form.csrf_token();
    let fields = [
        ("csrf_token", token.as_str()),
        ("title", "Tune vacuum"),
        ("type", "story"),
        ("parent", "OPS-1"),
        ("labels", "db, Perf"),
        ("components", "Database"),
        ("components", "API"),
        ("estimate", "3h"),
        ("custom.Regions", ""),
        ("custom.Regions", "eu"),
        ("custom.Regions", "apac"),
        ("custom.Customer tier", "silver"),
    ];
    let created = mia.post_form("/projects/OPS/issues", &fields);
    assert_eq!((created.status, created.location.as_deref()), (303, Some("/issues/OPS-2")), "{}", created.body);
    let page = mia.get("/issues/OPS-2").body;
    assert!(page.contains("API, Database") && page.contains("eu, apac") && page.contains(">perf</a>"), "{page}");

    let edit = mia.get("/issues/OPS-2/edit").body;
    assert!(edit.contains("value=\"3h\"") && edit.contains("value=\"db, perf\""), "{edit}");
    let before = app.footprint();
    let mut bad = fields.to_vec();
    bad.retain(|(name, _)| *name != "custom.Customer tier");
    bad.push(("custom.Customer tier", "bronze"));
    let refused = mia.post_form("/issues/OPS-2/edit", &bad);
    assert_eq!(refused.status, 422);
    assert!(refused.body.replace("&#34;", "&quot;").contains("&quot;bronze&quot; is not a choice of Customer tier"));
    assert!(refused.body.contains("value=\"Tune vacuum\""));
    assert_eq!(app.footprint(), before);
}

#[test]
fn lists_show_the_columns_asked_for_custom_fields_included() {
    let Setup { app, mut api, mia, .. } = setup();
    let body = json!({"title": "Columned", "labels": ["db", "infra"], "story_points": 2, "fix_version": "2.4", "custom": {"Customer tier": "gold", "Owner": "mia", "Regions": ["eu", "us"]}});
    assert_eq!(create(&mut api, &mia, body).status, 201);
    let listed = api.api(
        "GET",
        "/api/v1/projects/OPS/issues?sort=key&order=asc&columns=labels,points,fix_version,custom:Customer%20tier,custom:Owner,custom:Regions",
        Some(&mia),
        None,
    );
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(
        listed.json()["issues"][1]["columns"],
        json!({"Labels": "db, infra", "Points": "2", "Fix version": "2.4", "Customer tier": "gold", "Owner": "mia", "Regions": "eu, us"})
    );
    assert!(listed.json()["issues"][0].get("columns").is_some(), "every row has the columns, empty ones too");
    let unknown = api.api("GET", "/api/v1/projects/OPS/issues?columns=colour", Some(&mia), None);
    assert_eq!((unknown.status, unknown.json()["error"]["field"].as_str()), (422, Some("columns")));

    let mut page = app.client();
    assert_eq!(page.sign_in("mia", PASSWORD).status, 303);
    let shown = page.get("/projects/OPS/issues?columns=labels&columns=custom:Customer%20tier&sort=key").body;
    assert!(shown.contains("<th scope=\"col\">Labels</th><th scope=\"col\">Customer tier</th>"), "{shown}");
    assert!(shown.contains("<td>db, infra</td><td>gold</td>"));
    assert!(
        shown.contains("columns=labels%2Ccustom%3ACustomer%20tier") || shown.contains("columns=labels,custom"),
        "sort links keep the columns"
    );
}

#[test]
fn catalogue_entries_are_removed_when_unused_and_choices_edited_safely() {
    let Setup { app, mut api, admin, mia } = setup();
    assert_eq!(create(&mut api, &mia, json!({"title": "Tiered", "fix_version": "2.4", "components": ["API"], "custom": {"Customer tier": "silver", "Impact": 3}})).status, 201);
    let before = (app.footprint(), app.count("versions"), app.count("components"), app.count("custom_fields"));
    let used_version = api.api("DELETE", "/api/v1/projects/OPS/versions/2.4", Some(&admin), None);
    assert_eq!(
        (used_version.status, used_version.error_message().as_str()),
        (422, "Version 2.4 is the fix version of 1 issue(s); change them first.")
    );
    let used_component = api.api("DELETE", "/api/v1/projects/OPS/components/api", Some(&admin), None);
    assert_eq!(used_component.error_message(), "Component API is on 1 issue(s); take it off them first.");
    let dropping = api.api(
        "PUT",
        "/api/v1/projects/OPS/fields/Customer%20tier",
        Some(&admin),
        Some(r#"{"options":["gold","platinum"]}"#),
    );
    assert_eq!(
        dropping.error_message(),
        "Issues still have \"silver\" in Customer tier; change them before dropping the choice."
    );
    let not_select = api.api("PUT", "/api/v1/projects/OPS/fields/Impact", Some(&admin), Some(r#"{"options":["1"]}"#));
    assert_eq!(not_select.error_message(), "Impact is not a select field; it has no choices.");
    let member = api.api("DELETE", "/api/v1/projects/OPS/versions/2.5", Some(&mia), None);
    assert_eq!(member.status, 403);
    assert_eq!((app.footprint(), app.count("versions"), app.count("components"), app.count("custom_fields")), before);

    let widened = api.api(
        "PUT",
        "/api/v1/projects/OPS/fields/Customer%20tier",
        Some(&admin),
        Some(r#"{"options":["gold","silver","platinum"]}"#),
    );
    assert_eq!(widened.status, 200, "{}", widened.body);
    assert_eq!(api.api("DELETE", "/api/v1/projects/OPS/versions/2.5", Some(&admin), None).status, 204);
    assert_eq!(api.api("DELETE", "/api/v1/projects/OPS/fields/Impact", Some(&admin), None).status, 204);
    let issue = api.api("GET", "/api/v1/issues/OPS-2", Some(&mia), None).json();
    assert!(issue["custom"].get("Impact").is_none(), "the field and its values are gone");
    let history = api.api("GET", "/api/v1/issues/OPS-2/history", Some(&mia), None).json();
    assert!(history.to_string().contains("created the issue"), "the history keeps what was");

    let mut page = app.client();
    assert_eq!(page.sign_in("root", PASSWORD).status, 303);
    let token = page.get("/projects/OPS/settings").csrf_token();
    let refused = page.post_form("/projects/OPS/settings/remove-component", &[("csrf_token", &token), ("name", "API")]);
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("Component API is on 1 issue(s)"));
    let removed =
        page.post_form("/projects/OPS/settings/remove-component", &[("csrf_token", &token), ("name", "Database")]);
    assert_eq!(removed.status, 303);
    assert_eq!(app.count("components WHERE name = 'Database'"), 0);
}
