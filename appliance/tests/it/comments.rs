//! An issue's comments on its page, on their own paged page, through the API, and where a
//! link to one comment (a search hit's) leads: a long thread is read a stretch at a time.

use serde_json::json;

use crate::support::TestApp;

#[test]
fn a_long_thread_is_shown_a_stretch_at_a_time_and_each_comment_can_be_reached() {
    let app = TestApp::start();
    let (mut browser, root) = app.signed_in("root", true);
    let token = app.token(&root);
    let mut api = app.client();
    let mut call = |method: &str, path: &str, body: Option<serde_json::Value>| {
        api.api(method, path, Some(&token), body.map(|b| b.to_string()).as_deref())
    };
    assert_eq!(call("POST", "/api/v1/projects", Some(json!({"key": "OPS", "name": "Operations"}))).status, 201);
    for title in ["Flaky build", "Quiet one"] {
        assert_eq!(call("POST", "/api/v1/projects/OPS/issues", Some(json!({ "title": title }))).status, 201);
    }
    let mut ids = vec![0];
    for n in 1..=160 {
        let posted = call("POST", "/api/v1/issues/OPS-1/comments", Some(json!({ "body": format!("Note {n:03}") })));
        assert_eq!(posted.status, 201, "{}", posted.body);
        ids.push(posted.json()["id"].as_i64().unwrap());
    }
    let note = |n: u32| format!("<p>Note {n:03}</p>");

    let issue = browser.get("/issues/OPS-1").body;
    assert!(issue.contains("Comments (160)"), "the heading counts every comment");
    assert!(issue.contains("The latest 50 of 160 comments.") && issue.contains("href=\"/issues/OPS-1/comments\""));
    assert!(issue.contains(&note(111)) && issue.contains(&note(160)) && !issue.contains(&note(110)), "the latest 50");
    assert!(issue.find(&note(111)) < issue.find(&note(160)), "oldest first");
    let quiet = browser.get("/issues/OPS-2").body;
    assert!(quiet.contains("Comments (0)") && !quiet.contains("All comments"));

    let first = browser.get("/issues/OPS-1/comments");
    assert_eq!(first.status, 200);
    assert!(first.body.contains("160 comments, oldest first; page 1 of 2."), "{}", first.body);
    assert!(first.body.contains(&note(1)) && first.body.contains(&note(100)) && !first.body.contains(&note(101)));
    assert!(
        first.body.contains("href=\"/issues/OPS-1/comments?page=2\" rel=\"next\"")
            && !first.body.contains("rel=\"prev\"")
    );
    let second = browser.get("/issues/OPS-1/comments?page=2").body;
    assert!(second.contains(&note(101)) && second.contains(&note(160)) && !second.contains(&note(100)));
    assert!(second.contains("href=\"/issues/OPS-1/comments?page=1\" rel=\"prev\"") && !second.contains("rel=\"next\""));
    let none = browser.get("/issues/OPS-2/comments");
    assert!(none.body.contains("0 comments, oldest first; page 1 of 1."), "{}", none.body);
    for (page, message) in [
        ("3", "page must be a whole number from 1 to 2: the comments on OPS-1 fill 2 pages."),
        ("0", "page must be a whole number from 1 to 1000000."),
        ("soon", "page must be a whole number from 1 to 1000000."),
    ] {
        let refused = browser.get(&format!("/issues/OPS-1/comments?page={page}"));
        assert_eq!(refused.status, 422, "page={page}");
        assert!(refused.body.contains(message), "page={page}: {}", refused.body);
    }
    assert_eq!(browser.get("/issues/OPS-9/comments").status, 404);

    // One comment's address leads to where it is shown.
    for (n, expected) in [
        (160, format!("/issues/OPS-1#comment-{}", ids[160])),
        (111, format!("/issues/OPS-1#comment-{}", ids[111])),
        (110, format!("/issues/OPS-1/comments?page=2#comment-{}", ids[110])),
        (101, format!("/issues/OPS-1/comments?page=2#comment-{}", ids[101])),
        (100, format!("/issues/OPS-1/comments?page=1#comment-{}", ids[100])),
        (1, format!("/issues/OPS-1/comments?page=1#comment-{}", ids[1])),
    ] {
        let reply = browser.get(&format!("/issues/OPS-1/comments/{}", ids[n]));
        assert_eq!(reply.location.as_deref(), Some(expected.as_str()), "note {n}");
    }
    assert_eq!(browser.get(&format!("/issues/OPS-2/comments/{}", ids[1])).status, 404, "not this issue's");
    assert_eq!(browser.get("/issues/OPS-1/comments/999999999").status, 404);

    // A search hit on a comment links to that address.
    app.index();
    let found = call("GET", "/api/v1/search?q=Note%20001&type=comment", None).json();
    assert_eq!(found["hits"][0]["url"], format!("/issues/OPS-1/comments/{}", ids[1]), "{found}");

    let last = call("GET", "/api/v1/issues/OPS-1/comments?per_page=50&page=4", None).json();
    assert_eq!(
        (last["total"].clone(), last["has_more"].clone(), last["page"].clone()),
        (json!(160), json!(false), json!(4))
    );
    let bodies: Vec<&str> = last["comments"].as_array().unwrap().iter().map(|c| c["body"].as_str().unwrap()).collect();
    assert_eq!((bodies.len(), bodies[0], bodies[9]), (10, "Note 151", "Note 160"));
    let whole = call("GET", "/api/v1/issues/OPS-1/comments", None).json();
    assert_eq!((whole["per_page"].clone(), whole["has_more"].clone()), (json!(100), json!(true)));
    assert_eq!(
        (whole["comments"][0]["body"].clone(), whole["comments"][0]["author"]["username"].clone()),
        (json!("Note 001"), json!("root"))
    );
    for (query, field, message) in [
        ("per_page=0", "per_page", "per_page must be a whole number from 1 to 1000."),
        ("per_page=1001", "per_page", "per_page must be a whole number from 1 to 1000."),
        ("page=x", "page", "page must be a whole number from 1 to 1000000."),
    ] {
        let refused = call("GET", &format!("/api/v1/issues/OPS-1/comments?{query}"), None);
        assert_eq!(refused.status, 422, "{query}");
        let error = &refused.json()["error"];
        assert_eq!((error["field"].as_str(), refused.error_message().as_str()), (Some(field), message), "{query}");
    }
}
