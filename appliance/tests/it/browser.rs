//! End to end in real headless Chromium (Debian's chromium and chromium-driver): sign in,
//! create a project, create an issue, and find it in the list.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{TestApp, PASSWORD};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one browser session, spoken to over the W3C WebDriver protocol.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    profile: std::path::PathBuf,
}

impl Browser {
    fn start() -> Browser {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver must be installed (apt-get install chromium chromium-driver)");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while ureq::get(&format!("{base}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = std::env::temp_dir().join(format!("outpost-chromium-{}", rand::random::<u64>()));
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
                         "--window-size=1280,900", format!("--user-data-dir={}", profile.display())]
            }
        }}});
        let mut browser = Browser { driver, base, session: String::new(), profile };
        let created = browser.call("POST", "/session", Some(capabilities));
        browser.session = created["sessionId"].as_str().expect("a WebDriver session").to_owned();
        browser
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let request = ureq::request(method, &url).timeout(Duration::from_secs(60));
        let response = match body {
            Some(body) => request.send_json(body),
            None => request.call(),
        };
        let response = match response {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("WebDriver {method} {path}: {e}"),
        };
        let value: Value = response.into_json().unwrap();
        assert!(value["value"]["error"].is_null(), "WebDriver {method} {path}: {}", value["value"]);
        value.get("value").cloned().unwrap_or(Value::Null)
    }

    fn open(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    fn find(&self, css: &str) -> String {
        let found = self.call("POST", "/element", Some(json!({ "using": "css selector", "value": css })));
        found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}")).to_owned()
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.call("POST", &format!("/element/{id}/value"), Some(json!({ "text": text })));
    }

    fn click(&self, css: &str) {
        let id = self.find(css);
        self.call("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    /// Waits for the navigation a click started to land on a URL ending with `suffix`.
    fn wait_for_url(&self, suffix: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self.url().ends_with(suffix) {
            assert!(Instant::now() < deadline, "still at {} instead of …{suffix}", self.url());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A browser signed in as `username` through the real form, sent on to `next`.
    fn signed_in(app: &TestApp, username: &str, next: &str) -> Browser {
        let browser = Browser::start();
        browser.open(&format!("{}/login?next={next}", app.base));
        browser.type_into("#username", username);
        browser.type_into("#password", PASSWORD);
        browser.click("button[type=submit]");
        browser
    }

    fn url(&self) -> String {
        self.call("GET", "/url", None).as_str().unwrap_or_default().to_owned()
    }

    /// Drags with a real pointer, as a person would: press on `from`, move in steps onto
    /// `to`, release.
    fn drag(&self, from: &str, to: &str) {
        let (from, to) = (self.find(from), self.find(to));
        let step = |x: i64, y: i64, duration: u64, element: &str| {
            let mut origin = serde_json::Map::new();
            origin.insert(ELEMENT.to_owned(), json!(element));
            json!({ "type": "pointerMove", "duration": duration, "origin": origin, "x": x, "y": y })
        };
        let actions = json!({ "actions": [{
            "type": "pointer", "id": "mouse", "parameters": { "pointerType": "mouse" },
            "actions": [
                step(0, 0, 0, &from),
                { "type": "pointerDown", "button": 0 },
                step(0, 20, 100, &from),
                step(0, 0, 200, &to),
                step(0, 10, 100, &to),
                { "type": "pointerUp", "button": 0 }
            ]
        }]});
        self.call("POST", "/actions", Some(actions));
        self.call("DELETE", "/actions", None);
    }

    /// Waits until the current page has loaded, deferred scripts included.
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let state =
                self.call("POST", "/execute/sync", Some(json!({ "script": "return document.readyState", "args": [] })));
            if state == "complete" {
                return;
            }
            assert!(Instant::now() < deadline, "the page did not finish loading");
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// Presses and releases a key, wherever the focus is.
    fn press(&self, key: &str) {
        let actions = json!({ "actions": [{
            "type": "key", "id": "keyboard",
            "actions": [{ "type": "keyDown", "value": key }, { "type": "keyUp", "value": key }]
        }]});
        self.call("POST", "/actions", Some(actions));
    }

    /// Waits until `css` matches an element, e.g. after a script moved it.
    fn wait_for(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let found = self.call("POST", "/elements", Some(json!({ "using": "css selector", "value": css })));
            if found.as_array().is_some_and(|a| !a.is_empty()) {
                return;
            }
            assert!(Instant::now() < deadline, "nothing matches {css}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn text(&self, css: &str) -> String {
        let id = self.find(css);
        self.call("GET", &format!("/element/{id}/text"), None).as_str().unwrap_or_default().to_owned()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = ureq::delete(&format!("{}/session/{}", self.base, self.session)).call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

#[test]
fn sign_in_create_a_project_and_an_issue_and_find_it_in_the_list() {
    let app = TestApp::start();
    app.user("admin", true);
    let browser = Browser::start();

    browser.open(&format!("{}/", app.base));
    assert!(browser.url().contains("/login?next=/"), "{}", browser.url());
    browser.type_into("#username", "admin");
    browser.type_into("#password", PASSWORD);
    browser.click("button[type=submit]");
    browser.wait_for_url(&format!("{}/", app.base));
    assert_eq!(browser.text("h1"), "Home");

    browser.open(&format!("{}/projects/new", app.base));
    browser.type_into("#project-name", "Operations");
    browser.type_into("#project-key", "OPS");
    browser.click("form.stack button[type=submit]");
    browser.wait_for_url("/projects/OPS/issues");

    browser.click("a[href='/projects/OPS/issues/new']");
    browser.wait_for_url("/projects/OPS/issues/new");
    browser.type_into("#issue-title", "Replace the failing disk in rack 4");
    browser.type_into("#issue-description", "Smart errors since **Tuesday**.");
    browser.click("form.stack button[type=submit]");
    browser.wait_for_url("/issues/OPS-1");
    assert!(browser.text("h1").contains("Replace the failing disk in rack 4"));
    assert_eq!(browser.text(".markdown strong"), "Tuesday");

    browser.open(&format!("{}/projects/OPS/issues", app.base));
    assert_eq!(browser.text("table.issues td.key"), "OPS-1");
    assert!(browser.text("table.issues tbody").contains("Replace the failing disk in rack 4"));
}

/// An administrator `admin` with an API client and token, and project OPS with issue OPS-1.
fn project_with_issue(app: &TestApp) -> (crate::support::Client, String) {
    let admin = app.user("admin", true);
    let token = app.token(&admin);
    let mut api = app.client();
    api.api("POST", "/api/v1/projects", Some(&token), Some(r#"{"key":"OPS","name":"Operations"}"#));
    api.api("POST", "/api/v1/projects/OPS/issues", Some(&token), Some(r#"{"title":"Rotate the keys"}"#));
    (api, token)
}

#[test]
fn dragging_a_card_across_the_board_performs_the_transition_and_it_persists() {
    let app = TestApp::start();
    let (mut api, token) = project_with_issue(&app);
    api.api(
        "POST",
        "/api/v1/projects/OPS/issues",
        Some(&token),
        Some(r#"{"title":"Patch the hosts","status":"In progress"}"#),
    );
    let status = |api: &mut crate::support::Client| {
        api.api("GET", "/api/v1/issues/OPS-1", Some(&token), None).json()["status"].as_str().unwrap().to_owned()
    };

    let browser = Browser::signed_in(&app, "admin", "/projects/OPS/board");
    browser.wait_for_url("/projects/OPS/board");
    browser.wait_for(".board-cell[data-status='To do'] .card[data-key='OPS-1']");

    // To do → In review is not a transition of the default workflow: refused where it happened.
    browser.drag(".card[data-key='OPS-1'] .card-title", ".board-cell[data-status='In review']");
    browser.wait_for("#board-message:not([hidden])");
    assert!(browser.text("#board-message").contains("does not allow moving OPS-1 from To do to In review"));
    browser.wait_for(".board-cell[data-status='To do'] .card[data-key='OPS-1']");
    assert_eq!(status(&mut api), "To do");

    browser.drag(".card[data-key='OPS-1'] .card-title", ".board-cell[data-status='In progress']");
    browser.wait_for(".board-cell[data-status='In progress'] .card[data-key='OPS-1']");
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&mut api) != "In progress" {
        assert!(Instant::now() < deadline, "the move did not reach the server");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The page as the server renders it afresh shows the card in its new column.
    browser.open(&format!("{}/projects/OPS/board", app.base));
    browser.wait_for(".board-cell[data-status='In progress'] .card[data-key='OPS-1']");
    assert_eq!(browser.text("[data-count='In progress']"), "2");
}

#[test]
fn keyboard_j_k_and_o_walk_a_list_and_its_issues() {
    let app = TestApp::start();
    let admin = app.user("admin", true);
    let token = app.token(&admin);
    let mut api = app.client();
    api.api("POST", "/api/v1/projects", Some(&token), Some(r#"{"key":"OPS","name":"Operations"}"#));
    for title in ["First", "Second", "Third"] {
        api.api("POST", "/api/v1/projects/OPS/issues", Some(&token), Some(&json!({ "title": title }).to_string()));
    }
    let browser = Browser::signed_in(&app, "admin", "/projects/OPS/issues%3Fsort%3Dkey%26order%3Dasc");
    browser.wait_for_url("/projects/OPS/issues?sort=key&order=asc");
    browser.wait_ready();

    browser.press("j");
    browser.press("j");
    browser.wait_for("tr.selected[data-key='OPS-2']");
    browser.press("o");
    browser.wait_for_url("/issues/OPS-2");
    browser.wait_ready();
    browser.press("j");
    browser.wait_for_url("/issues/OPS-3");
    browser.wait_ready();
    browser.press("k");
    browser.wait_for_url("/issues/OPS-2");
    browser.wait_ready();
    browser.press("k");
    browser.wait_for_url("/issues/OPS-1");
    browser.wait_ready();
    browser.press("e");
    browser.wait_for_url("/issues/OPS-1/edit");
}

#[test]
fn files_dropped_on_the_attachment_form_are_uploaded() {
    let app = TestApp::start();
    let (mut api, token) = project_with_issue(&app);

    let browser = Browser::signed_in(&app, "admin", "/issues/OPS-1");
    browser.wait_for_url("/issues/OPS-1");
    browser.wait_ready();
    // With JavaScript the form invites dropping; without it, the hint stays hidden.
    browser.wait_for("form[data-dropzone] .drop-hint:not([hidden])");
    // WebDriver cannot drag a file from the desktop, so the page gets the drop event a
    // browser makes when someone does, carrying a real File.
    let drop = r#"
        const files = new DataTransfer();
        files.items.add(new File(["ssh-ed25519 AAAA key"], "keys.txt", { type: "text/plain" }));
        const form = document.querySelector("form[data-dropzone]");
        form.dispatchEvent(new DragEvent("dragover", { dataTransfer: files, bubbles: true, cancelable: true }));
        form.dispatchEvent(new DragEvent("drop", { dataTransfer: files, bubbles: true, cancelable: true }));
        return true;"#;
    browser.call("POST", "/execute/sync", Some(json!({ "script": drop, "args": [] })));
    browser.wait_for("ul.attachments a[href='/attachments/1/keys.txt']");
    assert_eq!(app.count("attachments"), 1);
    let listed = api.api("GET", "/api/v1/issues/OPS-1/attachments", Some(&token), None);
    assert_eq!(listed.json()["attachments"][0]["size_bytes"], 20);
}
