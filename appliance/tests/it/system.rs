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
