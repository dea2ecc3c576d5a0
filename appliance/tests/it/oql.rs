//! OQL from the list page and the API: what it finds, how it sorts, and every refusal.

use crate::support::{Client, Reply, TestApp};

struct Setup {
    app: TestApp,
    api: Client,
    mia: String,
}

/// Projects OPS and WEB; OPS-1..4 and WEB-1 with known fields.
fn setup() -> Setup {
    let app = TestApp::start();
    let (root, mia) = (app.user("root", true), app.user("mia", false));
    app.user("bob", false);
    let (admin, mia) = (app.token(&root), app.token(&mia));
    let mut api = app.client();
    for project in [r#"{"key":"OPS","name":"Operations"}"#, r#"{"key":"WEB","name":"Web"}"#] {
        assert_eq!(api.api("POST", "/api/v1/projects", Some(&admin), Some(project)).status, 201);
    }
    for (project, body) in [
        (
            "OPS",
            r#"{"title":"Rotate the database keys","issue_type":"bug","priority":"highest","assignee":"mia","description":"Before the audit"}"#,
        ),
        ("OPS", r#"{"title":"Upgrade the ldap servers","issue_type":"story","priority":"low","assignee":"bob"}"#),
        ("OPS", r#"{"title":"Billing export is slow","issue_type":"bug","priority":"high","status":"done"}"#),
        (
            "OPS",
            r#"{"title":"Write the runbook","issue_type":"task","priority":"medium","assignee":"mia","status":"In review"}"#,
        ),
        ("WEB", r#"{"title":"Billing page typo","issue_type":"bug","priority":"low","assignee":"mia"}"#),
    ] {
        let reply = api.api("POST", &format!("/api/v1/projects/{project}/issues"), Some(&mia), Some(body));
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    let field = r#"{"name":"Customer tier","kind":"select","options":["gold"]}"#;
    assert_eq!(api.api("POST", "/api/v1/projects/OPS/fields", Some(&admin), Some(field)).status, 201);
    // OPS-2 has not moved for a month.
    app.sql("UPDATE issues SET updated_at = now() - interval '30 days', created_at = now() - interval '40 days' WHERE number = 2 AND project_id = (SELECT id FROM projects WHERE key = 'OPS')");
    Setup { app, api, mia }
}

fn keys(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["issues"].as_array().unwrap().iter().map(|i| i["key"].as_str().unwrap().to_owned()).collect()
}

fn encode(text: &str) -> String {
    outpost::web::pages::url_encode(text)
}

fn find(api: &mut Client, token: &str, oql: &str) -> Vec<String> {
    keys(&api.api("GET", &format!("/api/v1/projects/OPS/issues?oql={}", encode(oql)), Some(token), None))
}

#[test]
fn queries_find_what_they_say() {
    let Setup { app: _app, mut api, mia, .. } = setup();
    let cases: &[(&str, &[&str])] = &[
        ("status != Done AND assignee = currentUser() ORDER BY key", &["OPS-1", "OPS-4"]),
        ("type IN (bug, story) ORDER BY key DESC", &["OPS-3", "OPS-2", "OPS-1"]),
        ("priority >= high ORDER BY priority DESC", &["OPS-1", "OPS-3"]),
        ("priority < medium", &["OPS-2"]),
        ("statusCategory = in_progress", &["OPS-4"]),
        ("statusCategory != done AND assignee IS EMPTY", &[]),
        ("assignee IS EMPTY", &["OPS-3"]),
        ("assignee IS NOT EMPTY AND NOT assignee = mia", &["OPS-2"]),
        ("status IN (todo, \"In review\") ORDER BY key", &["OPS-1", "OPS-2", "OPS-4"]),
        ("title ~ BILLING OR title ~ runbook ORDER BY key", &["OPS-3", "OPS-4"]),
        ("text ~ audit", &["OPS-1"]),
        ("title !~ the ORDER BY key", &["OPS-3"]),
        ("description IS EMPTY ORDER BY key", &["OPS-2", "OPS-3", "OPS-4"]),
        ("updated < -7d", &["OPS-2"]),
        ("updated >= startOfDay(-1d) ORDER BY key", &["OPS-1", "OPS-3", "OPS-4"]),
        ("created <= -39d", &["OPS-2"]),
        ("key IN (OPS-2, OPS-4) ORDER BY key", &["OPS-2", "OPS-4"]),
        ("project = WEB", &[]),
        ("(type = bug OR type = task) AND NOT (priority = highest) ORDER BY key", &["OPS-3", "OPS-4"]),
        ("reporter = currentUser() AND priority IN (low, lowest)", &["OPS-2"]),
    ];
    for (oql, expected) in cases {
        assert_eq!(find(&mut api, &mia, oql), *expected, "{oql}");
    }
}

#[test]
fn a_date_means_the_whole_day_and_order_by_sorts() {
    let Setup { app: _app, mut api, mia, .. } = setup();
    let today = chrono::Utc::now().date_naive().to_string();
    assert_eq!(find(&mut api, &mia, &format!("created = {today} ORDER BY key")), ["OPS-1", "OPS-3", "OPS-4"]);
    assert_eq!(find(&mut api, &mia, &format!("created < {today}")), ["OPS-2"]);
    assert_eq!(find(&mut api, &mia, "ORDER BY priority DESC, key ASC"), ["OPS-1", "OPS-3", "OPS-4", "OPS-2"]);
    assert_eq!(find(&mut api, &mia, "ORDER BY updated"), ["OPS-2", "OPS-1", "OPS-3", "OPS-4"]);
    // An explicit sort parameter (a column header click) wins over the query's ORDER BY.
    let sorted = api.api(
        "GET",
        &format!("/api/v1/projects/OPS/issues?sort=key&order=asc&oql={}", encode("ORDER BY priority")),
        Some(&mia),
        None,
    );
    assert_eq!(keys(&sorted), ["OPS-1", "OPS-2", "OPS-3", "OPS-4"]);
    // Simple filters and OQL combine.
    let both = api.api(
        "GET",
        &format!("/api/v1/projects/OPS/issues?type=bug&oql={}", encode("status = Done")),
        Some(&mia),
        None,
    );
    assert_eq!(keys(&both), ["OPS-3"]);
}

#[test]
fn search_spans_projects() {
    let Setup { app: _app, mut api, mia, .. } = setup();
    let reply = api.api(
        "GET",
        &format!("/api/v1/issues?oql={}", encode("title ~ billing ORDER BY project DESC")),
        Some(&mia),
        None,
    );
    assert_eq!(keys(&reply), ["WEB-1", "OPS-3"]);
    let reply = api.api(
        "GET",
        &format!("/api/v1/issues?oql={}", encode("project IN (WEB) AND status = todo")),
        Some(&mia),
        None,
    );
    assert_eq!(keys(&reply), ["WEB-1"]);
    let everything = api.api("GET", "/api/v1/issues?per_page=2", Some(&mia), None).json();
    assert_eq!((everything["issues"].as_array().unwrap().len(), everything["has_more"].as_bool()), (2, Some(true)));
}

#[test]
fn bad_queries_are_refused_with_the_column_and_what_was_expected() {
    let Setup { app, mut api, mia } = setup();
    let cases: &[(&str, &str)] = &[
        ("status =", "Expected a value after \"=\" at column 9, found the end of the query."),
        ("status = Done AND", "at column 18"),
        ("colour = red", "Unknown field \"colour\"; OQL knows: project, key, type, status"),
        (
            "status = Shipped",
            "Unknown status \"Shipped\"; statuses are: Done, In progress, In review, To do (at column 10).",
        ),
        ("assignee = ghost", "There is no user named ghost (at column 12)."),
        ("project = NOPE", "There is no project NOPE (at column 11)."),
        ("key = OPS-99", "There is no issue OPS-99 (at column 7)."),
        ("priority = urgent", "Unknown priority \"urgent\""),
        ("type ~ bug", "type can be compared with =, !=, IN or NOT IN, not ~"),
        ("title = x", "title is searched with ~ (contains) or !~ (does not contain)"),
        ("updated > yesterday", "\"yesterday\" is not a date"),
        ("updated > lastWeek()", "Unknown date function lastWeek()"),
        ("assignee = me()", "Unknown function me() for a person; use currentUser()"),
        ("status IS EMPTY", "status is never empty"),
        ("ORDER BY text", "Issues cannot be sorted by \"text\""),
        ("(status = Done", "Expected AND, OR or \")\" at column 15, found the end of the query."),
    ];
    for (oql, message) in cases {
        let reply = api.api("GET", &format!("/api/v1/projects/OPS/issues?oql={}", encode(oql)), Some(&mia), None);
        assert_eq!(
            (reply.status, reply.json()["error"]["field"].as_str()),
            (422, Some("oql")),
            "{oql}: {}",
            reply.body
        );
        assert!(reply.error_message().contains(message), "{oql}: {} should contain {message}", reply.error_message());
    }
    let search = api.api("GET", &format!("/api/v1/issues?oql={}", encode("AND")), Some(&mia), None);
    assert_eq!((search.status, search.json()["error"]["field"].as_str()), (422, Some("oql")));

    // The page shows the problem beside the query box, keeping what was typed.
    let mut page = app.client();
    assert_eq!(page.sign_in("mia", crate::support::PASSWORD).status, 303);
    let shown = page.get(&format!("/projects/OPS/issues?oql={}", encode("status = Done AND (")));
    assert_eq!(shown.status, 422);
    assert!(shown.body.contains("id=\"oql-error\""), "{}", shown.body);
    assert!(shown.body.contains("value=\"status = Done AND (\""));
}

#[test]
fn values_reach_postgresql_only_as_parameters() {
    let Setup { app, mut api, mia } = setup();
    for hostile in
        [r#"title ~ "'; DROP TABLE issues; --""#, r#"title ~ "x' OR '1'='1""#, r#"status = "Done') OR TRUE; --""#]
    {
        let reply = api.api("GET", &format!("/api/v1/projects/OPS/issues?oql={}", encode(hostile)), Some(&mia), None);
        assert!(reply.status == 200 || reply.status == 422, "{hostile}: {}", reply.body);
        if reply.status == 200 {
            assert_eq!(keys(&reply), Vec::<String>::new(), "{hostile}");
        }
    }
    assert_eq!(app.count("issues"), 5, "the table is still there, whole");
}

#[test]
fn the_list_page_filters_with_oql_and_keeps_it_in_sort_links() {
    let Setup { app, .. } = setup();
    let mut page = app.client();
    assert_eq!(page.sign_in("mia", crate::support::PASSWORD).status, 303);
    let reply = page.get(&format!("/projects/OPS/issues?oql={}", encode("type = bug")));
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains("/issues/OPS-1\"") && reply.body.contains("/issues/OPS-3\""));
    assert!(!reply.body.contains("/issues/OPS-2\""));
    assert!(
        reply.body.contains("href=\"/projects/OPS/issues?oql=type%20%3D%20bug&amp;sort=key"),
        "sorting keeps the query"
    );
    assert!(page.get("/help/oql").body.contains("startOfDay(-1d)"));
}

/// Compiles `oql` for project OPS as mia, returning the condition, ORDER BY and binds.
fn compiled(app: &TestApp, oql: &str) -> (String, Vec<String>, Vec<outpost::work::oql::Bind>) {
    use diesel::prelude::*;
    use outpost::schema::{projects, users};
    use outpost::work::oql::{self, Context, SqlBuilder};
    let mut conn = app.conn();
    let project: i64 = projects::table.filter(projects::key.eq("OPS")).select(projects::id).first(&mut conn).unwrap();
    let me: i64 = users::table.filter(users::username.eq("mia")).select(users::id).first(&mut conn).unwrap();
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z").unwrap().with_timezone(&chrono::Utc);
    let mut sql = SqlBuilder::default();
    let query = oql::parse(oql).unwrap();
    oql::compile::compile(&mut conn, &query, &Context { me, now, project_id: Some(project) }, &mut sql).unwrap();
    let done = sql.finish();
    (done.condition, done.order.iter().map(oql::OrderTerm::sql).collect(), done.binds)
}

#[test]
fn oql_compiles_to_parameterised_sql_over_ids() {
    use outpost::work::oql::Bind;
    let Setup { app, .. } = setup();
    let (condition, order, binds) =
        compiled(&app, r#"title ~ "50%_off'; --" AND assignee = currentUser() ORDER BY priority DESC, key"#);
    assert_eq!(condition, "((i.title ILIKE $1) AND (i.assignee_id = ANY($2)))");
    assert_eq!(order, ["i.priority ASC", "i.number ASC"], "most urgent first; keys by number within a project");
    assert_eq!(binds[0], Bind::Text("%50\\%\\_off'; --%".to_owned()), "the text travels as a bind, wildcards escaped");
    assert!(matches!(&binds[1], Bind::Int8Array(ids) if ids.len() == 1));

    let (condition, _, binds) = compiled(&app, "NOT status IN (Done, \"In review\") OR priority >= high");
    assert_eq!(condition, "((NOT coalesce((i.status_id = ANY($1)), FALSE)) OR (i.priority <= $2))");
    assert_eq!(binds[1], Bind::Int2(2), "higher priority is a lower rank");
    assert!(matches!(&binds[0], Bind::Int8Array(ids) if ids.len() == 2));

    let (condition, _, binds) = compiled(&app, "updated = 2026-11-01 AND created >= -7d");
    assert_eq!(condition, "((i.updated_at >= $1 AND i.updated_at < $2) AND (i.created_at >= $3))");
    let at =
        |text: &str| Bind::Timestamptz(chrono::DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&chrono::Utc));
    assert_eq!(binds, [at("2026-11-01T00:00:00Z"), at("2026-11-02T00:00:00Z"), at("2026-11-16T12:00:00Z")]);

    let (condition, _, binds) =
        compiled(&app, "labels IN (DB, infra) AND \"Customer tier\" IS EMPTY AND assignee IS NOT EMPTY");
    assert!(
        condition
            .starts_with("(((EXISTS (SELECT 1 FROM issue_labels l WHERE l.issue_id = i.id AND l.label = ANY($1)))"),
        "{condition}"
    );
    assert_eq!(binds[0], Bind::TextArray(vec!["db".to_owned(), "infra".to_owned()]));
    assert!(
        condition.contains("NOT EXISTS (SELECT 1 FROM custom_values v")
            && condition.ends_with("(i.assignee_id IS NOT NULL))"),
        "{condition}"
    );
}
