//! Two `outpost serve` processes on loopback over one database and one object store behave as
//! one installation: a session made on one is good on the other, a scheduled job runs once per
//! tick however many nodes fire it, each node's search index follows the outbox (and one that
//! was stopped catches up), and what a node remembers (the license in force) is dropped when
//! another node, or someone in psql, changes it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use diesel::prelude::*;
use ed25519_dalek::SigningKey;
use outpost::audit::Actor;
use outpost::identity::roles::GlobalRole;
use outpost::identity::tokens::{self, TokenScope};
use outpost::identity::users::{self, NewUser};
use outpost::license::signed::{sign, Payload, VERSION};
use serde_json::json;

use crate::support::{Client, TempDir, TestDb, PASSWORD};

struct Node {
    child: Option<Child>,
    base: String,
    port: u16,
}

impl Node {
    fn start(db: &TestDb, shared: &TempDir, name: &str, vendor: &str, port: Option<u16>) -> Node {
        let port =
            port.unwrap_or_else(|| std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port());
        let child = Command::new(env!("CARGO_BIN_EXE_outpost"))
            .args(["serve", "--config", "/dev/null"])
            .env("OUTPOST_DATABASE_URL", &db.url)
            .env("OUTPOST_SERVER_BIND", format!("127.0.0.1:{port}"))
            .env("OUTPOST_SERVER_USER", "root")
            .env("OUTPOST_STORAGE_LOCAL_DIR", shared.0.join("objects").display().to_string())
            .env("OUTPOST_KEYS_FILE", shared.0.join("kek").display().to_string())
            .env("OUTPOST_SEARCH_INDEX_DIR", shared.0.join(format!("index-{name}")).display().to_string())
            .env("OUTPOST_SCHEDULE_CLEANUP", "* * * * * *")
            .env("OUTPOST_JOBS_WORKERS", "1")
            .env("OUTPOST_LOG_LEVEL", "info,outpost::http=warn")
            .env("TEST_VENDOR_LICENSE_KEY", vendor)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(shared.0.join(format!("{name}.log"))).unwrap())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while ureq::get(&format!("{base}/health/ready")).call().is_err() {
            assert!(Instant::now() < deadline, "node {name} did not become ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = shared.0.join(format!("{name}.log"));
        eventually(&format!("node {name} listens for changes"), || {
            std::fs::read_to_string(&log).unwrap_or_default().contains("listening for changes made by other nodes")
        });
        Node { child: Some(child), base, port }
    }

    fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
            let output = child.wait_with_output().unwrap();
            assert!(output.status.success(), "a node stops cleanly");
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until `check` holds, for at most ten seconds.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn search_total(node: &Node, token: &str, word: &str) -> i64 {
    let mut api = Client::new(&node.base);
    api.api("GET", &format!("/api/v1/search?q={word}"), Some(token), None).json()["total"].as_i64().unwrap_or(-1)
}

#[test]
fn two_nodes_over_one_database_behave_as_one_installation() {
    let db = TestDb::new();
    let shared = TempDir(std::env::temp_dir().join(format!("outpost-nodes-{}", rand::random::<u64>())));
    std::fs::create_dir_all(&shared.0).unwrap();
    outpost::keys::providers::FileKek::create(&shared.0.join("kek")).unwrap();
    let vendor = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let vendor_public = format!("nodes-test:{}", hex::encode(vendor.verifying_key().to_bytes()));
    let mut conn = db.connect();
    let admin = users::create(
        &mut conn,
        &Actor::system(),
        NewUser {
            username: "root".into(),
            display_name: "Root".into(),
            email: "root@example.test".into(),
            password: PASSWORD.into(),
            role: GlobalRole::Admin,
            is_service: false,
        },
    )
    .unwrap();
    let token = tokens::create(&mut conn, &Actor::system(), &admin, "nodes", TokenScope::Admin, None).unwrap().1;

    let a = Node::start(&db, &shared, "a", &vendor_public, None);
    let mut b = Node::start(&db, &shared, "b", &vendor_public, None);

    // A session made on one node is good on the other.
    let mut on_a = Client::new(&a.base);
    assert_eq!(on_a.sign_in("root", PASSWORD).status, 303);
    let mut on_b = Client::new(&b.base);
    on_b.cookies = on_a.cookies.clone();
    let projects = on_b.get("/projects");
    assert_eq!(projects.status, 200, "signed in on b with a's session: {}", projects.location.unwrap_or_default());

    // Each node's index follows the outbox: made through a, found through b.
    let mut api = Client::new(&a.base);
    assert_eq!(
        api.api("POST", "/api/v1/projects", Some(&token), Some(&json!({ "key": "OPS", "name": "Ops" }).to_string()))
            .status,
        201
    );
    let made = api.api(
        "POST",
        "/api/v1/projects/OPS/issues",
        Some(&token),
        Some(&json!({ "title": "Quasar alignment" }).to_string()),
    );
    assert_eq!(made.status, 201, "{}", made.body);
    eventually("b's index finds what a made", || search_total(&b, &token, "quasar") == 1);

    // A node that was down catches up from the outbox when it comes back.
    b.stop();
    let made = api.api(
        "POST",
        "/api/v1/projects/OPS/issues",
        Some(&token),
        Some(&json!({ "title": "Nebula drift" }).to_string()),
    );
    assert_eq!(made.status, 201);
    let b_again = Node::start(&db, &shared, "b", &vendor_public, Some(b.port));
    eventually("b catches up on what it missed", || search_total(&b_again, &token, "nebula") == 1);

    // Both nodes fire the every-second cleanup; each tick is queued once and run once.
    eventually("a few ticks have run", || {
        outpost::schema::jobs::table
            .filter(outpost::schema::jobs::kind.eq("cleanup"))
            .filter(outpost::schema::jobs::state.eq("succeeded"))
            .count()
            .get_result::<i64>(&mut conn)
            .unwrap()
            >= 3
    });
    let ticks: Vec<(Option<String>, i64)> = outpost::schema::jobs::table
        .filter(outpost::schema::jobs::kind.eq("cleanup"))
        .group_by(outpost::schema::jobs::idempotency_key)
        .select((outpost::schema::jobs::idempotency_key, diesel::dsl::count_star()))
        .load(&mut conn)
        .unwrap();
    assert!(ticks.iter().all(|(key, n)| key.is_some() && *n == 1), "one job per tick: {ticks:?}");

    // The license: installed through a, in force on b at once; removed by hand in psql, gone
    // from both.
    let seats = |node: &Node| -> i64 {
        let mut client = Client::new(&node.base);
        client.api("GET", "/api/v1/license", Some(&token), None).json()["seats"].as_i64().unwrap()
    };
    assert_eq!((seats(&a), seats(&b_again)), (25, 25), "evaluation, remembered by both");
    let now = Utc::now();
    let payload = Payload {
        version: VERSION,
        license_id: "L-nodes".into(),
        customer_id: "C-1".into(),
        customer_name: "Example Corp".into(),
        edition: "enterprise".into(),
        issued_at: now,
        not_before: now - chrono::Duration::days(1),
        expires_at: now + chrono::Duration::days(365),
        seats: 7,
        features: vec![],
        installation_id: None,
    };
    let license = sign(&payload, "nodes-test", &vendor);
    let installed = api.api("PUT", "/api/v1/license", Some(&token), Some(&json!({ "license": license }).to_string()));
    assert_eq!(installed.status, 200, "{}", installed.body);
    assert_eq!(seats(&a), 7, "at once on the node that installed it");
    eventually("b hears of the new license", || seats(&b_again) == 7);
    diesel::sql_query("UPDATE licenses SET replaced_at = now() WHERE replaced_at IS NULL").execute(&mut conn).unwrap();
    eventually("a hears of the change made in psql", || seats(&a) == 25);
    eventually("b hears of it too", || seats(&b_again) == 25);
}
