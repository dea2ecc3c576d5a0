//! Licenses through HTTP: evaluation mode and its seats, installing a license (each bad one
//! refused with the sentence that says why, writing nothing), seats counted and enforced,
//! features that gate modules, the expiry banner, the grace period and read-only mode that
//! still lets administrators in to install the next license. The vendor key pair is made here,
//! at test time; only debug builds trust such a key.

use std::sync::OnceLock;

use chrono::{Duration, Utc};
use ed25519_dalek::SigningKey;
use outpost::identity::roles::GlobalRole;
use outpost::license::signed::{sign, Payload, VERSION};
use outpost::license::vendor_keys::{trust_for_testing, VendorKey};
use serde_json::json;

use crate::access::{call, person};
use crate::support::{Client, TestApp, PASSWORD};

fn vendor() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        trust_for_testing(VendorKey { id: "test-vendor".into(), public: key.verifying_key().to_bytes() });
        key
    })
}

fn payload(seats: u32, expires_in_days: i64, features: &[&str]) -> Payload {
    let now = Utc::now();
    Payload {
        version: VERSION,
        license_id: format!("L-{}", rand::random::<u32>()),
        customer_id: "C-42".into(),
        customer_name: "Example Corp".into(),
        edition: "enterprise".into(),
        issued_at: now - Duration::days(400),
        not_before: now - Duration::days(400),
        expires_at: now + Duration::days(expires_in_days),
        seats,
        features: features.iter().map(|f| (*f).to_owned()).collect(),
        installation_id: None,
    }
}

fn signed(payload: &Payload) -> String {
    sign(payload, "test-vendor", vendor())
}

fn install_page(client: &mut Client, text: &str) -> crate::support::http::Reply {
    let csrf = client.session_csrf();
    client.post_form("/admin/license", &[("csrf_token", &csrf), ("license", text)])
}

const ALL: [&str; 4] = ["ldap", "sso", "automation", "webhooks"];

#[test]
fn bad_licenses_are_refused_with_the_reason_and_a_good_one_sets_the_seats() {
    let app = TestApp::start();
    vendor();
    let (mut admin, _) = app.signed_in("root", true);
    let evaluation = admin.get("/admin/license");
    assert!(evaluation.body.contains("Evaluation"), "{}", evaluation.body);
    assert!(evaluation.body.contains("Evaluation mode: every feature, up to 25 people."), "the banner");

    let good = payload(3, 200, &ALL);
    let other_key = sign(&good, "test-vendor", &SigningKey::from_bytes(&[1u8; 32]));
    let tampered = signed(&good).replacen("Key: test-vendor\n", "Key: test-vendor\nZm9v", 1);
    let installation = app.value("(SELECT value FROM installation_settings WHERE key = 'installation_id')");
    let cases = [
        ("nonsense".to_owned(), "This is not an Outpost license: it does not start with"),
        (other_key, "The license's signature does not match its contents"),
        (tampered, "The license's signature does not match its contents"),
        (
            sign(&good, "retired-2019", vendor()),
            "signed with key “retired-2019”, which this version of Outpost does not know",
        ),
        (signed(&Payload { version: 2, ..good.clone() }), "The license has version 2"),
        (
            signed(&Payload { not_before: Utc::now() + Duration::days(3), ..good.clone() }),
            "its start date is in the future",
        ),
        (signed(&payload(3, -1, &ALL)), "The license expired on"),
        (
            signed(&Payload { installation_id: Some("another-one".into()), ..good.clone() }),
            "The license is for installation another-one, and this is installation",
        ),
    ];
    let before = (app.count("licenses"), app.count("audit_log"));
    for (text, sentence) in &cases {
        let reply = install_page(&mut admin, text);
        assert_eq!(reply.status, 422, "{sentence}");
        let shown = reply.body.replace("&#x27;", "'").replace("&quot;", "\"");
        assert!(shown.contains(sentence), "{sentence}: {}", reply.body);
    }
    assert_eq!((app.count("licenses"), app.count("audit_log")), before, "nothing was written");
    assert!(installation.len() == 32, "{installation}");

    let bound = signed(&Payload { installation_id: Some(installation.clone()), ..good });
    let installed = install_page(&mut admin, &bound);
    assert_eq!((installed.status, installed.location.as_deref()), (303, Some("/admin/license")), "{}", installed.body);
    let page = admin.get("/admin/license");
    assert!(page.body.contains("Example Corp") && page.body.contains("1 of 3 in use"), "{}", page.body);
    assert!(!page.body.contains("Evaluation mode"), "no evaluation banner any more");
    assert_eq!(app.count("audit_log WHERE action = 'license.installed'"), 1);

    // Seats: root plus two; a fourth person is refused by name of the limit, a service
    // account is not a person, and a deactivated person frees a seat.
    let root = outpost::identity::users::find_by_username(&mut app.conn(), "root").unwrap().unwrap();
    let token = app.token(&root);
    let mut api = app.client();
    let create = |api: &mut Client, name: &str, service: bool| {
        let body = json!({ "username": name, "display_name": name, "email": format!("{name}@example.test"), "service": service });
        api.api("POST", "/api/v1/users", Some(&token), Some(&body.to_string()))
    };
    for name in ["ann", "bea"] {
        assert_eq!(create(&mut api, name, false).status, 201);
    }
    let users = app.count("users");
    let refused = create(&mut api, "cid", false);
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert_eq!(
        refused.error_message(),
        "The license allows 3 people and 3 are active; deactivate someone or install a license with more seats."
    );
    assert_eq!(app.count("users"), users);
    assert_eq!(create(&mut api, "robot", true).status, 201, "service accounts take no seat");
    let off = api.api("PATCH", "/api/v1/users/bea", Some(&token), Some(r#"{"active":false}"#));
    assert_eq!(off.status, 200);
    assert_eq!(create(&mut api, "cid", false).status, 201);
    let back = api.api("PATCH", "/api/v1/users/bea", Some(&token), Some(r#"{"active":true}"#));
    assert_eq!(back.status, 409, "reactivating needs a seat too: {}", back.body);
    let shown = api.api("GET", "/api/v1/license", Some(&token), None).json();
    assert_eq!(
        (shown["mode"].as_str(), shown["seats"].as_i64(), shown["seats_used"].as_i64()),
        (Some("licensed"), Some(3), Some(3))
    );
}

#[test]
fn features_gate_their_modules_and_expiry_warns_then_makes_outpost_read_only() {
    let app = TestApp::start();
    vendor();
    let (mut admin, _) = app.signed_in("root", true);
    let root_token = {
        let root = outpost::identity::users::find_by_username(&mut app.conn(), "root").unwrap().unwrap();
        app.token(&root)
    };
    let mut api = app.client();
    let root = crate::access::Caller { token: root_token };
    assert_eq!(call(&mut api, &root, "POST", "/api/v1/projects", Some(json!({ "key": "OPS", "name": "Ops" }))).0, 201);
    let alice = person(&app, "alice", GlobalRole::User);

    // Ten days left and no automation or webhooks in this license.
    assert_eq!(install_page(&mut admin, &signed(&payload(50, 10, &["ldap", "sso"]))).status, 303);
    let rule =
        json!({ "name": "Label", "trigger": "issue_created", "actions": [{ "type": "add_label", "label": "x" }] });
    let (status, body) = call(&mut api, &root, "POST", "/api/v1/projects/OPS/automation-rules", Some(rule));
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (403, Some("The license does not include automation rules; ask your vendor for a license that does."))
    );
    let hook = json!({ "name": "CI", "url": "https://203.0.113.9/h", "events": ["issue.created"] });
    assert_eq!(call(&mut api, &root, "POST", "/api/v1/projects/OPS/webhooks", Some(hook)).0, 403);
    assert_eq!(app.count("automation_rules") + app.count("webhooks"), 0);
    let banner = admin.get("/projects");
    assert!(banner.body.contains("days from now); read-only mode follows 14 days later"), "{}", banner.body);
    let mut browser = app.client();
    assert_eq!(browser.sign_in("alice", PASSWORD).status, 303);
    assert!(!browser.get("/projects").body.contains("license-notice"), "people are not told of expiry yet");

    // Expired three days ago: everyone is told, and everything still works.
    let grace = signed(&payload(50, -3, &ALL));
    app.sql(&format!("UPDATE licenses SET text = '{grace}'"));
    assert!(browser.get("/projects").body.contains("Outpost becomes read-only on"), "grace banner");
    assert_eq!(call(&mut api, &alice, "POST", "/api/v1/projects/OPS/issues", Some(json!({ "title": "Still" }))).0, 201);

    // Past the grace period: reads and exports work, writes are refused and change nothing,
    // administrators still sign in and install the next license.
    let over = signed(&payload(50, -15, &ALL));
    app.sql(&format!("UPDATE licenses SET text = '{over}'"));
    let page = browser.get("/issues/OPS-1");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Outpost is read-only"), "{}", page.body);
    assert_eq!(browser.get("/projects/OPS/issues.csv").status, 200);
    let before = (app.count("issues"), app.count("comments"), app.count("audit_log"));
    let (status, body) = call(&mut api, &alice, "POST", "/api/v1/projects/OPS/issues", Some(json!({ "title": "No" })));
    assert_eq!(status, 403);
    assert!(body["error"]["message"].as_str().unwrap().starts_with("Outpost is read-only because its license expired"));
    let csrf = browser.session_csrf();
    let comment = browser.post_form("/issues/OPS-1/comments", &[("csrf_token", &csrf), ("body", "No")]);
    assert_eq!(comment.status, 403);
    assert_eq!((app.count("issues"), app.count("comments"), app.count("audit_log")), before);
    let mut late_admin = app.client();
    assert_eq!(late_admin.sign_in("root", PASSWORD).status, 303, "administrators are never locked out");
    assert_eq!(install_page(&mut late_admin, &signed(&payload(50, 365, &ALL))).status, 303);
    assert_eq!(call(&mut api, &alice, "POST", "/api/v1/projects/OPS/issues", Some(json!({ "title": "Back" }))).0, 201);
    assert_eq!(app.count("licenses WHERE replaced_at IS NOT NULL"), 1, "the old license is kept, replaced");
}

/// A license file dropped where the configuration says is put in force at start-up, once;
/// a bad file is refused with the path and the reason, and changes nothing.
#[test]
fn a_dropped_license_file_is_installed_once_and_a_bad_one_changes_nothing() {
    let app = TestApp::start();
    vendor();
    let path = std::env::temp_dir().join(format!("outpost-dropped-{}", rand::random::<u64>()));
    let mut conn = app.conn();
    assert!(outpost::license::install_dropped_file(&mut conn, &path).unwrap().is_none(), "no file, nothing to do");
    std::fs::write(&path, signed(&payload(50, 200, &ALL))).unwrap();
    assert!(outpost::license::install_dropped_file(&mut conn, &path).unwrap().is_some());
    assert!(outpost::license::install_dropped_file(&mut conn, &path).unwrap().is_none(), "already in force");
    assert_eq!(app.count("licenses"), 1);
    std::fs::write(&path, "garbage").unwrap();
    let refused = outpost::license::install_dropped_file(&mut conn, &path).unwrap_err().to_string();
    assert!(
        refused.contains(&path.display().to_string()) && refused.contains("This is not an Outpost license"),
        "{refused}"
    );
    assert_eq!(app.count("licenses"), 1);
    std::fs::remove_file(&path).unwrap();
}
