//! Signing in and out, sessions, CSRF, and failed-login limits.

use crate::support::{TestApp, PASSWORD};

#[test]
fn pages_send_strangers_to_sign_in_and_back() {
    let app = TestApp::start();
    let mut client = app.client();
    let reply = client.get("/projects?status=open");
    assert_eq!(reply.status, 303);
    assert_eq!(reply.location.as_deref(), Some("/login?next=/projects%3Fstatus%3Dopen"));

    app.user("ana", false);
    let form = client.get("/login?next=/projects");
    let token = form.csrf_token();
    let reply = client.post_form(
        "/login",
        &[("csrf_token", &token), ("username", "ana"), ("password", PASSWORD), ("next", "/projects")],
    );
    assert_eq!(reply.status, 303, "{}", reply.body);
    assert_eq!(reply.location.as_deref(), Some("/projects"));
    assert_eq!(client.get("/projects").status, 200);
}

#[test]
fn the_session_cookie_is_hardened_and_rotated_at_sign_in() {
    let app = TestApp::start();
    app.user("ana", false);
    let mut client = app.client();
    // A session id planted before sign-in (session fixation) is not the one sign-in hands out.
    client.cookies.insert("outpost_session".into(), "planted-by-someone-else".into());
    let reply = client.sign_in("ana", PASSWORD);
    let set_cookie = reply
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.clone())
        .collect::<Vec<_>>();
    let session = set_cookie.iter().find(|c| c.starts_with("outpost_session=")).expect("a session cookie");
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Lax"), "{session}");
    assert!(!session.contains("Secure"), "plain HTTP gets no Secure flag: {session}");
    let first = client.cookies["outpost_session"].clone();
    assert_ne!(first, "planted-by-someone-else");
    assert_eq!(client.get("/login").location.as_deref(), Some("/"), "signed-in users skip the form");

    // Signing in again over a live session replaces it rather than adding one.
    client.cookies.insert("outpost_login_csrf".into(), "a".repeat(64));
    let again =
        client.post_form("/login", &[("csrf_token", &"a".repeat(64)), ("username", "ana"), ("password", PASSWORD)]);
    assert_eq!(again.status, 303, "{}", again.body);
    assert_ne!(client.cookies["outpost_session"], first);
    assert_eq!(app.count("sessions"), 1, "the old session is gone");
    assert_eq!(app.count("audit_log WHERE action = 'session.created'"), 2);
    assert_eq!(app.count("outbox WHERE topic = 'session.created'"), 2);
}

#[test]
fn cookies_are_secure_when_users_reach_outpost_over_https() {
    let app = TestApp::start_with(&[("OUTPOST_SERVER_PUBLIC_URL", "https://outpost.example")]);
    app.user("ana", false);
    let mut client = app.client();
    let login = client.get("/login");
    assert!(login.header("set-cookie").unwrap_or_default().contains("Secure"));
    let reply = client.sign_in("ana", PASSWORD);
    let session = reply
        .headers
        .iter()
        .find(|(n, v)| n.eq_ignore_ascii_case("set-cookie") && v.starts_with("outpost_session="))
        .unwrap();
    assert!(session.1.contains("Secure"), "{}", session.1);
}

#[test]
fn a_wrong_password_is_refused_recorded_and_opens_no_session() {
    let app = TestApp::start();
    app.user("ana", false);
    let mut client = app.client();
    let reply = client.sign_in("ana", "not the password");
    assert_eq!(reply.status, 401);
    assert!(reply.body.contains("The user name or password is incorrect."));
    assert!(reply.body.contains("value=\"ana\""), "the user name stays filled in");
    assert!(!client.cookies.contains_key("outpost_session"));
    assert_eq!(app.count("sessions"), 0);
    assert_eq!(app.count("login_failures"), 1);
    assert_eq!(app.count("audit_log WHERE action = 'login.failed'"), 1);

    let unknown = client.sign_in("nobody", "whatever");
    assert_eq!(unknown.status, 401, "unknown names get the same answer");
    assert!(unknown.body.contains("The user name or password is incorrect."));
}

#[test]
fn repeated_failures_lock_the_account_for_a_while() {
    let app = TestApp::start_with(&[("OUTPOST_LOGIN_MAX_FAILURES", "3")]);
    app.user("ana", false);
    let mut client = app.client();
    for _ in 0..3 {
        assert_eq!(client.sign_in("ana", "guess").status, 401);
    }
    // Now even the right password is refused, without being checked.
    let reply = client.sign_in("ana", PASSWORD);
    assert_eq!(reply.status, 429);
    assert_eq!(reply.header("Retry-After"), Some("900"));
    assert!(reply.body.contains("Too many failed sign-in attempts; try again in 15 minutes."));
    assert_eq!(app.count("sessions"), 0);

    // Once the failures age out, the account opens again.
    app.sql("UPDATE login_failures SET failed_at = now() - interval '16 minutes'");
    assert_eq!(client.sign_in("ana", PASSWORD).status, 303);
}

#[test]
fn sign_in_without_its_csrf_token_is_refused() {
    let app = TestApp::start();
    app.user("ana", false);
    let mut client = app.client();
    // No cookie and no field at all.
    let reply = client.post_form("/login", &[("username", "ana"), ("password", PASSWORD)]);
    assert_eq!(reply.status, 403);
    assert!(reply.body.contains("security token is missing or out of date"));
    // A cookie, but a field that does not match it.
    client.get("/login");
    let reply = client.post_form("/login", &[("csrf_token", "forged"), ("username", "ana"), ("password", PASSWORD)]);
    assert_eq!(reply.status, 403);
    assert_eq!(app.count("sessions"), 0);
}

#[test]
fn sign_out_needs_the_session_token_and_ends_the_session() {
    let app = TestApp::start();
    let (mut client, _) = app.signed_in("ana", false);
    let refused = client.post_form("/logout", &[]);
    assert_eq!(refused.status, 403);
    assert_eq!(app.count("sessions"), 1, "a forged sign-out changes nothing");

    let token = client.session_csrf();
    let reply = client.post_form("/logout", &[("csrf_token", &token)]);
    assert_eq!(reply.status, 303);
    assert_eq!(app.count("sessions"), 0);
    assert_eq!(app.count("audit_log WHERE action = 'session.ended'"), 1);
    assert_eq!(client.get("/").status, 303);
}

#[test]
fn idle_and_old_sessions_expire() {
    let app = TestApp::start();
    let (mut client, _) = app.signed_in("ana", false);
    app.sql("UPDATE sessions SET last_seen_at = now() - interval '9 hours'");
    assert_eq!(client.get("/").status, 303, "idle past 8 hours");
    assert_eq!(app.count("sessions"), 0);
    assert_eq!(app.count("audit_log WHERE action = 'session.expired' AND after_state->>'reason' = 'idle'"), 1);

    let reply = client.sign_in("ana", PASSWORD);
    assert_eq!(reply.status, 303);
    app.sql("UPDATE sessions SET created_at = now() - interval '8 days'");
    assert_eq!(client.get("/").status, 303, "older than 7 days, however active");
}

#[test]
fn sign_in_follows_only_local_paths() {
    let app = TestApp::start();
    app.user("ana", false);
    let mut client = app.client();
    let token = client.get("/login").csrf_token();
    let reply = client.post_form(
        "/login",
        &[("csrf_token", &token), ("username", "ana"), ("password", PASSWORD), ("next", "//evil.example/")],
    );
    assert_eq!(reply.location.as_deref(), Some("/"));
}

#[test]
fn a_deactivated_account_cannot_sign_in() {
    let app = TestApp::start();
    app.user("ana", false);
    app.sql("UPDATE users SET is_active = false");
    let reply = app.client().sign_in("ana", PASSWORD);
    assert_eq!(reply.status, 403);
    assert!(reply.body.contains("This account is deactivated"));
}

#[test]
fn forwarded_addresses_count_only_from_trusted_proxies() {
    let failure_ip = |app: &TestApp| -> String {
        use diesel::prelude::*;
        outpost::schema::login_failures::table
            .select(outpost::schema::login_failures::ip)
            .order(outpost::schema::login_failures::id.desc())
            .first(&mut app.conn())
            .unwrap()
    };
    let direct = TestApp::start();
    let mut client = direct.client();
    client.headers.push(("X-Forwarded-For".into(), "198.51.100.7".into()));
    client.sign_in("ana", "wrong");
    assert_eq!(failure_ip(&direct), "127.0.0.1", "a client cannot choose its own address");

    let proxied = TestApp::start_with(&[("OUTPOST_SERVER_TRUSTED_PROXIES", "127.0.0.1")]);
    let mut client = proxied.client();
    client.headers.push(("X-Forwarded-For".into(), "203.0.113.9, 198.51.100.7, 127.0.0.1".into()));
    client.sign_in("ana", "wrong");
    assert_eq!(failure_ip(&proxied), "198.51.100.7", "the nearest hop the proxies did not add");
    assert_eq!(proxied.count("audit_log WHERE action = 'login.failed' AND actor_ip = '198.51.100.7'"), 1);
}

/// How long the server takes to refuse a sign-in, the median of several, so that one slow
/// request on a busy machine decides nothing.
fn median_refusal(app: &TestApp, attempts: &[(&str, &str)]) -> std::time::Duration {
    let mut client = app.client();
    let token = client.get("/login").csrf_token();
    let mut took: Vec<std::time::Duration> = attempts
        .iter()
        .map(|(username, password)| {
            let started = std::time::Instant::now();
            let reply = client.post_form(
                "/login",
                &[("csrf_token", &token), ("username", username), ("password", password), ("next", "/")],
            );
            let elapsed = started.elapsed();
            assert_eq!(reply.status, 401, "{username}: {}", reply.body);
            assert!(reply.body.contains("The user name or password is incorrect."), "{username}");
            elapsed
        })
        .collect();
    took.sort();
    took[took.len() / 2]
}

/// Timing must not tell which user names exist: a name nobody has, a real person with a wrong
/// password and a service account (which has no password) are all refused after one argon2
/// verification. The comparison is a ratio with a wide margin, not a time budget: without
/// the dummy verification an unknown name is refused about a hundred times faster.
#[test]
fn unknown_names_take_as_long_to_refuse_as_wrong_passwords() {
    let app = TestApp::start_with(&[("OUTPOST_LOGIN_MAX_FAILURES", "100")]);
    app.user("ana", false);
    app.sql(
        "INSERT INTO users (username, display_name, email, password_hash, is_service) \
         VALUES ('robot', 'Robot', 'robot@example.test', '!', true)",
    );
    // The first unknown name makes the dummy hash: not part of what is measured.
    median_refusal(&app, &[("warm-up", "Wrong horse battery")]);
    let rounds = 7;
    let unknown: Vec<String> = (0..rounds).map(|i| format!("nobody{i}")).collect();
    let unknown: Vec<(&str, &str)> = unknown.iter().map(|name| (name.as_str(), "Wrong horse battery")).collect();
    let nobody = median_refusal(&app, &unknown);
    let wrong = median_refusal(&app, &vec![("ana", "Wrong horse battery"); rounds]);
    let service = median_refusal(&app, &vec![("robot", "Wrong horse battery"); rounds]);
    println!("median refusal: wrong password {wrong:?}, unknown name {nobody:?}, service account {service:?}");
    for (what, took) in [("an unknown name", nobody), ("a service account", service)] {
        let ratio = took.as_secs_f64() / wrong.as_secs_f64();
        assert!(
            (0.5..2.0).contains(&ratio),
            "{what} is refused in {took:?}, a wrong password in {wrong:?}: timing tells them apart"
        );
    }
    assert_eq!(app.count("sessions"), 0);
}
