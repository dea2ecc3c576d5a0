//! An issue's history on its page, on its own paged page, and through the API: a long one is
//! read a stretch at a time.

use serde_json::json;

use crate::support::TestApp;

#[test]
fn a_long_history_is_shown_a_stretch_at_a_time() {
    let app = TestApp::start();
    let (mut browser, root) = app.signed_in("root", true);
    let token = app.token(&root);
    let mut api = app.client();
    let mut call = |method: &str, path: &str, body: Option<serde_json::Value>| {
        api.api(method, path, Some(&token), body.map(|b| b.to_string()).as_deref())
    };
    assert_eq!(call("POST", "/api/v1/projects", Some(json!({"key": "OPS", "name": "Operations"}))).status, 201);
    assert_eq!(call("POST", "/api/v1/projects/OPS/issues", Some(json!({"title": "Title 0"}))).status, 201);
    for n in 1..=120 {
        let renamed = call("PATCH", "/api/v1/issues/OPS-1", Some(json!({ "title": format!("Title {n}") })));
        assert_eq!(renamed.status, 200, "{}", renamed.body);
    }
    let renamed_to = |n: u32| format!("<ins>Title {n}</ins>");

    let issue = browser.get("/issues/OPS-1").body;
    assert!(issue.contains("History (121)"), "the heading counts every change");
    assert!(issue.contains("The latest 50 of 121 changes.") && issue.contains("href=\"/issues/OPS-1/history\""));
    assert!(issue.contains(&renamed_to(71)) && issue.contains(&renamed_to(120)), "the latest 50, oldest first");
    assert!(!issue.contains(&renamed_to(70)) && !issue.contains("created the issue"));
    assert!(issue.find(&renamed_to(71)) < issue.find(&renamed_to(120)));

    let first = browser.get("/issues/OPS-1/history");
    assert_eq!(first.status, 200);
    assert!(first.body.contains("121 changes, oldest first; page 1 of 2."), "{}", first.body);
    assert!(first.body.contains("created the issue") && first.body.contains(&renamed_to(99)));
    assert!(!first.body.contains(&renamed_to(100)) && !first.body.contains("rel=\"prev\""));
    assert!(first.body.contains("href=\"/issues/OPS-1/history?page=2\" rel=\"next\""));
    let second = browser.get("/issues/OPS-1/history?page=2").body;
    assert!(
        second.contains(&renamed_to(100)) && second.contains(&renamed_to(120)) && !second.contains(&renamed_to(99))
    );
    assert!(second.contains("href=\"/issues/OPS-1/history?page=1\" rel=\"prev\"") && !second.contains("rel=\"next\""));
    for (page, message) in [
        ("3", "page must be a whole number from 1 to 2: the history of OPS-1 has 2 pages."),
        ("0", "page must be a whole number from 1 to 1000000."),
        ("soon", "page must be a whole number from 1 to 1000000."),
    ] {
        let refused = browser.get(&format!("/issues/OPS-1/history?page={page}"));
        assert_eq!(refused.status, 422, "page={page}");
        assert!(refused.body.contains(message), "page={page}: {}", refused.body);
    }
    assert_eq!(browser.get("/issues/OPS-9/history").status, 404);

    let last = call("GET", "/api/v1/issues/OPS-1/history?per_page=50&page=3", None).json();
    assert_eq!(
        (last["total"].clone(), last["has_more"].clone(), last["page"].clone()),
        (json!(121), json!(false), json!(3))
    );
    let titles: Vec<&str> =
        last["history"].as_array().unwrap().iter().map(|e| e["changes"][0]["to"].as_str().unwrap()).collect();
    assert_eq!(titles.len(), 21);
    assert_eq!((titles[0], titles[20]), ("Title 100", "Title 120"));
    let whole = call("GET", "/api/v1/issues/OPS-1/history", None).json();
    assert_eq!((whole["per_page"].clone(), whole["has_more"].clone()), (json!(100), json!(true)));
    assert_eq!(whole["history"][0]["summary"], "created the issue");
    for (query, field, message) in [
        ("per_page=0", "per_page", "per_page must be a whole number from 1 to 1000."),
        ("per_page=1001", "per_page", "per_page must be a whole number from 1 to 1000."),
        ("page=x", "page", "page must be a whole number from 1 to 1000000."),
    ] {
        let refused = call("GET", &format!("/api/v1/issues/OPS-1/history?{query}"), None);
        assert_eq!(refused.status, 422, "{query}");
        let error = &refused.json()["error"];
        assert_eq!((error["field"].as_str(), refused.error_message().as_str()), (Some(field), message), "{query}");
    }
}
