//! Usage metering: what people did today counted as it happens (API calls, who was active,
//! issues and pages created, stored bytes), days measured for good by the job, shown as charts
//! and a table, exported, and each bad period refused by name.

use chrono::{Duration, Utc};
use outpost::identity::roles::GlobalRole;
use serde_json::{json, Value};

use crate::access::{call, person, private_project};
use crate::support::{TestApp, PASSWORD, PNG};

fn today(usage: &Value) -> Value {
    let day = Utc::now().date_naive().to_string();
    usage.as_array().unwrap().iter().find(|row| row["day"] == day.as_str()).cloned().unwrap_or(Value::Null)
}

#[test]
fn a_day_of_work_is_counted_measured_charted_and_exported() {
    let app = TestApp::start();
    let mut api = app.client();
    let root = person(&app, "root", GlobalRole::Admin);
    let mona = person(&app, "mona", GlobalRole::User);
    private_project(&mut api, &root);
    let mut calls = 3; // private_project makes three
    for title in ["One", "Two"] {
        assert_eq!(
            call(&mut api, &root, "POST", "/api/v1/projects/SEC/issues", Some(json!({ "title": title }))).0,
            201
        );
        calls += 1;
    }
    assert_eq!(call(&mut api, &root, "POST", "/api/v1/spaces", Some(json!({ "key": "OPS", "name": "Ops" }))).0, 201);
    assert_eq!(call(&mut api, &root, "POST", "/api/v1/spaces/OPS/pages", Some(json!({ "title": "Runbook" }))).0, 201);
    assert_eq!(call(&mut api, &mona, "GET", "/api/v1/projects", None).0, 200);
    calls += 3;
    let mut browser = app.client();
    assert_eq!(browser.sign_in("root", PASSWORD).status, 303);
    let token = browser.session_csrf();
    let attached =
        browser.post_files("/issues/SEC-1/attachments", &[("csrf_token", &token)], &[("files", "p.png", PNG)]);
    assert_eq!(attached.status, 303);

    let (status, usage) = call(&mut api, &root, "GET", "/api/v1/admin/usage", None);
    assert_eq!(status, 200, "{usage}");
    let row = today(&usage);
    assert_eq!(row["api_calls"], calls, "{row}");
    assert_eq!(row["active_users"], 2, "root and mona: {row}");
    assert_eq!(row["issues_created"], 2);
    assert_eq!(row["pages_created"], 1);
    assert_eq!(row["storage_bytes"], PNG.len(), "{row}");

    // The job measures the day that ended; a week back is there to be asked for.
    app.sql("INSERT INTO usage_days (day, api_calls) VALUES (current_date - 1, 40)");
    app.sql("INSERT INTO jobs (kind, payload) VALUES ('usage', '{}')");
    app.run_jobs();
    assert_eq!(app.count("jobs WHERE kind = 'usage' AND state = 'succeeded'"), 1);
    let yesterday = (Utc::now().date_naive() - Duration::days(1)).to_string();
    let week = call(&mut api, &root, "GET", &format!("/api/v1/admin/usage?from={yesterday}"), None).1;
    let rows = week.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{week}");
    assert_eq!(rows[0]["day"], yesterday.as_str());
    assert_eq!(rows[0]["api_calls"], 40, "the calls counted stay when the day is measured");
    assert!(rows[0]["measured_at"].is_string());

    let page = browser.get("/admin/usage");
    assert_eq!(page.status, 200);
    assert_eq!(page.body.matches("<svg class=\"chart\"").count(), 3);
    assert!(page.body.contains("aria-label=\"Active people per day\""));
    assert!(page.body.contains(&format!("<time datetime=\"{yesterday}\">")));
    let csv = browser.get(&format!("/admin/usage/export?format=csv&from={yesterday}"));
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(lines[0], "day,active_users,issues_created,pages_created,storage_bytes,api_calls");
    assert!(lines[1].starts_with(&format!("{yesterday},0,0,0,{},40", PNG.len())), "{}", csv.body);
    let json = browser.get("/admin/usage/export?format=json");
    assert!(json.header("content-disposition").unwrap().contains(".json"));
    assert!(serde_json::from_str::<Value>(&json.body).unwrap().is_array());

    // Periods that are not periods, refused by the field, changing nothing.
    for (query, field, words) in [
        ("from=2026-12-09&to=2026-12-01", "from", "The first day comes after the last"),
        ("to=yesterday", "to", "is not a date"),
        ("from=2020-01-01&to=2026-01-01", "from", "Ask for at most 1100 days at a time."),
    ] {
        let (status, body) = call(&mut api, &root, "GET", &format!("/api/v1/admin/usage?{query}"), None);
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(body["error"]["field"], field);
        assert!(body["error"]["message"].as_str().unwrap().contains(words), "{body}");
    }
    let page = browser.get("/admin/usage?from=2026-12-09&to=2026-12-01");
    assert_eq!(page.status, 422);
    assert!(page.body.contains("from: The first day comes after the last; nothing to show."), "{}", page.body);
    assert!(page.body.contains("<svg class=\"chart\""), "the default period is shown meanwhile");
    let wrong = browser.get("/admin/usage/export?format=xml");
    assert_eq!(wrong.status, 422);
    assert!(wrong.body.contains("is not a format here; choose csv or json"), "{}", wrong.body);
}
