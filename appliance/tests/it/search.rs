//! Full-text search end to end: relevance on fixed fixtures, phrases, prefixes, typos, key
//! jumps, facets and filters, refusals of odd input, the permission scope applied inside the
//! search, freshness through the real indexer thread, a `kill -9` in the middle of indexing,
//! rebuilding (requested, or because the index on disk is damaged) while searches go on, and
//! never rebuilding an index another process still writes to.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use outpost::audit::Actor;
use outpost::jobs::worker::Stop;
use outpost::search::engine::{self, Filters, Scope};
use outpost::search::schema::SCHEMA_VERSION;
use outpost::search::{indexer, query, request_rebuild, spelling};
use serde_json::{json, Value};

use crate::support::{Client, TempDir, TestApp};

fn encode(text: &str) -> String {
    outpost::web::pages::url_encode(text)
}

/// Projects OPS and WEB with issues, a comment and a page whose words the tests look for.
fn fixtures(app: &TestApp) -> (Client, String) {
    let admin = app.user("root", true);
    let token = app.token(&admin);
    let mut api = app.client();
    let mut call = |method: &str, path: &str, body: Value| {
        let reply = api.api(method, path, Some(&token), Some(&body.to_string()));
        assert!(reply.status < 300, "{method} {path}: {}", reply.body);
    };
    call("POST", "/api/v1/projects", json!({ "key": "OPS", "name": "Operations" }));
    call("POST", "/api/v1/projects", json!({ "key": "WEB", "name": "Website" }));
    let issues = [
        ("OPS", "Deploy pipeline fails on staging", "The kubernetes rollout times out after ten minutes."),
        ("OPS", "Update the runbook", "Before you deploy, check the deploy pipeline dashboards and the pager."),
        ("OPS", "Disk full on node seven", "Out of memory errors, then disk full warnings <script>alert(1)</script>."),
        ("WEB", "Landing page copy", "The secret launch mentions a deployment once."),
    ];
    for (project, title, description) in issues {
        call(
            "POST",
            &format!("/api/v1/projects/{project}/issues"),
            json!({ "title": title, "description": description, "assignee": "root" }),
        );
    }
    call("POST", "/api/v1/issues/OPS-3/comments", json!({ "body": "The kubernetes node was rebooted at noon." }));
    call(
        "POST",
        "/api/v1/spaces/OPS/pages",
        json!({ "title": "Deployment handbook", "body": "How we deploy: tag, build, roll out, watch the dashboards." }),
    );
    (api, token)
}

fn search(api: &mut Client, token: &str, query: &str) -> Value {
    let reply = api.api("GET", &format!("/api/v1/search?{query}"), Some(token), None);
    assert_eq!(reply.status, 200, "{query}: {}", reply.body);
    reply.json()
}

fn labels(found: &Value) -> Vec<String> {
    found["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| format!("{}:{}", hit["type"].as_str().unwrap(), hit["label"].as_str().unwrap()))
        .collect()
}

fn facet(found: &Value, name: &str) -> Vec<(String, u64)> {
    found["facets"][name]
        .as_array()
        .unwrap()
        .iter()
        .map(|value| (value["value"].as_str().unwrap().to_owned(), value["count"].as_u64().unwrap()))
        .collect()
}

#[test]
fn relevance_phrases_prefixes_typos_and_keys_find_what_was_meant() {
    let app = TestApp::start();
    let (mut api, token) = fixtures(&app);
    app.index();

    // A title match outranks a body match of the same words.
    let found = search(&mut api, &token, "q=deploy+pipeline");
    assert_eq!(labels(&found), ["issue:OPS-1", "issue:OPS-2"]);
    assert_eq!(found["total"], 2);
    let first = &found["hits"][0];
    assert_eq!(first["title_html"], "<mark>Deploy</mark> <mark>pipeline</mark> fails on staging");
    assert_eq!(first["url"], "/issues/OPS-1");
    assert!(found["hits"][1]["snippet_html"].as_str().unwrap().contains("<mark>deploy</mark> <mark>pipeline</mark>"));

    // Phrases keep their order; prefixes reach every form of a word; one typo is forgiven.
    assert_eq!(labels(&search(&mut api, &token, &format!("q={}", encode("\"disk full\"")))), ["issue:OPS-3"]);
    assert_eq!(search(&mut api, &token, &format!("q={}", encode("\"full disk\"")))["total"], 0);
    // Longer phrases: every pair of neighbours, and the words in a row. OPS-2 holds "the deploy"
    // and "deploy check", but never the three in a row.
    assert_eq!(labels(&search(&mut api, &token, &format!("q={}", encode("\"out of memory\"")))), ["issue:OPS-3"]);
    let four = search(&mut api, &token, &format!("q={}", encode("\"check the deploy pipeline\"")));
    assert_eq!(labels(&four), ["issue:OPS-2"]);
    assert_eq!(search(&mut api, &token, &format!("q={}", encode("\"the deploy check\"")))["total"], 0);
    let prefixed = labels(&search(&mut api, &token, "q=deploy*"));
    for expected in ["issue:OPS-1", "issue:OPS-2", "issue:WEB-1", "page:OPS"] {
        assert!(prefixed.contains(&expected.to_owned()), "{expected} in {prefixed:?}");
    }
    let typo = search(&mut api, &token, "q=kubernets");
    let mut typo_labels = labels(&typo);
    typo_labels.sort();
    assert_eq!(typo_labels, ["comment:OPS-3", "issue:OPS-1"], "{typo}");
    assert!(typo["hits"][0]["snippet_html"].as_str().unwrap().contains("<mark>kubernetes</mark>"));
    assert_eq!(search(&mut api, &token, "q=kube")["total"], 0, "short words must match as typed");

    // Stored text is escaped in snippets: the script in OPS-3's description is text.
    let escaped = search(&mut api, &token, "q=memory");
    let snippet = escaped["hits"][0]["snippet_html"].as_str().unwrap();
    assert!(snippet.contains("&lt;script&gt;") && !snippet.contains("<script>"), "{snippet}");

    // An issue key: the page opens the issue, the API names it and still searches.
    let mut browser = app.client();
    browser.sign_in("root", crate::support::PASSWORD);
    let jump = browser.get("/search?q=ops-3");
    assert_eq!((jump.status, jump.location.as_deref()), (303, Some("/issues/OPS-3")));
    let keyed = search(&mut api, &token, "q=OPS-3");
    assert_eq!(keyed["issue_url"], "/issues/OPS-3");
    assert_eq!(labels(&keyed)[0], "issue:OPS-3");
    assert_eq!(search(&mut api, &token, "q=OPS-99")["issue_url"], Value::Null);

    // Facets count what the search found; filters narrow it and the counts follow.
    let all = search(&mut api, &token, "q=deploy*");
    assert_eq!(facet(&all, "type"), [("issue".into(), 3), ("page".into(), 1)]);
    assert_eq!(facet(&all, "project"), [("OPS".into(), 2), ("WEB".into(), 1)]);
    assert_eq!(facet(&all, "space"), [("OPS".into(), 1)]);
    assert_eq!(all["facets"]["more"], json!({ "project": 0, "space": 0, "status": 0, "assignee": 0 }));
    let web = search(&mut api, &token, "q=deploy*&project=WEB");
    assert_eq!((labels(&web), facet(&web, "project")), (vec!["issue:WEB-1".to_owned()], vec![("WEB".into(), 1)]));
    assert_eq!(labels(&search(&mut api, &token, "q=deploy*&type=page")), ["page:OPS"]);
    let status = facet(&all, "status")[0].0.clone();
    assert_eq!(search(&mut api, &token, &format!("q=deploy*&status={}", encode(&status)))["total"], 3);
    let assignee = facet(&all, "assignee")[0].0.clone();
    assert_eq!(search(&mut api, &token, &format!("q=deploy*&assignee={assignee}"))["total"], 3);
    assert_eq!(search(&mut api, &token, "q=deploy*&assignee=none")["total"], 0);
    assert_eq!(search(&mut api, &token, "q=deploy*&updated_to=2000-01-01")["total"], 0);
    assert_eq!(search(&mut api, &token, "q=deploy*&updated_from=2000-01-01")["total"], 4);
    // Days far outside any change (schemathesis found that these once crashed the search).
    assert_eq!(search(&mut api, &token, "q=deploy*&updated_from=0049-04-26&updated_to=1496-08-26")["total"], 0);
    assert_eq!(search(&mut api, &token, "q=deploy*&updated_from=0001-01-01&updated_to=9999-12-31")["total"], 4);

    // Pages of hits.
    let second = search(&mut api, &token, "q=deploy*&per_page=3&page=2");
    assert_eq!((second["hits"].as_array().unwrap().len(), second["has_more"].clone()), (1, json!(false)));
    assert_eq!(search(&mut api, &token, "q=deploy*&per_page=3")["has_more"], true);
}

#[test]
fn files_are_found_by_name_and_text_files_by_their_words_until_removed() {
    let app = TestApp::start();
    let (mut api, token) = fixtures(&app);
    let mut browser = app.client();
    browser.sign_in("root", crate::support::PASSWORD);
    let csrf = browser.session_csrf();
    let attached = browser.post_files(
        "/issues/OPS-1/attachments",
        &[("csrf_token", &csrf)],
        &[
            ("files", "rotation-runbook.md", b"# Steps\nRotate the quasar credentials every month.\n"),
            ("files", "inventory.csv", b"host,owner\nnebula-01,ops\n"),
            ("files", "page.html", b"<!DOCTYPE html><p>pulsar</p>"),
        ],
    );
    assert_eq!(attached.status, 303, "{}", attached.body);
    app.index();

    let by_text = search(&mut api, &token, "q=quasar");
    assert_eq!(labels(&by_text), ["attachment:OPS-1"], "{by_text}");
    assert_eq!(by_text["hits"][0]["title_html"], "rotation-runbook.md");
    assert!(by_text["hits"][0]["snippet_html"].as_str().unwrap().contains("<mark>quasar</mark>"));
    assert!(by_text["hits"][0]["url"].as_str().unwrap().starts_with("/attachments/"));
    assert_eq!(labels(&search(&mut api, &token, "q=nebula")), ["attachment:OPS-1"], "CSV text");
    assert_eq!(labels(&search(&mut api, &token, "q=runbook&type=attachment")), ["attachment:OPS-1"], "by name");
    assert_eq!(search(&mut api, &token, "q=pulsar")["total"], 0, "HTML files are indexed by name only");
    assert_eq!(search(&mut api, &token, "q=page+html")["total"], 1);

    let id = app.value("SELECT id::text FROM attachments WHERE file_name = 'rotation-runbook.md'");
    let removed = browser.post_form(&format!("/attachments/{id}/delete"), &[("csrf_token", &csrf)]);
    assert_eq!(removed.status, 303, "{}", removed.body);
    app.index();
    assert_eq!(search(&mut api, &token, "q=quasar")["total"], 0, "a removed file is no longer found");
}

#[test]
fn odd_input_is_refused_with_a_sentence_or_read_charitably() {
    let app = TestApp::start();
    let (mut api, token) = fixtures(&app);
    app.index();
    let refused = |api: &mut Client, query: &str, field: &str, message: &str| {
        let reply = api.api("GET", &format!("/api/v1/search?{query}"), Some(&token), None);
        assert_eq!(reply.status, 422, "{query}: {}", reply.body);
        let body = reply.json();
        assert_eq!(body["error"]["field"], field, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(message), "{query}: {body}");
    };
    refused(&mut api, "q=the+of+and", "q", "words too common to search for");
    refused(&mut api, "q=%21%21%21", "q", "has no letters or digits");
    refused(&mut api, &format!("q={}", "a".repeat(501)), "q", "the most it may be is 500");
    refused(&mut api, "q=", "q", "Type a word");
    refused(&mut api, "q=x&type=ticket", "type", "use issue, comment, page or attachment");
    refused(&mut api, "q=x&project=NOPE", "project", "There is no project with key NOPE");
    refused(&mut api, "q=x&space=NOPE", "space", "There is no documentation space with key NOPE");
    refused(&mut api, "q=x&assignee=bob", "assignee", "is not a user id");
    refused(&mut api, "q=x&updated_from=yesterday", "updated_from", "write it as 2026-11-23");
    refused(&mut api, "q=x&updated_from=2026-02-01&updated_to=2026-01-01", "updated_to", "is before updated_from");
    refused(&mut api, "q=x&page=0", "page", "whole number from 1 to 50");
    refused(&mut api, "q=x&per_page=101", "per_page", "whole number from 1 to 100");

    // An unclosed quote is read as a phrase to the end, and says so.
    let unbalanced = search(&mut api, &token, &format!("q={}", encode("\"disk full")));
    assert_eq!(labels(&unbalanced), ["issue:OPS-3"]);
    assert!(unbalanced["notices"][0].as_str().unwrap().contains("closing quotation mark was missing"));
    // Punctuation and markup around words are not syntax.
    assert_eq!(search(&mut api, &token, &format!("q={}", encode("(disk) && <full>; OR")))["total"], 1);

    // The page shows the refusal in place, and a way forward when nothing matched.
    let mut browser = app.client();
    browser.sign_in("root", crate::support::PASSWORD);
    let page = browser.get("/search?q=the");
    assert_eq!(page.status, 422);
    assert!(page.body.contains("role=\"alert\"") && page.body.contains("words too common"), "{}", page.body);
    let nothing = browser.get("/search?q=deploy*&type=comment");
    assert!(
        nothing.body.contains("No results") && nothing.body.contains("There are 4 results without the filters"),
        "{}",
        nothing.body
    );
    // A word the index does not know: its nearest known spelling, when that finds something.
    let misspelt = search(&mut api, &token, "q=dploymnt+handbok");
    assert_eq!((misspelt["total"].clone(), misspelt["did_you_mean"].clone()), (json!(0), json!("deployment handbook")));
    assert_eq!(search(&mut api, &token, "q=handbook")["did_you_mean"], Value::Null, "nothing to correct");
    assert_eq!(search(&mut api, &token, "q=zzyzx+handbook")["did_you_mean"], Value::Null, "nothing near zzyzx");
    let offered = browser.get("/search?q=dploymnt+handbok&page=1");
    assert!(
        offered.body.contains(r#"Did you mean <a href="/search?q=deployment%20handbook">deployment handbook</a>?"#),
        "{}",
        offered.body
    );
    let found = browser.get("/search?q=deploy+pipeline");
    assert!(found.body.contains("1–2 of 2 results") && found.body.contains("<mark>Deploy</mark>"), "{}", found.body);
}

#[test]
fn the_permission_scope_is_part_of_the_search_so_totals_and_facets_leave_out_the_rest() {
    let app = TestApp::start();
    let (_, _) = fixtures(&app);
    app.index();
    let live = app.search.live().expect("the index is open");
    let ops: i64 = app.value("SELECT id::text FROM projects WHERE key = 'OPS'").parse().unwrap();
    let ops_space: i64 = app.value("SELECT id::text FROM spaces WHERE key = 'OPS'").parse().unwrap();
    let parsed = query::parse("secret launch deployment").unwrap();
    let everything = engine::run(&live, &parsed, &Filters::default(), &Scope::Everything, (1, 20)).unwrap();
    assert_eq!(everything.total, 1, "WEB-1 is found by whoever may read WEB");

    let only_ops = Scope::Only { projects: vec![ops], spaces: vec![ops_space] };
    let hidden = engine::run(&live, &parsed, &Filters::default(), &only_ops, (1, 20)).unwrap();
    assert_eq!((hidden.total, hidden.hits.len()), (0, 0), "not by title, body or snippet");
    let broad = query::parse("deploy*").unwrap();
    let counted = engine::run(&live, &broad, &Filters::default(), &only_ops, (1, 20)).unwrap();
    assert_eq!(counted.total, 3, "OPS-1, OPS-2 and the OPS page");
    assert_eq!(counted.facets.projects.values, [(ops, 2)], "no facet count from WEB");
    assert!(counted.hits.iter().all(|hit| !hit.label.starts_with("WEB")));
    // A spelling suggestion is a word some document holds: only one the reader may see.
    let misspelt = query::parse("secrt lanch").unwrap();
    let suggested = spelling::suggest(&live, &misspelt, &Filters::default(), &Scope::Everything).unwrap();
    assert_eq!(suggested.map(|parsed| parsed.text()).as_deref(), Some("secret launch"));
    assert!(
        spelling::suggest(&live, &misspelt, &Filters::default(), &only_ops).unwrap().is_none(),
        "WEB's words stay hidden"
    );
    let nothing = Scope::Only { projects: vec![], spaces: vec![] };
    assert_eq!(engine::run(&live, &broad, &Filters::default(), &nothing, (1, 20)).unwrap().total, 0);

    // Over HTTP, the scope comes from the one permission function.
    let member = app.user("mia", false);
    let token = app.token(&member);
    let found = app.client().api("GET", "/api/v1/search?q=deploy*", Some(&token), None).json();
    assert_eq!(found["total"], 4, "members may read every project until permission schemes arrive: {found}");
}

/// Each node keeps which projects and spaces exist, under the epoch a reader's permissions are
/// read at: a place that comes after a search must be in the next one's scope.
#[test]
fn a_space_added_after_a_search_is_in_the_next_readers_scope() {
    let app = TestApp::start();
    let (mut api, root) = fixtures(&app);
    let mut call = |method: &str, path: &str, body: Option<Value>| {
        let reply = api.api(method, path, Some(&root), body.map(|body| body.to_string()).as_deref());
        assert!(reply.status < 300, "{method} {path}: {}", reply.body);
        reply
    };
    call("POST", "/api/v1/projects", Some(json!({ "key": "SEC", "name": "Secret" })));
    let everyone = call("GET", "/api/v1/projects/SEC/roles", None).json()["grants"][0]["id"].as_i64().unwrap();
    call("DELETE", &format!("/api/v1/projects/SEC/roles/{everyone}"), None);
    call("POST", "/api/v1/projects/SEC/issues", Some(json!({ "title": "Quokka sightings" })));
    let member = app.user("mia", false);
    let reader = app.token(&member);
    app.index();
    let mut member_api = app.client();
    assert_eq!(search(&mut member_api, &reader, "q=quokka")["total"], 0, "SEC is not the member's to read");

    call("POST", "/api/v1/spaces", Some(json!({ "key": "HB", "name": "Handbook" })));
    call("POST", "/api/v1/spaces/HB/pages", Some(json!({ "title": "Quokka handbook", "body": "Feeding times." })));
    app.index();
    let found = search(&mut member_api, &reader, "q=quokka");
    assert_eq!(labels(&found), ["page:HB"], "the new space is everyone's to read, SEC still not: {found}");
    assert_eq!(search(&mut api, &root, "q=quokka")["total"], 2, "an administrator reads both");
}

#[test]
fn a_facet_lists_its_ten_values_with_most_hits_and_says_how_many_more_there_are() {
    let app = TestApp::start();
    let admin = app.user("root", true);
    let token = app.token(&admin);
    let plan = outpost::admin::generate::Plan { issues: 300, pages: 10, users: 15, projects: 12, seed: 5 };
    outpost::admin::generate::run(&mut app.conn(), &plan).unwrap();
    app.index();
    let mut api = app.client();
    let found = search(&mut api, &token, "q=deploy");
    let projects = facet(&found, "project");
    assert_eq!(projects.len(), 10, "{found}");
    assert!(projects.windows(2).all(|pair| pair[0].1 >= pair[1].1), "most hits first: {projects:?}");
    let more = found["facets"]["more"]["project"].as_u64().unwrap();
    let with_hits = app.value(
        "SELECT count(DISTINCT p.id)::text FROM projects p JOIN issues i ON i.project_id = p.id \
         WHERE p.key LIKE 'GEN%' AND (i.title ILIKE '%deploy%' OR i.description ILIKE '%deploy%' \
             OR EXISTS (SELECT 1 FROM comments c WHERE c.issue_id = i.id AND c.body ILIKE '%deploy%'))",
    );
    assert!(more > 0 && more + 10 <= with_hits.parse::<u64>().unwrap(), "{more} more of {with_hits}");
    let mut browser = app.client();
    browser.sign_in("root", crate::support::PASSWORD);
    let page = browser.get("/search?q=deploy");
    assert!(page.body.contains(&format!("and {more} more; narrow the search to see them")), "{}", page.body);
}

#[test]
fn searching_before_the_index_is_open_says_so() {
    let app = TestApp::start();
    let (mut api, token) = fixtures(&app);
    let reply = api.api("GET", "/api/v1/search?q=deploy", Some(&token), None);
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(reply.body.contains("The search index is being opened"), "{}", reply.body);
    // The key jump needs only the database.
    let mut browser = app.client();
    browser.sign_in("root", crate::support::PASSWORD);
    assert_eq!(browser.get("/search?q=OPS-1").location.as_deref(), Some("/issues/OPS-1"));
}

/// Polls the API until `query` finds `total` hits; returns how long it took.
fn wait_for(api: &mut Client, token: &str, query: &str, total: u64) -> Duration {
    let started = Instant::now();
    loop {
        let reply = api.api("GET", &format!("/api/v1/search?{query}"), Some(token), None);
        if reply.status == 200 && reply.json()["total"] == total {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{query} never found {total}: {}", reply.body);
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_indexer_thread_makes_changes_searchable_and_forgets_old_words() {
    let app = TestApp::start();
    let (mut api, token) = fixtures(&app);
    let stop = Stop::default();
    let thread = indexer::spawn(
        app.search.clone(),
        app.pool.clone(),
        app.config.storage.clone(),
        app.keys.clone(),
        stop.clone(),
    )
    .unwrap();
    wait_for(&mut api, &token, "q=deploy*", 4);

    let created =
        api.api("POST", "/api/v1/projects/OPS/issues", Some(&token), Some(r#"{"title":"Zeppelin hangar leaks"}"#));
    assert_eq!(created.status, 201);
    let took = wait_for(&mut api, &token, "q=zeppelin", 1);
    println!("a new issue was searchable after {} ms", took.as_millis());
    let changed = api.api("PATCH", "/api/v1/issues/OPS-4", Some(&token), Some(r#"{"title":"Airship hangar leaks"}"#));
    assert_eq!(changed.status, 200, "{}", changed.body);
    wait_for(&mut api, &token, "q=airship", 1);
    assert_eq!(search(&mut api, &token, "q=zeppelin")["total"], 0, "the old title is gone");
    let commented =
        api.api("POST", "/api/v1/issues/OPS-4/comments", Some(&token), Some(r#"{"body":"Hydrogen sensors fitted"}"#));
    assert_eq!(commented.status, 201);
    wait_for(&mut api, &token, "q=hydrogen&type=comment", 1);

    stop.request();
    thread.join().unwrap();
}

#[test]
fn a_rebuild_swaps_in_a_new_index_while_searches_keep_answering() {
    let app = TestApp::start();
    let (_, token) = fixtures(&app);
    app.index();
    let before = app.search.live().unwrap().folder.clone();
    request_rebuild(&mut app.conn(), &Actor::system(), "test").unwrap();
    assert_eq!(app.count("audit_log WHERE action = 'search.rebuild_requested'"), 1);

    let base = app.base.clone();
    let searching = std::thread::spawn(move || {
        let mut api = Client::new(&base);
        let mut answered = 0;
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(1500) {
            let found = api.api("GET", "/api/v1/search?q=deploy*", Some(&token), None);
            assert_eq!(found.status, 200, "{}", found.body);
            assert_eq!(found.json()["total"], 4, "every search during the rebuild is complete");
            answered += 1;
        }
        answered
    });
    std::thread::sleep(Duration::from_millis(200));
    assert!(app.with_indexer(|indexer| indexer.rebuild_if_requested().unwrap()), "it rebuilt");
    assert!(searching.join().unwrap() > 0);
    let after = app.search.live().unwrap().folder.clone();
    assert_ne!(before, after);
    assert!(!before.exists(), "the replaced index folder is removed");
    assert!(!app.with_indexer(|indexer| indexer.rebuild_if_requested().unwrap()), "once is enough");
}

#[test]
fn a_damaged_or_outdated_index_is_rebuilt_when_the_indexer_opens_it() {
    let app = TestApp::start();
    let (mut api, token) = fixtures(&app);
    app.index();
    let meta = app.search.live().unwrap().folder.join("meta.json");
    app.stop_indexer();

    // An older schema version in the last commit's stamp.
    let [current, older] = [SCHEMA_VERSION, SCHEMA_VERSION - 1].map(|version| format!("\\\"schema\\\":{version}"));
    let text = std::fs::read_to_string(&meta).unwrap();
    assert!(text.contains(&current), "{text}");
    std::fs::write(&meta, text.replace(&current, &older)).unwrap();
    app.index();
    assert_eq!(search(&mut api, &token, "q=deploy*")["total"], 4);
    let rebuilt = app.search.live().unwrap().folder.clone();
    assert!(!meta.starts_with(&rebuilt));

    // A damaged meta file.
    app.stop_indexer();
    std::fs::write(rebuilt.join("meta.json"), "{ not json").unwrap();
    app.index();
    assert_eq!(search(&mut api, &token, "q=deploy*")["total"], 4);
    assert_ne!(app.search.live().unwrap().folder, rebuilt);
}

#[test]
fn an_index_another_process_writes_to_is_waited_for_not_rebuilt_beside_it() {
    let app = TestApp::start();
    let (mut api, token) = fixtures(&app);
    app.index();
    let folder = app.search.live().unwrap().folder.clone();
    app.stop_indexer();

    // A node still stopping while the next starts holds the index's writer lock.
    let index = tantivy::Index::open_in_dir(&folder).unwrap();
    let stopping = index.writer_with_num_threads::<tantivy::TantivyDocument>(1, 15_000_000).unwrap();
    let files = indexer::FileText::open(&app.config.storage, &app.pool, &app.keys).unwrap();
    let refused = indexer::Indexer::open(&app.search, &app.pool, files).err().expect("the held index is refused");
    assert!(refused.starts_with("another Outpost process holds this search index"), "{refused}");
    let folders = |root: &std::path::Path| {
        let entries = std::fs::read_dir(root).unwrap().flatten();
        entries.filter(|entry| entry.file_name().to_string_lossy().starts_with("index-")).count()
    };
    assert_eq!(folders(app.search.root()), 1, "nothing was built beside the held index");

    // Once it lets go, the same index opens: nothing is rebuilt.
    drop(stopping);
    app.index();
    assert_eq!(app.search.live().unwrap().folder, folder);
    assert_eq!(search(&mut api, &token, "q=deploy*")["total"], 4);
}

#[test]
fn a_build_that_fails_leaves_no_folder_behind() {
    let app = TestApp::start();
    fixtures(&app);
    app.index();
    app.stop_indexer();
    // `current` cannot be replaced (a folder stands where the file goes): every build fails at
    // its very end, its index written in full. Retried, each would otherwise leave one behind.
    let root = app.search.root().to_owned();
    let folders = || {
        let entries = std::fs::read_dir(&root).unwrap().flatten();
        entries.filter(|entry| entry.file_name().to_string_lossy().starts_with("index-")).count()
    };
    std::fs::remove_file(root.join("current")).unwrap();
    std::fs::create_dir(root.join("current")).unwrap();
    let before = folders();
    for _ in 0..2 {
        let files = indexer::FileText::open(&app.config.storage, &app.pool, &app.keys).unwrap();
        assert!(indexer::Indexer::open(&app.search, &app.pool, files).is_err());
        assert_eq!(folders(), before, "the failed build's folder was removed");
    }
    std::fs::remove_dir(root.join("current")).unwrap();
    app.index();
    assert!(app.search.live().unwrap().documents() > 0);
}

/// `outpost serve` against the test database with its own index folder and no job workers.
fn serve(app: &TestApp, index: &TempDir) -> Child {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    Command::new(env!("CARGO_BIN_EXE_outpost"))
        .args(["serve", "--config", "/dev/null"])
        .env("OUTPOST_DATABASE_URL", app.config.database.url.clone())
        .env("OUTPOST_SERVER_BIND", format!("127.0.0.1:{port}"))
        .env("OUTPOST_JOBS_WORKERS", "0")
        .env("OUTPOST_SERVER_USER", "root")
        .env("OUTPOST_SEARCH_INDEX_DIR", index.0.display().to_string())
        .env("OUTPOST_STORAGE_LOCAL_DIR", app.objects.0.display().to_string())
        .env("OUTPOST_KEYS_FILE", app.kek_file())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The committed documents of the index in `folder`'s current index, read as another process
/// would: (documents, distinct (kind, id) pairs, the stamp's position).
fn committed(root: &std::path::Path) -> Option<(u64, usize, i64)> {
    let name = std::fs::read_to_string(root.join("current")).ok()?;
    let index = tantivy::Index::open_in_dir(root.join(name.trim())).ok()?;
    let stamp: outpost::search::Stamp = serde_json::from_str(&index.load_metas().ok()?.payload?).ok()?;
    let reader = index.reader().ok()?;
    let searcher = reader.searcher();
    let (_, fields) = outpost::search::schema::schema();
    let mut seen = std::collections::HashSet::new();
    for segment in searcher.segment_readers() {
        let store = segment.get_store_reader(1).ok()?;
        for doc in 0..segment.max_doc() {
            if segment.is_deleted(doc) {
                continue;
            }
            let doc: tantivy::TantivyDocument = store.get(doc).ok()?;
            use tantivy::schema::Value as _;
            let kind = doc.get_first(fields.kind)?.as_str()?.to_owned();
            let id = doc.get_first(fields.entity_id)?.as_u64()?;
            seen.insert((kind, id));
        }
    }
    Some((searcher.num_docs(), seen.len(), stamp.position))
}

#[test]
fn killing_the_indexer_mid_batch_loses_and_duplicates_nothing() {
    let app = TestApp::start();
    fixtures(&app);
    let index = TempDir(std::env::temp_dir().join(format!("outpost-kill-{}", rand::random::<u64>())));
    let mut server = serve(&app, &index);
    let deadline = Instant::now() + Duration::from_secs(60);
    while committed(&index.0).is_none() {
        assert!(Instant::now() < deadline, "the first index was never built");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Thousands of issues arrive in one event; kill -9 while they are being indexed.
    let plan = outpost::admin::generate::Plan { issues: 50_000, pages: 2_000, users: 10, projects: 3, seed: 1 };
    outpost::admin::generate::run(&mut app.conn(), &plan).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    Command::new("kill").args(["-KILL", &server.id().to_string()]).status().unwrap();
    server.wait().unwrap();
    let at_kill = committed(&index.0).unwrap();
    println!("committed when killed: {at_kill:?}");

    let newest: i64 = app.value("SELECT max(id)::text FROM outbox").parse().unwrap();
    let expected: i64 = app.value("SELECT ((SELECT count(*) FROM issues) + (SELECT count(*) FROM comments) + (SELECT count(*) FROM pages) + (SELECT count(*) FROM attachments))::text").parse().unwrap();
    let mut server = serve(&app, &index);
    let deadline = Instant::now() + Duration::from_secs(120);
    let after = loop {
        if let Some(now) = committed(&index.0).filter(|(_, _, position)| *position >= newest) {
            break now;
        }
        assert!(Instant::now() < deadline, "the indexer never caught up: {:?}", committed(&index.0));
        std::thread::sleep(Duration::from_millis(100));
    };
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(at_kill.0 < expected as u64, "the kill came before the batch was committed: {at_kill:?}");
    assert_eq!(after.0, expected as u64, "every issue, comment and page once: {after:?}");
    assert_eq!(after.1 as u64, after.0, "no document twice");
}

#[test]
fn reindex_from_the_command_line_records_the_request() {
    let app = TestApp::start();
    let output = Command::new(env!("CARGO_BIN_EXE_outpost"))
        .args(["reindex", "--config", "/dev/null", "--reason", "after restoring"])
        .env("OUTPOST_DATABASE_URL", app.config.database.url.clone())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("Rebuild 1 requested"));
    assert_eq!(app.value("SELECT reason FROM search_rebuilds"), "after restoring");
}
