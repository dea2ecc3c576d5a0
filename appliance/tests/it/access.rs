//! Roles and permission schemes end to end: a project narrowed to named people, each role
//! allowed what its scheme gives it and refused the rest, outsiders told that nothing exists
//! (404, in the same words as for what really does not exist), grants to teams, and the
//! refusals of bad grants, each changing nothing.

use outpost::audit::Actor;
use outpost::identity::roles::GlobalRole;
use outpost::identity::users::{self, NewUser};
use serde_json::{json, Value};

use crate::support::{Client, TestApp, PASSWORD};

struct Caller {
    token: String,
}

fn call(api: &mut Client, who: &Caller, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let body = body.map(|body| body.to_string());
    let reply = api.api(method, path, Some(&who.token), body.as_deref());
    let json = if reply.body.is_empty() { Value::Null } else { reply.json() };
    (reply.status, json)
}

fn person(app: &TestApp, name: &str, role: GlobalRole) -> Caller {
    let new = NewUser {
        username: name.into(),
        display_name: name.into(),
        email: format!("{name}@example.test"),
        password: PASSWORD.into(),
        role,
    };
    let user = users::create(&mut app.conn(), &Actor::system(), new).unwrap();
    Caller { token: app.token(&user) }
}

#[test]
fn each_role_may_do_what_its_scheme_gives_and_outsiders_see_nothing() {
    let app = TestApp::start();
    let mut api = app.client();
    let root = person(&app, "root", GlobalRole::Admin);
    let created = call(&mut api, &root, "POST", "/api/v1/projects", Some(json!({ "key": "SEC", "name": "Secret" })));
    assert_eq!(created.0, 201, "{created:?}");
    let (status, grants) = call(&mut api, &root, "GET", "/api/v1/projects/SEC/roles", None);
    assert_eq!(status, 200);
    assert_eq!(grants["grants"][0]["grantee_type"], "everyone", "a new project starts open to everyone: {grants}");
    let everyone = grants["grants"][0]["id"].as_i64().unwrap();
    assert_eq!(call(&mut api, &root, "DELETE", &format!("/api/v1/projects/SEC/roles/{everyone}"), None).0, 204);

    let [vera, rex, mona, otto] = ["vera", "rex", "mona", "otto"].map(|name| person(&app, name, GlobalRole::User));
    let audrey = person(&app, "audrey", GlobalRole::Auditor);
    for (name, role) in [("vera", "viewer"), ("rex", "reporter"), ("mona", "member")] {
        let granted =
            call(&mut api, &root, "POST", "/api/v1/projects/SEC/roles", Some(json!({ "role": role, "user": name })));
        assert_eq!(granted.0, 201, "{granted:?}");
    }
    let issue = json!({ "title": "Rotate the vault keys", "description": "quarterly" });
    assert_eq!(call(&mut api, &root, "POST", "/api/v1/projects/SEC/issues", Some(issue.clone())).0, 201);
    app.index();

    // The outsider: everything about SEC is "not there", worded as for what does not exist.
    let (status, body) = call(&mut api, &otto, "GET", "/api/v1/projects/SEC", None);
    assert_eq!((status, body["error"]["message"].as_str()), (404, Some("There is no project with key SEC.")));
    let (_, missing) = call(&mut api, &otto, "GET", "/api/v1/projects/NOPE", None);
    assert_eq!(missing["error"]["message"], "There is no project with key NOPE.");
    let (status, body) = call(&mut api, &otto, "GET", "/api/v1/issues/SEC-1", None);
    assert_eq!((status, body["error"]["message"].as_str()), (404, Some("There is no issue SEC-1.")));
    assert_eq!(call(&mut api, &otto, "GET", "/api/v1/issues/SEC-1/comments", None).0, 404);
    assert_eq!(call(&mut api, &otto, "POST", "/api/v1/projects/SEC/issues", Some(issue.clone())).0, 404);
    assert_eq!(call(&mut api, &otto, "GET", "/api/v1/search?q=vault", None).1["total"], 0);
    let (_, listed) = call(&mut api, &otto, "GET", "/api/v1/projects", None);
    assert!(!listed.to_string().contains("\"SEC\""), "{listed}");
    let mut browser = app.client();
    browser.sign_in("otto", PASSWORD);
    assert_eq!(browser.get("/issues/SEC-1").status, 404);
    assert_eq!(browser.get("/projects/SEC/issues").status, 404);

    // The viewer reads and does nothing else.
    assert_eq!(call(&mut api, &vera, "GET", "/api/v1/issues/SEC-1", None).0, 200);
    assert_eq!(call(&mut api, &vera, "GET", "/api/v1/search?q=vault", None).1["total"], 1);
    let (status, body) =
        call(&mut api, &vera, "POST", "/api/v1/issues/SEC-1/comments", Some(json!({ "body": "seen" })));
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (403, Some("Your role in SEC does not allow you to comment."))
    );
    assert_eq!(call(&mut api, &vera, "POST", "/api/v1/projects/SEC/issues", Some(issue.clone())).0, 403);

    // The reporter creates and edits their own issues, not others', and does not move them.
    assert_eq!(call(&mut api, &rex, "POST", "/api/v1/projects/SEC/issues", Some(issue.clone())).0, 201);
    let retitle = json!({ "title": "Rotate the vault keys monthly" });
    assert_eq!(call(&mut api, &rex, "PATCH", "/api/v1/issues/SEC-2", Some(retitle.clone())).0, 200);
    assert_eq!(call(&mut api, &rex, "PATCH", "/api/v1/issues/SEC-1", Some(retitle.clone())).0, 403);
    let (status, _) = call(&mut api, &rex, "PATCH", "/api/v1/issues/SEC-2", Some(json!({ "status": "In Progress" })));
    assert_eq!(status, 403, "reporters may not move issues between statuses");
    assert_eq!(call(&mut api, &rex, "POST", "/api/v1/issues/SEC-1/comments", Some(json!({ "body": "ok" }))).0, 201);

    // The member works on every issue, but does not administer the project.
    assert_eq!(call(&mut api, &mona, "PATCH", "/api/v1/issues/SEC-1", Some(retitle)).0, 200);
    let moved = call(&mut api, &mona, "PATCH", "/api/v1/issues/SEC-2", Some(json!({ "status": "In Progress" })));
    assert_eq!(moved.0, 200, "{moved:?}");
    assert_eq!(call(&mut api, &mona, "GET", "/api/v1/projects/SEC/roles", None).0, 403);

    // The auditor reads everything and changes nothing.
    assert_eq!(call(&mut api, &audrey, "GET", "/api/v1/issues/SEC-1", None).0, 200);
    assert_eq!(call(&mut api, &audrey, "POST", "/api/v1/issues/SEC-1/comments", Some(json!({ "body": "x" }))).0, 403);
    assert_eq!(call(&mut api, &audrey, "POST", "/api/v1/projects", Some(json!({ "key": "AUD", "name": "A" }))).0, 403);

    // A grant to a team reaches its members.
    app.sql("INSERT INTO teams (name) VALUES ('Platform')");
    app.sql(
        "INSERT INTO team_members (team_id, user_id) SELECT t.id, u.id FROM teams t, users u WHERE u.username = 'otto'",
    );
    let granted = call(
        &mut api,
        &root,
        "POST",
        "/api/v1/projects/SEC/roles",
        Some(json!({ "role": "viewer", "team": "platform" })),
    );
    assert_eq!((granted.0, granted.1["grantee"].as_str()), (201, Some("Platform")));
    assert_eq!(call(&mut api, &otto, "GET", "/api/v1/issues/SEC-1", None).0, 200);
}

#[test]
fn bad_grants_are_refused_by_field_and_change_nothing() {
    let app = TestApp::start();
    let mut api = app.client();
    let root = person(&app, "root", GlobalRole::Admin);
    assert_eq!(call(&mut api, &root, "POST", "/api/v1/projects", Some(json!({ "key": "SEC", "name": "S" }))).0, 201);
    let before = app.count("project_role_grants");
    let audited = app.count("audit_log");
    for (body, field, sentence) in [
        (json!({ "role": "boss", "user": "root" }), "role", "“boss” is not a project role"),
        (json!({ "role": "member" }), "user", "Give exactly one of user, team or everyone"),
        (json!({ "role": "member", "user": "root", "everyone": true }), "user", "Give exactly one of user"),
        (json!({ "role": "member", "user": "ghost" }), "user", "There is no active user named ghost."),
        (json!({ "role": "member", "team": "Nobody" }), "team", "There is no team named Nobody."),
    ] {
        let (status, reply) = call(&mut api, &root, "POST", "/api/v1/projects/SEC/roles", Some(body.clone()));
        assert_eq!(status, 422, "{body}: {reply}");
        assert_eq!(reply["error"]["field"], field, "{body}: {reply}");
        assert!(reply["error"]["message"].as_str().unwrap().contains(sentence), "{body}: {reply}");
    }
    assert_eq!(call(&mut api, &root, "DELETE", "/api/v1/projects/SEC/roles/999999", None).0, 404);
    // Granting what is already held is no new grant.
    let again = call(
        &mut api,
        &root,
        "POST",
        "/api/v1/projects/SEC/roles",
        Some(json!({ "role": "member", "everyone": true })),
    );
    assert_eq!(again.0, 201);
    assert_eq!((app.count("project_role_grants"), app.count("audit_log")), (before, audited));
}
