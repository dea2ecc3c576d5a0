//! Every operation of the API (read from its OpenAPI document), as each of seven kinds of
//! caller; and every project-scoped one as an outsider sending a body it cannot read.

use super::*;
use crate::support::http::multipart;

#[test]
fn every_project_operation_of_the_api_tells_an_outsider_the_project_is_not_there() {
    let app = TestApp::start();
    let mut api = app.client();
    let root = person(&app, "root", GlobalRole::Admin);
    let otto = person(&app, "otto", GlobalRole::User);
    private_project(&mut api, &root);
    assert_eq!(call(&mut api, &root, "POST", "/api/v1/projects/SEC/issues", Some(json!({ "title": "Keys" }))).0, 201);
    // Objects with id 1 under SEC, so the administrator's reads below find real things.
    let rule =
        json!({ "name": "Label", "trigger": "issue_created", "actions": [{ "type": "add_label", "label": "new" }] });
    assert_eq!(call(&mut api, &root, "POST", "/api/v1/projects/SEC/automation-rules", Some(rule)).0, 201);
    let hook = json!({ "name": "CI", "url": "https://203.0.113.10/hook", "events": ["issue.created"] });
    assert_eq!(call(&mut api, &root, "POST", "/api/v1/projects/SEC/webhooks", Some(hook)).0, 201);

    let document = api.api("GET", "/api/v1/openapi.json", None, None).json();
    let fill = |template: &str| {
        template
            .replace("{key}", "SEC")
            .replace("{issue}", "SEC-1")
            .replace("{id}", "1")
            .replace("{name}", "x")
            .replace("{delivery}", "1")
            .replace("{action}", "enable")
    };
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (template, item) in document["paths"].as_object().unwrap() {
        if !(template.contains("{key}") || template.contains("{issue}")) || template.starts_with("/hooks/") {
            continue;
        }
        let path = fill(template);
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let with_body = matches!(method, "post" | "put" | "patch");
            let body = with_body.then(|| json!({}));
            let (status, reply) = call(&mut api, &otto, &method.to_uppercase(), &path, body);
            // A body that cannot be read is refused before anything is looked up, the same
            // for every project: that tells nothing either.
            let fine = status == 404 || (with_body && (status == 400 || status == 422));
            if !fine {
                wrong.push(format!("{method} {path}: {status} {reply}"));
            }
            if method == "get" {
                let status = api.api("GET", &path, Some(&root.token), None).status;
                if status == 404 {
                    wrong.push(format!("{method} {path}: 404 for the administrator too, so the check proves nothing"));
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 40, "only {checked} operations were checked");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The JSON body that keeps the default workflow as it is.
fn default_workflow() -> Value {
    json!({ "statuses": [
        { "name": "To do", "category": "todo", "transitions": ["In progress", "Done"] },
        { "name": "In progress", "category": "in_progress", "transitions": ["To do", "In review", "Done"] },
        { "name": "In review", "category": "in_progress", "transitions": ["In progress", "Done"] },
        { "name": "Done", "category": "done", "transitions": ["To do"] },
    ] })
}

/// A scheme grid as small as the rules allow.
fn small_grid() -> Value {
    json!({ "name": "Spare", "grants": { "browse": ["project_admin"], "administer_project": ["project_admin"] } })
}

#[test]
fn every_api_operation_allows_exactly_what_the_scheme_says_to_each_kind_of_caller() {
    use Who::*;
    let (app, mut api, root, mut people, f) = start();

    let read = Rule::Project { min: Viewer, auditor: true };
    let report = Rule::Project { min: Reporter, auditor: false };
    let work = Rule::Project { min: Member, auditor: false };
    let manage = Rule::Project { min: ProjectAdmin, auditor: false };
    let admin = Rule::Global(&[Admin]);
    let every = Rule::Everyone;
    let (get, post, put, patch, delete) = (
        |t, p: String, r| case("GET", t, p, r),
        |t, p: String, r| case("POST", t, p, r),
        |t, p: String, r| case("PUT", t, p, r),
        |t, p: String, r| case("PATCH", t, p, r),
        |t, p: String, r| case("DELETE", t, p, r),
    );
    let p = |path: &str| format!("/api/v1{path}");
    let (page, old_page, rule, sprint) = (&f.page, &f.old_page, &f.rule, &f.sprint);
    let (project_hook, global_hook) = (&f.project_hook, &f.global_hook);
    let nobody = json!({ "role": "reporter", "team": "Nobody" });
    assert_eq!(call(&mut api, &root, "POST", "/api/v1/projects/SEC/roles", Some(nobody)).0, 201);
    let team_grant =
        app.value("SELECT id::text FROM project_role_grants WHERE role = 'reporter' AND team_id IS NOT NULL");
    let hook = json!({ "name": "CI", "url": "https://203.0.113.9/other", "events": ["issue.created"] });
    let new_rule = json!({ "name": "Triage", "trigger": "issue_created", "actions": [{ "type": "add_label", "label": "triage" }] });
    let cases = vec![
        // Anyone signed in (lists show only what the caller may see)
        get("/api/v1/projects", p("/projects"), every),
        get("/api/v1/issues", p("/issues?oql=title%20~%20keys"), every),
        get("/api/v1/search", p("/search?q=keys"), every),
        get("/api/v1/spaces", p("/spaces"), every),
        get("/api/v1/notifications", p("/notifications"), every),
        post("/api/v1/notifications/read", p("/notifications/read"), every).json(json!({})),
        // A project's reads
        get("/api/v1/projects/{key}", p("/projects/SEC"), read),
        get("/api/v1/projects/{key}/issues", p("/projects/SEC/issues"), read),
        get("/api/v1/projects/{key}/issues/{issue}", p("/projects/SEC/issues/SEC-1"), read),
        get("/api/v1/projects/{key}/issues.csv", p("/projects/SEC/issues.csv"), read),
        get("/api/v1/projects/{key}/workflow", p("/projects/SEC/workflow"), read),
        get("/api/v1/projects/{key}/fields", p("/projects/SEC/fields"), read),
        get("/api/v1/projects/{key}/board", p("/projects/SEC/board"), read),
        get("/api/v1/projects/{key}/sprints", p("/projects/SEC/sprints"), read),
        get("/api/v1/projects/{key}/filters", p("/projects/SEC/filters"), read),
        get("/api/v1/projects/{key}/automation-rules", p("/projects/SEC/automation-rules"), read),
        get("/api/v1/projects/{key}/automation-rules/{id}", p(&format!("/projects/SEC/automation-rules/{rule}")), read),
        get(
            "/api/v1/projects/{key}/automation-rules/{id}/runs",
            p(&format!("/projects/SEC/automation-rules/{rule}/runs")),
            read,
        ),
        get("/api/v1/projects/{key}/deployments", p("/projects/SEC/deployments"), read),
        get("/api/v1/projects/{key}/releases", p("/projects/SEC/releases"), read),
        get("/api/v1/issues/{issue}", p("/issues/SEC-1"), read),
        get("/api/v1/issues/{issue}/history", p("/issues/SEC-1/history"), read),
        get("/api/v1/issues/{issue}/comments", p("/issues/SEC-1/comments"), read),
        get("/api/v1/issues/{issue}/attachments", p("/issues/SEC-1/attachments"), read),
        get("/api/v1/attachments/{id}", p(&format!("/attachments/{}", f.issue_attachment)), read),
        get("/api/v1/attachments/{id}/content", p(&format!("/attachments/{}/content", f.issue_attachment)), read),
        get("/api/v1/spaces/{key}/pages", p("/spaces/SEC/pages"), read),
        get("/api/v1/pages/{id}", p(&format!("/pages/{page}")), read),
        get("/api/v1/pages/{id}/attachments", p(&format!("/pages/{page}/attachments")), read),
        get("/api/v1/pages/{id}/versions", p(&format!("/pages/{page}/versions")), read),
        get("/api/v1/pages/{id}/versions/{version}", p(&format!("/pages/{page}/versions/1")), read),
        put("/api/v1/issues/{issue}/watchers/me", p("/issues/SEC-1/watchers/me"), read),
        delete("/api/v1/issues/{issue}/watchers/me", p("/issues/SEC-1/watchers/me"), read),
        post("/api/v1/projects/{key}/filters", p("/projects/SEC/filters"), read)
            .json(json!({ "name": "Mine {me}", "oql": "assignee = currentUser()" })),
        delete(
            "/api/v1/projects/{key}/filters/{id}",
            p(&format!("/projects/SEC/filters/{}", f.filter)),
            Rule::SharedInProject(Viewer),
        )
        .once(),
        // Reporting
        post("/api/v1/projects/{key}/issues", p("/projects/SEC/issues"), report)
            .json(json!({ "title": "Reported by {me}" })),
        post("/api/v1/issues/{issue}/comments", p("/issues/SEC-1/comments"), report)
            .json(json!({ "body": "Seen by {me}" })),
        post("/api/v1/projects/{key}/import", p("/projects/SEC/import"), report).csv("title\nImported\n"),
        // Working on every issue
        patch("/api/v1/issues/{issue}", p("/issues/SEC-1"), work).json(json!({ "priority": "high" })),
        post("/api/v1/issues/{issue}/move", p("/issues/SEC-1/move"), work).json(json!({ "status": "In progress" })),
        post("/api/v1/issues/{issue}/work-log", p("/issues/SEC-1/work-log"), work).json(json!({ "time_spent": "30m" })),
        post("/api/v1/issues/{issue}/links", p("/issues/SEC-2/links"), work)
            .json(json!({ "kind": "blocks", "issue": "SEC-1" }))
            .once(),
        delete("/api/v1/issues/{issue}/links/{id}", p(&format!("/issues/SEC-1/links/{}", f.link)), work).once(),
        post("/api/v1/issues/{issue}/attachments", p("/issues/SEC-1/attachments"), work)
            .file("files", "w.txt", b"work"),
        delete("/api/v1/attachments/{id}", p(&format!("/attachments/{}", f.issue_attachment)), work).once(),
        post("/api/v1/projects/{key}/bulk", p("/projects/SEC/bulk"), work)
            .json(json!({ "issues": ["SEC-2"], "add_labels": ["triaged"] })),
        post("/api/v1/projects/{key}/sprints", p("/projects/SEC/sprints"), work)
            .json(json!({ "name": "Sprint of {me}" })),
        post("/api/v1/projects/{key}/sprints/{id}/start", p(&format!("/projects/SEC/sprints/{sprint}/start")), work)
            .once(),
        post(
            "/api/v1/projects/{key}/sprints/{id}/complete",
            p(&format!("/projects/SEC/sprints/{sprint}/complete")),
            work,
        )
        .json(json!({}))
        .once(),
        post("/api/v1/spaces/{key}/pages", p("/spaces/SEC/pages"), work).json(json!({ "title": "Page of {me}" })),
        post("/api/v1/pages/{id}/versions/{version}/restore", p(&format!("/pages/{page}/versions/1/restore")), work)
            .json(json!({ "version": 1 }))
            .once(),
        put("/api/v1/pages/{id}", p(&format!("/pages/{page}")), work)
            .json(json!({ "title": "Runbook", "body": "Steps, revised", "version": 1 }))
            .once(),
        post("/api/v1/pages/{id}/move", p(&format!("/pages/{page}/move")), work).json(json!({ "parent_id": null })),
        post("/api/v1/pages/{id}/attachments", p(&format!("/pages/{page}/attachments")), work)
            .file("files", "m.txt", b"more"),
        delete("/api/v1/attachments/{id}", p(&format!("/attachments/{}", f.page_attachment)), work).once(),
        delete("/api/v1/pages/{id}", p(&format!("/pages/{old_page}")), work).once(),
        // Administering the project
        put("/api/v1/projects/{key}/workflow", p("/projects/SEC/workflow"), manage).json(default_workflow()),
        post("/api/v1/projects/{key}/fields", p("/projects/SEC/fields"), manage)
            .json(json!({ "name": "Team", "kind": "text" }))
            .once(),
        put("/api/v1/projects/{key}/fields/{name}", p("/projects/SEC/fields/Tier"), manage)
            .json(json!({ "options": ["Gold", "Silver", "Bronze"] })),
        delete("/api/v1/projects/{key}/fields/{name}", p("/projects/SEC/fields/Old"), manage).once(),
        post("/api/v1/projects/{key}/versions", p("/projects/SEC/versions"), manage)
            .json(json!({ "name": "1.0" }))
            .once(),
        delete("/api/v1/projects/{key}/versions/{name}", p("/projects/SEC/versions/0.9"), manage).once(),
        post("/api/v1/projects/{key}/components", p("/projects/SEC/components"), manage)
            .json(json!({ "name": "api" }))
            .once(),
        delete("/api/v1/projects/{key}/components/{name}", p("/projects/SEC/components/legacy"), manage).once(),
        get("/api/v1/projects/{key}/roles", p("/projects/SEC/roles"), manage),
        post("/api/v1/projects/{key}/roles", p("/projects/SEC/roles"), manage)
            .json(json!({ "role": "viewer", "team": "Nobody" })),
        delete("/api/v1/projects/{key}/roles/{id}", p(&format!("/projects/SEC/roles/{team_grant}")), manage).once(),
        get("/api/v1/projects/{key}/permission-scheme", p("/projects/SEC/permission-scheme"), manage),
        put("/api/v1/projects/{key}/permission-scheme", p("/projects/SEC/permission-scheme"), manage)
            .json(json!({ "scheme_id": 1 })),
        get(
            "/api/v1/projects/{key}/audit",
            p("/projects/SEC/audit"),
            Rule::Project { min: ProjectAdmin, auditor: true },
        ),
        post("/api/v1/projects/{key}/automation-rules", p("/projects/SEC/automation-rules"), manage)
            .json(new_rule.clone()),
        put(
            "/api/v1/projects/{key}/automation-rules/{id}",
            p(&format!("/projects/SEC/automation-rules/{rule}")),
            manage,
        )
        .json(new_rule),
        post(
            "/api/v1/projects/{key}/automation-rules/{id}/{action}",
            p(&format!("/projects/SEC/automation-rules/{rule}/disable")),
            manage,
        ),
        delete(
            "/api/v1/projects/{key}/automation-rules/{id}",
            p(&format!("/projects/SEC/automation-rules/{rule}")),
            manage,
        )
        .once(),
        get("/api/v1/projects/{key}/webhooks", p("/projects/SEC/webhooks"), manage),
        post("/api/v1/projects/{key}/webhooks", p("/projects/SEC/webhooks"), manage).json(hook.clone()),
        get(
            "/api/v1/projects/{key}/webhooks/{id}/deliveries",
            p(&format!("/projects/SEC/webhooks/{project_hook}/deliveries")),
            manage,
        ),
        post(
            "/api/v1/projects/{key}/webhooks/{id}/deliveries/{delivery}/redeliver",
            p(&format!("/projects/SEC/webhooks/{project_hook}/deliveries/{}/redeliver", f.project_delivery)),
            manage,
        ),
        post(
            "/api/v1/projects/{key}/webhooks/{id}/{action}",
            p(&format!("/projects/SEC/webhooks/{project_hook}/disable")),
            manage,
        ),
        delete("/api/v1/projects/{key}/webhooks/{id}", p(&format!("/projects/SEC/webhooks/{project_hook}")), manage)
            .once(),
        delete("/api/v1/issues/{issue}", p("/issues/SEC-4"), manage).once(),
        // The installation
        post("/api/v1/projects", p("/projects"), admin).json(json!({ "key": "NEW", "name": "New" })),
        post("/api/v1/spaces", p("/spaces"), admin).json(json!({ "key": "HANDBOOK", "name": "Handbook" })),
        get("/api/v1/users", p("/users"), admin),
        post("/api/v1/users", p("/users"), admin)
            .json(json!({ "username": "newbie", "display_name": "Newbie", "email": "newbie@example.test" })),
        patch("/api/v1/users/{username}", p("/users/target"), admin).json(json!({ "role": "auditor" })),
        get("/api/v1/users/{username}/tokens", p("/users/bot/tokens"), admin),
        post("/api/v1/users/{username}/tokens", p("/users/bot/tokens"), admin)
            .json(json!({ "name": "CI", "scope": "read" })),
        delete("/api/v1/users/{username}/tokens/{id}", p(&format!("/users/bot/tokens/{}", f.bot_token)), admin),
        get("/api/v1/teams", p("/teams"), admin),
        post("/api/v1/teams", p("/teams"), admin).json(json!({ "name": "Fresh" })),
        get("/api/v1/teams/{id}", p(&format!("/teams/{}", f.scratch_team)), admin),
        patch("/api/v1/teams/{id}", p(&format!("/teams/{}", f.scratch_team)), admin)
            .json(json!({ "name": "Scratched" })),
        put("/api/v1/teams/{id}/members/{username}", p(&format!("/teams/{}/members/target", f.scratch_team)), admin),
        delete("/api/v1/teams/{id}/members/{username}", p(&format!("/teams/{}/members/target", f.scratch_team)), admin),
        delete("/api/v1/teams/{id}", p(&format!("/teams/{}", f.scratch_team)), admin),
        get("/api/v1/permission-schemes", p("/permission-schemes"), admin),
        post("/api/v1/permission-schemes", p("/permission-schemes"), admin)
            .json(json!({ "name": "Another", "copy_from": 1 })),
        get("/api/v1/permission-schemes/{id}", p(&format!("/permission-schemes/{}", f.spare_scheme)), admin),
        put("/api/v1/permission-schemes/{id}", p(&format!("/permission-schemes/{}", f.spare_scheme)), admin)
            .json(small_grid()),
        delete("/api/v1/permission-schemes/{id}", p(&format!("/permission-schemes/{}", f.doomed_scheme)), admin),
        get("/api/v1/webhooks", p("/webhooks"), admin),
        post("/api/v1/webhooks", p("/webhooks"), admin).json(hook),
        get("/api/v1/webhooks/{id}/deliveries", p(&format!("/webhooks/{global_hook}/deliveries")), admin),
        post(
            "/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver",
            p(&format!("/webhooks/{global_hook}/deliveries/{}/redeliver", f.global_delivery)),
            admin,
        ),
        post("/api/v1/webhooks/{id}/{action}", p(&format!("/webhooks/{global_hook}/disable")), admin),
        delete("/api/v1/webhooks/{id}", p(&format!("/webhooks/{global_hook}")), admin),
        get("/api/v1/license", p("/license"), admin),
        get("/api/v1/admin/system", p("/admin/system"), admin),
        get("/api/v1/admin/usage", p("/admin/usage"), admin),
        // A license this test cannot sign: being allowed shows as the refusal of the text.
        put("/api/v1/license", p("/license"), admin).json(json!({ "license": "not a license" })).lenient(),
        get("/api/v1/audit", p("/audit"), Rule::Global(&[Auditor, Admin])),
        get("/api/v1/audit/export", p("/audit/export?format=json"), Rule::Global(&[Auditor, Admin])),
    ];

    // The sweep covers every operation the API documents, and nothing it does not.
    let document = api.api("GET", "/api/v1/openapi.json", None, None).json();
    let mut operations = Vec::new();
    for (template, item) in document["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            // The document itself is public; CI systems call the hooks with the URL's secret
            // as the credential (tested in deployments.rs and automation.rs).
            let public = template == "/api/v1/openapi.json" || template.starts_with("/hooks/");
            if item.get(method).is_some() && !public {
                operations.push((method.to_uppercase(), template.clone()));
            }
        }
    }
    assert!(operations.len() > 90, "only {} operations in the OpenAPI document", operations.len());
    let missing: Vec<String> = operations
        .iter()
        .filter(|(m, t)| !cases.iter().any(|c| c.method == m && c.template == t))
        .map(|(m, t)| format!("{m} {t}"))
        .collect();
    assert!(missing.is_empty(), "operations the matrix does not cover:\n{}", missing.join("\n"));
    for case in &cases {
        let documented = operations.iter().any(|(m, t)| m == case.method && t == case.template);
        assert!(documented, "{} {} is not in the OpenAPI document", case.method, case.template);
    }

    let wrong = sweep(&app, &cases, &mut people, |case, _, (who, caller, _)| {
        let me = who.username();
        match &case.body {
            Body::File(field, name, bytes) => {
                let (content_type, body) = multipart(&[], &[(*field, *name, *bytes)]);
                api.api_raw(&case.path, &caller.token, &content_type, &body)
            }
            Body::Csv(text) => api.api_raw(&case.path, &caller.token, "text/csv", text.as_bytes()),
            Body::Json(body) => {
                let body = body.to_string().replace("{me}", &me);
                api.api(case.method, &case.path, Some(&caller.token), Some(&body))
            }
            Body::Empty | Body::Form(_) => api.api(case.method, &case.path, Some(&caller.token), None),
        }
    });
    assert!(wrong.is_empty(), "{} wrong answers:\n{}", wrong.len(), wrong.join("\n"));
}
