//! Workflows: the default one, transitions refused and allowed from the API and the pages,
//! and the editor with its refusals.

use crate::support::{Client, TestApp};

struct Setup {
    app: TestApp,
    api: Client,
    member: String,
}

/// Project OPS (led by root) with issue OPS-1 in "To do".
fn setup() -> Setup {
    let app = TestApp::start();
    let (root, mia) = (app.user("root", true), app.user("mia", false));
    let (admin, member) = (app.token(&root), app.token(&mia));
    let mut api = app.client();
    let created = api.api("POST", "/api/v1/projects", Some(&admin), Some(r#"{"key":"OPS","name":"Operations"}"#));
    assert_eq!(created.status, 201, "{}", created.body);
    let issue = api.api("POST", "/api/v1/projects/OPS/issues", Some(&member), Some(r#"{"title":"Patch the hosts"}"#));
    assert_eq!(issue.status, 201, "{}", issue.body);
    Setup { app, api, member }
}

fn status_of(api: &mut Client, token: &str, key: &str) -> String {
    api.api("GET", &format!("/api/v1/issues/{key}"), Some(token), None).json()["status"].as_str().unwrap().to_owned()
}

#[test]
fn every_project_starts_with_the_default_workflow() {
    let Setup { app: _app, mut api, member, .. } = setup();
    let workflow = api.api("GET", "/api/v1/projects/OPS/workflow", Some(&member), None).json();
    let statuses: Vec<(&str, &str)> = workflow["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["category"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [("To do", "todo"), ("In progress", "in_progress"), ("In review", "in_progress"), ("Done", "done")]
    );
    assert_eq!(workflow["statuses"][3]["transitions"], serde_json::json!(["To do"]), "done issues can be reopened");
}

#[test]
fn a_move_the_workflow_forbids_is_refused_and_writes_nothing() {
    let Setup { app, mut api, member, .. } = setup();
    let before = app.footprint();
    let refused =
        api.api("PATCH", "/api/v1/issues/OPS-1", Some(&member), Some(r#"{"status":"In review","title":"New"}"#));
    assert_eq!((refused.status, refused.json()["error"]["field"].as_str()), (422, Some("status")));
    assert_eq!(
        refused.error_message(),
        "The workflow does not allow moving OPS-1 from To do to In review; from To do it can move to: In progress, Done."
    );
    assert_eq!(app.footprint(), before);
    assert_eq!(api.api("GET", "/api/v1/issues/OPS-1", Some(&member), None).json()["title"], "Patch the hosts");

    let moved = api.api("PATCH", "/api/v1/issues/OPS-1", Some(&member), Some(r#"{"status":"in_progress"}"#));
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert_eq!(moved.json()["transitions"], serde_json::json!(["To do", "In review", "Done"]));
    assert_eq!(app.count("audit_log WHERE action = 'issue.updated' AND after_state->>'status' = 'In progress' AND before_state->>'status' = 'To do'"), 1);
}

#[test]
fn the_issue_page_offers_allowed_moves_and_shows_a_refusal_beside_them() {
    let Setup { app, .. } = setup();
    let mut mia = app.client();
    assert_eq!(mia.sign_in("mia", crate::support::PASSWORD).status, 303);
    let page = mia.get("/issues/OPS-1");
    assert!(page.body.contains("→ In progress") && page.body.contains("→ Done"), "{}", page.body);
    assert!(!page.body.contains("→ In review"), "not allowed from To do");
    let token = page.csrf_token();

    let before = app.footprint();
    let refused = mia.post_form("/issues/OPS-1/transition", &[("csrf_token", &token), ("status", "In review")]);
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("id=\"transition-error\""), "{}", refused.body);
    assert!(refused.body.contains("does not allow moving OPS-1 from To do to In review"));
    let unknown = mia.post_form("/issues/OPS-1/transition", &[("csrf_token", &token), ("status", "Shipped")]);
    assert_eq!(unknown.status, 422);
    assert!(
        unknown.body.contains("this project&#x27;s statuses are: To do, In progress, In review, Done")
            || unknown.body.contains("this project&#39;s statuses are"),
        "{}",
        unknown.body
    );
    let forged = mia.post_form("/issues/OPS-1/transition", &[("csrf_token", "forged"), ("status", "Done")]);
    assert_eq!(forged.status, 403);
    assert_eq!(app.footprint(), before);

    let done = mia.post_form("/issues/OPS-1/transition", &[("csrf_token", &token), ("status", "Done")]);
    assert_eq!((done.status, done.location.as_deref()), (303, Some("/issues/OPS-1")));
    let page = mia.get("/issues/OPS-1").body;
    assert!(page.contains("status-done\">Done<") && page.contains("→ To do"), "{page}");

    let edit = mia.get("/issues/OPS-1/edit").body;
    assert!(
        edit.contains("<option value=\"To do\"") && !edit.contains("<option value=\"In review\""),
        "the edit form offers only allowed moves"
    );
}

/// The editor's fields for the default workflow, with `changes` replacing or adding fields.
fn editor_form(token: &str, ids: &[i64], changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let defaults = [("To do", "todo"), ("In progress", "in_progress"), ("In review", "in_progress"), ("Done", "done")];
    let mut fields = vec![("csrf_token".to_owned(), token.to_owned())];
    for (index, ((name, category), id)) in defaults.iter().zip(ids).enumerate() {
        fields.push((format!("status_{index}_id"), id.to_string()));
        fields.push((format!("status_{index}_name"), (*name).to_owned()));
        fields.push((format!("status_{index}_category"), (*category).to_owned()));
        fields.push((format!("status_{index}_order"), (index + 1).to_string()));
    }
    for (from, to) in [(0, 1), (0, 3), (1, 0), (1, 2), (1, 3), (2, 1), (2, 3), (3, 0)] {
        fields.push((format!("t_{from}_{to}"), "on".to_owned()));
    }
    for (name, value) in changes {
        fields.retain(|(n, _)| n != name);
        fields.push(((*name).to_owned(), (*value).to_owned()));
    }
    fields
}

fn post(client: &mut Client, path: &str, fields: &[(String, String)]) -> crate::support::Reply {
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    client.post_form(path, &pairs)
}

#[test]
fn the_lead_edits_the_workflow_and_the_new_rules_hold() {
    let Setup { app, mut api, member, .. } = setup();
    let mut root = app.client();
    assert_eq!(root.sign_in("root", crate::support::PASSWORD).status, 303);
    let page = root.get("/projects/OPS/workflow");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Allow moving from Done to To do"));
    let token = page.csrf_token();
    let ids: Vec<i64> = {
        let mut conn = app.conn();
        use diesel::prelude::*;
        outpost::schema::workflow_statuses::table
            .order(outpost::schema::workflow_statuses::position)
            .select(outpost::schema::workflow_statuses::id)
            .load(&mut conn)
            .unwrap()
    };
    // Rename "In review", add "Blocked" with a WIP limit, and stop reopening done issues.
    let mut fields = editor_form(
        &token,
        &ids,
        &[
            ("status_2_name", "Review"),
            ("status_4_name", "Blocked"),
            ("status_4_category", "in_progress"),
            ("status_4_wip", "3"),
            ("status_4_order", "2"),
        ],
    );
    fields.retain(|(name, _)| name != "t_3_0");
    // The issue's answer has read (and this node has kept) the workflow before the edit.
    let before = api.api("GET", "/api/v1/issues/OPS-1", Some(&member), None).json();
    assert_eq!(before["transitions"], serde_json::json!(["In progress", "Done"]));
    let saved = post(&mut root, "/projects/OPS/workflow", &fields);
    assert_eq!(
        (saved.status, saved.location.as_deref()),
        (303, Some("/projects/OPS/workflow?saved")),
        "{}",
        saved.body
    );
    assert!(root.get("/projects/OPS/workflow?saved").body.contains("The workflow is saved."));

    let workflow = api.api("GET", "/api/v1/projects/OPS/workflow", Some(&member), None).json();
    let names: Vec<&str> =
        workflow["statuses"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["To do", "In progress", "Blocked", "Review", "Done"]);
    assert_eq!(workflow["statuses"][2]["wip_limit"], 3);
    assert_eq!(
        workflow["statuses"][4]["transitions"],
        serde_json::json!(["Blocked"]),
        "Done no longer reopens, but connects to the new status"
    );
    assert_eq!(app.count("audit_log WHERE action = 'workflow.updated'"), 1);
    let after = api.api("GET", "/api/v1/issues/OPS-1", Some(&member), None).json();
    assert_eq!(
        after["transitions"],
        serde_json::json!(["In progress", "Blocked", "Done"]),
        "the issue's answer reads the edited workflow at once"
    );
    let page = root.get("/issues/OPS-1").body;
    assert!(page.contains(r#"name="status" value="Blocked""#), "and so does the issue page");

    api.api("PATCH", "/api/v1/issues/OPS-1", Some(&member), Some(r#"{"status":"Blocked"}"#));
    assert_eq!(status_of(&mut api, &member, "OPS-1"), "Blocked", "a new status connects to every other");
    api.api("PATCH", "/api/v1/issues/OPS-1", Some(&member), Some(r#"{"status":"Done"}"#));
    let reopen = api.api("PATCH", "/api/v1/issues/OPS-1", Some(&member), Some(r#"{"status":"To do"}"#));
    assert_eq!(reopen.status, 422);
    assert!(reopen.error_message().ends_with("from Done it can move to: Blocked."), "{}", reopen.error_message());
}

#[test]
fn workflow_edits_that_break_the_rules_are_refused_with_the_input_kept() {
    let Setup { app, .. } = setup();
    let mut root = app.client();
    assert_eq!(root.sign_in("root", crate::support::PASSWORD).status, 303);
    let token = root.get("/projects/OPS/workflow").csrf_token();
    let ids: Vec<i64> = (1..=4).collect();
    let before = (app.footprint(), app.count("workflow_statuses"), app.count("workflow_transitions"));

    let cases: [(&[(&str, &str)], &str); 5] = [
        (
            &[("status_0_remove", "on")],
            "&quot;To do&quot; still holds 1 issue(s); move them to another status before removing it.",
        ),
        (&[("status_3_category", "in_progress")], "A workflow needs at least one status in the Done category"),
        (&[("status_1_name", "to do")], "There are two statuses named &quot;to do&quot;."),
        (
            &[("status_1_wip", "0")],
            "The WIP limit of &quot;In progress&quot; must be a whole number from 1 to 999, or empty.",
        ),
        (&[("status_1_name", "")], "Status names must be 1 to 40 characters."),
    ];
    for (changes, message) in cases {
        let reply = post(&mut root, "/projects/OPS/workflow", &editor_form(&token, &ids, changes));
        assert_eq!(reply.status, 422, "{changes:?}: {}", reply.body);
        let shown = reply.body.replace("&#34;", "&quot;");
        assert!(shown.contains(message), "{changes:?} should say {message}: {}", reply.body);
        if let Some((_, value)) = changes.iter().find(|(name, _)| name.ends_with("_name")) {
            assert!(reply.body.contains(&format!("value=\"{value}\"")), "the typed name is kept");
        }
    }
    let foreign = post(&mut root, "/projects/OPS/workflow", &editor_form(&token, &[1, 2, 3, 999], &[]));
    assert_eq!(foreign.status, 422);
    assert!(foreign.body.contains("Status 999 is not part of this project"), "{}", foreign.body);
    assert_eq!((app.footprint(), app.count("workflow_statuses"), app.count("workflow_transitions")), before);

    // An empty status can go.
    let removed = post(&mut root, "/projects/OPS/workflow", &editor_form(&token, &ids, &[("status_2_remove", "on")]));
    assert_eq!(removed.status, 303, "{}", removed.body);
    assert_eq!(app.count("workflow_statuses"), 3);
}

#[test]
fn only_the_lead_or_an_administrator_edits_a_workflow() {
    let Setup { app, .. } = setup();
    let mut mia = app.client();
    assert_eq!(mia.sign_in("mia", crate::support::PASSWORD).status, 303);
    assert_eq!(mia.get("/projects/OPS/workflow").status, 403);
    assert!(!mia.get("/projects/OPS/issues").body.contains("/projects/OPS/workflow\""), "no link for members");
    let token = mia.session_csrf();
    let before = (app.footprint(), app.count("workflow_statuses"));
    let refused =
        post(&mut mia, "/projects/OPS/workflow", &editor_form(&token, &[1, 2, 3, 4], &[("status_0_name", "Backlog")]));
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("Your role in OPS does not allow you to change its settings, workflow or access."));
    assert_eq!((app.footprint(), app.count("workflow_statuses")), before);
}

#[test]
fn the_api_replaces_a_workflow_and_refuses_what_the_page_refuses() {
    let Setup { app, mut api, member } = setup();
    let admin = app.token(&app.user("chief", true));
    let workflow = api.api("GET", "/api/v1/projects/OPS/workflow", Some(&admin), None).json();
    let todo_id = workflow["statuses"][0]["id"].as_i64().unwrap();
    let body = serde_json::json!({
        "statuses": [
            { "id": todo_id, "name": "Open", "category": "todo" },
            { "name": "in-progress", "category": "in_progress", "wip_limit": 4 },
            { "name": "Shipped", "category": "done" },
            { "name": "Done", "category": "done" }
        ],
        "transitions": [["Open", "In progress"], ["In progress", "Shipped"], ["In progress", "Done"], ["Shipped", "Open"]]
    });
    let before = (app.footprint(), app.count("workflow_statuses"));
    let forbidden = api.api("PUT", "/api/v1/projects/OPS/workflow", Some(&member), Some(&body.to_string()));
    assert_eq!(forbidden.status, 403);
    let bad_transition = serde_json::json!({ "statuses": body["statuses"], "transitions": [["Open", "Nowhere"]] });
    let refused = api.api("PUT", "/api/v1/projects/OPS/workflow", Some(&admin), Some(&bad_transition.to_string()));
    assert_eq!((refused.status, refused.json()["error"]["field"].as_str()), (422, Some("transitions")));
    let dropping_todo = serde_json::json!({ "statuses": [{ "name": "Done", "category": "done" }], "transitions": [] });
    let holds_issues = api.api("PUT", "/api/v1/projects/OPS/workflow", Some(&admin), Some(&dropping_todo.to_string()));
    assert!(holds_issues.error_message().contains("\"To do\" still holds 1 issue(s)"), "{}", holds_issues.body);
    assert_eq!((app.footprint(), app.count("workflow_statuses")), before);

    let saved = api.api("PUT", "/api/v1/projects/OPS/workflow", Some(&admin), Some(&body.to_string()));
    assert_eq!(saved.status, 200, "{}", saved.body);
    let saved = saved.json();
    let names: Vec<&str> = saved["statuses"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Open", "in-progress", "Shipped", "Done"], "In review is gone, To do renamed");
    assert_eq!(status_of(&mut api, &member, "OPS-1"), "Open", "the renamed status kept its issue");
    let board = api.api("GET", "/api/v1/projects/OPS/board", Some(&member), None).json();
    assert_eq!(board["columns"][1]["wip_limit"], 4);
    assert_eq!(board["lanes"][0]["cards"][0], serde_json::json!(["OPS-1"]));
}
