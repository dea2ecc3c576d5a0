//! The N+1 guard: on a generated installation of 1,000 issues, each main page and API is
//! asked for once with many rows and once with few, and must send PostgreSQL the same number
//! of statements both times. A count that grows with the rows shown is a query per row.
//! The count comes from the `Server-Timing` header, which `db::run` fills for every request.

use outpost::admin::generate::{self, Plan};

use crate::support::{Client, Reply, TestApp};

fn statements(reply: &Reply, path: &str) -> u32 {
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    let timing = reply.header("server-timing").unwrap_or_else(|| panic!("{path}: no Server-Timing header"));
    let counted = timing.split("desc=\"").nth(1).and_then(|rest| rest.split(' ').next());
    counted.and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{path}: no statement count in {timing:?}"))
}

/// Of the things `query` lists (`name`, `rows`, and `kind`: which optional parts it has),
/// the one with the most rows, and the one of the same kind with the fewest: a page may
/// skip a lookup for a part that is missing altogether, but not add one per row.
fn most_and_fewest(app: &TestApp, query: &str) -> (String, String) {
    let most =
        app.value(&format!("SELECT name || ' ' || kind FROM ({query}) AS ranked ORDER BY rows DESC, name LIMIT 1"));
    let (most, kind) = most.split_once(' ').unwrap();
    let fewest = app.value(&format!(
        "SELECT name FROM ({query}) AS ranked WHERE kind = '{kind}' AND name <> '{most}' ORDER BY rows ASC, name LIMIT 1"
    ));
    (most.to_owned(), fewest)
}

#[test]
fn statements_per_request_do_not_grow_with_the_rows_shown() {
    let app = TestApp::start();
    // Before the generated people: an evaluation installation has 25 seats.
    let token = app.token(&app.user("reader", false));
    let plan = Plan { issues: 1000, pages: 120, users: 20, projects: 3, seed: 3 };
    generate::run(&mut app.conn(), &plan).unwrap();
    app.index();
    let mut browser = app.client();
    assert_eq!(browser.sign_in("user00001", generate::PASSWORD).status, 303);

    let (busy, quiet) = most_and_fewest(
        &app,
        "SELECT p.key || '-' || i.number AS name, c + w + l + s + a AS rows, \
             concat_ws('.', c > 0, w > 0, l > 0, s > 0, i.parent_id IS NULL, i.assignee_id IS NULL) AS kind \
         FROM issues i JOIN projects p ON p.id = i.project_id, LATERAL (SELECT \
             (SELECT count(*) FROM comments WHERE issue_id = i.id) AS c, \
             (SELECT count(*) FROM issue_watchers WHERE issue_id = i.id) AS w, \
             (SELECT count(*) FROM issue_labels WHERE issue_id = i.id) AS l, \
             (SELECT count(*) FROM issues WHERE parent_id = i.id) AS s, \
             (SELECT count(*) FROM audit_log WHERE entity_type = 'issue' AND entity_id = i.id) AS a) AS counted",
    );
    let (long_page, short_page) = most_and_fewest(
        &app,
        "SELECT p.id::text AS name, c + v AS rows, concat_ws('.', c > 0, p.parent_id IS NULL) AS kind \
         FROM pages p, LATERAL (SELECT (SELECT count(*) FROM pages WHERE parent_id = p.id) AS c, \
             (SELECT count(*) FROM page_versions WHERE page_id = p.id) AS v) AS counted",
    );
    // A long made-up word from the long tail of the vocabulary: found in a few documents.
    let rare = app.value(
        "SELECT lower(w) FROM issues, regexp_split_to_table(title, ' ') AS w ORDER BY length(w) DESC, w LIMIT 1",
    );
    let common = "status%20%21%3D%20done%20ORDER%20BY%20priority%20DESC";
    let pairs: Vec<(&str, String, String)> = vec![
        ("issue page", format!("/issues/{busy}"), format!("/issues/{quiet}")),
        (
            "issue list with columns",
            "/projects/GEN1/issues?per_page=50&columns=points,labels".into(),
            "/projects/GEN1/issues?per_page=20&columns=points,labels".into(),
        ),
        (
            "OQL list",
            format!("/projects/GEN1/issues?per_page=50&oql={common}"),
            format!("/projects/GEN1/issues?per_page=20&oql={common}"),
        ),
        ("Kanban board", "/projects/GEN1/board".into(), "/projects/GEN3/board".into()),
        ("sprint board", "/projects/GEN1/sprint-board".into(), "/projects/GEN3/sprint-board".into()),
        ("backlog", "/projects/GEN1/backlog".into(), "/projects/GEN3/backlog".into()),
        ("search", "/search?q=deploy".into(), format!("/search?q={rare}")),
        ("space", "/spaces/GEN1".into(), "/spaces/GEN3".into()),
        ("page", format!("/pages/{long_page}"), format!("/pages/{short_page}")),
    ];
    let api_pairs: Vec<(&str, String, String)> = vec![
        (
            "API issue list",
            "/api/v1/projects/GEN1/issues?per_page=100".into(),
            "/api/v1/projects/GEN1/issues?per_page=20".into(),
        ),
        ("API issue", format!("/api/v1/issues/{busy}"), format!("/api/v1/issues/{quiet}")),
        ("API comments", format!("/api/v1/issues/{busy}/comments"), format!("/api/v1/issues/{quiet}/comments")),
        ("API history", format!("/api/v1/issues/{busy}/history"), format!("/api/v1/issues/{quiet}/history")),
    ];

    let mut api = Client::new(&app.base);
    // A session's or token's first request of a while also records that it was used: warm
    // both up, so that only the pages differ.
    browser.get("/");
    api.api("GET", "/api/v1/projects", Some(&token), None);
    // The node keeps each project's workflow once read (`Workflow::of`): every page is asked
    // once before counting, so that the first of a project does not count the reading.
    for (_, many, few) in &pairs {
        browser.get(many);
        browser.get(few);
    }
    let mut table = Vec::new();
    for (what, many, few) in &pairs {
        table.push((*what, statements(&browser.get(many), many), statements(&browser.get(few), few)));
    }
    for (what, many, few) in &api_pairs {
        let count = |api: &mut Client, path: &str| statements(&api.api("GET", path, Some(&token), None), path);
        table.push((*what, count(&mut api, many), count(&mut api, few)));
    }
    for (what, many, few) in &table {
        println!("{what:<24} {many:>3} statements with many rows, {few:>3} with few");
    }
    let growing: Vec<_> = table.iter().filter(|(_, many, few)| many != few).collect();
    assert!(growing.is_empty(), "statements grow with the rows shown (a query per row): {growing:?}");
}

/// What every create runs is planned once per connection, not on every call: the number and
/// rank, the first watchers, the audit row and its event. (Statements run with diesel's
/// `execute` were never kept prepared, nor its insert with `ON CONFLICT`: both were parsed
/// and planned on every create.)
#[test]
fn a_creates_writes_stay_prepared_on_its_connection() {
    use diesel::sql_types::{BigInt, Text};
    use diesel::RunQueryDsl;
    use outpost::audit::Actor;
    use outpost::work::issues::{self, NewIssue};
    use outpost::work::kinds::{IssueType, Priority};

    #[derive(diesel::QueryableByName)]
    struct Runs {
        #[diesel(sql_type = BigInt)]
        runs: i64,
    }
    let app = TestApp::start();
    let admin = app.user("root", true);
    let token = app.token(&admin);
    let created = app.client().api("POST", "/api/v1/projects", Some(&token), Some(r#"{"key":"OPS","name":"Ops"}"#));
    assert_eq!(created.status, 201, "{}", created.body);
    let mut conn = app.conn();
    let project = outpost::work::projects::find_by_key(&mut conn, "OPS").unwrap();
    fn runs(conn: &mut diesel::PgConnection, beginning: &str) -> i64 {
        diesel::sql_query(
            "SELECT coalesce(sum(generic_plans + custom_plans), 0)::bigint AS runs \
             FROM pg_prepared_statements WHERE statement LIKE $1",
        )
        .bind::<Text, _>(format!("{beginning}%"))
        .get_result::<Runs>(conn)
        .unwrap()
        .runs
    }
    let writes = ["UPDATE projects SET next_issue_number", "INSERT INTO issue_watchers", "WITH recorded AS"];
    let before: Vec<i64> = writes.iter().map(|write| runs(&mut conn, write)).collect();
    for n in 0..3 {
        let new = NewIssue {
            issue_type: IssueType::Task,
            status: None,
            priority: Priority::Medium,
            title: format!("Kept prepared {n}"),
            description: String::new(),
            assignee: Some("root".to_owned()),
            details: Default::default(),
        };
        issues::create(&mut conn, &Actor::user(admin.id, None), &project, admin.id, new).unwrap();
    }
    for (write, before) in writes.iter().zip(before) {
        assert_eq!(
            runs(&mut conn, write) - before,
            3,
            "{write}…: run from its prepared statement by each of 3 creates"
        );
    }
}

/// Every pooled connection plans for memory and SSD, not a spinning disk (`db::pool`).
#[test]
fn pooled_connections_plan_with_out_of_order_reads_cheap() {
    use diesel::RunQueryDsl;

    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        random_page_cost: String,
    }
    let app = TestApp::start();
    let setting = diesel::sql_query("SHOW random_page_cost").get_result::<Setting>(&mut app.conn()).unwrap();
    assert_eq!(setting.random_page_cost, "1.1");
}
