//! Cursor paging of the API's issue list and search: every issue exactly once while the
//! list changes between pages, in any sort, and a clear refusal for a cursor that is not
//! the list's own.

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
    let whole = keys(&client.api("GET", "/api/v1/search?oql=project%20%3D%20OPS", Some(&admin), None));
    let walked = walk(&mut client, &admin, "/api/v1/search?oql=project%20%3D%20OPS&per_page=4", |_| {});
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
}
