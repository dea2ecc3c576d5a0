//! The system page and its API: every part of the installation with its colour and reason,
//! each turned amber or red by the real condition (jobs left waiting, a rotation not finished,
//! a mail server that is not there, a certificate about to expire), and green again.

use chrono::{Duration, Utc};
use serde_json::Value;

use outpost::operations::health;
use outpost::tls::TlsFiles;

use crate::support::self_signed::SelfSigned;
use crate::support::smtp::{free_port, plain_mail, SmtpServer};
use crate::support::TestApp;

/// The report as the API gives it to an administrator.
fn report(app: &TestApp) -> Value {
    let admin = app.user(&format!("root{}", rand::random::<u32>()), true);
    let token = app.token(&admin);
    let reply = app.client().api("GET", "/api/v1/admin/system", Some(&token), None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

fn part<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|check| check["part"] == name)
        .unwrap_or_else(|| panic!("{name}: {report}"))
}

fn level_and_reason(report: &Value, name: &str) -> (String, String) {
    let check = part(report, name);
    (check["level"].as_str().unwrap().to_owned(), check["reason"].as_str().unwrap().to_owned())
}

#[test]
fn each_part_says_how_it_is_and_why() {
    let smtp = SmtpServer::start();
    let mail: Vec<(String, String)> = plain_mail(&smtp);
    let mail: Vec<(&str, &str)> = mail.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let app = TestApp::start_with(&mail);
    app.sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");

    let first = report(&app);
    assert_eq!(first["version"], env!("CARGO_PKG_VERSION"));
    let parts: Vec<&str> = first["checks"].as_array().unwrap().iter().map(|c| c["part"].as_str().unwrap()).collect();
    for expected in ["database", "storage", "search", "jobs", "mail", "license", "certificate", "keys", "disk"] {
        assert!(parts.contains(&expected), "{expected} in {parts:?}");
    }
    for (name, reason) in [
        ("database", "PostgreSQL 15"),
        ("storage", "A test object was written, read back, listed and deleted."),
        ("jobs", "Jobs run as they come due."),
        ("mail", "The mail server answers"),
        // The mail settings give a public https URL: a proxy in front.
        ("certificate", "HTTPS ends at a proxy in front of Outpost"),
        ("keys", "A wrap and unwrap round trip worked just now."),
    ] {
        let (level, said) = level_and_reason(&first, name);
        assert_eq!(level, "green", "{name}: {said}");
        assert!(said.contains(reason), "{name}: {said}");
    }
    // Evaluation mode is amber: it has a seat limit and wants a license.
    assert_eq!(level_and_reason(&first, "license"), ("amber".to_owned(), level_and_reason(&first, "license").1));
    assert!(level_and_reason(&first, "license").1.starts_with("Evaluation mode"));
    // No indexer has run in this test server yet; once it has, the index is green.
    assert_eq!(level_and_reason(&first, "search").0, "amber");
    app.index();
    let indexed = report(&app);
    assert_eq!(level_and_reason(&indexed, "search").0, "green", "{}", level_and_reason(&indexed, "search").1);
    let disk = part(&indexed, "disk")["facts"].to_string();
    assert!(disk.contains(&app.objects.0.display().to_string()) && disk.contains("free of"), "{disk}");
    // The slowest statements come from pg_stat_statements.
    assert!(!indexed["slowest_queries"].as_array().unwrap().is_empty(), "{}", indexed["slowest_queries_note"]);
    // The worst part decides the whole.
    assert_eq!(indexed["level"], "amber");

    // A job ready twenty minutes ago and still not run: the workers are stopped.
    app.sql("INSERT INTO jobs (kind, payload, run_at) VALUES ('cleanup', '{}', now() - interval '20 minutes')");
    // A data key still wrapped by a key rotated away from.
    app.sql("INSERT INTO data_keys (kek_id, wrapped, purpose) VALUES ('file:0000000000000000', decode(repeat('00', 60), 'hex'), 'secret')");
    let troubled = report(&app);
    let (level, reason) = level_and_reason(&troubled, "jobs");
    assert_eq!(level, "red");
    assert!(reason.starts_with("A job has waited 20 minutes to run"), "{reason}");
    let (level, reason) = level_and_reason(&troubled, "keys");
    assert_eq!(level, "amber");
    assert!(reason.contains("1 data key is still wrapped by a previous key; `outpost keys rotate`"), "{reason}");
    assert_eq!(troubled["level"], "red");
    assert_eq!(troubled["checks"][0]["part"], "jobs", "the worst parts come first");

    // The page says the same in words as well as colours.
    let (mut browser, _) = app.signed_in("pageadmin", true);
    let page = browser.get("/admin/system");
    assert_eq!(page.status, 200);
    for text in [
        "1 part is failing, and",
        "Failing</span>",
        "A job has waited 20 minutes to run",
        "Slowest queries",
        "This node started",
        "aria-current=\"page\">System</a>",
    ] {
        assert!(page.body.contains(text), "{text}");
    }
}

#[test]
fn a_mail_server_that_is_not_there_is_red_with_its_reason() {
    let port = free_port().to_string();
    let app = TestApp::start_with(&[
        ("OUTPOST_MAIL_SMTP_HOST", "127.0.0.1"),
        ("OUTPOST_MAIL_SMTP_PORT", &port),
        ("OUTPOST_MAIL_SECURITY", "none"),
    ]);
    let (level, reason) = level_and_reason(&report(&app), "mail");
    assert_eq!(level, "red");
    assert!(reason.starts_with(&format!("The mail server does not take mail: SMTP 127.0.0.1:{port}")), "{reason}");
}

#[test]
fn a_certificate_turns_amber_thirty_days_before_it_expires_and_red_seven_days_before() {
    let soon = SelfSigned::make(20);
    let (cert, key) = (soon.path("cert.pem"), soon.path("key.pem"));
    let app =
        TestApp::start_with(&[("OUTPOST_SERVER_TLS_CERTIFICATE", &cert), ("OUTPOST_SERVER_TLS_PRIVATE_KEY", &key)]);
    // Over HTTPS, with a client that trusts only this certificate.
    let admin = app.user("root", true);
    let token = app.token(&admin);
    let output = std::process::Command::new("curl")
        .args(["-s", "-S", "--max-time", "20", "--cacert", &cert, "-H", &format!("Authorization: Bearer {token}")])
        .arg(format!("{}/api/v1/admin/system", app.base))
        .output()
        .unwrap();
    let served: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&output.stderr)));
    let (level, reason) = level_and_reason(&served, "certificate");
    assert_eq!(level, "amber");
    assert!(reason.starts_with("The certificate expires in 19 days"), "{reason}");
    let facts = part(&served, "certificate")["facts"].to_string();
    assert!(facts.contains("CN=localhost") && facts.contains("127.0.0.1"), "{facts}");

    // The same certificate seen later: a week before, and after.
    let files = TlsFiles { certificate: cert.clone().into(), private_key: key.clone().into() };
    let (_, certificate) = outpost::tls::server_config(&files).unwrap();
    let check = |days: i64| {
        let checked = health::certificate(Some(&certificate), &app.config, Utc::now() + Duration::days(days));
        (checked.level, checked.reason)
    };
    let (level, reason) = check(15);
    assert_eq!(level, health::Level::Red);
    assert!(reason.starts_with("The certificate expires in 4 days"), "{reason}");
    let (level, reason) = check(21);
    assert_eq!(level, health::Level::Red);
    assert!(reason.starts_with("The certificate expired on"), "{reason}");
    let (level, reason) = check(-20);
    assert_eq!(level, health::Level::Green);
    assert!(reason.starts_with("Valid until"), "{reason}");
}

#[test]
fn metrics_count_requests_by_route_and_are_served_to_loopback_or_the_token() {
    let app =
        TestApp::start_with(&[("OUTPOST_METRICS_TOKEN", "scrape-me"), ("OUTPOST_SERVER_TRUSTED_PROXIES", "127.0.0.1")]);
    let mut client = app.client();
    for _ in 0..3 {
        assert_eq!(client.get("/login").status, 200);
    }
    let admin = app.user(&format!("root{}", rand::random::<u32>()), true);
    let token = app.token(&admin);
    assert_eq!(client.api("GET", "/api/v1/issues/NOPE-1", Some(&token), None).status, 404);
    app.sql("INSERT INTO jobs (kind, payload, run_at) VALUES ('digest', '{}', now() - interval '90 seconds')");

    let metrics = client.get("/metrics");
    assert_eq!(metrics.status, 200, "{}", metrics.body);
    assert!(metrics.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"));
    for line in [
        "outpost_http_requests_total{method=\"GET\",route=\"/login\",status=\"200\"} 3",
        "outpost_http_requests_total{method=\"GET\",route=\"/api/v1/issues/{issue}\",status=\"404\"} 1",
        "outpost_http_request_duration_seconds_bucket{method=\"GET\",route=\"/login\",le=\"+Inf\"} 3",
        "outpost_http_request_duration_seconds_count{method=\"GET\",route=\"/login\"} 3",
        "# TYPE outpost_http_request_duration_seconds histogram",
        "outpost_db_pool_max 6",
        "outpost_database_up 1",
        "outpost_jobs_ready{kind=\"digest\"} 1",
        "outpost_license_seats 25",
        "outpost_build_info{version=",
    ] {
        assert!(metrics.body.contains(line), "{line}\n{}", metrics.body);
    }
    let waited =
        metrics.body.lines().find(|l| l.starts_with("outpost_jobs_oldest_ready_age_seconds{kind=\"digest\"}")).unwrap();
    let seconds: f64 = waited.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((89.0..200.0).contains(&seconds), "{waited}");

    // Through a proxy, for a client elsewhere: only with the token.
    client.headers.push(("X-Forwarded-For".into(), "203.0.113.9".into()));
    let refused = client.get("/metrics");
    assert_eq!(refused.status, 403);
    assert!(
        refused.body.contains("Metrics are served to loopback, or to a client sending metrics.token"),
        "{}",
        refused.body
    );
    client.headers.push(("Authorization".into(), "Bearer wrong".into()));
    assert_eq!(client.get("/metrics").body, "The metrics token is wrong.");
    client.headers.pop();
    client.headers.push(("Authorization".into(), "Bearer scrape-me".into()));
    assert_eq!(client.get("/metrics").status, 200);
}

#[test]
fn every_answer_carries_a_request_id_and_errors_name_it() {
    let app = TestApp::start();
    let mut client = app.client();
    let page = client.get("/login");
    let id = page.header("x-request-id").expect("a request id").to_owned();
    assert_eq!(id.len(), 16, "{id}");
    assert_ne!(client.get("/login").header("x-request-id"), Some(id.as_str()), "one per request");

    let admin = app.user("root", true);
    let token = app.token(&admin);
    let missing = client.api("GET", "/api/v1/issues/NOPE-1", Some(&token), None);
    assert_eq!(missing.json()["error"]["request_id"], missing.header("x-request-id").unwrap());
    let (mut browser, _) = app.signed_in("pages", false);
    let not_found = browser.get("/issues/NOPE-1");
    assert_eq!(not_found.status, 404);
    let shown = format!("Request id: <code>{}</code>", not_found.header("x-request-id").unwrap());
    assert!(not_found.body.contains(&shown), "{}", not_found.body);

    // A proxy's id is kept when it is plain; anything else is replaced.
    client.headers.push(("X-Request-Id".into(), "lb-7f3a-0001".into()));
    assert_eq!(client.get("/login").header("x-request-id"), Some("lb-7f3a-0001"));
    client.headers.pop();
    client.headers.push(("X-Request-Id".into(), "<script>".into()));
    assert_ne!(client.get("/login").header("x-request-id"), Some("<script>"));
}

#[test]
fn an_administrator_changes_the_log_level_of_a_running_node() {
    // Quiet: the other tests in this process log through the same subscriber.
    outpost::telemetry::init("off");
    let app = TestApp::start();
    let (mut browser, _) = app.signed_in("root", true);
    let page = browser.get("/admin/system");
    let token = page.csrf_token();
    let refused = browser.post_form("/admin/system/log-level", &[("csrf_token", &token), ("level", "loud=!!")]);
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("is not a log level or directive"), "{}", refused.body);
    assert!(refused.body.contains("value=\"loud=!!\""), "the text is kept");
    assert_eq!(app.count("audit_log WHERE action = 'log.level_changed'"), 0);

    let changed = browser.post_form("/admin/system/log-level", &[("csrf_token", &token), ("level", "error")]);
    assert_eq!(changed.status, 303, "{}", changed.body);
    assert_eq!(outpost::telemetry::level().as_deref(), Some("error"));
    assert!(browser.get("/admin/system").body.contains("(now <code>error</code>)"));
    assert_eq!(app.count("audit_log WHERE action = 'log.level_changed'"), 1);
    outpost::telemetry::set_level("off").unwrap();
}
