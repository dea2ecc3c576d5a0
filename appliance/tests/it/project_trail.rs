//! Deleting issues, and a project's own audit trail: who may delete (project admins, by the
//! default scheme) and who may read the trail (project admins and auditors), the refusals
//! that delete nothing, and a trail that keeps the deleted issue while showing nothing of other
//! projects.

use outpost::identity::roles::GlobalRole;
use serde_json::{json, Value};

use crate::access::{call, person, private_project};
use crate::support::{TestApp, PASSWORD, PNG};

fn actions(trail: &Value) -> Vec<String> {
    trail["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn project_admins_delete_issues_and_the_trail_keeps_what_they_were() {
    let app = TestApp::start();
    let mut api = app.client();
    let root = person(&app, "root", GlobalRole::Admin);
    private_project(&mut api, &root);
    let [mona, paula, otto] = ["mona", "paula", "otto"].map(|name| person(&app, name, GlobalRole::User));
    let audrey = person(&app, "audrey", GlobalRole::Auditor);
    for (name, role) in [("mona", "member"), ("paula", "project_admin")] {
        let body = json!({ "role": role, "user": name });
        assert_eq!(call(&mut api, &root, "POST", "/api/v1/projects/SEC/roles", Some(body)).0, 201);
    }
    assert_eq!(
        call(&mut api, &root, "POST", "/api/v1/projects", Some(json!({ "key": "OTH", "name": "Other" }))).0,
        201
    );
    for (project, title) in [("SEC", "Rotate the vault keys"), ("SEC", "Parent epic"), ("OTH", "Elsewhere")] {
        let body = json!({ "title": title });
        assert_eq!(call(&mut api, &root, "POST", &format!("/api/v1/projects/{project}/issues"), Some(body)).0, 201);
    }
    let child = json!({ "title": "A child", "issue_type": "subtask", "parent": "SEC-2" });
    let made = call(&mut api, &root, "POST", "/api/v1/projects/SEC/issues", Some(child));
    assert_eq!(made.0, 201, "{made:?}");
    assert_eq!(
        call(&mut api, &mona, "POST", "/api/v1/issues/SEC-1/comments", Some(json!({ "body": "Looked at it" }))).0,
        201
    );
    let mut browser = app.client();
    assert_eq!(browser.sign_in("paula", PASSWORD).status, 303);
    let token = browser.session_csrf();
    let attached =
        browser.post_files("/issues/SEC-1/attachments", &[("csrf_token", &token)], &[("files", "p.png", PNG)]);
    assert_eq!(attached.status, 303, "{}", attached.body);
    app.run_jobs();
    app.index();
    assert_eq!(call(&mut api, &root, "GET", "/api/v1/search?q=vault", None).1["total"], 1);

    let mut member = app.client();
    assert_eq!(member.sign_in("mona", PASSWORD).status, 303);

    // Refused, each deleting nothing: a member (403), an outsider (404, as for no issue), an
    // auditor (403), a key not typed back, and an issue with sub-issues (409).
    let footprint = app.footprint();
    let (status, body) = call(&mut api, &mona, "DELETE", "/api/v1/issues/SEC-1", None);
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (403, Some("Your role in SEC does not allow you to delete issues."))
    );
    let (status, body) = call(&mut api, &otto, "DELETE", "/api/v1/issues/SEC-1", None);
    assert_eq!((status, body["error"]["message"].as_str()), (404, Some("There is no issue SEC-1.")));
    assert_eq!(call(&mut api, &audrey, "DELETE", "/api/v1/issues/SEC-1", None).0, 403);
    let (status, body) = call(&mut api, &paula, "DELETE", "/api/v1/issues/SEC-2", None);
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["error"]["message"],
        "SEC-2 has sub-issues (SEC-3); delete them or give them another parent first."
    );
    let page = browser.get("/issues/SEC-1");
    assert!(page.body.contains("Type <strong class=\"mono\">SEC-1</strong> to confirm"), "{}", page.body);
    let mistyped = browser.post_form("/issues/SEC-1/delete", &[("csrf_token", &token), ("confirm", "SEC-11")]);
    assert_eq!(mistyped.status, 422);
    assert!(mistyped.body.contains("Type SEC-1 to confirm; nothing was deleted."), "{}", mistyped.body);
    let forged = browser.post_form("/issues/SEC-1/delete", &[("csrf_token", "forged"), ("confirm", "SEC-1")]);
    assert_eq!(forged.status, 403);
    assert!(!member.get("/issues/SEC-1").body.contains("Delete this issue"), "offered only to who may delete");
    let member_token = member.session_csrf();
    let refused = member.post_form("/issues/SEC-1/delete", &[("csrf_token", &member_token), ("confirm", "SEC-1")]);
    assert_eq!(refused.status, 403);
    assert_eq!(app.footprint(), footprint, "the refusals wrote nothing");
    assert_eq!(app.count("attachments"), 1);

    // Deleted from the page: comments, files and the search document go with it.
    let deleted = browser.post_form("/issues/SEC-1/delete", &[("csrf_token", &token), ("confirm", "sec-1")]);
    assert_eq!((deleted.status, deleted.location.as_deref()), (303, Some("/projects/SEC/issues")));
    assert_eq!(browser.get("/issues/SEC-1").status, 404);
    assert_eq!(app.count("comments"), 0);
    assert_eq!(app.count("attachments"), 0);
    app.run_jobs();
    app.index();
    assert_eq!(call(&mut api, &root, "GET", "/api/v1/search?q=vault", None).1["total"], 0);
    // Through the API, once its sub-issue is gone; numbers are never given out again.
    assert_eq!(call(&mut api, &paula, "DELETE", "/api/v1/issues/SEC-3", None).0, 204);
    assert_eq!(call(&mut api, &paula, "DELETE", "/api/v1/issues/SEC-2", None).0, 204);
    assert_eq!(call(&mut api, &paula, "DELETE", "/api/v1/issues/SEC-2", None).0, 404);
    let made = call(&mut api, &root, "POST", "/api/v1/projects/SEC/issues", Some(json!({ "title": "After" })));
    assert_eq!(made.1["key"], "SEC-4", "{made:?}");

    // The trail: project admins and auditors read it; members and outsiders do not.
    let (status, trail) = call(&mut api, &paula, "GET", "/api/v1/projects/SEC/audit", None);
    assert_eq!(status, 200, "{trail}");
    let seen = actions(&trail);
    for expected in ["issue.deleted", "attachment.removed", "comment.created", "issue.created", "project.role_granted"]
    {
        assert!(seen.iter().any(|a| a == expected), "{expected} is in the trail: {seen:?}");
    }
    let deletion = trail["entries"].as_array().unwrap().iter().find(|e| e["action"] == "issue.deleted").unwrap();
    assert_eq!(deletion["actor"], "paula");
    assert!(trail.to_string().contains("Rotate the vault keys"), "the deleted issue's title is kept");
    assert!(!trail.to_string().contains("Elsewhere"), "nothing of another project: {trail}");
    assert!(!seen.iter().any(|a| a.starts_with("session.") || a.starts_with("user.")), "{seen:?}");
    assert_eq!(call(&mut api, &audrey, "GET", "/api/v1/projects/SEC/audit", None).0, 200);
    let (status, body) = call(&mut api, &mona, "GET", "/api/v1/projects/SEC/audit", None);
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (403, Some("Your role in SEC does not allow you to read its audit trail."))
    );
    assert_eq!(call(&mut api, &otto, "GET", "/api/v1/projects/SEC/audit", None).0, 404);
    let filtered = call(&mut api, &paula, "GET", "/api/v1/projects/SEC/audit?action=issue.deleted", None).1;
    assert_eq!(actions(&filtered), ["issue.deleted"; 3]);
    let bad = call(&mut api, &paula, "GET", "/api/v1/projects/SEC/audit?from=yesterday", None);
    assert_eq!((bad.0, bad.1["error"]["field"].as_str()), (422, Some("from")));

    // The page and its export say the same.
    let page = browser.get("/projects/SEC/audit");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Audit trail of SEC") && page.body.contains("issue.deleted"), "{}", page.body);
    assert!(page.body.contains("href=\"/projects/SEC/audit/export?format=csv"), "{}", page.body);
    let csv = browser.get("/projects/SEC/audit/export?format=csv&action=issue.deleted");
    assert_eq!(csv.status, 200);
    assert_eq!(csv.body.lines().count(), 4, "a header and three deletions: {}", csv.body);
    assert_eq!(member.get("/projects/SEC/audit").status, 403);
}
