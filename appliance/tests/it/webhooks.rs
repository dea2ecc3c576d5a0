//! Outgoing webhooks against a real HTTP receiver (a Python stdlib server) that checks the
//! signature with its own HMAC implementation: signed, retried, logged, redeliverable, and
//! kept away from addresses the policy forbids.

use serde_json::json;

use crate::support::receiver::Receiver;
use crate::support::{Client, TestApp};

pub const LOOPBACK_ALLOWED: &[(&str, &str)] =
    &[("OUTPOST_WEBHOOKS_DENIED_NETWORKS", ""), ("OUTPOST_WEBHOOKS_ALLOWED_NETWORKS", "127.0.0.1/32")];

struct Setup {
    app: TestApp,
    api: Client,
    token: String,
    page: Client,
}

fn setup(overrides: &[(&str, &str)]) -> Setup {
    let app = TestApp::start_with(overrides);
    let (page, root) = app.signed_in("root", true);
    let token = app.token(&root);
    let mut api = app.client();
    api.api("POST", "/api/v1/projects", Some(&token), Some(r#"{"key":"OPS","name":"Operations"}"#));
    Setup { app, api, token, page }
}

fn add_hook(s: &mut Setup, base: &str, url: &str, events: &str) -> (i64, String) {
    let csrf = s.page.session_csrf();
    let reply = s.page.post_form(base, &[("csrf_token", &csrf), ("name", "CI"), ("url", url), ("events", events)]);
    assert_eq!(reply.status, 303, "{}", reply.body);
    use diesel::prelude::*;
    use outpost::schema::webhooks;
    let (id, stored): (i64, String) = webhooks::table
        .order(webhooks::id.desc())
        .select((webhooks::id, webhooks::secret))
        .first(&mut s.app.conn())
        .unwrap();
    // Managers read the secret on the hook's page; the database holds it sealed.
    let page = s.page.get(reply.location.as_deref().unwrap());
    let start = page.body.find(r#"<code class="secret">"#).unwrap() + r#"<code class="secret">"#.len();
    let secret = page.body[start..].split('<').next().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert!(stored.starts_with("sealed:v1:") && !stored.contains(&secret), "{stored}");
    (id, secret)
}

fn create_issue(s: &mut Setup, title: &str) -> String {
    let body = json!({ "title": title }).to_string();
    let reply = s.api.api("POST", "/api/v1/projects/OPS/issues", Some(&s.token), Some(&body));
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.json()["key"].as_str().unwrap().to_owned()
}

#[test]
fn deliveries_are_signed_retried_logged_and_redeliverable() {
    let receiver = Receiver::start(1);
    let mut s = setup(LOOPBACK_ALLOWED);
    let (hook, secret) =
        add_hook(&mut s, "/projects/OPS/webhooks", &receiver.url("/hook"), "issue.created, comment.created");
    receiver.trust(&secret);
    let key = create_issue(&mut s, "Deploy 1.4.2");
    let comment = json!({ "body": "shipped" }).to_string();
    s.api.api("POST", &format!("/api/v1/issues/{key}/comments"), Some(&s.token), Some(&comment));
    let patch = json!({ "title": "Deploy 1.4.3" }).to_string();
    s.api.api("PATCH", &format!("/api/v1/issues/{key}"), Some(&s.token), Some(&patch));
    s.app.run_jobs();
    // The first request met a 503: that delivery waits for its retry; the comment went through.
    assert_eq!(s.app.count("webhook_deliveries WHERE state = 'pending' AND response_status = 503"), 1);
    s.app.sql("UPDATE jobs SET run_at = now() WHERE state = 'queued'");
    s.app.run_jobs();
    assert_eq!(s.app.count("webhook_deliveries WHERE state = 'delivered'"), 2);

    let received = receiver.received();
    assert!(received.iter().all(|r| r["valid"] == true), "every signature verifies independently: {received:?}");
    let events: Vec<&str> = received.iter().map(|r| r["event"].as_str().unwrap()).collect();
    assert_eq!(events.iter().filter(|e| **e == "issue.created").count(), 2, "503, then the retry");
    assert_eq!(events.iter().filter(|e| **e == "comment.created").count(), 1);
    assert!(!events.contains(&"issue.updated"), "only the chosen events");
    let created = &received.iter().rev().find(|r| r["event"] == "issue.created").unwrap()["body"];
    assert_eq!(created["schema"], "outpost.webhook.v1");
    assert_eq!(created["project"], "OPS");
    assert_eq!(created["actor"], "root");
    assert_eq!(created["after"]["key"], key.as_str());

    // The log shows both attempts' outcome; redeliver sends it again.
    let log = s.page.get(&format!("/projects/OPS/webhooks/{hook}"));
    assert!(log.body.contains("HTTP 200") && log.body.contains("comment.created"), "{}", log.body);
    let delivery: i64 = {
        use diesel::prelude::*;
        use outpost::schema::webhook_deliveries as d;
        d::table.filter(d::topic.eq("issue.created")).select(d::id).first(&mut s.app.conn()).unwrap()
    };
    let csrf = s.page.session_csrf();
    let again = s
        .page
        .post_form(&format!("/projects/OPS/webhooks/{hook}/deliveries/{delivery}/redeliver"), &[("csrf_token", &csrf)]);
    assert_eq!(again.status, 303);
    s.app.run_jobs();
    assert_eq!(receiver.received().len(), 4);

    // A disabled hook gets nothing.
    s.page.post_form(&format!("/projects/OPS/webhooks/{hook}/disable"), &[("csrf_token", &csrf)]);
    create_issue(&mut s, "Quiet");
    s.app.run_jobs();
    assert_eq!(receiver.received().len(), 4);
    assert_eq!(
        s.app.count("audit_log WHERE action IN ('webhook.created', 'webhook.redelivered', 'webhook.disabled')"),
        3
    );
}

#[test]
fn forbidden_targets_and_redirects_are_refused_and_logged() {
    let receiver = Receiver::start(0);
    // The default policy: this host is off limits.
    let mut s = setup(&[]);
    let (hook, secret) = add_hook(&mut s, "/admin/webhooks", &receiver.url("/hook"), "*");
    receiver.trust(&secret);
    create_issue(&mut s, "Should not leave");
    s.app.run_jobs();
    assert!(receiver.received().is_empty(), "nothing reached the forbidden address");
    let error: Option<String> = {
        use diesel::prelude::*;
        use outpost::schema::webhook_deliveries as d;
        d::table.filter(d::webhook_id.eq(hook)).select(d::last_error).first(&mut s.app.conn()).unwrap()
    };
    let error = error.unwrap();
    assert!(error.contains("127.0.0.1 is in 127.0.0.0/8"), "{error}");
    assert_eq!(s.app.count("webhook_deliveries WHERE state = 'failed'"), 1, "a refused target is not retried");

    // Allowed, but the target redirects to the metadata address: not followed.
    let mut s = setup(LOOPBACK_ALLOWED);
    let (_, secret) = add_hook(&mut s, "/admin/webhooks", &receiver.url("/redirect"), "issue.created");
    receiver.trust(&secret);
    create_issue(&mut s, "Bounce");
    s.app.run_jobs();
    assert_eq!(receiver.received().len(), 1);
    assert_eq!(
        s.app
            .count("webhook_deliveries WHERE response_status = 302 AND last_error LIKE '%redirects are not followed%'"),
        1
    );
}

#[test]
fn bad_hooks_are_refused_by_field_and_only_managers_see_them() {
    let mut s = setup(&[]);
    let csrf = s.page.session_csrf();
    let audit = s.app.count("audit_log");
    for (url, events, expected) in [
        ("ftp://example.com/x", "*", "must start with https:// or http://"),
        ("https://user:pw@example.com/", "*", "no user name, password"),
        ("https://example.com/", "issue.deleted", "&quot;issue.deleted&quot; is not an event"),
        ("https://example.com/", " ", "Choose at least one event"),
    ] {
        let reply = s.page.post_form(
            "/projects/OPS/webhooks",
            &[("csrf_token", &csrf), ("name", "x"), ("url", url), ("events", events)],
        );
        assert_eq!(reply.status, 422, "{url} {events}");
        assert!(reply.body.contains(expected), "{expected}: {}", reply.body);
        assert!(
            reply.body.contains(&format!("value=\"{}\"", url.replace('&', "&amp;"))) || url.contains('@'),
            "the form keeps what was typed"
        );
    }
    assert_eq!(s.app.count("webhooks"), 0);
    assert_eq!(s.app.count("audit_log"), audit, "nothing written");

    let (hook, _) = add_hook(&mut s, "/projects/OPS/webhooks", "https://ci.example.com/hook", "*");
    let (mut member, _) = s.app.signed_in("mia", false);
    assert_eq!(member.get("/projects/OPS/webhooks").status, 403);
    assert_eq!(member.get("/admin/webhooks").status, 403);
    // The project's hook is not a global one.
    assert_eq!(s.page.get(&format!("/admin/webhooks/{hook}")).status, 404);
    assert_eq!(s.page.get(&format!("/projects/OPS/webhooks/{hook}")).status, 200);
}

#[test]
fn the_api_manages_hooks_and_shows_their_deliveries() {
    let mut s = setup(LOOPBACK_ALLOWED);
    let receiver = Receiver::start(0);
    let body = json!({ "name": "CI", "url": receiver.url("/hook"), "events": ["issue.created"] }).to_string();
    let created = s.api.api("POST", "/api/v1/projects/OPS/webhooks", Some(&s.token), Some(&body));
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["webhook"]["id"].as_i64().unwrap();
    let secret = created.json()["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    receiver.trust(&secret);
    let listed = s.api.api("GET", "/api/v1/projects/OPS/webhooks", Some(&s.token), None);
    assert_eq!(listed.json()["webhooks"][0]["name"], "CI");
    assert!(!listed.body.contains(&secret), "the secret is shown on creation only, over the API");

    let bad = json!({ "name": "x", "url": "gopher://old", "events": ["*"] }).to_string();
    let refused = s.api.api("POST", "/api/v1/projects/OPS/webhooks", Some(&s.token), Some(&bad));
    assert_eq!(refused.status, 422);
    assert_eq!(refused.json()["error"]["field"], "url");

    create_issue(&mut s, "Over the API");
    s.app.run_jobs();
    let deliveries = s.api.api("GET", &format!("/api/v1/projects/OPS/webhooks/{id}/deliveries"), Some(&s.token), None);
    assert_eq!(deliveries.json()["deliveries"][0]["state"], "delivered", "{}", deliveries.body);
    assert!(receiver.received()[0]["valid"] == true);

    // A project's hook is not reachable as a global one, and members cannot manage hooks.
    assert_eq!(s.api.api("GET", &format!("/api/v1/webhooks/{id}/deliveries"), Some(&s.token), None).status, 404);
    let mia = s.app.user("mia", false);
    let mia_token = s.app.token(&mia);
    assert_eq!(s.api.api("GET", "/api/v1/projects/OPS/webhooks", Some(&mia_token), None).status, 403);
    assert_eq!(s.api.api("DELETE", &format!("/api/v1/projects/OPS/webhooks/{id}"), Some(&s.token), None).status, 204);
    assert_eq!(s.app.count("webhooks"), 0);
}

#[test]
fn https_targets_signed_by_a_private_ca_are_trusted_only_once_it_is_configured() {
    let certificates = crate::support::smtp::Certificates::make();
    let receiver = Receiver::start_tls(&certificates.path("server.pem"), &certificates.path("server.key"));
    let ca_file = certificates.path("ca.pem");
    for trusted in [false, true] {
        let mut overrides = LOOPBACK_ALLOWED.to_vec();
        if trusted {
            overrides.push(("OUTPOST_WEBHOOKS_CA_FILE", &ca_file));
        }
        let mut s = setup(&overrides);
        let (_, secret) = add_hook(&mut s, "/projects/OPS/webhooks", &receiver.url("/tls"), "issue.created");
        receiver.trust(&secret);
        create_issue(&mut s, "Over TLS");
        s.app.run_jobs();
        let (state, error): (String, Option<String>) = {
            use diesel::prelude::*;
            use outpost::schema::webhook_deliveries as d;
            d::table.select((d::state, d::last_error)).first(&mut s.app.conn()).unwrap()
        };
        if trusted {
            assert_eq!(state, "delivered", "{error:?}");
        } else {
            assert_eq!(state, "pending", "retried later");
            assert!(error.as_deref().unwrap_or("").contains("certificate"), "{error:?}");
        }
    }
    let received = receiver.received();
    assert_eq!(received.len(), 1, "only the trusted connection got through: {received:?}");
    assert_eq!(received[0]["valid"], true);
}
