//! Planning: the ranked backlog, sprints, boards, saved filters and bulk edit, through the
//! pages and forms a person uses (the drag itself is in browser.rs), with every refusal
//! writing nothing.

use serde_json::json;

use crate::support::{Client, Reply, TestApp, PASSWORD};

struct Setup {
    app: TestApp,
    api: Client,
    token: String,
    page: Client,
}

/// Project OPS (led by root) with OPS-1..OPS-4 in order; `page` is root signed in.
fn setup() -> Setup {
    let app = TestApp::start();
    let root = app.user("root", true);
    app.user("mia", false);
    let token = app.token(&root);
    let mut api = app.client();
    api.api("POST", "/api/v1/projects", Some(&token), Some(r#"{"key":"OPS","name":"Operations"}"#));
    for title in ["One", "Two", "Three", "Four"] {
        let reply =
            api.api("POST", "/api/v1/projects/OPS/issues", Some(&token), Some(&json!({ "title": title }).to_string()));
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    let mut page = app.client();
    assert_eq!(page.sign_in("root", PASSWORD).status, 303);
    Setup { app, api, token, page }
}

fn keys(api: &mut Client, token: &str, oql: &str) -> Vec<String> {
    let reply = api.api(
        "GET",
        &format!("/api/v1/projects/OPS/issues?oql={}", outpost::web::pages::url_encode(oql)),
        Some(token),
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["issues"].as_array().unwrap().iter().map(|i| i["key"].as_str().unwrap().to_owned()).collect()
}

fn post(page: &mut Client, path: &str, fields: &[(&str, &str)]) -> Reply {
    let token = page.session_csrf();
    let mut all = vec![("csrf_token", token.as_str())];
    all.extend_from_slice(fields);
    page.post_form(path, &all)
}

fn move_issue(page: &mut Client, key: &str, fields: &[(&str, &str)]) -> Reply {
    let mut all = vec![("view", "backlog")];
    all.extend_from_slice(fields);
    post(page, &format!("/issues/{key}/move"), &all)
}

#[test]
fn the_backlog_is_ranked_by_moves_and_refuses_other_projects() {
    let Setup { app, mut api, token, mut page } = setup();
    let order = |api: &mut Client| keys(api, &token, "ORDER BY rank");
    assert_eq!(order(&mut api), ["OPS-1", "OPS-2", "OPS-3", "OPS-4"]);
    assert_eq!(move_issue(&mut page, "OPS-4", &[("before", "OPS-2")]).status, 303);
    assert_eq!(order(&mut api), ["OPS-1", "OPS-4", "OPS-2", "OPS-3"]);
    move_issue(&mut page, "OPS-1", &[("after", "OPS-3")]);
    assert_eq!(order(&mut api), ["OPS-4", "OPS-2", "OPS-3", "OPS-1"]);
    move_issue(&mut page, "OPS-3", &[("direction", "top")]);
    move_issue(&mut page, "OPS-4", &[("direction", "bottom")]);
    assert_eq!(order(&mut api), ["OPS-3", "OPS-2", "OPS-1", "OPS-4"]);
    move_issue(&mut page, "OPS-1", &[("direction", "up")]);
    move_issue(&mut page, "OPS-3", &[("direction", "down")]);
    assert_eq!(order(&mut api), ["OPS-1", "OPS-3", "OPS-2", "OPS-4"]);

    // Neighbours with no room between them: the project's ranks are spaced out again.
    app.sql("UPDATE issues SET rank = number");
    move_issue(&mut page, "OPS-4", &[("before", "OPS-2")]);
    assert_eq!(order(&mut api), ["OPS-1", "OPS-4", "OPS-2", "OPS-3"]);

    api.api("POST", "/api/v1/projects", Some(&token), Some(r#"{"key":"WEB","name":"Web"}"#));
    api.api("POST", "/api/v1/projects/WEB/issues", Some(&token), Some(r#"{"title":"Elsewhere"}"#));
    let before = (app.footprint(), order(&mut api));
    let across = move_issue(&mut page, "OPS-1", &[("before", "WEB-1")]);
    assert_eq!(across.status, 422);
    assert!(across.body.contains("OPS-1 can only be ranked among OPS issues; WEB-1 is in WEB."), "{}", across.body);
    let both = move_issue(&mut page, "OPS-1", &[("before", "OPS-2"), ("after", "OPS-3")]);
    assert_eq!(both.status, 422);
    assert!(both.body.contains("Give one of before, after or direction, not several."));
    let sideways = move_issue(&mut page, "OPS-1", &[("direction", "sideways")]);
    assert!(
        sideways.body.contains("Unknown direction &quot;sideways&quot;")
            || sideways.body.contains("Unknown direction &#34;sideways&#34;")
    );
    assert_eq!((app.footprint(), order(&mut api)), before);
}

#[test]
fn sprints_are_planned_started_and_completed() {
    let Setup { app, mut api, token, mut page } = setup();
    let before = app.footprint();
    for (fields, message) in [
        (vec![("name", " ")], "A sprint name must be 1 to 60 characters."),
        (
            vec![("name", "S"), ("starts_on", "2026-12-10"), ("ends_on", "2026-12-01")],
            "The sprint ends (2026-12-01) before it starts (2026-12-10).",
        ),
        (vec![("name", "S"), ("starts_on", "soon")], "is not a date"),
    ] {
        let reply = post(&mut page, "/projects/OPS/sprints", &fields);
        assert_eq!(reply.status, 422, "{fields:?}");
        assert!(reply.body.contains(message), "{fields:?} should say {message}");
    }
    assert_eq!(app.footprint(), before);
    assert_eq!(post(&mut page, "/projects/OPS/sprints", &[("name", "Sprint 1"), ("goal", "Keys rotated")]).status, 303);
    assert_eq!(post(&mut page, "/projects/OPS/sprints", &[("name", "Sprint 2")]).status, 303);

    for key in ["OPS-1", "OPS-2", "OPS-3"] {
        assert_eq!(move_issue(&mut page, key, &[("sprint", "1")]).status, 303);
    }
    let backlog = page.get("/projects/OPS/backlog").body;
    assert!(backlog.contains("Sprint 1") && backlog.contains("3 issues"), "{backlog}");
    assert_eq!(keys(&mut api, &token, "sprint = \"Sprint 1\" ORDER BY rank"), ["OPS-1", "OPS-2", "OPS-3"]);
    assert_eq!(keys(&mut api, &token, "sprint IS EMPTY"), ["OPS-4"]);

    assert_eq!(post(&mut page, "/projects/OPS/sprints/1/start", &[]).status, 303);
    let second = post(&mut page, "/projects/OPS/sprints/2/start", &[]);
    assert_eq!(second.status, 422);
    assert!(second.body.contains("Sprint 1 is still active; complete it before starting Sprint 2."));
    assert_eq!(keys(&mut api, &token, "sprint IN (openSprints()) ORDER BY key"), ["OPS-1", "OPS-2", "OPS-3"]);
    assert_eq!(
        keys(&mut api, &token, "sprint in openSprints() ORDER BY key"),
        ["OPS-1", "OPS-2", "OPS-3"],
        "as JQL writes it"
    );
    let board = page.get("/projects/OPS/sprint-board").body;
    assert!(
        board.contains("Keys rotated") && board.contains("data-key=\"OPS-1\"") && !board.contains("data-key=\"OPS-4\"")
    );

    api.api("PATCH", "/api/v1/issues/OPS-1", Some(&token), Some(r#"{"status":"Done"}"#));
    let bad_target = post(&mut page, "/projects/OPS/sprints/1/complete", &[("move_to", "1")]);
    assert_eq!(bad_target.status, 422);
    assert!(bad_target.body.contains("Unfinished issues can only move to a planned sprint; Sprint 1 is active."));
    assert_eq!(post(&mut page, "/projects/OPS/sprints/1/complete", &[("move_to", "2")]).status, 303);
    assert_eq!(
        keys(&mut api, &token, "sprint = \"Sprint 2\" ORDER BY key"),
        ["OPS-2", "OPS-3"],
        "unfinished work moved on"
    );
    let history = api.api("GET", "/api/v1/issues/OPS-2/history", Some(&token), None).json();
    assert_eq!(history["history"].as_array().unwrap().last().unwrap()["summary"], "moved it to Sprint 2");
    assert_eq!(keys(&mut api, &token, "sprint IN (closedSprints())"), ["OPS-1"], "finished work stays with its sprint");
    let closed = move_issue(&mut page, "OPS-4", &[("sprint", "1")]);
    assert_eq!(closed.status, 422);
    assert!(closed.body.contains("Sprint 1 is closed; choose an active or planned sprint."));
    assert!(page.get("/projects/OPS/sprint-board").body.contains("No sprint is active."));
    assert_eq!(app.count("audit_log WHERE action = 'sprint.completed'"), 1);
}

#[test]
fn boards_show_columns_lanes_limits_and_refuse_forbidden_moves() {
    let Setup { app, mut api, token, mut page } = setup();
    api.api("POST", "/api/v1/projects/OPS/issues", Some(&token), Some(r#"{"title":"Epic","issue_type":"epic"}"#)); // OPS-5
    api.api("PATCH", "/api/v1/issues/OPS-1", Some(&token), Some(r#"{"assignee":"mia","parent":"OPS-5"}"#));
    app.sql("UPDATE workflow_statuses SET wip_limit = 2 WHERE name = 'To do'");
    let board = page.get("/projects/OPS/board").body;
    assert!(board.contains("board-col-head over-limit"), "5 cards in To do, limit 2");
    for status in ["To do", "In progress", "In review", "Done"] {
        assert!(board.contains(&format!("data-drop data-status=\"{status}\"")), "{status}");
    }
    let lanes = page.get("/projects/OPS/board?swimlanes=assignee").body;
    assert!(
        lanes.contains("<h3 class=\"lane-title\">mia (test)</h3>")
            && lanes.contains("<h3 class=\"lane-title\">Unassigned</h3>")
    );
    let epics = page.get("/projects/OPS/board?swimlanes=epic").body;
    assert!(epics.contains("lane-title\">OPS-5 Epic</h3>") && epics.contains("lane-title\">No epic</h3>"), "{epics}");
    assert_eq!(page.get("/projects/OPS/board?swimlanes=colour").status, 422);

    // No JavaScript: each card's own form; a forbidden move comes back on the board.
    let before = app.footprint();
    let refused =
        post(&mut page, "/issues/OPS-2/move", &[("view", "board"), ("status", "In review"), ("swimlanes", "assignee")]);
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("id=\"move-error\"") && refused.body.contains("from To do to In review"));
    assert!(refused.body.contains("lane-title"), "the board comes back as it was shown");
    // With JavaScript: the same refusal as JSON.
    let token_field = page.session_csrf();
    let mut script = page.headers.clone();
    page.headers.push(("Accept".to_owned(), "application/json".to_owned()));
    let json_refusal = page.post_form("/issues/OPS-2/move", &[("csrf_token", &token_field), ("status", "In review")]);
    page.headers = std::mem::take(&mut script);
    assert_eq!(json_refusal.status, 422);
    assert!(json_refusal.json()["error"]["message"].as_str().unwrap().contains("from To do to In review"));
    assert_eq!(app.footprint(), before);

    let moved = post(&mut page, "/issues/OPS-2/move", &[("view", "board"), ("status", "In progress")]);
    assert_eq!((moved.status, moved.location.as_deref()), (303, Some("/projects/OPS/board")));
    assert_eq!(api.api("GET", "/api/v1/issues/OPS-2", Some(&token), None).json()["status"], "In progress");
}

#[test]
fn saved_filters_are_private_or_shared_and_feed_boards() {
    let Setup { app, mut page, .. } = setup();
    let before = app.footprint();
    for (fields, status, message) in [
        (vec![("name", "Mine"), ("oql", "colour = red")], 422, "Unknown field"),
        (vec![("name", ""), ("oql", "type = bug")], 422, "A filter name must be 1 to 80 characters."),
        (vec![("name", "Empty"), ("oql", "  ")], 422, "There is no query to save"),
    ] {
        let reply = post(&mut page, "/projects/OPS/filters", &fields);
        assert_eq!(reply.status, status, "{fields:?}");
        assert!(reply.body.contains(message), "{fields:?} should say {message}");
    }
    assert_eq!(app.count("saved_filters"), 0);
    assert_eq!(app.footprint(), before);
    let saved = post(
        &mut page,
        "/projects/OPS/filters",
        &[("name", "Top two"), ("oql", "key IN (OPS-1, OPS-2)"), ("shared", "on")],
    );
    assert_eq!(saved.status, 303);
    assert_eq!(post(&mut page, "/projects/OPS/filters", &[("name", "Private"), ("oql", "key = OPS-3")]).status, 303);
    let twice = post(&mut page, "/projects/OPS/filters", &[("name", "Private"), ("oql", "key = OPS-4")]);
    assert_eq!(twice.status, 409);
    assert!(twice.body.contains("value=\"Private\""), "the name typed is kept");

    let list = page.get("/projects/OPS/issues").body;
    assert!(list.contains(">Top two</a>") && list.contains(">Private</a>"));
    let board = page.get("/projects/OPS/board?filter=1").body;
    assert!(
        board.contains("data-key=\"OPS-1\"")
            && board.contains("data-key=\"OPS-2\"")
            && !board.contains("data-key=\"OPS-3\"")
    );

    let mut mia = app.client();
    assert_eq!(mia.sign_in("mia", PASSWORD).status, 303);
    let theirs = mia.get("/projects/OPS/issues").body;
    assert!(theirs.contains(">Top two</a>") && !theirs.contains(">Private</a>"), "private filters stay private");
    assert_eq!(mia.get("/projects/OPS/board?filter=2").status, 404);
    assert_eq!(post(&mut mia, "/projects/OPS/filters/1/delete", &[]).status, 403);
    assert_eq!(post(&mut page, "/projects/OPS/filters/1/delete", &[]).status, 303);
    assert_eq!(app.count("saved_filters"), 1);
}

#[test]
fn bulk_edit_writes_all_or_nothing_unless_told_to_skip() {
    let Setup { app, mut api, token, mut page } = setup();
    api.api("PATCH", "/api/v1/issues/OPS-3", Some(&token), Some(r#"{"status":"Done"}"#));
    let selected = [("issues", "OPS-1"), ("issues", "OPS-2"), ("issues", "OPS-3")];
    let mut fields = selected.to_vec();
    fields.push(("status", "In progress"));

    let before = app.footprint();
    let refused = post(&mut page, "/projects/OPS/bulk", &fields);
    assert_eq!(refused.status, 422);
    assert!(
        refused.body.contains("1 of the selected issues cannot take this change, so nothing was changed."),
        "{}",
        refused.body
    );
    assert!(refused
        .body
        .contains("OPS-3</a> refused: The workflow does not allow moving OPS-3 from Done to In progress"));
    assert_eq!(app.footprint(), before, "nothing written");
    assert_eq!(keys(&mut api, &token, "status = \"In progress\""), Vec::<String>::new());

    fields.push(("skip_refused", "on"));
    let skipped = post(&mut page, "/projects/OPS/bulk", &fields);
    assert_eq!(skipped.status, 200);
    assert!(skipped.body.contains("OPS-1</a> changed") && skipped.body.contains("OPS-3</a> skipped"));
    assert_eq!(keys(&mut api, &token, "status = \"In progress\" ORDER BY key"), ["OPS-1", "OPS-2"]);

    let mut labels = selected.to_vec();
    labels.extend([("labels", "db, infra"), ("assignee", "mia")]);
    let labelled = post(&mut page, "/projects/OPS/bulk", &labels);
    assert!(labelled.body.contains("OPS-3</a> changed"), "{}", labelled.body);
    assert_eq!(keys(&mut api, &token, "labels = infra AND assignee = mia ORDER BY key"), ["OPS-1", "OPS-2", "OPS-3"]);
    let again = post(&mut page, "/projects/OPS/bulk", &labels);
    assert!(again.body.contains("OPS-1</a> unchanged"), "adding labels it has changes nothing");

    for (extra, message) in [
        (vec![], "Choose what to change"),
        (vec![("sprint", "x")], "&quot;x&quot; is not a sprint."),
        (vec![("labels", &*"y".repeat(60))], "A label must be at most 50 characters"),
    ] {
        let mut bad = selected.to_vec();
        bad.extend(extra);
        let reply = post(&mut page, "/projects/OPS/bulk", &bad);
        assert_eq!(reply.status, 422);
        assert!(reply.body.replace("&#34;", "&quot;").contains(message), "should say {message}");
    }
    let none = post(&mut page, "/projects/OPS/bulk", &[("status", "Done")]);
    assert!(none.body.contains("Select at least one issue."));
}

#[test]
fn the_api_plans_moves_links_logs_and_edits_in_bulk() {
    let Setup { app, mut api, token, .. } = setup();
    let call = |api: &mut Client, method: &str, path: &str, body: Option<serde_json::Value>| {
        api.api(method, path, Some(&token), body.map(|b| b.to_string()).as_deref())
    };
    let sprint = call(
        &mut api,
        "POST",
        "/api/v1/projects/OPS/sprints",
        Some(json!({"name": "Sprint 1", "ends_on": "2026-12-31"})),
    );
    assert_eq!(sprint.status, 201, "{}", sprint.body);
    let id = sprint.json()["id"].as_i64().unwrap();
    let bad =
        call(&mut api, "POST", "/api/v1/projects/OPS/sprints", Some(json!({"name": "", "ends_on": "2026-12-31"})));
    assert_eq!((bad.status, bad.json()["error"]["field"].as_str()), (422, Some("name")));

    let moved = call(
        &mut api,
        "POST",
        "/api/v1/issues/OPS-3/move",
        Some(json!({"status": "In progress", "sprint": id, "direction": "top"})),
    );
    assert_eq!((moved.status, moved.json()["status"].as_str()), (200, Some("In progress")), "{}", moved.body);
    assert_eq!(keys(&mut api, &token, "ORDER BY rank")[0], "OPS-3");
    let before = app.footprint();
    let refused =
        call(&mut api, "POST", "/api/v1/issues/OPS-3/move", Some(json!({"status": "To do", "sprint": "nowhere"})));
    assert_eq!((refused.status, refused.json()["error"]["field"].as_str()), (422, Some("sprint")));
    let forbidden = call(
        &mut api,
        "POST",
        "/api/v1/issues/OPS-1/move",
        Some(json!({"status": "In review", "direction": "bottom"})),
    );
    assert_eq!(forbidden.status, 422, "a refused transition moves nothing either");
    assert_eq!(app.footprint(), before);

    assert_eq!(call(&mut api, "POST", &format!("/api/v1/projects/OPS/sprints/{id}/start"), None).status, 200);
    let sprints = call(&mut api, "GET", "/api/v1/projects/OPS/sprints", None).json();
    assert_eq!(sprints["sprints"][0]["state"], "active");
    let completed = call(&mut api, "POST", &format!("/api/v1/projects/OPS/sprints/{id}/complete"), Some(json!({})));
    assert_eq!(completed.json()["completed"]["moved"], 1);

    let filter = call(
        &mut api,
        "POST",
        "/api/v1/projects/OPS/filters",
        Some(json!({"name": "Mine", "oql": "assignee = currentUser()"})),
    );
    assert_eq!(filter.status, 201);
    assert_eq!(call(&mut api, "GET", "/api/v1/projects/OPS/filters", None).json()["filters"][0]["name"], "Mine");
    let filter_id = filter.json()["id"].as_i64().unwrap();
    assert_eq!(call(&mut api, "DELETE", &format!("/api/v1/projects/OPS/filters/{filter_id}"), None).status, 204);

    let bulk = call(
        &mut api,
        "POST",
        "/api/v1/projects/OPS/bulk",
        Some(json!({"issues": ["OPS-1", "OPS-2"], "assignee": "mia", "add_labels": ["ops"]})),
    );
    assert_eq!(bulk.status, 200, "{}", bulk.body);
    assert_eq!(bulk.json()["results"][1]["result"], "changed");
    let stopped = call(
        &mut api,
        "POST",
        "/api/v1/projects/OPS/bulk",
        Some(json!({"issues": ["OPS-1", "OPS-9"], "status": "Done"})),
    );
    assert_eq!((stopped.status, stopped.json()["written"].as_bool()), (422, Some(false)));
    assert_eq!(stopped.json()["results"][1]["message"], "There is no issue OPS-9.");

    let linked =
        call(&mut api, "POST", "/api/v1/issues/OPS-1/links", Some(json!({"kind": "duplicates", "issue": "OPS-2"})));
    assert_eq!((linked.status, linked.json()["links"][0]["phrase"].as_str()), (201, Some("duplicates")));
    let link_id = linked.json()["links"][0]["id"].as_i64().unwrap();
    assert_eq!(call(&mut api, "GET", "/api/v1/issues/OPS-2", None).json()["links"][0]["phrase"], "is duplicated by");
    assert_eq!(call(&mut api, "DELETE", &format!("/api/v1/issues/OPS-1/links/{link_id}"), None).status, 204);
    let logged =
        call(&mut api, "POST", "/api/v1/issues/OPS-1/work-log", Some(json!({"time_spent": "45m", "note": "Triage"})));
    assert_eq!(logged.status, 201);
    assert_eq!(call(&mut api, "GET", "/api/v1/issues/OPS-1", None).json()["time_logged_minutes"], 45);
    let unwatched = call(&mut api, "DELETE", "/api/v1/issues/OPS-1/watchers/me", None);
    let watchers = unwatched.json()["watchers"].clone();
    let names: Vec<&str> = watchers.as_array().unwrap().iter().map(|w| w["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["mia"], "the reporter stopped watching; the new assignee watches");
    let issue = call(&mut api, "GET", "/api/v1/issues/OPS-1", None).json();
    assert_eq!(issue["watchers"], watchers, "the issue's answer lists the same watchers");
}
