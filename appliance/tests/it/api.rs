//! REST API v1: authentication, projects, issues, comments, and every refusal.

use crate::support::{Client, TestApp};

struct Api {
    app: TestApp,
    client: Client,
    admin: String,
    member: String,
}

/// An app with an administrator's token, a member's token, and project OPS.
fn setup() -> Api {
    let app = TestApp::start();
    let admin = app.user("root", true);
    let member = app.user("mia", false);
    let (admin, member) = (app.token(&admin), app.token(&member));
    let mut client = app.client();
    let created = client.api("POST", "/api/v1/projects", Some(&admin), Some(r#"{"key":"OPS","name":"Operations"}"#));
    assert_eq!(created.status, 201, "{}", created.body);
    Api { app, client, admin, member }
}

#[test]
fn requests_without_a_good_token_are_refused_with_json() {
    let Api { app, mut client, admin, .. } = setup();
    let missing = client.api("GET", "/api/v1/projects", None, None);
    assert_eq!(missing.status, 401);
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
    assert_eq!(missing.json()["error"]["code"], "unauthenticated");
    assert!(missing.error_message().contains("Authorization header"));

    let wrong = client.api("GET", "/api/v1/projects", Some("op_0000"), None);
    assert_eq!((wrong.status, wrong.error_message().as_str()), (401, "The API token is not valid."));
    let not_ours = client.api("GET", "/api/v1/projects", Some("ghp_abc"), None);
    assert_eq!(not_ours.status, 401);

    app.sql("UPDATE api_tokens SET expires_at = '2026-01-02 03:04:00+00'");
    let expired = client.api("GET", "/api/v1/projects", Some(&admin), None);
    assert_eq!(expired.status, 401);
    assert_eq!(expired.error_message(), "The API token expired on 2026-01-02 03:04 UTC.");
}

#[test]
fn a_known_path_asked_with_another_method_answers_405_naming_the_methods_it_has() {
    let Api { app: _app, mut client, admin, .. } = setup();
    let wrong = client.api("DELETE", "/api/v1/projects", Some(&admin), None);
    assert_eq!(wrong.status, 405, "{}", wrong.body);
    let allow = wrong.header("allow").unwrap_or_default().to_owned();
    assert!(allow.contains("GET") && allow.contains("POST") && !allow.contains("DELETE"), "{allow}");
    assert_eq!(wrong.json()["error"]["code"], "method_not_allowed");
    assert_eq!(wrong.error_message(), format!("DELETE is not a method of /api/v1/projects; it answers {allow}."));

    let patch_rule = client.api("PATCH", "/api/v1/projects/OPS/automation-rules/1", Some(&admin), Some("{}"));
    assert_eq!(patch_rule.status, 405);
    let allow = patch_rule.header("allow").unwrap_or_default();
    assert!(["GET", "PUT", "DELETE"].iter().all(|m| allow.contains(m)), "{allow}");
    let hook = client.api("GET", "/hooks/automation/oph_x", None, None);
    assert_eq!((hook.status, hook.header("allow")), (405, Some("POST")));
    assert_eq!(hook.json()["error"]["code"], "method_not_allowed");

    // A path that is not there at all is still a 404, whatever the method.
    let unknown = client.api("DELETE", "/api/v1/nothing-here", Some(&admin), None);
    assert_eq!((unknown.status, unknown.json()["error"]["code"].as_str()), (404, Some("not_found")));
}

#[test]
fn projects_are_listed_and_created_by_administrators_only() {
    let Api { app, mut client, admin, member } = setup();
    let list = client.api("GET", "/api/v1/projects", Some(&member), None);
    assert_eq!(list.status, 200);
    assert_eq!(list.json()["projects"][0]["key"], "OPS");
    assert_eq!(client.api("GET", "/api/v1/projects/ops", Some(&member), None).json()["name"], "Operations");

    let before = app.footprint();
    let forbidden = client.api("POST", "/api/v1/projects", Some(&member), Some(r#"{"key":"WEB","name":"Web"}"#));
    assert_eq!((forbidden.status, forbidden.json()["error"]["code"].as_str()), (403, Some("forbidden")));
    let bad_key = client.api("POST", "/api/v1/projects", Some(&admin), Some(r#"{"key":"W","name":"Web"}"#));
    assert_eq!((bad_key.status, bad_key.json()["error"]["field"].as_str()), (422, Some("key")));
    let taken = client.api("POST", "/api/v1/projects", Some(&admin), Some(r#"{"key":"OPS","name":"Again"}"#));
    assert_eq!((taken.status, taken.json()["error"]["field"].as_str()), (409, Some("key")));
    let missing = client.api("GET", "/api/v1/projects/NOPE", Some(&admin), None);
    assert_eq!((missing.status, missing.error_message().as_str()), (404, "There is no project with key NOPE."));
    assert_eq!(app.footprint(), before);
}

#[test]
fn issues_are_created_with_defaults_and_consecutive_keys() {
    let Api { app: _app, mut client, member, .. } = setup();
    let created = client.api("POST", "/api/v1/projects/OPS/issues", Some(&member), Some(r#"{"title":"Rotate keys"}"#));
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.header("location"), Some("/api/v1/issues/OPS-1"));
    let body = created.json();
    assert_eq!(body["key"], "OPS-1");
    assert_eq!(body["issue_type"], "task");
    assert_eq!(body["status"], "To do", "the first status of the default workflow");
    assert_eq!(body["status_category"], "todo");
    assert_eq!(body["transitions"], serde_json::json!(["In progress", "Done"]));
    assert_eq!(body["priority"], "medium");
    assert_eq!(body["reporter"]["username"], "mia");
    assert_eq!(body["assignee"], serde_json::Value::Null);
    let watching: Vec<&str> =
        body["watchers"].as_array().unwrap().iter().filter_map(|w| w["username"].as_str()).collect();
    assert_eq!(watching, ["mia"], "the reporter watches the issue from the start");

    let second = client.api(
        "POST",
        "/api/v1/projects/OPS/issues",
        Some(&member),
        Some(r#"{"title":"Patch","issue_type":"bug","priority":"highest","assignee":"root","description":"now"}"#),
    );
    assert_eq!(second.json()["key"], "OPS-2");
    assert_eq!(second.json()["assignee"]["username"], "root");
    let watching: Vec<String> = second.json()["watchers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["username"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(watching.len(), 2, "the reporter and the assignee watch: {watching:?}");
    let fetched = client.api("GET", "/api/v1/issues/OPS-2", Some(&member), None);
    assert_eq!((fetched.status, fetched.json()["priority"].as_str()), (200, Some("highest")));
}

#[test]
fn bad_issue_input_gets_the_right_status_names_the_field_and_writes_nothing() {
    let Api { app, mut client, member, .. } = setup();
    let before = app.footprint();
    let long_title = format!(r#"{{"title":"{}"}}"#, "x".repeat(256));
    let cases: Vec<(&str, &str, u16, Option<&str>, &str)> = vec![
        ("/api/v1/projects/OPS/issues", "{\"title\": ", 400, None, "The request body is not valid JSON"),
        ("/api/v1/projects/OPS/issues", "", 400, None, "The request body is empty; send a JSON object."),
        (
            "/api/v1/projects/OPS/issues",
            r#"{"title": 5}"#,
            400,
            Some("title"),
            "Field \"title\": invalid type: integer `5`",
        ),
        ("/api/v1/projects/OPS/issues", r#"{"titel": "x"}"#, 400, Some("titel"), "unknown field `titel`"),
        (
            "/api/v1/projects/OPS/issues",
            r#"{"title": "x", "status": "closed"}"#,
            422,
            Some("status"),
            "Unknown status \"closed\"",
        ),
        (
            "/api/v1/projects/OPS/issues",
            r#"{"title": "x", "priority": "urgent"}"#,
            422,
            Some("priority"),
            "Unknown priority",
        ),
        (
            "/api/v1/projects/OPS/issues",
            r#"{"title": "x", "issue_type": "saga"}"#,
            422,
            Some("issue_type"),
            "Unknown issue type",
        ),
        ("/api/v1/projects/OPS/issues", r#"{"title": "   "}"#, 422, Some("title"), "Title is required."),
        (
            "/api/v1/projects/OPS/issues",
            long_title.as_str(),
            422,
            Some("title"),
            "Title must be at most 255 characters (it has 256).",
        ),
        (
            "/api/v1/projects/OPS/issues",
            r#"{"title": "x", "assignee": "ghost"}"#,
            422,
            Some("assignee"),
            "There is no active user named ghost.",
        ),
        ("/api/v1/projects/NOPE/issues", r#"{"title": "x"}"#, 404, None, "There is no project with key NOPE."),
    ];
    let huge = format!(r#"{{"title":"x","description":"{}"}}"#, "d".repeat(5 * 1024 * 1024));
    let too_large = client.api("POST", "/api/v1/projects/OPS/issues", Some(&member), Some(&huge));
    assert_eq!((too_large.status, too_large.json()["error"]["code"].as_str()), (413, Some("too_large")));
    for (path, body, status, field, message) in cases {
        let reply = client.api("POST", path, Some(&member), Some(body));
        assert_eq!(reply.status, status, "{body}: {}", reply.body);
        assert_eq!(reply.json()["error"]["field"].as_str(), field, "{body}: {}", reply.body);
        assert!(reply.error_message().contains(message), "{body}: {}", reply.body);
    }
    assert_eq!(app.footprint(), before);
}

#[test]
fn issues_are_found_by_key_and_a_foreign_projects_issue_is_not() {
    let Api { app: _app, mut client, admin, member, .. } = setup();
    client.api("POST", "/api/v1/projects", Some(&admin), Some(r#"{"key":"WEB","name":"Web"}"#));
    client.api("POST", "/api/v1/projects/WEB/issues", Some(&member), Some(r#"{"title":"Web one"}"#));
    assert_eq!(client.api("GET", "/api/v1/projects/WEB/issues/WEB-1", Some(&member), None).status, 200);
    let foreign = client.api("GET", "/api/v1/projects/OPS/issues/WEB-1", Some(&member), None);
    assert_eq!((foreign.status, foreign.error_message().as_str()), (404, "Issue WEB-1 is not in project OPS."));
    let missing = client.api("GET", "/api/v1/issues/WEB-9", Some(&member), None);
    assert_eq!((missing.status, missing.json()["error"]["code"].as_str()), (404, Some("not_found")));
    assert_eq!(client.api("GET", "/api/v1/nothing", Some(&member), None).json()["error"]["code"], "not_found");
}

#[test]
fn the_issue_list_filters_and_refuses_bad_parameters_by_name() {
    let Api { app: _app, mut client, member, .. } = setup();
    for body in [
        r#"{"title":"One","status":"done"}"#,
        r#"{"title":"Two","assignee":"mia"}"#,
        r#"{"title":"Three","issue_type":"bug"}"#,
    ] {
        assert_eq!(client.api("POST", "/api/v1/projects/OPS/issues", Some(&member), Some(body)).status, 201);
    }
    let keys = |reply: crate::support::Reply| -> Vec<String> {
        reply.json()["issues"].as_array().unwrap().iter().map(|i| i["key"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(
        keys(client.api("GET", "/api/v1/projects/OPS/issues?sort=key&order=asc", Some(&member), None)),
        ["OPS-1", "OPS-2", "OPS-3"]
    );
    assert_eq!(keys(client.api("GET", "/api/v1/projects/OPS/issues?status=done", Some(&member), None)), ["OPS-1"]);
    assert_eq!(keys(client.api("GET", "/api/v1/projects/OPS/issues?assignee=me", Some(&member), None)), ["OPS-2"]);
    assert_eq!(keys(client.api("GET", "/api/v1/projects/OPS/issues?type=bug", Some(&member), None)), ["OPS-3"]);
    let page = client.api("GET", "/api/v1/projects/OPS/issues?per_page=2&sort=key", Some(&member), None).json();
    assert_eq!((page["has_more"].as_bool(), page["per_page"].as_i64()), (Some(true), Some(2)));

    for (query, field) in [
        ("sort=colour", "sort"),
        ("order=up", "order"),
        ("per_page=1000", "per_page"),
        ("assignee=ghost", "assignee"),
        ("type=saga", "issue_type"),
    ] {
        let reply = client.api("GET", &format!("/api/v1/projects/OPS/issues?{query}"), Some(&member), None);
        assert_eq!((reply.status, reply.json()["error"]["field"].as_str()), (422, Some(field)), "{query}");
    }
}

#[test]
fn patch_changes_only_what_is_given_and_refuses_without_writing() {
    let Api { app, mut client, member, .. } = setup();
    client.api("POST", "/api/v1/projects/OPS/issues", Some(&member), Some(r#"{"title":"Old","assignee":"mia"}"#));
    let patched =
        client.api("PATCH", "/api/v1/issues/OPS-1", Some(&member), Some(r#"{"status":"in_progress","assignee":null}"#));
    assert_eq!(patched.status, 200, "{}", patched.body);
    let body = patched.json();
    assert_eq!((body["status"].as_str(), body["title"].as_str()), (Some("In progress"), Some("Old")));
    assert_eq!(body["assignee"], serde_json::Value::Null);

    let before = app.footprint();
    let same = client.api("PATCH", "/api/v1/issues/OPS-1", Some(&member), Some(r#"{"status":"In Progress"}"#));
    assert_eq!(same.status, 200);
    assert_eq!(app.footprint(), before, "a change to nothing records nothing");
    let bad =
        client.api("PATCH", "/api/v1/issues/OPS-1", Some(&member), Some(r#"{"title":"New","priority":"urgent"}"#));
    assert_eq!((bad.status, bad.json()["error"]["field"].as_str()), (422, Some("priority")));
    let wrong_type = client.api("PATCH", "/api/v1/issues/OPS-1", Some(&member), Some(r#"{"title":["New"]}"#));
    assert_eq!((wrong_type.status, wrong_type.json()["error"]["field"].as_str()), (400, Some("title")));
    assert_eq!(app.footprint(), before);
    assert_eq!(client.api("GET", "/api/v1/issues/OPS-1", Some(&member), None).json()["title"], "Old");
}

#[test]
fn comments_are_added_and_listed_in_order() {
    let Api { app, mut client, admin, member } = setup();
    client.api("POST", "/api/v1/projects/OPS/issues", Some(&member), Some(r#"{"title":"Talk"}"#));
    let first = client.api("POST", "/api/v1/issues/OPS-1/comments", Some(&member), Some(r#"{"body":"first"}"#));
    assert_eq!(first.status, 201);
    assert_eq!(first.json()["author"]["username"], "mia");
    client.api("POST", "/api/v1/issues/OPS-1/comments", Some(&admin), Some(r#"{"body":"second"}"#));
    let list = client.api("GET", "/api/v1/issues/OPS-1/comments", Some(&member), None).json();
    let bodies: Vec<&str> = list["comments"].as_array().unwrap().iter().map(|c| c["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["first", "second"]);

    let before = app.footprint();
    let empty = client.api("POST", "/api/v1/issues/OPS-1/comments", Some(&member), Some(r#"{"body":""}"#));
    assert_eq!((empty.status, empty.json()["error"]["field"].as_str()), (422, Some("body")));
    let nowhere = client.api("POST", "/api/v1/issues/OPS-7/comments", Some(&member), Some(r#"{"body":"x"}"#));
    assert_eq!(nowhere.status, 404);
    assert_eq!(app.footprint(), before);
}
