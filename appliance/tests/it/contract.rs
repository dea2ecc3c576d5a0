//! The API contract: schemathesis (from PyPI, installed into the build folder on first use)
//! generates requests, valid and invalid, from `/api/v1/openapi.json` and checks every answer
//! against the document: documented status codes, response schemas and content types, no
//! server errors, invalid input refused, valid input accepted.

use std::path::PathBuf;
use std::process::Command;

use serde_json::json;

use crate::support::TestApp;

/// The version the contract was last checked with; pinned so a new release cannot change
/// what "passing" means unnoticed.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// The schemathesis command: `OUTPOST_SCHEMATHESIS` if set, else a virtualenv kept in the
/// build folder, made the first time.
fn schemathesis() -> PathBuf {
    if let Ok(path) = std::env::var("OUTPOST_SCHEMATHESIS") {
        return PathBuf::from(path);
    }
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("schemathesis-venv");
    let command = venv.join("bin/schemathesis");
    if !command.exists() {
        let made = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().expect("python3 must be installed");
        assert!(made.success(), "python3 -m venv failed (Debian: apt-get install python3-venv)");
        let installed = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", SCHEMATHESIS])
            .status()
            .expect("run pip");
        assert!(installed.success(), "pip install {SCHEMATHESIS} failed (PyPI must be reachable)");
    }
    command
}

/// What the contract allows beyond schemathesis's defaults, and why: a request that fits the
/// schema may still be refused with 422 when it breaks a rule a schema cannot say (an OQL
/// query that does not parse, a user who does not exist, a move the workflow forbids): that
/// is the documented meaning of 422; and a generated `If-Match` tag names no real version of
/// the object, so it is refused with 412.
const CONFIG: &str = r#"
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "403", "404", "409", "412", "422"]
"#;

#[test]
fn every_documented_operation_answers_as_documented() {
    let app = TestApp::start();
    let (_, root) = app.signed_in("root", true);
    let token = app.token(&root);
    let mut api = app.client();
    // The examples in the document name these, so schemathesis reaches real objects too.
    let reply = api.api("POST", "/api/v1/projects", Some(&token), Some(r#"{"key":"OPS","name":"Operations"}"#));
    assert_eq!(reply.status, 201, "{}", reply.body);
    let reply = api.api("POST", "/api/v1/projects/OPS/issues", Some(&token), Some(r#"{"title":"First"}"#));
    assert_eq!(reply.status, 201, "{}", reply.body);
    // The search index is open, as on a running node (503 is for a node still building it).
    app.index();
    let rule =
        json!({ "name": "Label", "trigger": "issue_created", "actions": [{ "type": "add_label", "label": "new" }] });
    let reply = api.api("POST", "/api/v1/projects/OPS/automation-rules", Some(&token), Some(&rule.to_string()));
    assert_eq!(reply.status, 201, "{}", reply.body);
    let objects = [
        ("/api/v1/projects/OPS/sprints", json!({ "name": "Sprint 1" })),
        ("/api/v1/projects/OPS/filters", json!({ "name": "Mine", "oql": "assignee = currentUser()" })),
        ("/api/v1/projects/OPS/versions", json!({ "name": "1.0" })),
        ("/api/v1/spaces/OPS/pages", json!({ "title": "Guide", "body": "See OPS-1." })),
        (
            "/api/v1/projects/OPS/webhooks",
            json!({ "name": "CI", "url": "https://ci.example.com/hook", "events": ["*"] }),
        ),
    ];
    for (path, body) in objects {
        let reply = api.api("POST", path, Some(&token), Some(&body.to_string()));
        assert_eq!(reply.status, 201, "{path}: {}", reply.body);
    }

    let report = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("schemathesis-report");
    std::fs::create_dir_all(&report).unwrap();
    let config = report.join("schemathesis.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let output = Command::new(schemathesis())
        // It keeps a cache of past failures in its working folder: the build folder, not the sources.
        .current_dir(&report)
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(format!("{}/api/v1/openapi.json", app.base))
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", "all"])
        // One worker: Python 3.11's parser is not safe for hypothesis's lambda descriptions from
        // two threads at once ("AST constructor recursion depth mismatch", a tool crash).
        .args(["--max-examples", "25", "--seed", "1", "--workers", "1"])
        // Path segments such as a version's or field's name exclude what a URL cannot carry;
        // hypothesis sometimes filters out enough of its drafts to call that a failed health
        // check. The operation is still exercised with every example that remains.
        .args(["--suppress-health-check", "filter_too_much"])
        .args(["--no-color", "--report", "junit", "--report-dir"])
        .arg(&report)
        .output()
        .expect("run schemathesis");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "schemathesis found problems:\n{text}");
}
