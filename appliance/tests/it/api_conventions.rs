//! The API's conventions beyond one resource: cursor paging of the issue list and search
//! (every issue exactly once while the list changes between pages, in any sort), and entity
//! tags (`ETag`, `If-None-Match`, `If-Match`) so concurrent updates never silently overwrite.

use std::collections::HashSet;

use crate::support::{Client, Reply, TestApp};

fn keys(reply: &Reply) -> Vec<String> {
    reply.json()["issues"].as_array().unwrap().iter().map(|i| i["key"].as_str().unwrap().to_owned()).collect()
}

/// Follows `next_cursor` from `first` to the end, calling `between` after each page.
fn walk(client: &mut Client, token: &str, first: &str, mut between: impl FnMut(&mut Client)) -> Vec<String> {
    let (mut seen, mut url) = (Vec::new(), first.to_owned());
    for _ in 0..20 {
        let reply = client.api("GET", &url, Some(token), None);
        assert_eq!(reply.status, 200, "{url}: {}", reply.body);
        seen.extend(keys(&reply));
        let page = reply.json();
        let Some(next) = page["next_cursor"].as_str() else {
            assert_eq!(page["has_more"], false);
            return seen;
        };
        let join = if first.contains('?') { '&' } else { '?' };
        url = format!("{first}{join}cursor={next}");
        between(client);
    }
    panic!("{first} did not end within 20 pages: {seen:?}");
}

#[test]
fn cursors_visit_every_issue_once_while_issues_are_added_and_in_any_sort() {
    let app = TestApp::start();
    let admin = app.token(&app.user("root", true));
    let mut client = app.client();
    let created = client.api("POST", "/api/v1/projects", Some(&admin), Some(r#"{"key":"OPS","name":"Operations"}"#));
    assert_eq!(created.status, 201);
    for n in 1..=7 {
        // Every other issue has a due date, so the nullable sort below has empties to place.
        let due = if n % 2 == 0 { format!(r#","due_date":"2026-12-0{n}""#) } else { String::new() };
        let body = format!(r#"{{"title":"Issue {n}","story_points":{}{due}}}"#, n % 3);
        assert_eq!(client.api("POST", "/api/v1/projects/OPS/issues", Some(&admin), Some(&body)).status, 201);
    }
    let originals: HashSet<String> = (1..=7).map(|n| format!("OPS-{n}")).collect();

    // Newest first: new issues land on page one, which an offset would push back into the
    // pages still to come (repeating rows); a cursor continues after the last row seen.
    let mut added = 0;
    let seen = walk(&mut client, &admin, "/api/v1/projects/OPS/issues?per_page=3", |client| {
        added += 1;
        let body = format!(r#"{{"title":"Added {added}"}}"#);
        assert_eq!(client.api("POST", "/api/v1/projects/OPS/issues", Some(&admin), Some(&body)).status, 201);
    });
    assert_eq!(seen.len(), 7, "{seen:?}");
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), originals);

    // Sorts with ties and empties: each walk equals the one-page answer, row for row.
    for oql in ["ORDER BY due DESC", "ORDER BY due ASC", "ORDER BY points DESC, key ASC", "ORDER BY status"] {
        let query = format!("oql={}", oql.replace(' ', "%20").replace(',', "%2C"));
        let whole = keys(&client.api("GET", &format!("/api/v1/projects/OPS/issues?{query}"), Some(&admin), None));
        let walked = walk(&mut client, &admin, &format!("/api/v1/projects/OPS/issues?{query}&per_page=2"), |_| {});
        assert_eq!(walked, whole, "{oql}");
    }
    let whole = keys(&client.api("GET", "/api/v1/issues?oql=project%20%3D%20OPS", Some(&admin), None));
    let walked = walk(&mut client, &admin, "/api/v1/issues?oql=project%20%3D%20OPS&per_page=4", |_| {});
    assert_eq!((walked.len(), walked), (9, whole));

    // Refusals name the cursor; nothing about the list changes.
    let first = client.api("GET", "/api/v1/projects/OPS/issues?per_page=2&sort=key", Some(&admin), None).json();
    let by_key = first["next_cursor"].as_str().unwrap().to_owned();
    for (query, message) in [
        (format!("cursor={by_key}&page=2"), "Give either page or cursor, not both."),
        ("cursor=not-a-cursor".to_owned(), "The cursor is not one this list gave out; start again without it."),
        (format!("cursor={by_key}"), "The cursor belongs to a list sorted another way; start again without it."),
    ] {
        let reply = client.api("GET", &format!("/api/v1/projects/OPS/issues?{query}"), Some(&admin), None);
        assert_eq!(reply.status, 422, "{query}: {}", reply.body);
        assert_eq!(
            (reply.json()["error"]["field"].as_str(), reply.error_message().as_str()),
            (Some("cursor"), message)
        );
    }
    // An empty page number is a wrong one, in the list and in the (unpaged) CSV export alike.
    for path in [
        "/api/v1/projects/OPS/issues?page=",
        "/api/v1/projects/OPS/issues.csv?page=",
        "/api/v1/projects/OPS/issues.csv?per_page=0",
    ] {
        let reply = client.api("GET", path, Some(&admin), None);
        assert_eq!(reply.status, 422, "{path}: {}", reply.body);
        assert!(reply.error_message().contains("must be a whole number from 1 to"), "{path}: {}", reply.body);
    }
}

/// Sends `method path` with `If-Match: tag` and a JSON body.
fn with_if_match(client: &mut Client, token: &str, method: &str, path: &str, tag: &str, body: &str) -> Reply {
    client.api_with_headers(method, path, token, &[("If-Match", tag)], Some(body))
}

#[test]
fn updates_with_a_stale_etag_are_refused_with_412_and_change_nothing() {
    let app = TestApp::start();
    let admin = app.token(&app.user("root", true));
    let mut client = app.client();
    client.api("POST", "/api/v1/projects", Some(&admin), Some(r#"{"key":"OPS","name":"Operations"}"#));
    client.api("POST", "/api/v1/projects/OPS/issues", Some(&admin), Some(r#"{"title":"First"}"#));

    // Issues: the tag comes with the GET, a matching If-None-Match gets 304.
    let read = client.api("GET", "/api/v1/issues/OPS-1", Some(&admin), None);
    let tag = read.header("etag").expect("an ETag").to_owned();
    let again = client.api_with_headers("GET", "/api/v1/issues/OPS-1", &admin, &[("If-None-Match", &tag)], None);
    assert_eq!((again.status, again.body.as_str()), (304, ""));
    let same = client.api("GET", "/api/v1/projects/OPS/issues/OPS-1", Some(&admin), None);
    assert_eq!(same.header("etag"), Some(tag.as_str()));

    let first = with_if_match(&mut client, &admin, "PATCH", "/api/v1/issues/OPS-1", &tag, r#"{"title":"Mine"}"#);
    assert_eq!(first.status, 200, "{}", first.body);
    let new_tag = first.header("etag").unwrap().to_owned();
    assert_ne!(new_tag, tag);
    assert_eq!(client.api("GET", "/api/v1/issues/OPS-1", Some(&admin), None).header("etag"), Some(new_tag.as_str()));
    let before = app.footprint();
    let stale = with_if_match(&mut client, &admin, "PATCH", "/api/v1/issues/OPS-1", &tag, r#"{"title":"Theirs"}"#);
    assert_eq!(stale.status, 412, "{}", stale.body);
    assert_eq!(stale.json()["error"]["code"], "precondition_failed");
    assert!(stale.error_message().contains("changed since you read it"));
    let weak = with_if_match(&mut client, &admin, "PATCH", "/api/v1/issues/OPS-1", &format!("W/{new_tag}"), "{}");
    assert_eq!(weak.status, 412, "If-Match compares strongly");
    assert_eq!(app.footprint(), before, "a refused update writes nothing");
    assert_eq!(client.api("GET", "/api/v1/issues/OPS-1", Some(&admin), None).json()["title"], "Mine");
    let any = with_if_match(&mut client, &admin, "PATCH", "/api/v1/issues/OPS-1", "*", r#"{"title":"Any"}"#);
    assert_eq!(any.status, 200);
    let unconditional = client.api("PATCH", "/api/v1/issues/OPS-1", Some(&admin), Some(r#"{"title":"Plain"}"#));
    assert_eq!(unconditional.status, 200, "If-Match is optional");

    // Workflows and automation rules follow the same rule.
    let workflow = client.api("GET", "/api/v1/projects/OPS/workflow", Some(&admin), None);
    let workflow_tag = workflow.header("etag").unwrap().to_owned();
    let mut statuses = workflow.json()["statuses"].clone();
    // What a GET shows can be put back as it is, changed where wanted.
    statuses[1]["wip_limit"] = 3.into();
    let body = serde_json::json!({ "statuses": statuses }).to_string();
    let saved = with_if_match(&mut client, &admin, "PUT", "/api/v1/projects/OPS/workflow", &workflow_tag, &body);
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert_eq!(saved.json()["statuses"], {
        let mut expected = workflow.json()["statuses"].clone();
        expected[1]["wip_limit"] = 3.into();
        expected
    });
    let before = app.footprint();
    let stale = with_if_match(&mut client, &admin, "PUT", "/api/v1/projects/OPS/workflow", &workflow_tag, &body);
    assert_eq!(stale.status, 412, "{}", stale.body);
    assert_eq!(app.footprint(), before);

    let rule = r#"{"name":"Label","trigger":"issue_created","actions":[{"type":"add_label","label":"new"}]}"#;
    assert_eq!(client.api("POST", "/api/v1/projects/OPS/automation-rules", Some(&admin), Some(rule)).status, 201);
    let read = client.api("GET", "/api/v1/projects/OPS/automation-rules/1", Some(&admin), None);
    let rule_tag = read.header("etag").unwrap().to_owned();
    let renamed = rule.replace("Label", "Tag new issues");
    let path = "/api/v1/projects/OPS/automation-rules/1";
    let saved = with_if_match(&mut client, &admin, "PUT", path, &rule_tag, &renamed);
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert_eq!(client.api("GET", path, Some(&admin), None).header("etag"), saved.header("etag"));
    let before = app.footprint();
    assert_eq!(with_if_match(&mut client, &admin, "PUT", path, &rule_tag, rule).status, 412);
    assert_eq!(app.footprint(), before);
}

#[test]
fn a_nul_character_in_the_query_is_refused_before_any_handler() {
    let app = TestApp::start();
    let admin = app.user("root", true);
    let token = app.token(&admin);
    let mut api = app.client();
    let created = api.api("POST", "/api/v1/projects", Some(&token), Some(r#"{"key":"OPS","name":"Ops"}"#));
    assert_eq!(created.status, 201);
    let refused = api.api("GET", "/api/v1/projects/OPS/issues?assignee=a%00b", Some(&token), None);
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(refused.json()["error"]["field"], "assignee");
    assert!(refused.json()["error"]["message"].as_str().unwrap().contains("NUL character"));
    let mut browser = app.client();
    browser.sign_in("root", crate::support::PASSWORD);
    let page = browser.get("/search?q=%00");
    assert_eq!(page.status, 422);
    assert!(page.body.contains("NUL character"));
}
