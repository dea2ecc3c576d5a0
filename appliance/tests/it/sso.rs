//! Single sign-on against a real, certified OpenID provider (the npm package `oidc-provider`,
//! started here on loopback): the authorization code flow with PKCE, an account made from the
//! ID token's claims (administrator by group, teams named like groups), and the replays and
//! forgeries it refuses: an answer used twice, an unknown state, a provider's refusal, an ID
//! token whose nonce is another sign-in's, a name that cannot be a user name.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::support::{Client, TestApp};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The provider; stopped when dropped.
struct Provider {
    child: Child,
    issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Installs the provider's packages once per test run: tests start providers in parallel, and
/// two `npm ci` in one folder would delete each other's files.
fn install_provider(dir: &std::path::Path) {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        if dir.join("node_modules/oidc-provider").exists() {
            return;
        }
        let installed = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(dir)
            .status()
            .expect("npm must be installed (Debian: apt-get install nodejs npm)");
        assert!(installed.success(), "npm ci in {} failed (the npm registry must be reachable)", dir.display());
    });
}

fn start_provider(redirect_uri: &str) -> Provider {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/oidc");
    install_provider(&dir);
    let port = free_port();
    let mut child = Command::new("node")
        .arg("provider.mjs")
        .current_dir(&dir)
        .env("PORT", port.to_string())
        .env("CLIENT_ID", "outpost")
        .env("CLIENT_SECRET", "s3cret")
        .env("REDIRECT_URI", redirect_uri)
        .env("EXIT_WITH_STDIN", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node must be installed");
    let mut ready = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut ready).unwrap();
    let issuer =
        ready.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("provider said {ready:?}")).to_owned();
    Provider { child, issuer }
}

fn start() -> (TestApp, Provider) {
    let app_port = free_port();
    let redirect = format!("http://127.0.0.1:{app_port}/login/sso/callback");
    let provider = start_provider(&redirect);
    let app = TestApp::start_with(&[
        ("OUTPOST_SERVER_BIND", &format!("127.0.0.1:{app_port}")),
        ("OUTPOST_OIDC_ISSUER", &provider.issuer),
        ("OUTPOST_OIDC_CLIENT_ID", "outpost"),
        ("OUTPOST_OIDC_CLIENT_SECRET", "s3cret"),
        ("OUTPOST_OIDC_REDIRECT_URL", &redirect),
        ("OUTPOST_OIDC_ADMIN_GROUP", "outpost-admins"),
    ]);
    (app, provider)
}

/// Signs in at the provider as a browser would, from the app's redirect to the callback URL
/// the provider sends back (path and query on the app).
fn at_provider(provider: &Provider, authorize: &str, login: &str, password: &str) -> String {
    let mut browser = Client::new(&provider.issuer);
    let path = authorize.strip_prefix(&provider.issuer).expect("the app sends the browser to the provider");
    let interaction = browser.get(path);
    assert_eq!(interaction.status, 303, "{}", interaction.body);
    let uid_path = interaction.location.unwrap();
    assert_eq!(browser.get(&uid_path).status, 200);
    let posted = browser.post_form(&format!("{uid_path}/login"), &[("login", login), ("password", password)]);
    assert_eq!(posted.status, 303, "{}", posted.body);
    let resume = posted.location.unwrap();
    let back = browser.get(resume.strip_prefix(&provider.issuer).unwrap());
    assert_eq!(back.status, 303, "{}", back.body);
    let callback = back.location.unwrap();
    callback.split_once("/login/sso/callback").map(|(_, query)| format!("/login/sso/callback{query}")).unwrap()
}

#[test]
fn people_sign_in_with_the_provider_and_each_answer_counts_once() {
    let (app, provider) = start();
    app.sql("INSERT INTO teams (name) VALUES ('Platform')");
    let mut browser = app.client();
    let login_page = browser.get("/login");
    assert!(login_page.body.contains("Sign in with single sign-on"));

    let started = browser.get("/login/sso?next=/projects");
    assert_eq!(started.status, 303);
    let authorize = started.location.unwrap();
    assert!(authorize.contains("code_challenge_method=S256") && authorize.contains("nonce="), "{authorize}");
    let callback = at_provider(&provider, &authorize, "alice", "alice-pass");
    let signed = browser.get(&callback);
    assert_eq!((signed.status, signed.location.as_deref()), (303, Some("/projects")), "{}", signed.body);
    assert_eq!(browser.get("/projects").status, 200);
    assert_eq!(
        app.value("SELECT display_name || ' ' || email || ' ' || global_role || ' ' || source FROM users WHERE username = 'alice'"),
        "Alice Admin alice@outpost.test admin oidc"
    );
    assert_eq!(
        app.value("SELECT string_agg(t.name, ',') FROM team_members m JOIN teams t ON t.id = m.team_id"),
        "Platform"
    );

    // The same answer again, in another browser: refused, and no session.
    let sessions = app.count("sessions");
    let mut thief = app.client();
    let replay = thief.get(&callback);
    assert_eq!(replay.status, 401, "{}", replay.body);
    assert!(replay.body.contains("not valid here"));
    assert_eq!(app.count("sessions"), sessions);

    // A state this node never issued, and a provider that refused.
    let forged = app.client().get("/login/sso/callback?state=0123456789abcdef&code=anything");
    assert_eq!(forged.status, 401);
    let denied = app.client().get("/login/sso/callback?error=access_denied&state=x");
    assert_eq!(denied.status, 401);
    assert!(denied.body.contains("did not sign you in (access_denied)"));

    // Bob enrolled a second factor here: the provider's sign-in is his password, and the code
    // is still asked for (on a page his browser never saw the sign-in form of).
    let secret = b"12345678901234567890";
    app.sql(
        "INSERT INTO users (username, display_name, email, password_hash, source, totp_secret, totp_enabled_at) \
         VALUES ('bob', 'Bob', 'bob@outpost.test', '!', 'oidc', '\\x3132333435363738393031323334353637383930', now())",
    );
    let mut bob = app.client();
    let authorize = bob.get("/login/sso?next=/projects").location.unwrap();
    let callback = at_provider(&provider, &authorize, "bob", "bob-pass");
    let asked = bob.get(&callback);
    assert_eq!((asked.status, asked.location.as_deref()), (303, Some("/login/code?next=/projects")));
    assert_eq!(bob.get("/projects").status, 303, "no session before the code");
    let form = bob.get("/login/code?next=/projects");
    assert_eq!(form.status, 200, "{}", form.body);
    let step = chrono::Utc::now().timestamp().div_euclid(30);
    let code = format!("{:06}", outpost::identity::mfa::code_at(secret, step));
    let token = form.csrf_token();
    let signed = bob.post_form("/login/code", &[("csrf_token", &token), ("code", &code), ("next", "/projects")]);
    assert_eq!((signed.status, signed.location.as_deref()), (303, Some("/projects")), "{}", signed.body);
    assert_eq!(bob.get("/projects").status, 200);

    // Carol has no groups now. The provider once put her in Platform, so she leaves it; an
    // administrator put her in Local, which the provider has no say in.
    app.sql(
        "INSERT INTO users (username, display_name, email, password_hash, source) \
         VALUES ('carol', 'Carol', 'carol@outpost.test', '!', 'oidc')",
    );
    app.sql("INSERT INTO teams (name) VALUES ('Local')");
    app.sql(
        "INSERT INTO team_members (team_id, user_id, added_by) SELECT t.id, u.id, \
         CASE t.name WHEN 'Platform' THEN 'oidc' ELSE 'local' END FROM teams t, users u WHERE u.username = 'carol'",
    );
    let mut carol = app.client();
    let authorize = carol.get("/login/sso").location.unwrap();
    let callback = at_provider(&provider, &authorize, "carol", "carol-pass");
    assert_eq!(carol.get(&callback).status, 303);
    assert_eq!(app.value("SELECT global_role FROM users WHERE username = 'carol'"), "user");
    assert_eq!(
        app.value(
            "SELECT string_agg(t.name, ',') FROM team_members m JOIN teams t ON t.id = m.team_id \
             JOIN users u ON u.id = m.user_id WHERE u.username = 'carol'"
        ),
        "Local"
    );
    let left = app.value("SELECT after_state::text FROM audit_log WHERE action = 'team.member_removed'");
    assert!(left.contains("\"by\": \"oidc\"") && left.contains("Platform"), "{left}");
}

#[test]
fn an_id_token_for_another_sign_in_or_a_name_that_cannot_be_a_user_changes_nothing() {
    let (app, provider) = start();
    // The provider answers with a nonce other than the one this sign-in sent (as a provider
    // replaying an old token would): the ID token is refused after a good code exchange.
    let mut browser = app.client();
    let authorize = browser.get("/login/sso").location.unwrap();
    let callback = at_provider(&provider, &authorize, "bob", "bob-pass");
    app.sql("UPDATE oidc_logins SET nonce = 'another-sign-in'");
    let footprint = (app.count("users"), app.count("sessions"));
    let refused = browser.get(&callback);
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(refused.body.contains("not valid here"), "{}", refused.body);
    assert_eq!((app.count("users"), app.count("sessions")), footprint);
    assert_eq!(app.count("oidc_logins"), 0, "the sign-in cannot be tried again");

    // Zed's preferred_username is "Ω": refused by name, no account made.
    let mut zed = app.client();
    let authorize = zed.get("/login/sso").location.unwrap();
    let callback = at_provider(&provider, &authorize, "zed", "zed-pass");
    let refused = zed.get(&callback);
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("name for you, “ω”, cannot be a user name here."), "{}", refused.body);
    assert_eq!((app.count("users"), app.count("sessions")), footprint);
    assert_eq!(zed.get("/projects").location.as_deref(), Some("/login?next=/projects"));
}
