//! Signing in with a real OpenLDAP directory (slapd, started here on loopback with its own
//! certificate authority): StartTLS and LDAPS with a custom CA, accounts made and kept in step
//! from the directory (name, mail, administrator group, teams named like groups), refusals
//! that reveal nothing, a filter that user names cannot inject into, and the scheduled sync
//! that deactivates people the directory no longer has.

use std::path::PathBuf;
use std::process::Command;

use crate::support::smtp::Certificates;
use crate::support::{Client, TempDir, TestApp};

/// A slapd with the fixture's people and groups; stopped when dropped.
struct Directory {
    dir: TempDir,
    port: u16,
    tls_port: u16,
    certificates: Certificates,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Directory {
    fn start() -> Directory {
        let certificates = Certificates::make();
        let dir = TempDir(std::env::temp_dir().join(format!("outpost-slapd-{}", rand::random::<u64>())));
        let (port, tls_port) = (free_port(), free_port());
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/ldap/start-slapd.sh");
        let output = Command::new("sh")
            .arg(&script)
            .arg(&dir.0)
            .args([port.to_string(), tls_port.to_string()])
            .args([certificates.path("server.pem"), certificates.path("server.key"), certificates.path("ca.pem")])
            .env("PATH", format!("{}:/usr/sbin:/sbin", std::env::var("PATH").unwrap_or_default()))
            .output()
            .expect("sh runs start-slapd.sh (Debian: apt-get install slapd ldap-utils)");
        assert!(
            output.status.success(),
            "slapd did not start: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Directory { dir, port, tls_port, certificates }
    }

    /// Changes the directory as its administrator would (ldapmodify, as the rootdn).
    fn modify(&self, ldif: &str) {
        use std::io::Write;
        let mut child = Command::new("ldapmodify")
            .args([
                "-x",
                "-H",
                &format!("ldap://127.0.0.1:{}", self.port),
                "-D",
                "cn=admin,dc=outpost,dc=test",
                "-w",
                "admin-secret",
            ])
            .env("LDAPNOINIT", "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("ldapmodify (ldap-utils)");
        child.stdin.take().unwrap().write_all(ldif.as_bytes()).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "ldapmodify: {}", String::from_utf8_lossy(&output.stderr));
    }

    fn settings(&self, url: String, security: &str) -> Vec<(String, String)> {
        [
            ("OUTPOST_LDAP_URL", url),
            ("OUTPOST_LDAP_SECURITY", security.to_owned()),
            ("OUTPOST_LDAP_CA_FILE", self.certificates.path("ca.pem")),
            ("OUTPOST_LDAP_BIND_DN", "cn=outpost-bind,dc=outpost,dc=test".to_owned()),
            ("OUTPOST_LDAP_BIND_PASSWORD", "bind-secret".to_owned()),
            ("OUTPOST_LDAP_USER_BASE", "ou=people,dc=outpost,dc=test".to_owned()),
            ("OUTPOST_LDAP_GROUP_BASE", "ou=groups,dc=outpost,dc=test".to_owned()),
            ("OUTPOST_LDAP_ADMIN_GROUP", "outpost-admins".to_owned()),
            ("OUTPOST_LDAP_AUDITOR_GROUP", "auditors".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

impl Drop for Directory {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.0.join("slapd.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

fn app_with(settings: &[(String, String)]) -> TestApp {
    let pairs: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    TestApp::start_with(&pairs)
}

fn sign_in(app: &TestApp, username: &str, password: &str) -> (Client, crate::support::Reply) {
    let mut client = app.client();
    let reply = client.sign_in(username, password);
    (client, reply)
}

#[test]
fn directory_people_sign_in_over_starttls_and_their_account_follows_the_directory() {
    let directory = Directory::start();
    let app = app_with(&directory.settings(format!("ldap://127.0.0.1:{}", directory.port), "starttls"));
    app.sql("INSERT INTO teams (name) VALUES ('Platform'), ('Local only')");

    let (mut alice, reply) = sign_in(&app, "alice", "alice-pass");
    assert_eq!(reply.status, 303, "{}", reply.body);
    assert_eq!(alice.get("/projects").status, 200);
    assert_eq!(
        app.value("SELECT display_name || ' ' || email || ' ' || global_role || ' ' || source FROM users WHERE username = 'alice'"),
        "Alice Admin alice@outpost.test admin ldap"
    );
    assert_eq!(
        app.value("SELECT string_agg(t.name, ',') FROM team_members m JOIN teams t ON t.id = m.team_id"),
        "Platform"
    );

    // Wrong password, unknown person, an injection attempt: all the same sentence, all failures.
    for (name, password) in
        [("alice", "wrong"), ("nobody", "alice-pass"), ("*", "alice-pass"), ("alice)(uid=*", "alice-pass")]
    {
        let (_, reply) = sign_in(&app, name, password);
        assert_eq!(reply.status, 401, "{name}");
        assert!(reply.body.contains("The user name or password is incorrect."), "{name}");
    }
    assert_eq!(app.count("login_failures"), 4);
    assert_eq!(app.count("users WHERE source = 'ldap'"), 1, "no account for a failed sign-in");

    // mallory is in no group: a user. carol is an auditor.
    assert_eq!(sign_in(&app, "mallory", "mallory-pass").1.status, 303);
    assert_eq!(sign_in(&app, "carol", "carol-pass").1.status, 303);
    assert_eq!(app.value("SELECT global_role FROM users WHERE username = 'mallory'"), "user");
    assert_eq!(app.value("SELECT global_role FROM users WHERE username = 'carol'"), "auditor");

    // A local account of the same name is not taken over by the directory's person.
    let local = app.user("bob", false);
    assert_eq!(local.username, "bob");
    let (_, reply) = sign_in(&app, "bob", "bob-pass");
    assert_eq!(reply.status, 401, "bob is local here: his directory password is not his password here");

    // Alice leaves Platform in the directory: the next sign-in takes her out of the team.
    directory.modify("dn: cn=platform,ou=groups,dc=outpost,dc=test\nchangetype: modify\ndelete: member\nmember: uid=alice,ou=people,dc=outpost,dc=test\n");
    assert_eq!(sign_in(&app, "alice", "alice-pass").1.status, 303);
    assert_eq!(app.count("team_members"), 0);

    // The sync deactivates whoever the directory no longer has.
    directory.modify("dn: uid=mallory,ou=people,dc=outpost,dc=test\nchangetype: delete\n");
    let sync = outpost::jobs::queue::NewJob::new("ldap_sync", serde_json::json!({}));
    outpost::jobs::queue::enqueue(&mut app.conn(), &sync).unwrap();
    app.run_jobs();
    assert_eq!(app.value("SELECT is_active::text FROM users WHERE username = 'mallory'"), "false");
    assert_eq!(app.value("SELECT is_active::text FROM users WHERE username = 'alice'"), "true");
    assert!(app.count("audit_log WHERE action = 'user.deactivated'") >= 1);
    assert_eq!(sign_in(&app, "mallory", "mallory-pass").1.status, 401, "gone from the directory, gone here");
}

#[test]
fn ldaps_needs_the_directory_s_ca_and_a_directory_that_cannot_be_used_is_said_so() {
    let directory = Directory::start();
    let settings = directory.settings(format!("ldaps://127.0.0.1:{}", directory.tls_port), "tls");
    let app = app_with(&settings);
    assert_eq!(sign_in(&app, "alice", "alice-pass").1.status, 303, "LDAPS with the CA");

    let without_ca: Vec<(String, String)> =
        settings.into_iter().filter(|(key, _)| key != "OUTPOST_LDAP_CA_FILE").collect();
    let app = app_with(&without_ca);
    let (_, reply) = sign_in(&app, "alice", "alice-pass");
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(reply.body.contains("The sign-in directory cannot be reached"), "{}", reply.body);
    assert_eq!(app.count("sessions"), 0);

    // The directory refuses Outpost's own search account: the same sentence, and the person's
    // password is not held against them.
    let wrong_bind: Vec<(String, String)> = directory
        .settings(format!("ldap://127.0.0.1:{}", directory.port), "starttls")
        .into_iter()
        .map(
            |(key, value)| {
                if key == "OUTPOST_LDAP_BIND_PASSWORD" {
                    (key, "not-the-secret".to_owned())
                } else {
                    (key, value)
                }
            },
        )
        .collect();
    let app = app_with(&wrong_bind);
    let (_, reply) = sign_in(&app, "alice", "alice-pass");
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(reply.body.contains("The sign-in directory cannot be reached"), "{}", reply.body);
    assert_eq!((app.count("sessions"), app.count("login_failures"), app.count("users")), (0, 0, 0));
}
