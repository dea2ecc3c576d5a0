//! Deployments reported by a CI pipeline to an incoming hook, from the secret URL to the
//! issue page, and every refusal writing nothing.

use serde_json::json;

use crate::support::{Client, TestApp};

struct Setup {
    app: TestApp,
    page: Client,
    token: String,
    url_path: String,
}

/// Project OPS with OPS-1..OPS-3, and an incoming hook made on the deployments page.
fn setup() -> Setup {
    let app = TestApp::start();
    let (mut page, root) = app.signed_in("root", true);
    let token = app.token(&root);
    let mut api = app.client();
    api.api("POST", "/api/v1/projects", Some(&token), Some(r#"{"key":"OPS","name":"Operations"}"#));
    for title in ["Login fix", "Faster search", "Untouched"] {
        api.api("POST", "/api/v1/projects/OPS/issues", Some(&token), Some(&json!({ "title": title }).to_string()));
    }
    let csrf = page.session_csrf();
    let created =
        page.post_form("/projects/OPS/deployments/hooks", &[("csrf_token", &csrf), ("name", "Release pipeline")]);
    assert_eq!(created.status, 200, "{}", created.body);
    let start = created.body.find("/hooks/deployments/oph_").expect("the URL is shown once");
    let url_path: String = created.body[start..].chars().take_while(|c| *c != '<').collect();
    assert!(!page.get("/projects/OPS/deployments").body.contains(&url_path), "and never again");
    Setup { app, page, token, url_path }
}

fn report(s: &Setup, path: &str, body: &str) -> crate::support::Reply {
    s.app.client().api("POST", path, None, Some(body))
}

#[test]
fn a_pipeline_reports_a_deployment_and_the_issues_show_where_they_went() {
    let mut s = setup();
    let started = json!({
        "environment": "production",
        "version": "v1.4.2",
        "status": "started",
        "commit": "9fceb02d0ae598e95dc970b74767f19372d61af8",
        "commits": [
            { "id": "9fceb02", "message": "OPS-1: fix the login redirect" },
            { "message": "Speed up search (OPS-2), unrelated XOPS-3 and DEV-3" }
        ]
    });
    let reply = report(&s, &s.url_path, &started.to_string());
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.json()["issues"], json!(["OPS-1", "OPS-2"]));
    assert_eq!(reply.json()["deployment"]["status"], "started");

    let done = json!({ "environment": "production", "version": "v1.4.2", "status": "succeeded", "url": "https://ci.example.test/runs/77" });
    let reply = report(&s, &s.url_path, &done.to_string());
    assert_eq!(reply.status, 200, "the same version in the same environment is updated: {}", reply.body);
    assert_eq!(reply.json()["deployment"]["status"], "succeeded");
    assert_eq!(
        reply.json()["deployment"]["commit"],
        "9fceb02d0ae598e95dc970b74767f19372d61af8",
        "kept from the first report"
    );
    assert_eq!(s.app.count("deployments"), 1);
    assert_eq!(s.app.count("audit_log WHERE action = 'deployment.reported'"), 2);

    let issue = s.page.get("/issues/OPS-1");
    assert!(issue.body.contains("Deployed to <strong>production</strong> in v1.4.2"), "{}", issue.body);
    assert!(!s.page.get("/issues/OPS-3").body.contains("Deployed to"));
    let listed = s.page.get("/projects/OPS/deployments");
    assert!(
        listed.body.contains("v1.4.2") && listed.body.contains(r#"<a href="/issues/OPS-2">OPS-2</a>"#),
        "{}",
        listed.body
    );

    let staging = json!({ "environment": "staging", "version": "v1.5.0-rc1", "status": "failed", "release_notes": "Try OPS-1 again" });
    assert_eq!(report(&s, &s.url_path, &staging.to_string()).status, 201);
    let issue = s.page.get("/issues/OPS-1");
    assert!(issue.body.contains("staging: v1.5.0-rc1 failed"), "{}", issue.body);
}

#[test]
fn bad_reports_and_wrong_or_revoked_urls_are_refused_and_write_nothing() {
    let mut s = setup();
    let before = (s.app.count("deployments"), s.app.count("audit_log"));
    let good = json!({ "environment": "production", "version": "v1", "status": "succeeded" });
    let wrong = report(&s, "/hooks/deployments/oph_0000000000000000000000000000000000000000", &good.to_string());
    assert_eq!(wrong.status, 404);
    for (body, field, sentence) in [
        (
            json!({ "environment": "production", "version": "v1", "status": "done" }),
            "status",
            "\"done\" is not a deployment status",
        ),
        (
            json!({ "environment": "Prod Env", "version": "v1", "status": "started" }),
            "environment",
            "lower-case letters",
        ),
        (json!({ "environment": "production", "version": " ", "status": "started" }), "version", "1 to 100 characters"),
        (
            json!({ "environment": "production", "version": "v1", "status": "started", "commit": "XYZ" }),
            "commit",
            "hex hash",
        ),
    ] {
        let reply = report(&s, &s.url_path, &body.to_string());
        assert_eq!(reply.status, 422, "{body}");
        assert_eq!(reply.json()["error"]["field"], field);
        assert!(reply.error_message().contains(sentence), "{}", reply.body);
    }
    let unknown =
        report(&s, &s.url_path, r#"{"environment":"production","version":"v1","status":"started","colour":"red"}"#);
    assert_eq!(unknown.status, 400);
    assert!(unknown.error_message().contains("colour"), "{}", unknown.body);
    assert_eq!((s.app.count("deployments"), s.app.count("audit_log")), before, "nothing written");

    // Only the lead manages hooks; a member still sees the deployments.
    let (mut member, _) = s.app.signed_in("mia", false);
    assert_eq!(member.get("/projects/OPS/deployments").status, 200);
    let csrf = member.session_csrf();
    assert_eq!(
        member.post_form("/projects/OPS/deployments/hooks", &[("csrf_token", &csrf), ("name", "Mine")]).status,
        403
    );
    let csrf = s.page.session_csrf();
    let empty = s.page.post_form("/projects/OPS/deployments/hooks", &[("csrf_token", &csrf), ("name", " ")]);
    assert_eq!(empty.status, 422);
    assert_eq!(s.app.count("incoming_hooks"), 1);

    // A revoked URL answers like a wrong one.
    let hook: i64 = {
        use diesel::prelude::*;
        outpost::schema::incoming_hooks::table
            .select(outpost::schema::incoming_hooks::id)
            .first(&mut s.app.conn())
            .unwrap()
    };
    assert_eq!(
        s.page.post_form(&format!("/projects/OPS/deployments/hooks/{hook}/revoke"), &[("csrf_token", &csrf)]).status,
        303
    );
    assert_eq!(report(&s, &s.url_path, &good.to_string()).status, 404);
}

#[test]
fn releases_show_each_version_with_its_issues_and_where_it_went() {
    let mut s = setup();
    let mut api = s.app.client();
    for body in [r#"{"name":"1.4.2","release_date":"2026-12-01"}"#, r#"{"name":"1.5"}"#] {
        let reply = api.api("POST", "/api/v1/projects/OPS/versions", Some(&s.token), Some(body));
        assert!(reply.status < 300, "{}", reply.body);
    }
    for (key, change) in [
        ("OPS-1", r#"{"fix_version":"1.4.2","status":"Done"}"#),
        ("OPS-2", r#"{"fix_version":"1.4.2"}"#),
        ("OPS-3", r#"{"fix_version":"1.5"}"#),
    ] {
        let reply = api.api("PATCH", &format!("/api/v1/issues/{key}"), Some(&s.token), Some(change));
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    for (environment, status) in [("staging", "succeeded"), ("production", "started")] {
        let body = json!({ "environment": environment, "version": "v1.4.2", "status": status });
        assert_eq!(report(&s, &s.url_path, &body.to_string()).status, 201);
    }

    let releases = api.api("GET", "/api/v1/projects/OPS/releases", Some(&s.token), None).json();
    let releases = releases["releases"].as_array().unwrap();
    let names: Vec<&str> = releases.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["1.5", "1.4.2"], "unreleased versions, newest first");
    let shipped = &releases[1];
    let keys: Vec<&str> = shipped["issues"].as_array().unwrap().iter().map(|i| i["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["OPS-1", "OPS-2"]);
    assert_eq!(shipped["issues"][0]["done"], true);
    let environments: Vec<(&str, &str)> = shipped["deployed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["environment"].as_str().unwrap(), d["status"].as_str().unwrap()))
        .collect();
    assert_eq!(environments, [("production", "started"), ("staging", "succeeded")], "v1.4.2 is release 1.4.2");
    assert_eq!(releases[0]["deployed"], json!([]));

    let page = s.page.get("/projects/OPS/deployments");
    assert!(page.body.contains("1 of 2 issues done"), "{}", page.body);
    assert!(page.body.contains("not deployed yet"), "{}", page.body);
}
