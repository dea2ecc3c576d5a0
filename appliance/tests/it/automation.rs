//! Automation rules end to end: built on the page or over the API, set off by real events
//! through the outbox and the job queue, acting as their owner, logged, stopped when they loop,
//! and every refusal writing nothing.

use diesel::prelude::*;
use serde_json::{json, Value};

use crate::support::receiver::Receiver;
use crate::support::{Client, TestApp};
use crate::webhooks::LOOPBACK_ALLOWED;

struct Setup {
    app: TestApp,
    page: Client,
    api: Client,
    token: String,
}

/// Project OPS led by root (an administrator), and alice, an ordinary member.
fn setup(overrides: &[(&str, &str)]) -> Setup {
    let app = TestApp::start_with(overrides);
    let (page, root) = app.signed_in("root", true);
    app.user("alice", false);
    let token = app.token(&root);
    let mut api = app.client();
    let reply = api.api("POST", "/api/v1/projects", Some(&token), Some(r#"{"key":"OPS","name":"Operations"}"#));
    assert_eq!(reply.status, 201, "{}", reply.body);
    Setup { app, page, api, token }
}

/// Submits the rule form; `actions` are (type, target, text) rows.
fn rule_form(
    s: &mut Setup,
    path: &str,
    fields: &[(&str, &str)],
    actions: &[(&str, &str, &str)],
) -> crate::support::Reply {
    let csrf = s.page.session_csrf();
    let mut owned: Vec<(String, String)> = vec![("csrf_token".into(), csrf)];
    owned.extend(fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    for (index, (kind, target, text)) in actions.iter().enumerate() {
        let n = index + 1;
        owned.push((format!("action_{n}_type"), (*kind).to_owned()));
        owned.push((format!("action_{n}_target"), (*target).to_owned()));
        owned.push((format!("action_{n}_text"), (*text).to_owned()));
    }
    let borrowed: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    s.page.post_form(path, &borrowed)
}

fn create_rule(s: &mut Setup, fields: &[(&str, &str)], actions: &[(&str, &str, &str)]) -> i64 {
    let reply = rule_form(s, "/projects/OPS/automation", fields, actions);
    assert_eq!(reply.status, 200, "{}", reply.body);
    latest_rule(s)
}

fn latest_rule(s: &Setup) -> i64 {
    use outpost::schema::automation_rules;
    automation_rules::table
        .select(automation_rules::id)
        .order(automation_rules::id.desc())
        .first(&mut s.app.conn())
        .unwrap()
}

fn create_issue(s: &mut Setup, body: Value) -> String {
    let reply = s.api.api("POST", "/api/v1/projects/OPS/issues", Some(&s.token), Some(&body.to_string()));
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.json()["key"].as_str().unwrap().to_owned()
}

fn issue(s: &mut Setup, key: &str) -> Value {
    s.api.api("GET", &format!("/api/v1/issues/{key}"), Some(&s.token), None).json()
}

fn token_of(s: &Setup, username: &str) -> String {
    use outpost::schema::users;
    let user = users::table
        .filter(users::username.eq(username))
        .select(outpost::identity::users::User::as_select())
        .first(&mut s.app.conn())
        .unwrap();
    s.app.token(&user)
}

fn runs(s: &mut Setup, rule: i64) -> Vec<Value> {
    // Read as alice, a member: the log is for everyone who can see the project.
    let alice = token_of(s, "alice");
    let reply = s.api.api("GET", &format!("/api/v1/projects/OPS/automation-rules/{rule}/runs"), Some(&alice), None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["runs"].as_array().unwrap().clone()
}

#[test]
fn a_rule_fires_on_matching_issues_applies_every_action_as_its_owner_and_logs_it() {
    let mut s = setup(&[]);
    let rule = create_rule(
        &mut s,
        &[("name", "Triage blockers"), ("trigger", "issue_created"), ("condition", "priority = Highest")],
        &[
            ("assign", "alice", ""),
            ("add_label", "urgent", ""),
            ("set_field", "due_date", "2026-12-01"),
            ("comment", "", "Escalated by {{rule}} for {{key}}"),
            ("create_subtask", "", "Postmortem for {{key}}"),
            ("notify", "assignee", "Please look at {{key}}: {{title}}"),
        ],
    );
    let urgent = create_issue(&mut s, json!({ "title": "Database down", "priority": "highest" }));
    let calm = create_issue(&mut s, json!({ "title": "Typo in footer", "priority": "low" }));
    s.app.run_jobs();

    let found = issue(&mut s, &urgent);
    assert_eq!(found["assignee"]["username"], "alice", "{found}");
    assert_eq!(found["labels"], json!(["urgent"]));
    assert_eq!(found["due_date"], "2026-12-01");
    let comments = s.api.api("GET", &format!("/api/v1/issues/{urgent}/comments"), Some(&s.token), None).json();
    assert_eq!(comments["comments"][0]["body"], format!("Escalated by Triage blockers for {urgent}"));
    assert_eq!(comments["comments"][0]["author"]["username"], "root", "the rule acts as its owner");
    let subtask = issue(&mut s, "OPS-3");
    assert_eq!(subtask["title"], format!("Postmortem for {urgent}"));
    assert_eq!(subtask["issue_type"], "subtask");
    assert_eq!(subtask["parent"], urgent.as_str());

    let untouched = issue(&mut s, &calm);
    assert!(untouched["assignee"].is_null() && untouched["labels"] == json!([]), "{untouched}");

    assert_eq!(
        s.app.count("notifications n JOIN users u ON u.id = n.user_id WHERE u.username = 'alice' AND n.reason = 'automation' AND n.summary LIKE 'Rule Triage blockers: Please look at OPS-1: Database down'"),
        1
    );
    assert_eq!(s.app.count(&format!("audit_log WHERE via_rule_id = {rule}")), 6, "every change names the rule");

    let log = runs(&mut s, rule);
    let outcomes: Vec<(&str, &str)> =
        log.iter().map(|r| (r["issue"].as_str().unwrap_or(""), r["outcome"].as_str().unwrap())).collect();
    // The sub-task's creation sets the rule off too; it is not Highest, so nothing happens.
    assert_eq!(outcomes, [("OPS-3", "no_match"), ("OPS-2", "no_match"), ("OPS-1", "succeeded")]);
    let changes = log[2]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 6, "{changes:?}");
    assert_eq!(changes[0], "Assigned to alice");
    assert_eq!(changes[4], "Created the sub-task OPS-3");
    assert_eq!(log[2]["depth"], 1);

    let page = s.page.get(&format!("/projects/OPS/automation/{rule}"));
    assert!(page.body.contains("Added the label urgent") && page.body.contains("no match"), "{}", page.body);
    let history = s.page.get(&format!("/issues/{urgent}"));
    assert!(history.body.contains("via rule Triage blockers"), "{}", history.body);

    // A retried job changes nothing twice: the log entry per (rule, event, issue) is unique.
    s.app.sql("UPDATE jobs SET state = 'queued', run_at = now() WHERE kind = 'automation.event'");
    s.app.run_jobs();
    assert_eq!(runs(&mut s, rule).len(), 3);
    assert_eq!(s.app.count("comments WHERE issue_id = (SELECT id FROM issues WHERE number = 1)"), 1);
}

#[test]
fn a_rule_that_sets_itself_off_stops_at_the_depth_limit_and_says_so() {
    let mut s = setup(&[]);
    let rule =
        create_rule(&mut s, &[("name", "Echo"), ("trigger", "commented")], &[("comment", "", "Noted by {{rule}}")]);
    let key = create_issue(&mut s, json!({ "title": "Chatty" }));
    let reply =
        s.api.api("POST", &format!("/api/v1/issues/{key}/comments"), Some(&s.token), Some(r#"{"body":"Hello"}"#));
    assert_eq!(reply.status, 201, "{}", reply.body);
    s.app.run_jobs();

    assert_eq!(s.app.count("comments"), 1 + 5, "the person's comment and one per allowed depth");
    let log = runs(&mut s, rule);
    assert_eq!(log.len(), 6);
    assert_eq!(log[0]["outcome"], "loop_stopped");
    assert_eq!(log[0]["depth"], 6);
    assert!(log[0]["error"].as_str().unwrap().contains("Stopped to prevent a loop"), "{}", log[0]);
    assert!(log[1..].iter().all(|r| r["outcome"] == "succeeded"));
    let page = s.page.get(&format!("/projects/OPS/automation/{rule}"));
    assert!(page.body.contains("loop stopped"), "{}", page.body);
}

#[test]
fn a_refused_action_rolls_back_the_whole_run_and_the_log_says_which() {
    let mut s = setup(&[]);
    s.app.user("bob", false);
    let rule = create_rule(
        &mut s,
        &[("name", "Hand to bob"), ("trigger", "transitioned"), ("trigger_value", "In progress")],
        &[("add_label", "started", ""), ("assign", "bob", "")],
    );
    s.app.sql("UPDATE users SET is_active = false WHERE username = 'bob'");
    let key = create_issue(&mut s, json!({ "title": "Move me" }));
    let reply =
        s.api.api("PATCH", &format!("/api/v1/issues/{key}"), Some(&s.token), Some(r#"{"status":"In progress"}"#));
    assert_eq!(reply.status, 200, "{}", reply.body);
    s.app.run_jobs();
    let log = runs(&mut s, rule);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["outcome"], "failed");
    assert_eq!(log[0]["error"], "Action 2 (Assign to bob): There is no active user named bob.");
    assert_eq!(issue(&mut s, &key)["labels"], json!([]), "the first action was rolled back with the second");
    assert_eq!(s.app.count(&format!("audit_log WHERE via_rule_id = {rule}")), 0);

    // An owner who leaves takes the rule's permissions along.
    s.app.sql("UPDATE users SET is_active = false WHERE username = 'root'");
    s.app.sql("UPDATE users SET is_active = true WHERE username = 'bob'");
    let mut conn = s.app.conn();
    let issue_id: i64 = outpost::schema::issues::table
        .filter(outpost::schema::issues::number.eq(1))
        .select(outpost::schema::issues::id)
        .first(&mut conn)
        .unwrap();
    drop(conn);
    s.app.sql(&format!(
        "INSERT INTO outbox (topic, entity_type, entity_id, payload) VALUES ('issue.updated', 'issue', {issue_id}, \
         '{{\"before\": {{\"status\": \"To do\"}}, \"after\": {{\"key\": \"OPS-1\", \"status\": \"In progress\"}}}}')"
    ));
    s.app.run_jobs();
    let log = runs(&mut s, rule);
    assert_eq!(log[0]["outcome"], "failed");
    assert!(log[0]["error"].as_str().unwrap().contains("The rule's owner root is deactivated"), "{}", log[0]);
}

/// A refused rule: its fields, its action rows, the field named, and what the refusal says.
type Refusal<'a> = (Vec<(&'a str, &'a str)>, Vec<(&'a str, &'a str, &'a str)>, &'a str, &'a str);

#[test]
fn bad_rules_are_refused_by_field_and_save_nothing() {
    let mut s = setup(&[]);
    let good = [("name", "Fine"), ("trigger", "issue_created"), ("trigger_value", ""), ("condition", "")];
    let with = |field: &'static str, value: &'static str| {
        let mut fields = good.to_vec();
        fields.retain(|(k, _)| *k != field);
        fields.push((field, value));
        fields
    };
    let before = (s.app.count("automation_rules"), s.app.count("audit_log"));
    let transition = [("transition", "Done", "")];
    let cases: Vec<Refusal> = vec![
        (with("name", " "), transition.to_vec(), "name", "Give the rule a name"),
        (with("trigger", "someday"), transition.to_vec(), "trigger", "is not a trigger"),
        (
            vec![
                ("name", "Cron"),
                ("trigger", "scheduled"),
                ("trigger_value", "*/5 * * * *"),
                ("condition", "status = Done"),
            ],
            transition.to_vec(),
            "trigger_value",
            "needs six fields",
        ),
        (
            vec![("name", "Moved"), ("trigger", "transitioned"), ("trigger_value", "Shipped")],
            transition.to_vec(),
            "trigger_value",
            "Shipped",
        ),
        (
            vec![("name", "Field"), ("trigger", "field_changed"), ("trigger_value", "colour")],
            transition.to_vec(),
            "trigger_value",
            "is not a field of OPS",
        ),
        (with("condition", "priority = = High"), transition.to_vec(), "condition", "column"),
        (
            vec![("name", "Nightly"), ("trigger", "scheduled"), ("trigger_value", "0 0 2 * * *"), ("condition", "")],
            transition.to_vec(),
            "condition",
            "needs a condition",
        ),
        (good.to_vec(), vec![], "actions", "A rule needs 1 to 10 actions."),
        (good.to_vec(), vec![("assign", "nobody", "")], "action_1", "Action 1: There is no active user named nobody."),
        (
            good.to_vec(),
            vec![("add_label", "ok", ""), ("call_webhook", "99", "")],
            "action_2",
            "Action 2: There is no webhook #99",
        ),
        (good.to_vec(), vec![("set_field", "priority", "Extreme")], "action_1", "Action 1:"),
        (good.to_vec(), vec![("set_field", "colour", "red")], "action_1", "is not a field a rule can set"),
        (good.to_vec(), vec![("transition", "Shipped", "")], "action_1", "Shipped"),
        (good.to_vec(), vec![("notify", "", "Hi")], "action_1", "Say who to notify"),
        (good.to_vec(), vec![("call_webhook", "four", "")], "action_1", "is not a webhook id"),
    ];
    for (fields, actions, field, message) in cases {
        let reply = rule_form(&mut s, "/projects/OPS/automation", &fields, &actions);
        assert_eq!(reply.status, 422, "{field}: {}", reply.body);
        assert!(reply.body.contains(message), "{field} should say {message:?}: {}", reply.body);
        if message.contains("webhook id") {
            continue; // the API takes a number there, so this mistake cannot be made in JSON
        }
        let body = json!({
            "name": fields.iter().find(|(k, _)| *k == "name").map_or("", |(_, v)| *v),
            "trigger": fields.iter().find(|(k, _)| *k == "trigger").map_or("", |(_, v)| *v),
            "trigger_value": fields.iter().find(|(k, _)| *k == "trigger_value").map_or("", |(_, v)| *v),
            "condition": fields.iter().find(|(k, _)| *k == "condition").map_or("", |(_, v)| *v),
            "actions": actions.iter().map(|(kind, target, text)| match *kind {
                "transition" => json!({ "type": kind, "status": target }),
                "assign" => json!({ "type": kind, "user": target }),
                "add_label" => json!({ "type": kind, "label": target }),
                "call_webhook" => json!({ "type": kind, "webhook_id": target.parse::<i64>().unwrap() }),
                "set_field" => json!({ "type": kind, "field": target, "value": text }),
                _ => json!({ "type": kind, "to": target, "message": text }),
            }).collect::<Vec<_>>(),
        });
        let reply = s.api.api("POST", "/api/v1/projects/OPS/automation-rules", Some(&s.token), Some(&body.to_string()));
        assert_eq!(reply.status, 422, "API {field}: {}", reply.body);
        assert_eq!(reply.json()["error"]["field"], field, "{}", reply.body);
    }
    let reply = s.api.api(
        "POST",
        "/api/v1/projects/OPS/automation-rules",
        Some(&s.token),
        Some(r#"{"name":"X","trigger":"issue_created","actions":[{"type":"explode"}]}"#),
    );
    assert_eq!(reply.status, 400, "an unknown action type is malformed JSON: {}", reply.body);
    assert_eq!((s.app.count("automation_rules"), s.app.count("audit_log")), before, "nothing was written");

    // Only the project's managers build rules; members may read them.
    let mut member = s.app.client();
    member.sign_in("alice", crate::support::PASSWORD);
    let csrf = member.session_csrf();
    let refused = member.post_form(
        "/projects/OPS/automation",
        &[
            ("csrf_token", &csrf),
            ("name", "Mine"),
            ("trigger", "issue_created"),
            ("action_1_type", "add_label"),
            ("action_1_target", "x"),
        ],
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    let listed = member.get("/projects/OPS/automation");
    assert_eq!(listed.status, 200);
    assert!(!listed.body.contains("Create rule"), "no form for members");
    assert_eq!(s.app.count("automation_rules"), 0);
}

#[test]
fn scheduled_and_webhook_rules_act_on_what_their_condition_finds_and_can_call_a_webhook() {
    let mut s = setup(LOOPBACK_ALLOWED);
    for title in ["Old", "Older", "Finished"] {
        create_issue(&mut s, json!({ "title": title }));
    }
    let reply = s.api.api("PATCH", "/api/v1/issues/OPS-3", Some(&s.token), Some(r#"{"status":"Done"}"#));
    assert_eq!(reply.status, 200, "{}", reply.body);

    let nightly = create_rule(
        &mut s,
        &[
            ("name", "Nightly sweep"),
            ("trigger", "scheduled"),
            ("trigger_value", "0 0 2 * * *"),
            ("condition", "statusCategory != Done"),
        ],
        &[("add_label", "stale", "")],
    );
    // The rule was saved two days ago: one firing is due (missed nights fold into one).
    s.app.sql(&format!("UPDATE automation_rules SET updated_at = now() - interval '2 days' WHERE id = {nightly}"));
    let tick = outpost::jobs::queue::NewJob::new("automation", json!({}));
    outpost::jobs::queue::enqueue(&mut s.app.conn(), &tick).unwrap();
    s.app.run_jobs();
    assert_eq!(issue(&mut s, "OPS-1")["labels"], json!(["stale"]));
    assert_eq!(issue(&mut s, "OPS-2")["labels"], json!(["stale"]));
    assert_eq!(issue(&mut s, "OPS-3")["labels"], json!([]), "done issues do not match");
    assert_eq!(s.app.count("jobs WHERE kind = 'automation.run'"), 1);
    let tick = outpost::jobs::queue::NewJob::new("automation", json!({}));
    outpost::jobs::queue::enqueue(&mut s.app.conn(), &tick.with_idempotency_key("again")).unwrap();
    s.app.run_jobs();
    assert_eq!(s.app.count("jobs WHERE kind = 'automation.run'"), 1, "not due again until tomorrow");

    // A webhook rule calls an outgoing webhook for the issues a CI system names.
    let receiver = Receiver::start(0);
    let csrf = s.page.session_csrf();
    let added = s.page.post_form(
        "/projects/OPS/webhooks",
        &[("csrf_token", &csrf), ("name", "Pager"), ("url", &receiver.url("/pager")), ("events", "sprint.started")],
    );
    assert_eq!(added.status, 303, "{}", added.body);
    let (hook_id, secret): (i64, String) = {
        use outpost::schema::webhooks;
        let hook = webhooks::table
            .select(outpost::integrations::webhooks::Webhook::as_select())
            .first(&mut s.app.conn())
            .unwrap();
        let secret = outpost::integrations::webhooks::signing_secret(&mut s.app.conn(), &s.app.keys, &hook).unwrap();
        (hook.id, secret)
    };
    receiver.trust(&secret);
    let reply = rule_form(
        &mut s,
        "/projects/OPS/automation",
        &[("name", "Deploy done"), ("trigger", "incoming_webhook"), ("condition", "labels = stale")],
        &[("transition", "Done", ""), ("call_webhook", &hook_id.to_string(), "")],
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let shown = reply.body.find(r#"<code class="secret">"#).expect("the URL is shown once");
    let start = shown + reply.body[shown..].find("/hooks/automation/oph_").unwrap();
    let path: String = reply.body[start..].chars().take_while(|c| *c != '<').collect();
    let rule = latest_rule(&s);
    assert!(!s.page.get(&format!("/projects/OPS/automation/{rule}")).body.contains(&path), "and never again");

    let mut ci = s.app.client();
    assert_eq!(ci.api("POST", &path, None, Some("not json")).status, 400);
    assert_eq!(ci.api("POST", &path, None, Some(r#"{"issues": "OPS-1"}"#)).status, 400);
    assert_eq!(ci.api("POST", "/hooks/automation/oph_nope", None, None).status, 404);
    let fired = ci.api("POST", &path, None, Some(r#"{"issues": ["OPS-1"]}"#));
    assert_eq!(fired.status, 202, "{}", fired.body);
    assert_eq!(fired.json()["rule"], "Deploy done");
    s.app.run_jobs();
    assert_eq!(issue(&mut s, "OPS-1")["status"], "Done");
    assert_eq!(issue(&mut s, "OPS-2")["status"], "To do", "not named by the call");
    let received = receiver.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["valid"], true, "signed with the hook's secret");
    assert_eq!(received[0]["body"]["event"], "automation.webhook_called");
    assert_eq!(received[0]["body"]["after"]["rule"], "Deploy done");
    assert_eq!(received[0]["body"]["after"]["issue"]["key"], "OPS-1");

    let csrf = s.page.session_csrf();
    s.page.post_form(&format!("/projects/OPS/automation/{rule}/disable"), &[("csrf_token", &csrf)]);
    let refused = ci.api("POST", &path, None, None);
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("is disabled"));
}

#[test]
fn the_api_manages_rules_like_the_pages() {
    let mut s = setup(&[]);
    let body = json!({
        "name": "Close the loop",
        "trigger": "field_changed",
        "trigger_value": "priority",
        "condition": "priority = Lowest",
        "actions": [{ "type": "transition", "status": "Done" }, { "type": "comment", "body": "Closed by {{rule}}" }],
    });
    let reply = s.api.api("POST", "/api/v1/projects/OPS/automation-rules", Some(&s.token), Some(&body.to_string()));
    assert_eq!(reply.status, 201, "{}", reply.body);
    let rule = reply.json()["rule"].clone();
    assert_eq!(rule["trigger"], json!({ "kind": "field_changed", "value": "priority" }));
    assert_eq!(rule["owner"], "root");
    let id = rule["id"].as_i64().unwrap();

    let key = create_issue(&mut s, json!({ "title": "Minor" }));
    s.api.api("PATCH", &format!("/api/v1/issues/{key}"), Some(&s.token), Some(r#"{"title":"Still minor"}"#));
    s.api.api("PATCH", &format!("/api/v1/issues/{key}"), Some(&s.token), Some(r#"{"priority":"lowest"}"#));
    s.app.run_jobs();
    assert_eq!(issue(&mut s, &key)["status"], "Done");
    let log = runs(&mut s, id);
    assert_eq!(log.len(), 1, "the title change is not a priority change: {log:?}");

    let listed = s.api.api("GET", "/api/v1/projects/OPS/automation-rules", Some(&s.token), None).json();
    assert_eq!(listed["rules"][0]["name"], "Close the loop");
    let path = format!("/api/v1/projects/OPS/automation-rules/{id}");
    assert_eq!(s.api.api("POST", &format!("{path}/disable"), Some(&s.token), None).status, 204);
    assert_eq!(s.api.api("GET", &path, Some(&s.token), None).json()["rule"]["enabled"], false);
    let mut changed = body.clone();
    changed["name"] = json!("Renamed");
    let reply = s.api.api("PUT", &path, Some(&s.token), Some(&changed.to_string()));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["rule"]["name"], "Renamed");

    let alice = token_of(&s, "alice");
    assert_eq!(s.api.api("GET", &path, Some(&alice), None).status, 200, "members read rules");
    assert_eq!(s.api.api("DELETE", &path, Some(&alice), None).status, 403, "but do not change them");
    assert_eq!(s.api.api("DELETE", &path, Some(&s.token), None).status, 204);
    assert_eq!(s.api.api("GET", &path, Some(&s.token), None).status, 404);
    assert_eq!(
        s.app.count("audit_log WHERE entity_type = 'automation_rule'"),
        4,
        "created, disabled, updated, deleted"
    );
}
