//! Notifications from real events, and mail through a real SMTP server (aiosmtpd): who hears
//! about what and why, the bell, preferences, digests, the unsubscribe link, STARTTLS with a
//! private CA, and what happens when the mail server is down.

use std::process::Command;

use serde_json::{json, Value};

use crate::support::smtp::{decoded, plain_mail, Certificates, SmtpServer};
use crate::support::{Client, TestApp, PASSWORD};

struct Setup {
    app: TestApp,
    api: Client,
    root_token: String,
    ann_token: String,
}

/// Project OPS led by root; ann and bob are members. `overrides` configure mail.
fn setup(overrides: &[(&str, &str)]) -> Setup {
    let app = TestApp::start_with(overrides);
    let root = app.user("root", true);
    let ann = app.user("ann", false);
    app.user("bob", false);
    let (root_token, ann_token) = (app.token(&root), app.token(&ann));
    let mut api = app.client();
    api.api("POST", "/api/v1/projects", Some(&root_token), Some(r#"{"key":"OPS","name":"Operations"}"#));
    Setup { app, api, root_token, ann_token }
}

fn create_issue(s: &mut Setup, body: Value) -> String {
    let reply = s.api.api("POST", "/api/v1/projects/OPS/issues", Some(&s.root_token), Some(&body.to_string()));
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.json()["key"].as_str().unwrap().to_owned()
}

/// (reason, summary) of a user's notifications, oldest first.
fn notifications_of(s: &Setup, user: &str) -> Vec<(String, String)> {
    use diesel::prelude::*;
    use outpost::schema::{notifications, users};
    notifications::table
        .inner_join(users::table.on(users::id.eq(notifications::user_id)))
        .filter(users::username.eq(user))
        .order(notifications::id)
        .select((notifications::reason, notifications::summary))
        .load(&mut s.app.conn())
        .unwrap()
}

#[test]
fn each_person_hears_once_for_the_most_specific_reason_and_never_about_their_own_acts() {
    let mut s = setup(&[]);
    let key = create_issue(&mut s, json!({ "title": "Rotate the keys", "assignee": "ann", "description": "cc @bob" }));
    s.app.run_jobs();
    assert_eq!(notifications_of(&s, "ann"), [("assigned".to_owned(), format!("root (test) assigned {key} to you"))]);
    assert_eq!(notifications_of(&s, "bob"), [("mentioned".to_owned(), format!("root (test) mentioned you in {key}"))]);
    assert!(notifications_of(&s, "root").is_empty(), "the actor is not told about their own act");

    // bob watches; ann comments mentioning root, who reported it: one notification each.
    let bob_token = s.app.token(&bob(&s));
    s.api.api("PUT", &format!("/api/v1/issues/{key}/watchers/me"), Some(&bob_token), None);
    let comment = json!({ "body": "Done on staging, @root please check" }).to_string();
    let reply = s.api.api("POST", &format!("/api/v1/issues/{key}/comments"), Some(&s.ann_token), Some(&comment));
    assert_eq!(reply.status, 201, "{}", reply.body);
    s.app.run_jobs();
    let root = notifications_of(&s, "root");
    assert_eq!(root, [("mentioned".to_owned(), format!("ann (test) mentioned you in a comment on {key}"))]);
    assert_eq!(notifications_of(&s, "bob")[1], ("watching".to_owned(), format!("ann (test) commented on {key}")));
    assert_eq!(notifications_of(&s, "ann").len(), 1, "ann commented herself");

    // An update tells watchers what changed; a re-run of the same events adds nothing.
    let patch = json!({ "priority": "high", "title": "Rotate all keys" }).to_string();
    assert_eq!(s.api.api("PATCH", &format!("/api/v1/issues/{key}"), Some(&s.root_token), Some(&patch)).status, 200);
    s.app.run_jobs();
    let (reason, summary) = notifications_of(&s, "bob").pop().unwrap();
    assert_eq!(reason, "watching");
    assert!(summary.contains("changed") && summary.contains("priority") && summary.contains("title"), "{summary}");
    let before = s.app.count("notifications");
    s.app.sql("UPDATE outbox SET processed_at = NULL");
    s.app.sql("DELETE FROM jobs");
    s.app.run_jobs();
    assert_eq!(s.app.count("notifications"), before, "events handled twice notify once");
}

#[test]
fn an_issue_that_can_notify_nobody_queues_no_notify_job() {
    let mut s = setup(&[]);
    let notify_jobs = |s: &Setup| s.app.count("jobs WHERE kind = 'notify'");
    create_issue(&mut s, json!({ "title": "Filed by its reporter" }));
    create_issue(
        &mut s,
        json!({ "title": "Taken by its reporter", "assignee": "root", "description": "root@example.com" }),
    );
    s.app.run_jobs();
    assert_eq!(notify_jobs(&s), 0, "nobody but the reporter is involved");
    let for_ann = create_issue(&mut s, json!({ "title": "For ann", "assignee": "ann" }));
    let asks_bob = create_issue(&mut s, json!({ "title": "Ask bob", "description": "what do you think, @bob?" }));
    s.app.run_jobs();
    assert_eq!(notify_jobs(&s), 2);
    assert_eq!(
        notifications_of(&s, "ann"),
        [("assigned".to_owned(), format!("root (test) assigned {for_ann} to you"))]
    );
    assert_eq!(
        notifications_of(&s, "bob"),
        [("mentioned".to_owned(), format!("root (test) mentioned you in {asks_bob}"))]
    );
}

fn bob(s: &Setup) -> outpost::identity::users::User {
    use diesel::prelude::*;
    use outpost::identity::users::User;
    use outpost::schema::users;
    users::table.filter(users::username.eq("bob")).select(User::as_select()).first(&mut s.app.conn()).unwrap()
}

#[test]
fn the_bell_counts_unread_and_the_list_marks_them_read() {
    let mut s = setup(&[]);
    let one = create_issue(&mut s, json!({ "title": "One", "assignee": "ann" }));
    create_issue(&mut s, json!({ "title": "Two", "assignee": "ann" }));
    s.app.run_jobs();
    let mut page = s.app.client();
    page.sign_in("ann", PASSWORD);
    let home = page.get("/");
    assert!(home.body.contains(r#"<span class="bell-count">2</span>"#), "{}", home.body);

    // Opening one marks it read and goes to the issue.
    let list = page.get("/notifications");
    assert!(list.body.contains(&format!("assigned {one} to you")));
    let id: i64 = {
        use diesel::prelude::*;
        use outpost::schema::notifications;
        notifications::table.select(notifications::id).order(notifications::id).first(&mut s.app.conn()).unwrap()
    };
    let csrf = page.session_csrf();
    let opened = page.post_form(
        "/notifications/read",
        &[("csrf_token", &csrf), ("id", &id.to_string()), ("next", &format!("/issues/{one}"))],
    );
    assert_eq!(opened.status, 303);
    assert_eq!(opened.header("location"), Some(format!("/issues/{one}").as_str()));
    assert!(page.get("/").body.contains(r#"<span class="bell-count">1</span>"#));

    // The API shows the same, and marks the rest read; another user's ids are not theirs to touch.
    let listed = s.api.api("GET", "/api/v1/notifications?unread=1", Some(&s.ann_token), None);
    assert_eq!(listed.json()["unread"], 1);
    assert_eq!(listed.json()["items"].as_array().unwrap().len(), 1);
    let root_marks = s.api.api("POST", "/api/v1/notifications/read", Some(&s.root_token), Some(r#"{}"#));
    assert_eq!(root_marks.json()["marked"], 0);
    let bad = s.api.api("POST", "/api/v1/notifications/read", Some(&s.ann_token), Some(r#"{"ids":"all"}"#));
    assert_eq!(bad.status, 400);
    assert!(bad.error_message().contains("ids"), "{}", bad.body);
    let marked = s.api.api("POST", "/api/v1/notifications/read", Some(&s.ann_token), Some(r#"{}"#));
    assert_eq!(marked.json()["marked"], 1);
    assert!(!page.get("/").body.contains(r#"class="bell-count""#));
}

#[test]
fn preferences_refuse_unknown_choices_and_save_nothing() {
    let s = setup(&[]);
    let mut page = s.app.client();
    page.sign_in("ann", PASSWORD);
    let form = page.get("/notifications/preferences");
    assert!(form.body.contains("An issue I watch changes"));
    let csrf = page.session_csrf();
    let refused = page
        .post_form("/notifications/preferences", &[("csrf_token", &csrf), ("assigned", "off"), ("watching", "hourly")]);
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("&quot;hourly&quot; is not a delivery"), "{}", refused.body);
    assert_eq!(s.app.count("notification_preferences"), 0, "nothing half-saved");
    let saved = page.post_form(
        "/notifications/preferences",
        &[("csrf_token", &csrf), ("assigned", "off"), ("watching", "immediate")],
    );
    assert_eq!(saved.status, 200);
    assert_eq!(s.app.count("notification_preferences"), 2);
    assert_eq!(s.app.count("audit_log WHERE action = 'notification_preferences.updated'"), 1);
}

fn as_refs(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[test]
fn mail_goes_out_through_a_real_smtp_server_and_the_unsubscribe_link_works() {
    let smtp = SmtpServer::start();
    let env = plain_mail(&smtp);
    let mut s = setup(&as_refs(&env));
    let key = create_issue(&mut s, json!({ "title": "Renew the certificate", "assignee": "ann" }));
    s.app.run_jobs();
    let messages = smtp.wait_for(1);
    assert_eq!(messages.len(), 1, "one immediate mail");
    let mail = decoded(&messages[0]);
    assert!(mail.lines().any(|l| l.starts_with("To: ") && l.ends_with("<ann@example.test>")), "{mail}");
    assert!(mail.contains(&format!("Subject: [Outpost] root (test) assigned {key} to you")), "{mail}");
    assert!(mail.contains("Content-Type: text/plain") && mail.contains("Content-Type: text/html"), "{mail}");
    assert!(mail.contains(&format!("https://outpost.example.test/issues/{key}")), "{mail}");
    assert_eq!(s.app.count("mail_messages WHERE state = 'sent'"), 1);

    // The unsubscribe link: a page with a button (a link scanner changes nothing), then off.
    let link = mail
        .split_whitespace()
        .find(|w| w.starts_with("https://outpost.example.test/notifications/unsubscribe?"))
        .unwrap()
        .trim_end_matches(['"', '>'])
        .replace("&amp;", "&");
    let path = link.trim_start_matches("https://outpost.example.test");
    let mut anonymous = s.app.client();
    let confirm = anonymous.get(path);
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert!(confirm.body.contains("An issue is assigned to me"));
    assert_eq!(s.app.count("notification_preferences"), 0, "opening the link changed nothing");
    let query: Vec<(String, String)> = serde_urlencoded::from_str(path.split_once('?').unwrap().1).unwrap();
    let fields: Vec<(&str, &str)> = query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let done = anonymous.post_form("/notifications/unsubscribe", &fields);
    assert_eq!(done.status, 200);
    assert!(done.body.contains("no more mail"), "{}", done.body);
    assert_eq!(s.app.count("notification_preferences WHERE reason = 'assigned' AND email = 'off'"), 1);

    // A forged signature is refused and changes nothing.
    let forged: Vec<(&str, &str)> =
        fields.iter().map(|(k, v)| if *k == "reason" { (*k, "mentioned") } else { (*k, *v) }).collect();
    let refused = anonymous.post_form("/notifications/unsubscribe", &forged);
    assert_eq!(refused.status, 404);
    assert!(refused.body.contains("not valid"));
    assert_eq!(s.app.count("notification_preferences"), 1);

    // Assigned mail is now off: the next assignment stays in the app only.
    create_issue(&mut s, json!({ "title": "Second", "assignee": "ann" }));
    s.app.run_jobs();
    assert_eq!(notifications_of(&s, "ann").len(), 2);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(smtp.messages().len(), 1);
}

#[test]
fn watched_changes_wait_for_the_digest_and_arrive_in_one_mail() {
    let smtp = SmtpServer::start();
    let env = plain_mail(&smtp);
    let mut s = setup(&as_refs(&env));
    let key = create_issue(&mut s, json!({ "title": "Quarterly audit" }));
    let ann_token = s.ann_token.clone();
    s.api.api("PUT", &format!("/api/v1/issues/{key}/watchers/me"), Some(&ann_token), None);
    for priority in ["high", "low"] {
        let patch = json!({ "priority": priority }).to_string();
        s.api.api("PATCH", &format!("/api/v1/issues/{key}"), Some(&s.root_token), Some(&patch));
    }
    s.app.run_jobs();
    assert_eq!(notifications_of(&s, "ann").len(), 2);
    assert!(smtp.messages().is_empty(), "watching defaults to the digest");
    outpost::jobs::schedule::enqueue_tick(&mut s.app.conn(), "digest", chrono::Utc::now()).unwrap();
    s.app.run_jobs();
    let messages = smtp.wait_for(1);
    assert_eq!(messages.len(), 1);
    let mail = decoded(&messages[0]);
    assert!(mail.contains("Subject: [Outpost] Your digest: 2 notification(s)"), "{mail}");
    assert!(mail.matches(&format!("changed priority of {key}")).count() >= 2, "{mail}");
    // Another digest run has nothing new to send.
    outpost::jobs::schedule::enqueue_tick(&mut s.app.conn(), "digest", chrono::Utc::now() + chrono::Duration::days(1))
        .unwrap();
    s.app.run_jobs();
    assert_eq!(smtp.messages().len(), 1);
}

#[test]
fn starttls_with_a_private_ca_works_and_is_never_downgraded() {
    let certs = Certificates::make();
    let smtp = SmtpServer::start_tls(&certs.path("server.pem"), &certs.path("server.key"));
    let port = smtp.port.to_string();
    let ca = certs.path("ca.pem");
    let env = [
        ("OUTPOST_MAIL_SMTP_HOST", "localhost"),
        ("OUTPOST_MAIL_SMTP_PORT", port.as_str()),
        ("OUTPOST_MAIL_CA_FILE", ca.as_str()),
        ("OUTPOST_MAIL_FROM", "outpost@example.test"),
    ];
    let mut s = setup(&env);
    create_issue(&mut s, json!({ "title": "Over TLS", "assignee": "ann" }));
    s.app.run_jobs();
    assert_eq!(smtp.wait_for(1).len(), 1, "{:?}", s.app.count("mail_messages WHERE state = 'sent'"));

    // A server that offers no STARTTLS gets no mail in plain text: the job fails and retries.
    let plain = SmtpServer::start();
    let port = plain.port.to_string();
    let env = [
        ("OUTPOST_MAIL_SMTP_HOST", "localhost"),
        ("OUTPOST_MAIL_SMTP_PORT", port.as_str()),
        ("OUTPOST_MAIL_CA_FILE", ca.as_str()),
    ];
    let mut s = setup(&env);
    create_issue(&mut s, json!({ "title": "Must not leak", "assignee": "ann" }));
    s.app.run_jobs();
    assert!(plain.messages().is_empty());
    let error: Option<String> = {
        use diesel::prelude::*;
        use outpost::schema::mail_messages;
        mail_messages::table.select(mail_messages::last_error).first(&mut s.app.conn()).unwrap()
    };
    assert!(error.is_some_and(|e| e.contains("SMTP localhost")), "the mail keeps why it is not sent");
    assert_eq!(s.app.count("mail_messages WHERE state = 'pending'"), 1);
    assert_eq!(s.app.count("jobs WHERE kind = 'mail.send' AND state = 'queued' AND last_error IS NOT NULL"), 1);
}

#[test]
fn an_unreachable_mail_server_delays_mail_until_it_dead_letters() {
    let port = crate::support::smtp::free_port().to_string();
    let env = [
        ("OUTPOST_MAIL_SMTP_HOST", "127.0.0.1"),
        ("OUTPOST_MAIL_SMTP_PORT", port.as_str()),
        ("OUTPOST_MAIL_SECURITY", "none"),
    ];
    let mut s = setup(&env);
    create_issue(&mut s, json!({ "title": "Nobody listens", "assignee": "ann" }));
    s.app.run_jobs();
    assert_eq!(s.app.count("notifications"), 1, "the notification is there whatever happens to mail");
    for _ in 0..8 {
        s.app.sql("UPDATE jobs SET run_at = now() WHERE state = 'queued'");
        s.app.run_jobs();
    }
    assert_eq!(s.app.count("jobs WHERE kind = 'mail.send' AND state = 'dead'"), 1);
    assert_eq!(s.app.count("mail_messages WHERE state = 'failed' AND attempts = 8"), 1);
}

#[test]
fn outpost_mail_test_sends_through_the_configured_server_or_says_why_not() {
    let smtp = SmtpServer::start();
    let dir = std::env::temp_dir().join(format!("outpost-mailtest-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("outpost.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"postgres:///unused\"\n[mail]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\nsecurity = \"none\"\n",
            smtp.port
        ),
    )
    .unwrap();
    let run = |config: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_outpost"))
            .args(["mail", "test", "--config"])
            .arg(config)
            .arg("admin@example.test")
            .env_remove("OUTPOST_CONFIG")
            .output()
            .unwrap()
    };
    let sent = run(&config);
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
    assert!(String::from_utf8_lossy(&sent.stdout).contains("Sent a test mail to admin@example.test"));
    assert!(decoded(&smtp.wait_for(1)[0]).contains("Mail works."));

    std::fs::write(&config, "[database]\nurl = \"postgres:///unused\"\n").unwrap();
    let off = run(&config);
    assert!(!off.status.success());
    assert!(String::from_utf8_lossy(&off.stderr).contains("mail is off: set mail.smtp_host"));
    let _ = std::fs::remove_dir_all(&dir);
}
