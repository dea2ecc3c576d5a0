//! Two-factor sign-in end to end: enrolment through the page with a QR code, the code step of
//! signing in (a code is good once; recovery codes once each; a challenge dies after five
//! wrong codes), turning it off, and the administrators' requirement that sends people to
//! enrol before anything else.

use outpost::identity::mfa::code_at;

use crate::support::{Client, TestApp, PASSWORD};

fn now_step() -> i64 {
    chrono::Utc::now().timestamp().div_euclid(30)
}

/// The key the enrolment page shows (base32, RFC 4648, as authenticator apps take it).
fn shown_secret(page: &str) -> Vec<u8> {
    let start = page.find(r#"<code class="secret">"#).expect("the key is shown") + r#"<code class="secret">"#.len();
    let text: String = page[start..].split('<').next().unwrap().chars().filter(|c| !c.is_whitespace()).collect();
    let mut bits = 0u64;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.trim_end_matches('=').chars() {
        let value = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".find(c.to_ascii_uppercase()).expect("base32") as u64;
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}

fn code(secret: &[u8], step: i64) -> String {
    format!("{:06}", code_at(secret, step))
}

/// Posts the code step with the pre-sign-in token the code page carries.
fn post_code(client: &mut Client, code: &str) -> crate::support::Reply {
    let form = client.get("/login/code?next=/");
    assert_eq!(form.status, 200, "{}", form.body);
    let token = form.csrf_token();
    client.post_form("/login/code", &[("csrf_token", &token), ("code", code), ("next", "/")])
}

fn enrol(app: &TestApp, client: &mut Client, username: &str) -> (Vec<u8>, Vec<String>) {
    let page = client.get("/settings/mfa");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<svg") && page.body.contains("class=\"secret\""), "{}", page.body);
    let secret = shown_secret(&page.body);
    let stored =
        app.value(&format!("SELECT encode(totp_pending_secret, 'hex') FROM users WHERE username = '{username}'"));
    assert!(!stored.contains(&hex::encode(&secret)), "the seed is stored sealed, not as it is");
    assert_eq!(
        app.value(&format!("SELECT (totp_pending_key_id IS NOT NULL)::text FROM users WHERE username = '{username}'")),
        "true"
    );
    let csrf = page.csrf_token();
    let wrong = client.post_form("/settings/mfa/confirm", &[("csrf_token", &csrf), ("code", "000000")]);
    assert_eq!(wrong.status, 422);
    assert!(wrong.body.contains("That code does not match"));
    assert_eq!(
        app.value(&format!("SELECT (totp_enabled_at IS NULL)::text FROM users WHERE username = '{username}'")),
        "true"
    );
    let on = client.post_form("/settings/mfa/confirm", &[("csrf_token", &csrf), ("code", &code(&secret, now_step()))]);
    assert_eq!(on.status, 200, "{}", on.body);
    let codes: Vec<String> =
        on.body.split("<li><code>").skip(1).map(|part| part.split("</code>").next().unwrap().to_owned()).collect();
    assert_eq!(codes.len(), 10, "{}", on.body);
    (secret, codes)
}

#[test]
fn a_second_factor_guards_sign_in_and_each_code_works_once() {
    let app = TestApp::start();
    let (mut ana, _) = app.signed_in("ana", false);
    let (secret, recovery) = enrol(&app, &mut ana, "ana");
    assert!(ana.get("/settings/mfa").body.contains("10 recovery codes left"));

    // The password alone opens no session.
    let mut browser = app.client();
    let first = browser.sign_in("ana", PASSWORD);
    assert_eq!((first.status, first.location.as_deref()), (303, Some("/login/code?next=/")));
    assert_eq!(browser.get("/projects").status, 303, "no session yet");
    let sessions_before = app.count("sessions");
    let wrong = post_code(&mut browser, "123456");
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("That code is not right"));
    assert_eq!(app.count("sessions"), sessions_before);
    // The confirmation used this step's code: the next step's is the one to type now.
    let next = code(&secret, now_step() + 1);
    let signed = post_code(&mut browser, &next);
    assert_eq!((signed.status, signed.location.as_deref()), (303, Some("/")), "{}", signed.body);
    assert_eq!(browser.get("/projects").status, 200);

    // The same code again is refused; a recovery code works once.
    let mut again = app.client();
    assert_eq!(again.sign_in("ana", PASSWORD).status, 303);
    assert_eq!(post_code(&mut again, &next).status, 401, "a code is good once");
    assert_eq!(post_code(&mut again, &recovery[0]).status, 303);
    let mut third = app.client();
    third.sign_in("ana", PASSWORD);
    assert_eq!(post_code(&mut third, &recovery[0]).status, 401, "a recovery code is good once");

    // Five wrong codes end the challenge: even a right one is refused after them.
    let mut guesser = app.client();
    guesser.sign_in("ana", PASSWORD);
    for guess in ["000001", "000002", "000003", "000004", "000005"] {
        assert_eq!(post_code(&mut guesser, guess).status, 401);
    }
    assert_eq!(post_code(&mut guesser, &recovery[1]).status, 401);
    assert!(app.count("audit_log WHERE action = 'login.second_factor_failed'") >= 6);

    // Turning it off needs a current factor.
    let csrf = ana.session_csrf();
    let refused = ana.post_form("/settings/mfa/disable", &[("csrf_token", &csrf), ("code", "999999")]);
    assert_eq!(refused.status, 422);
    let off = ana.post_form("/settings/mfa/disable", &[("csrf_token", &csrf), ("code", &recovery[2])]);
    assert_eq!(off.status, 303);
    assert_eq!(app.count("mfa_recovery_codes"), 0);
    let mut plain = app.client();
    assert_eq!(plain.sign_in("ana", PASSWORD).location.as_deref(), Some("/"));
}

#[test]
fn when_administrators_require_it_people_enrol_before_anything_else() {
    let app = TestApp::start();
    let (mut root, _) = app.signed_in("root", true);
    let (mut mia, mia_user) = app.signed_in("mia", false);
    let token = app.token(&mia_user);
    let csrf = root.session_csrf();
    let refused = root.post_form("/admin/settings/mfa", &[("csrf_token", &csrf), ("mfa_required", "sometimes")]);
    assert_eq!(refused.status, 422);
    let set = root.post_form("/admin/settings/mfa", &[("csrf_token", &csrf), ("mfa_required", "everyone")]);
    assert_eq!(set.status, 303);
    assert_eq!(app.count("audit_log WHERE action = 'settings.mfa_required_changed'"), 1);

    // Every page sends Mia to enrol; that page works; the API is not a page and still works.
    let sent = mia.get("/projects");
    assert_eq!((sent.status, sent.location.as_deref()), (303, Some("/settings/mfa")));
    let page = mia.get("/settings/mfa");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Your administrators require two-factor sign-in"));
    assert_eq!(app.client().api("GET", "/api/v1/projects", Some(&token), None).status, 200);
    let (secret, _) = enrol(&app, &mut mia, "mia");
    assert_eq!(mia.get("/projects").status, 200, "enrolled, the pages open again");

    // While it is required, it stays on.
    let csrf = mia.get("/settings/mfa").csrf_token();
    let kept =
        mia.post_form("/settings/mfa/disable", &[("csrf_token", &csrf), ("code", &code(&secret, now_step() + 1))]);
    assert_eq!(kept.status, 409);
    assert!(kept.body.contains("require two-factor sign-in; it stays on"));
}
