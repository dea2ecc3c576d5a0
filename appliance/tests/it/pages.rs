//! The server-rendered pages: projects, issues, comments, lists, tokens, and their refusals.

use crate::support::{Client, TestApp};

/// Creates project `key` through the form, as an administrator would.
fn create_project(client: &mut Client, key: &str) {
    let token = client.session_csrf();
    let reply = client.post_form(
        "/projects",
        &[("csrf_token", &token), ("key", key), ("name", &format!("{key} project")), ("description", "")],
    );
    assert_eq!(reply.status, 303, "{}", reply.body);
}

fn create_issue(client: &mut Client, key: &str, fields: &[(&str, &str)]) -> String {
    let token = client.session_csrf();
    let mut form = vec![("csrf_token", token.as_str())];
    form.extend_from_slice(fields);
    let reply = client.post_form(&format!("/projects/{key}/issues"), &form);
    assert_eq!(reply.status, 303, "{}", reply.body);
    reply.location.unwrap()
}

#[test]
fn an_administrator_creates_a_project_and_sees_it_listed() {
    let app = TestApp::start();
    let (mut admin, _) = app.signed_in("root", true);
    assert!(admin.get("/projects").body.contains("New project"));
    assert_eq!(admin.get("/projects/new").status, 200);
    let token = admin.session_csrf();
    let reply = admin.post_form(
        "/projects",
        &[("csrf_token", &token), ("key", "ops"), ("name", "Operations"), ("description", "Run things")],
    );
    assert_eq!(reply.status, 303);
    assert_eq!(reply.location.as_deref(), Some("/projects/OPS/issues"), "keys are upper-cased");
    let list = admin.get("/projects");
    assert!(list.body.contains("Operations") && list.body.contains("OPS"));
    assert_eq!(admin.get("/projects/OPS").location.as_deref(), Some("/projects/OPS/issues"));
    assert_eq!(app.count("audit_log WHERE action = 'project.created'"), 1);
    assert_eq!(app.count("outbox WHERE topic = 'project.created' AND entity_type = 'project'"), 1);
}

#[test]
fn project_form_refusals_keep_the_input_and_write_nothing() {
    let app = TestApp::start();
    let (mut admin, _) = app.signed_in("root", true);
    create_project(&mut admin, "OPS");
    let (mut member, _) = app.signed_in("mia", false);
    let before = app.footprint();
    let token = admin.session_csrf();

    let bad_key = admin.post_form(
        "/projects",
        &[("csrf_token", &token), ("key", "1X"), ("name", "Kept name"), ("description", "Kept text")],
    );
    assert_eq!(bad_key.status, 422);
    assert!(bad_key.body.contains("Project key must be 2 to 10 upper-case letters or digits"));
    assert!(bad_key.body.contains("value=\"Kept name\"") && bad_key.body.contains("Kept text"));

    let taken = admin.post_form("/projects", &[("csrf_token", &token), ("key", "OPS"), ("name", "Again")]);
    assert_eq!(taken.status, 409);
    assert!(taken.body.contains("A project with key OPS already exists."));

    let no_name = admin.post_form("/projects", &[("csrf_token", &token), ("key", "NEW"), ("name", "  ")]);
    assert_eq!(no_name.status, 422);
    assert!(no_name.body.contains("Project name must be 1 to 80 characters."));

    let forged = admin.post_form("/projects", &[("csrf_token", "stale"), ("key", "NEW"), ("name", "New")]);
    assert_eq!(forged.status, 403);
    assert!(forged.body.contains("nothing was changed"));

    let member_token = member.session_csrf();
    let forbidden = member.post_form("/projects", &[("csrf_token", &member_token), ("key", "NEW"), ("name", "New")]);
    assert_eq!(forbidden.status, 403);
    assert!(forbidden.body.contains("Only administrators can create projects."));
    assert_eq!(member.get("/projects/new").status, 403);

    // Another session's token is as good as none.
    let crossed = member.post_form("/projects", &[("csrf_token", &token), ("key", "NEW"), ("name", "New")]);
    assert_eq!(crossed.status, 403);
    assert_eq!(app.footprint(), before);
}

#[test]
fn an_issue_is_created_viewed_edited_and_commented_on() {
    let app = TestApp::start();
    let (mut admin, _) = app.signed_in("root", true);
    app.user("bob", false);
    create_project(&mut admin, "OPS");
    assert_eq!(admin.get("/projects/OPS/issues/new").status, 200);
    let location = create_issue(
        &mut admin,
        "OPS",
        &[
            ("title", "Disk fills up"),
            ("type", "bug"),
            ("status", "todo"),
            ("priority", "high"),
            ("assignee", "bob"),
            ("description", "**Bold** <script>alert(1)</script>"),
        ],
    );
    assert_eq!(location, "/issues/OPS-1");

    let page = admin.get("/issues/OPS-1");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Disk fills up"));
    assert!(page.body.contains("<strong>Bold</strong>"), "Markdown is rendered");
    assert!(!page.body.contains("<script>alert(1)"), "raw HTML is not");
    assert!(page.body.contains("&lt;script&gt;"), "it is shown as text");
    assert!(page.body.contains("bob (test)") && page.body.contains("High"));

    let edit = admin.get("/issues/OPS-1/edit");
    assert!(edit.body.contains("value=\"Disk fills up\""));
    let token = admin.session_csrf();
    let saved = admin.post_form(
        "/issues/OPS-1/edit",
        &[
            ("csrf_token", &token),
            ("title", "Disk fills up at night"),
            ("type", "bug"),
            ("status", "in_progress"),
            ("priority", "high"),
            ("assignee", ""),
            ("description", ""),
        ],
    );
    assert_eq!(saved.status, 303, "{}", saved.body);
    let page = admin.get("/issues/OPS-1");
    assert!(
        page.body.contains("Disk fills up at night")
            && page.body.contains("In progress")
            && page.body.contains("Unassigned")
    );

    let mut conn = app.conn();
    use diesel::prelude::*;
    let (before, after): (Option<serde_json::Value>, Option<serde_json::Value>) = outpost::schema::audit_log::table
        .filter(outpost::schema::audit_log::action.eq("issue.updated"))
        .select((outpost::schema::audit_log::before_state, outpost::schema::audit_log::after_state))
        .first(&mut conn)
        .unwrap();
    let (before, after) = (before.unwrap(), after.unwrap());
    assert_eq!(before["status"], "To do");
    assert_eq!(after["status"], "In progress");
    assert_eq!(after["assignee_id"], serde_json::Value::Null);
    assert!(after.get("priority").is_none(), "unchanged fields are left out: {after}");

    let token = admin.session_csrf();
    let commented =
        admin.post_form("/issues/OPS-1/comments", &[("csrf_token", &token), ("body", "Seen on *db-2* too")]);
    assert_eq!(commented.status, 303);
    assert!(commented.location.unwrap().starts_with("/issues/OPS-1#comment-"));
    assert!(admin.get("/issues/OPS-1").body.contains("Seen on <em>db-2</em> too"));
    assert_eq!(app.count("audit_log WHERE action = 'comment.created'"), 1);
}

#[test]
fn issue_form_refusals_name_the_field_keep_the_input_and_write_nothing() {
    let app = TestApp::start();
    let (mut admin, _) = app.signed_in("root", true);
    create_project(&mut admin, "OPS");
    create_issue(&mut admin, "OPS", &[("title", "First")]);
    let before = app.footprint();
    let token = admin.session_csrf();

    let empty = admin
        .post_form("/projects/OPS/issues", &[("csrf_token", &token), ("title", " "), ("description", "My long notes")]);
    assert_eq!(empty.status, 422);
    assert!(empty.body.contains("Title is required."));
    assert!(empty.body.contains("My long notes"), "the description survives");

    let long_title = "t".repeat(300);
    let long = admin.post_form("/projects/OPS/issues", &[("csrf_token", &token), ("title", &long_title)]);
    assert_eq!(long.status, 422);
    assert!(long.body.contains("Title must be at most 255 characters (it has 300)."));

    let status =
        admin.post_form("/projects/OPS/issues", &[("csrf_token", &token), ("title", "x"), ("status", "closed")]);
    assert_eq!(status.status, 422);
    assert!(
        status.body.contains("Unknown status &quot;closed&quot;")
            || status.body.contains("Unknown status &#34;closed&#34;"),
        "{}",
        status.body
    );

    let assignee =
        admin.post_form("/projects/OPS/issues", &[("csrf_token", &token), ("title", "x"), ("assignee", "ghost")]);
    assert_eq!(assignee.status, 422);
    assert!(assignee.body.contains("There is no active user named ghost."));

    let no_token = admin.post_form("/projects/OPS/issues", &[("title", "x")]);
    assert_eq!(no_token.status, 403);

    let edit = admin.post_form("/issues/OPS-1/edit", &[("csrf_token", &token), ("title", ""), ("description", "kept")]);
    assert_eq!(edit.status, 422);
    assert!(edit.body.contains("Title is required.") && edit.body.contains("kept"));

    let comment = admin.post_form("/issues/OPS-1/comments", &[("csrf_token", &token), ("body", "   ")]);
    assert_eq!(comment.status, 422);
    assert!(comment.body.contains("Comment is empty."));

    assert_eq!(app.footprint(), before, "nothing was written");
    assert!(admin.get("/issues/OPS-1").body.contains("First"));
}

#[test]
fn unknown_projects_and_issues_get_a_404_page_that_says_so() {
    let app = TestApp::start();
    let (mut admin, _) = app.signed_in("root", true);
    create_project(&mut admin, "OPS");
    for (path, sentence) in [
        ("/projects/NOPE/issues", "There is no project with key NOPE."),
        ("/issues/OPS-99", "There is no issue OPS-99."),
        ("/issues/banana", "&quot;banana&quot; is not an issue key like OPS-42."),
        ("/projects/NOPE/issues/new", "There is no project with key NOPE."),
        ("/no/such/page", "There is no page at /no/such/page."),
    ] {
        let reply = admin.get(path);
        assert_eq!(reply.status, 404, "{path}");
        assert!(
            reply.body.contains(sentence) || reply.body.contains(&sentence.replace("&quot;", "&#34;")),
            "{path}: {}",
            reply.body
        );
    }
}

#[test]
fn the_issue_list_filters_sorts_and_pages() {
    let app = TestApp::start();
    let (mut admin, _) = app.signed_in("root", true);
    app.user("bob", false);
    create_project(&mut admin, "OPS");
    create_issue(
        &mut admin,
        "OPS",
        &[("title", "Alpha bug"), ("type", "bug"), ("priority", "lowest"), ("assignee", "bob")],
    );
    create_issue(
        &mut admin,
        "OPS",
        &[("title", "Beta story"), ("type", "story"), ("status", "done"), ("priority", "highest")],
    );
    create_issue(
        &mut admin,
        "OPS",
        &[("title", "Gamma 100% task"), ("type", "task"), ("status", "in_progress"), ("assignee", "root")],
    );

    let keys = |reply: &crate::support::Reply| -> Vec<String> {
        let marker = "<td class=\"key\"><a href=\"/issues/";
        reply
            .body
            .match_indices(marker)
            .map(|(at, _)| {
                let rest = &reply.body[at + marker.len()..];
                rest[..rest.find('"').unwrap()].to_owned()
            })
            .collect()
    };
    assert_eq!(keys(&admin.get("/projects/OPS/issues")), ["OPS-3", "OPS-2", "OPS-1"], "recently updated first");
    assert_eq!(keys(&admin.get("/projects/OPS/issues?status=done")), ["OPS-2"]);
    assert_eq!(keys(&admin.get("/projects/OPS/issues?status=open")), ["OPS-3", "OPS-1"]);
    assert_eq!(keys(&admin.get("/projects/OPS/issues?type=bug")), ["OPS-1"]);
    assert_eq!(keys(&admin.get("/projects/OPS/issues?assignee=bob")), ["OPS-1"]);
    assert_eq!(keys(&admin.get("/projects/OPS/issues?assignee=me")), ["OPS-3"]);
    assert_eq!(keys(&admin.get("/projects/OPS/issues?assignee=none")), ["OPS-2"]);
    assert_eq!(keys(&admin.get("/projects/OPS/issues?q=beta")), ["OPS-2"], "case-insensitive");
    assert_eq!(keys(&admin.get("/projects/OPS/issues?q=100%25")), ["OPS-3"], "% is literal");
    assert_eq!(keys(&admin.get("/projects/OPS/issues?sort=priority")), ["OPS-2", "OPS-3", "OPS-1"]);
    assert_eq!(keys(&admin.get("/projects/OPS/issues?sort=key&order=asc")), ["OPS-1", "OPS-2", "OPS-3"]);

    let first = admin.get("/projects/OPS/issues?sort=key&order=asc&per_page=2");
    assert_eq!(keys(&first), ["OPS-1", "OPS-2"]);
    assert!(first.body.contains("rel=\"next\""));
    let second = admin.get("/projects/OPS/issues?sort=key&order=asc&per_page=2&page=2");
    assert_eq!(keys(&second), ["OPS-3"]);
    assert!(!second.body.contains("rel=\"next\"") && second.body.contains("rel=\"prev\""));

    let bad = admin.get("/projects/OPS/issues?status=closed");
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("Unknown status"));
    let bad_page = admin.get("/projects/OPS/issues?page=0");
    assert_eq!(bad_page.status, 422);
    assert!(bad_page.body.contains("page must be a whole number from 1 to 100000."));
}

#[test]
fn home_shows_my_open_work_and_recent_changes() {
    let app = TestApp::start();
    let (mut admin, _) = app.signed_in("root", true);
    create_project(&mut admin, "OPS");
    create_issue(&mut admin, "OPS", &[("title", "Mine and open"), ("assignee", "root")]);
    create_issue(&mut admin, "OPS", &[("title", "Mine but done"), ("assignee", "root"), ("status", "done")]);
    create_issue(&mut admin, "OPS", &[("title", "Nobody's")]);
    let home = admin.get("/").body;
    let assigned = &home[home.find("Assigned to me").unwrap()..home.find("Recently updated").unwrap()];
    assert!(
        assigned.contains("Mine and open") && !assigned.contains("Mine but done") && !assigned.contains("Nobody's")
    );
    let recent = &home[home.find("Recently updated").unwrap()..];
    assert!(
        recent.contains("Mine but done") && recent.contains("Nobody&#x27;s") || recent.contains("Nobody&#39;s"),
        "{recent}"
    );
}

#[test]
fn api_tokens_are_shown_once_listed_by_prefix_and_revocable() {
    let app = TestApp::start();
    let (mut ana, _) = app.signed_in("ana", false);
    let token = ana.session_csrf();
    let created =
        ana.post_form("/settings/tokens", &[("csrf_token", &token), ("name", "CI"), ("expires_in_days", "30")]);
    assert_eq!(created.status, 200);
    let start = created.body.find("id=\"new-token\">").unwrap() + 15;
    let secret = created.body[start..start + 67].to_owned();
    assert!(secret.starts_with("op_"), "{secret}");
    let listed = ana.get("/settings/tokens");
    assert!(!listed.body.contains(&secret), "the secret is never shown again");
    assert!(listed.body.contains(&secret[..9]));
    assert_eq!(ana.api("GET", "/api/v1/projects", Some(&secret), None).status, 200);

    let bad = ana.post_form("/settings/tokens", &[("csrf_token", &token), ("name", "x"), ("expires_in_days", "soon")]);
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("Expiry must be a number of days"));
    assert_eq!(app.count("api_tokens"), 1);

    let id: i64 = {
        use diesel::prelude::*;
        outpost::schema::api_tokens::table.select(outpost::schema::api_tokens::id).first(&mut app.conn()).unwrap()
    };
    let (mut eve, _) = app.signed_in("eve", false);
    let eve_token = eve.session_csrf();
    let foreign = eve.post_form(&format!("/settings/tokens/{id}/revoke"), &[("csrf_token", &eve_token)]);
    assert_eq!(foreign.status, 404, "someone else's token is not found");
    let revoked = ana.post_form(&format!("/settings/tokens/{id}/revoke"), &[("csrf_token", &token)]);
    assert_eq!(revoked.status, 303);
    let refused = ana.api("GET", "/api/v1/projects", Some(&secret), None);
    assert_eq!(refused.status, 401);
    assert_eq!(refused.error_message(), "The API token has been revoked.");
}

#[test]
fn assets_are_embedded_hashed_and_cached_and_pages_load_nothing_from_elsewhere() {
    let app = TestApp::start();
    let (mut admin, _) = app.signed_in("root", true);
    let page = admin.get("/projects");
    assert!(page.header("content-security-policy").unwrap().contains("default-src 'self'"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    let css = outpost::web::assets::url("app.css");
    assert!(page.body.contains(&css));
    assert!(no_external_urls(&page.body), "{}", page.body);
    let asset = admin.get(&css);
    assert_eq!(asset.status, 200);
    assert_eq!(asset.header("cache-control"), Some("public, max-age=31536000, immutable"));
    assert!(asset.header("content-type").unwrap().starts_with("text/css"));
    assert_eq!(admin.get("/static/app.000000000000.css").status, 404);
}

/// True when no `src=` or `href=` points off this server.
fn no_external_urls(html: &str) -> bool {
    ["src=\"http", "href=\"http", "src=\"//", "href=\"//", "url(http"].iter().all(|needle| !html.contains(needle))
}

#[test]
fn health_endpoints_answer() {
    let app = TestApp::start();
    let mut client = app.client();
    let live = client.get("/health/live");
    assert_eq!((live.status, live.json()["status"].as_str()), (200, Some("live")));
    let ready = client.get("/health/ready");
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["checks"]["database"], "ok");
}

/// The request pool checks a connection only when it has been idle more than half a second,
/// so the database dropping its connections must cost at most one request for each dead
/// connection given back moments before, never more.
#[test]
fn connections_the_database_dropped_are_replaced() {
    use diesel::{Connection, RunQueryDsl};
    let app = TestApp::start();
    let (mut reader, _) = app.signed_in("ann", false);
    let drop_connections = || {
        // Its own connection, so the one doing the dropping is not one the server could take.
        let mut own = diesel::PgConnection::establish(&app.config.database.url).expect("connect");
        diesel::sql_query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .execute(&mut own)
        .expect("terminate the server's connections");
    };
    assert_eq!(reader.get("/projects").status, 200);

    drop_connections();
    std::thread::sleep(std::time::Duration::from_millis(600));
    let after_idle = reader.get("/projects");
    assert_eq!(after_idle.status, 200, "an idle dead connection is checked and replaced: {}", after_idle.body);

    drop_connections();
    // Each dead connection given back within the window fails the one request that takes it:
    // the last page's, and any other the page used (a connection the pool opens in the
    // background may take a turn between its statements). After those, every request is served.
    let given_back_at_most = app.config.database.pool_size as usize;
    let statuses: Vec<u16> = (0..given_back_at_most + 3).map(|_| reader.get("/projects").status).collect();
    let failed = statuses.iter().take_while(|status| **status != 200).count();
    assert!(statuses[..failed].iter().all(|status| [500, 503].contains(status)), "{statuses:?}");
    assert!(failed <= given_back_at_most, "{statuses:?}");
    assert!(
        statuses[failed..].iter().all(|status| *status == 200),
        "a connection that failed is not handed out again: {statuses:?}"
    );
}

/// Diesel marks a connection broken when running a statement on it fails, not when preparing
/// one to keep does: such a connection, given back moments before, must still be checked
/// before its next use rather than fail every request that comes within the window (CI saw
/// "no connection to the server" nine times in a row).
#[test]
fn a_connection_that_failed_preparing_a_statement_is_checked_before_its_next_use() {
    use diesel::{Connection, RunQueryDsl};
    use outpost::db;

    #[derive(diesel::QueryableByName)]
    struct Backend {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    let app = TestApp::start();
    let mut config = app.config.database.clone();
    config.pool_size = 1;
    let pool = db::pool(&config);
    let backend = |statement: &'static str| {
        let pool = pool.clone();
        actix_web::rt::System::new().block_on(db::run(&pool, move |conn| {
            Ok(db::Prepared(diesel::sql_query(statement)).get_result::<Backend>(conn)?.pid)
        }))
    };
    let pid = backend("SELECT pg_backend_pid() AS pid").unwrap();
    let mut own = diesel::PgConnection::establish(&config.url).expect("connect");
    diesel::sql_query(format!("SELECT pg_terminate_backend({pid})")).execute(&mut own).unwrap();
    // Not yet kept on that connection: it fails while being prepared.
    assert!(backend("SELECT pg_backend_pid() + 0 AS pid").is_err(), "the dead connection is used once");
    let replaced = backend("SELECT pg_backend_pid() AS pid").expect("the next use gets a working connection");
    assert_ne!(replaced, pid);
}

#[test]
fn a_failure_shows_an_error_id_and_no_details() {
    let app = TestApp::start();
    let (mut admin, user) = app.signed_in("root", true);
    let token = app.token(&user);
    app.lose_database();
    let page = admin.get("/projects");
    assert!(page.status == 500 || page.status == 503, "{}: {}", page.status, page.body);
    assert!(page.body.contains("Error id: <code>"), "{}", page.body);
    assert!(!page.body.to_lowercase().contains("database \""), "no internals leak: {}", page.body);
    let api = admin.api("GET", "/api/v1/projects", Some(&token), None);
    assert!(api.status == 500 || api.status == 503);
    // The error id is the request's id: the one the response header and the log line carry.
    assert_eq!(api.json()["error"]["error_id"].as_str(), api.header("x-request-id"), "{}", api.body);
    assert_eq!(api.json()["error"]["error_id"].as_str().map(str::len), Some(16), "{}", api.body);
}
