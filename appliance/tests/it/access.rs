//! Roles and permission schemes end to end: a project narrowed to named people, each role
//! allowed what its scheme gives it and refused the rest, outsiders told that nothing exists
//! (404, in the same words as for what really does not exist), grants to teams, and the
//! refusals of bad grants, each changing nothing.

use outpost::audit::Actor;
use outpost::identity::roles::GlobalRole;
use outpost::identity::users::{self, NewUser};
use serde_json::{json, Value};

use crate::support::{Client, TestApp, PASSWORD};

pub(crate) struct Caller {
    pub(crate) token: String,
}

pub(crate) fn call(api: &mut Client, who: &Caller, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let body = body.map(|body| body.to_string());
    let reply = api.api(method, path, Some(&who.token), body.as_deref());
    let json = if reply.body.is_empty() { Value::Null } else { reply.json() };
    (reply.status, json)
}

pub(crate) fn person(app: &TestApp, name: &str, role: GlobalRole) -> Caller {
    let new = NewUser {
        username: name.into(),
        display_name: name.into(),
        email: format!("{name}@example.test"),
        password: PASSWORD.into(),
        role,
        is_service: false,
    };
    let user = users::create(&mut app.conn(), &Actor::system(), new).unwrap();
    Caller { token: app.token(&user) }
}

/// Project SEC with its opening grant to everyone removed: only those given a role see it.
pub(crate) fn private_project(api: &mut Client, root: &Caller) {
    assert_eq!(call(api, root, "POST", "/api/v1/projects", Some(json!({ "key": "SEC", "name": "Secret" }))).0, 201);
    let everyone = call(api, root, "GET", "/api/v1/projects/SEC/roles", None).1["grants"][0]["id"].as_i64().unwrap();
    assert_eq!(call(api, root, "DELETE", &format!("/api/v1/projects/SEC/roles/{everyone}"), None).0, 204);
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

    // The project's person pickers offer its people: granted a role themselves or through a
    // team, and its lead; not the auditor, who reads everything but holds no role in it.
    let sec: i64 = app.value("SELECT id::text FROM projects WHERE key = 'SEC'").parse().unwrap();
    let mut offered: Vec<String> =
        users::project_refs(&mut app.conn(), sec).unwrap().into_iter().map(|person| person.username).collect();
    offered.sort();
    assert_eq!(offered, ["mona", "otto", "rex", "root", "vera"]);
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

#[test]
fn administrators_manage_accounts_and_never_lose_the_last_administrator() {
    let app = TestApp::start();
    let mut api = app.client();
    let root = person(&app, "root", GlobalRole::Admin);
    let (status, created) = call(
        &mut api,
        &root,
        "POST",
        "/api/v1/users",
        Some(json!({ "username": "Ada", "display_name": "Ada Lovelace", "email": "ada@example.test" })),
    );
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        (created["user"]["username"].as_str(), created["user"]["global_role"].as_str()),
        (Some("ada"), Some("user"))
    );
    let password = created["password"].as_str().unwrap().to_owned();
    let mut browser = app.client();
    assert_eq!(browser.sign_in("ada", &password).status, 303, "the generated password signs in");
    let ada = Caller { token: app.token(&users::find_by_username(&mut app.conn(), "ada").unwrap().unwrap()) };

    // Not an administrator: no account API, no administration pages.
    assert_eq!(call(&mut api, &ada, "GET", "/api/v1/users", None).0, 403);
    assert_eq!(browser.get("/admin/users").status, 403);
    assert_eq!(call(&mut api, &ada, "PATCH", "/api/v1/users/ada", Some(json!({ "role": "admin" }))).0, 403);

    // The last active administrator stays one, and stays active.
    let before = app.count("audit_log");
    for change in [json!({ "role": "user" }), json!({ "active": false })] {
        let (status, body) = call(&mut api, &root, "PATCH", "/api/v1/users/root", Some(change));
        assert_eq!(status, 409, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("last active administrator"), "{body}");
    }
    let (status, body) = call(&mut api, &root, "PATCH", "/api/v1/users/ada", Some(json!({ "role": "boss" })));
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("role")));
    assert_eq!(app.count("audit_log"), before, "refusals record nothing");

    // Deactivation ends sessions and stops tokens; the name stays; reactivation restores.
    let (status, body) = call(&mut api, &root, "PATCH", "/api/v1/users/ada", Some(json!({ "active": false })));
    assert_eq!((status, body["is_active"].as_bool()), (200, Some(false)));
    assert_eq!(browser.get("/").status, 303, "the session ended");
    assert_eq!(call(&mut api, &ada, "GET", "/api/v1/projects", None).0, 401);
    assert_eq!(app.value("SELECT display_name FROM users WHERE username = 'ada'"), "Ada Lovelace");
    assert_eq!(
        call(&mut api, &root, "PATCH", "/api/v1/users/ada", Some(json!({ "active": true, "role": "auditor" }))).0,
        200
    );
    assert_eq!(call(&mut api, &ada, "GET", "/api/v1/projects", None).0, 200);
    assert_eq!(app.count("audit_log WHERE action IN ('user.deactivated', 'user.reactivated', 'user.role_changed')"), 3);

    // The page: create an account, see its one-time password, deactivate it.
    let mut admin = app.client();
    admin.sign_in("root", PASSWORD);
    let csrf = admin.session_csrf();
    let page = admin.post_form(
        "/admin/users",
        &[
            ("csrf_token", &csrf),
            ("username", "grace"),
            ("display_name", "Grace Hopper"),
            ("email", "grace@example.test"),
            ("role", "user"),
        ],
    );
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("The account <strong>grace</strong> was created") && page.body.contains("class=\"secret\"")
    );
    let refused = admin.post_form(
        "/admin/users",
        &[
            ("csrf_token", &csrf),
            ("username", "grace"),
            ("display_name", "Again"),
            ("email", "other@example.test"),
            ("role", "user"),
        ],
    );
    assert_eq!(refused.status, 409);
    assert!(
        refused.body.contains("A user named grace already exists") && refused.body.contains("value=\"Again\""),
        "typed input is kept"
    );
    assert_eq!(admin.post_form("/admin/users/grace/deactivate", &[("csrf_token", &csrf)]).status, 303);
    assert_eq!(app.value("SELECT is_active::text FROM users WHERE username = 'grace'"), "false");
}

#[test]
fn teams_carry_their_grants_to_whoever_is_a_member() {
    let app = TestApp::start();
    let mut api = app.client();
    let root = person(&app, "root", GlobalRole::Admin);
    let otto = person(&app, "otto", GlobalRole::User);
    private_project(&mut api, &root);

    let (status, team) = call(&mut api, &root, "POST", "/api/v1/teams", Some(json!({ "name": "Platform" })));
    assert_eq!(status, 201, "{team}");
    let id = team["id"].as_i64().unwrap();
    let (status, body) = call(&mut api, &root, "POST", "/api/v1/teams", Some(json!({ "name": "platform" })));
    assert_eq!((status, body["error"]["message"].as_str()), (409, Some("There is already a team named Platform.")));
    call(&mut api, &root, "POST", "/api/v1/teams", Some(json!({ "name": "Storage" })));
    let (status, body) =
        call(&mut api, &root, "PATCH", &format!("/api/v1/teams/{id}"), Some(json!({ "name": "STORAGE" })));
    assert_eq!((status, body["error"]["message"].as_str()), (409, Some("There is already a team named Storage.")));
    assert_eq!(app.value(&format!("SELECT name FROM teams WHERE id = {id}")), "Platform");
    let (status, body) = call(&mut api, &root, "PUT", &format!("/api/v1/teams/{id}/members/ghost"), None);
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("user")));
    assert_eq!(
        call(
            &mut api,
            &root,
            "POST",
            "/api/v1/projects/SEC/roles",
            Some(json!({ "role": "member", "team": "Platform" }))
        )
        .0,
        201
    );

    assert_eq!(call(&mut api, &otto, "GET", "/api/v1/projects/SEC", None).0, 404, "not yet a member");
    assert_eq!(call(&mut api, &root, "PUT", &format!("/api/v1/teams/{id}/members/otto"), None).0, 204);
    assert_eq!(call(&mut api, &root, "PUT", &format!("/api/v1/teams/{id}/members/otto"), None).0, 204, "twice is once");
    assert_eq!(call(&mut api, &root, "GET", &format!("/api/v1/teams/{id}"), None).1["members"][0]["username"], "otto");
    assert_eq!(call(&mut api, &otto, "GET", "/api/v1/projects/SEC", None).0, 200, "a member through the team");
    assert_eq!(
        call(&mut api, &otto, "POST", "/api/v1/projects/SEC/issues", Some(json!({ "title": "From the team" }))).0,
        201
    );

    assert_eq!(call(&mut api, &root, "DELETE", &format!("/api/v1/teams/{id}/members/otto"), None).0, 204);
    assert_eq!(call(&mut api, &otto, "GET", "/api/v1/projects/SEC", None).0, 404, "no longer a member");
    assert_eq!(call(&mut api, &root, "DELETE", &format!("/api/v1/teams/{id}"), None).0, 204);
    assert_eq!(app.count("project_role_grants WHERE team_id IS NOT NULL"), 0, "the team's grants went with it");
    assert_eq!(app.count(&format!("audit_log WHERE action LIKE 'team.%' AND entity_id = {id}")), 4);

    // The pages do the same.
    let mut admin = app.client();
    admin.sign_in("root", PASSWORD);
    let csrf = admin.session_csrf();
    let created =
        admin.post_form("/admin/teams", &[("csrf_token", &csrf), ("name", "Database"), ("description", "DBAs")]);
    assert_eq!(created.status, 303, "{}", created.body);
    let team_page = created.location.unwrap();
    let added = admin.post_form(&format!("{team_page}/add"), &[("csrf_token", &csrf), ("username", "otto")]);
    assert_eq!(added.status, 303);
    assert!(admin.get(&team_page).body.contains("<code>otto</code>"));
    let refused = admin.post_form(&format!("{team_page}/add"), &[("csrf_token", &csrf), ("username", "nobody")]);
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("There is no user named nobody.") && refused.body.contains("value=\"nobody\""));
}

#[test]
fn a_scheme_decides_what_each_role_may_and_refuses_grids_that_lock_everyone_out() {
    let app = TestApp::start();
    let mut api = app.client();
    let root = person(&app, "root", GlobalRole::Admin);
    let rex = person(&app, "rex", GlobalRole::User);
    private_project(&mut api, &root);
    call(&mut api, &root, "POST", "/api/v1/projects/SEC/roles", Some(json!({ "role": "reporter", "user": "rex" })));
    call(&mut api, &root, "POST", "/api/v1/projects/SEC/issues", Some(json!({ "title": "Keys" })));
    assert_eq!(call(&mut api, &rex, "POST", "/api/v1/issues/SEC-1/comments", Some(json!({ "body": "hi" }))).0, 201);

    let (_, default) = call(&mut api, &root, "GET", "/api/v1/projects/SEC/permission-scheme", None);
    let (status, copy) = call(
        &mut api,
        &root,
        "POST",
        "/api/v1/permission-schemes",
        Some(json!({ "name": "Quiet reporters", "copy_from": default["id"] })),
    );
    assert_eq!(status, 201, "{copy}");
    let schemes = app.count("permission_schemes");
    let (status, body) = call(
        &mut api,
        &root,
        "POST",
        "/api/v1/permission-schemes",
        Some(json!({ "name": "From nothing", "copy_from": 999999 })),
    );
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("copy_from")));
    let (status, _) = call(
        &mut api,
        &root,
        "POST",
        "/api/v1/permission-schemes",
        Some(json!({ "name": "quiet REPORTERS", "copy_from": default["id"] })),
    );
    assert_eq!(status, 409, "scheme names are unique whatever their case");
    assert_eq!(app.count("permission_schemes"), schemes);
    let id = copy["id"].as_i64().unwrap();
    let mut grants = copy["grants"].clone();
    grants["comment"] = json!(["project_admin", "member"]);
    let put = |api: &mut Client, grants: &Value| {
        call(
            api,
            &root,
            "PUT",
            &format!("/api/v1/permission-schemes/{id}"),
            Some(json!({ "name": "Quiet reporters", "grants": grants })),
        )
    };
    assert_eq!(put(&mut api, &grants).0, 200);
    assert_eq!(
        call(&mut api, &root, "PUT", "/api/v1/projects/SEC/permission-scheme", Some(json!({ "scheme_id": id }))).0,
        200
    );
    let (status, body) =
        call(&mut api, &rex, "POST", "/api/v1/issues/SEC-1/comments", Some(json!({ "body": "again" })));
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (403, Some("Your role in SEC does not allow you to comment."))
    );

    // Grids that would lock a project out are refused, and change nothing.
    let saved = call(&mut api, &root, "GET", &format!("/api/v1/permission-schemes/{id}"), None).1;
    for (change, field) in [
        (json!({ "browse": [] }), "browse"),
        (json!({ "administer_project": ["member"] }), "administer_project"),
        (json!({ "comment": ["viewer"], "browse": ["project_admin", "member", "reporter"] }), "comment"),
        (json!({ "fly": ["member"] }), "grants"),
        (json!({ "comment": ["boss"] }), "grants"),
    ] {
        let mut bad = grants.clone();
        for (permission, roles) in change.as_object().unwrap() {
            bad[permission] = roles.clone();
        }
        let (status, body) = put(&mut api, &bad);
        assert_eq!((status, body["error"]["field"].as_str()), (422, Some(field)), "{change}: {body}");
    }
    assert_eq!(call(&mut api, &root, "GET", &format!("/api/v1/permission-schemes/{id}"), None).1, saved);
    let (status, body) = call(&mut api, &root, "DELETE", &format!("/api/v1/permission-schemes/{id}"), None);
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (409, Some("Quiet reporters is used by SEC; give them another scheme first."))
    );

    // The project's Access page shows the roles and the scheme, and grants through a form.
    let mut admin = app.client();
    admin.sign_in("root", PASSWORD);
    let csrf = admin.session_csrf();
    let page = admin.get("/projects/SEC/access");
    assert!(
        page.body.contains("Permission scheme: Quiet reporters") && page.body.contains("<code>rex</code>"),
        "{}",
        page.body
    );
    let granted = admin.post_form(
        "/projects/SEC/access/grant",
        &[("csrf_token", &csrf), ("role", "viewer"), ("kind", "everyone"), ("name", "")],
    );
    assert_eq!(granted.status, 303, "{}", granted.body);
    let refused = admin.post_form(
        "/projects/SEC/access/grant",
        &[("csrf_token", &csrf), ("role", "viewer"), ("kind", "user"), ("name", "")],
    );
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("Name the user or team"), "{}", refused.body);
    let mut member_browser = app.client();
    app.sql("UPDATE users SET password_hash = (SELECT password_hash FROM users WHERE username = 'root') WHERE username = 'rex'");
    member_browser.sign_in("rex", PASSWORD);
    assert_eq!(member_browser.get("/projects/SEC/access").status, 403, "a reporter does not administer");
}

#[test]
fn people_keep_their_own_profile() {
    let app = TestApp::start();
    let (mut browser, _) = app.signed_in("mia", false);
    let csrf = browser.session_csrf();
    let page = browser.get("/settings/profile");
    assert!(
        page.body.contains("class=\"avatar large\"") && page.body.contains(">MT<"),
        "initials of “mia (test)”: {}",
        page.body
    );
    let saved = browser.post_form(
        "/settings/profile",
        &[
            ("csrf_token", &csrf),
            ("display_name", "Mia Wong"),
            ("email", "mia@example.test"),
            ("timezone", "Europe/Berlin"),
        ],
    );
    assert_eq!(saved.status, 200);
    assert!(saved.body.contains("Your profile is saved."));
    assert_eq!(app.value("SELECT timezone FROM users WHERE username = 'mia'"), "Europe/Berlin");
    let refused = browser.post_form(
        "/settings/profile",
        &[
            ("csrf_token", &csrf),
            ("display_name", "Mia W"),
            ("email", "mia@example.test"),
            ("timezone", "Mars/Olympus"),
        ],
    );
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("“Mars/Olympus” is not a time zone") && refused.body.contains("value=\"Mia W\""));
    assert_eq!(app.value("SELECT display_name FROM users WHERE username = 'mia'"), "Mia Wong", "nothing half-saved");
    app.user("ola", false);
    let taken = browser.post_form(
        "/settings/profile",
        &[("csrf_token", &csrf), ("display_name", "Mia"), ("email", "OLA@example.test"), ("timezone", "UTC")],
    );
    assert_eq!(taken.status, 409);
    assert!(taken.body.contains("Another user already has the email ola@example.test."));
    assert_eq!(app.value("SELECT email FROM users WHERE username = 'mia'"), "mia@example.test");
}

#[test]
fn a_token_acts_with_at_most_its_scope_and_service_accounts_live_on_tokens() {
    use outpost::identity::tokens::{self, TokenScope};
    let app = TestApp::start();
    let mut api = app.client();
    let root_user = app.user("root", true);
    let root = Caller { token: app.token(&root_user) };
    let scoped = |scope| {
        let (_, secret) = tokens::create(&mut app.conn(), &Actor::system(), &root_user, "scoped", scope, None).unwrap();
        Caller { token: secret }
    };
    assert_eq!(call(&mut api, &root, "POST", "/api/v1/projects", Some(json!({ "key": "OPS", "name": "Ops" }))).0, 201);

    // read: looks only, and a refused change writes nothing.
    let reader = scoped(TokenScope::Read);
    assert_eq!(call(&mut api, &reader, "GET", "/api/v1/projects/OPS", None).0, 200);
    let before = app.count("issues");
    let (status, body) = call(&mut api, &reader, "POST", "/api/v1/projects/OPS/issues", Some(json!({ "title": "x" })));
    assert_eq!(status, 403);
    assert!(body["error"]["message"].as_str().unwrap().contains("read scope"), "{body}");
    assert_eq!(app.count("issues"), before);

    // write: an administrator's token works in projects but does not administer.
    let writer = scoped(TokenScope::Write);
    assert_eq!(call(&mut api, &writer, "POST", "/api/v1/projects/OPS/issues", Some(json!({ "title": "x" }))).0, 201);
    let (status, body) =
        call(&mut api, &writer, "POST", "/api/v1/projects", Some(json!({ "key": "WEB", "name": "Web" })));
    assert_eq!((status, body["error"]["message"].as_str()), (403, Some("Only administrators can create projects.")));
    assert_eq!(call(&mut api, &writer, "GET", "/api/v1/users", None).0, 403);

    // Only an administrator's token can have the admin scope.
    let (mut mia, mia_user) = app.signed_in("mia", false);
    let refused =
        tokens::create(&mut app.conn(), &Actor::system(), &mia_user, "x", TokenScope::Admin, None).unwrap_err();
    assert_eq!(refused.field(), Some("scope"));
    let csrf = mia.session_csrf();
    let page = mia.post_form(
        "/settings/tokens",
        &[("csrf_token", &csrf), ("name", "mine"), ("expires_in_days", ""), ("scope", "admin")],
    );
    assert_eq!(page.status, 422);
    assert!(page.body.contains("token can have the admin scope"), "{}", page.body);

    // A service account: no password, no sign-in, tokens made by administrators.
    let (status, body) = call(
        &mut api,
        &root,
        "POST",
        "/api/v1/users",
        Some(
            json!({ "username": "ci-bot", "display_name": "CI", "email": "ci@example.test", "service": true, "password": "x" }),
        ),
    );
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("password")));
    let (status, body) = call(
        &mut api,
        &root,
        "POST",
        "/api/v1/users",
        Some(json!({ "username": "ci-bot", "display_name": "CI", "email": "ci@example.test", "service": true })),
    );
    assert_eq!(
        (status, body["password"].clone(), body["user"]["is_service"].clone()),
        (201, Value::Null, json!(true)),
        "{body}"
    );
    let mut admin = app.client();
    admin.sign_in("root", PASSWORD);
    let csrf = admin.session_csrf();
    let hash_before = app.value("SELECT password_hash FROM users WHERE username = 'ci-bot'");
    let refused = admin.post_form("/admin/users/ci-bot/password", &[("csrf_token", &csrf)]);
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("it has tokens, not a password"));
    assert_eq!(app.value("SELECT password_hash FROM users WHERE username = 'ci-bot'"), hash_before);
    let signed = app.client().sign_in("ci-bot", "!service-account");
    assert_eq!(signed.status, 401, "no password signs a service account in");
    let (status, made) = call(
        &mut api,
        &root,
        "POST",
        "/api/v1/users/ci-bot/tokens",
        Some(json!({ "name": "pipeline", "scope": "write" })),
    );
    assert_eq!(status, 201, "{made}");
    let bot = Caller { token: made["secret"].as_str().unwrap().to_owned() };
    assert_eq!(call(&mut api, &bot, "POST", "/api/v1/projects/OPS/issues", Some(json!({ "title": "from CI" }))).0, 201);
    let (status, body) =
        call(&mut api, &root, "POST", "/api/v1/users/mia/tokens", Some(json!({ "name": "x", "scope": "read" })));
    assert_eq!(status, 409, "a person's tokens are their own: {body}");
    let listed = call(&mut api, &root, "GET", "/api/v1/users/ci-bot/tokens", None).1;
    assert_eq!(listed["tokens"][0]["scope"], "write");
    let id = made["token"]["id"].as_i64().unwrap();
    assert_eq!(call(&mut api, &root, "DELETE", &format!("/api/v1/users/ci-bot/tokens/{id}"), None).0, 204);
    let (status, body) = call(&mut api, &bot, "GET", "/api/v1/projects", None);
    assert_eq!((status, body["error"]["message"].as_str()), (401, Some("The API token has been revoked.")));
}

/// Waits until at least 15 seconds remain in this minute, so a test of per-minute windows
/// does not straddle two of them.
fn early_in_a_minute() {
    let seconds = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() % 60;
    while seconds() > 45 {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn api_requests_past_the_limits_wait_with_429_and_retry_after() {
    let app = TestApp::start_with(&[
        ("OUTPOST_API_REQUESTS_PER_MINUTE", "5"),
        ("OUTPOST_API_REQUESTS_PER_MINUTE_PER_ADDRESS", "100"),
        ("OUTPOST_API_FAILED_TOKENS_PER_MINUTE", "3"),
    ]);
    let (ada, bob) = (app.user("ada", false), app.user("bob", false));
    let (ada, bob) = (app.token(&ada), app.token(&bob));
    let mut api = app.client();
    early_in_a_minute();
    for _ in 0..5 {
        assert_eq!(api.api("GET", "/api/v1/projects", Some(&ada), None).status, 200);
    }
    let refused = api.api("GET", "/api/v1/projects", Some(&ada), None);
    assert_eq!(refused.status, 429, "{}", refused.body);
    let wait: u64 = refused.header("Retry-After").expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert!(refused.json()["error"]["message"].as_str().unwrap().contains("made 5 API requests this minute"));
    assert_eq!(api.api("GET", "/api/v1/projects", Some(&bob), None).status, 200, "each account has its own limit");

    // Tokens that do not work: after three, this address waits, even with a good token.
    for _ in 0..3 {
        assert_eq!(api.api("GET", "/api/v1/projects", Some("op_0000"), None).status, 401);
    }
    let blocked = api.api("GET", "/api/v1/projects", Some(&bob), None);
    assert_eq!(blocked.status, 429);
    assert!(blocked.header("Retry-After").is_some());
}

/// A reporter may rank their own issue, which a board sends with the status the card is
/// already in; only a move to another status needs the right to transition.
#[test]
fn reordering_a_card_within_its_column_is_not_a_transition() {
    let app = TestApp::start();
    let mut api = app.client();
    let root = person(&app, "root", GlobalRole::Admin);
    private_project(&mut api, &root);
    let rex = person(&app, "rex", GlobalRole::User);
    let grant = json!({ "role": "reporter", "user": "rex" });
    assert_eq!(call(&mut api, &root, "POST", "/api/v1/projects/SEC/roles", Some(grant)).0, 201);
    for title in ["First", "Mine"] {
        let who = if title == "Mine" { &rex } else { &root };
        assert_eq!(call(&mut api, who, "POST", "/api/v1/projects/SEC/issues", Some(json!({ "title": title }))).0, 201);
    }
    let reorder = json!({ "status": "To do", "before": "SEC-1" });
    let (status, body) = call(&mut api, &rex, "POST", "/api/v1/issues/SEC-2/move", Some(reorder));
    assert_eq!((status, body["status"].as_str()), (200, Some("To do")), "{body}");
    let first = app.value("SELECT number::text FROM issues ORDER BY rank LIMIT 1");
    assert_eq!(first, "2", "SEC-2 now ranks before SEC-1");
    let audit_rows = app.count("audit_log");
    let (status, body) = call(&mut api, &rex, "POST", "/api/v1/issues/SEC-2/move", Some(json!({ "status": "Done" })));
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (403, Some("Your role in SEC does not allow you to move issues between statuses."))
    );
    assert_eq!(app.count("audit_log"), audit_rows);
}
