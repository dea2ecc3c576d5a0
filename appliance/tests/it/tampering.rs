//! Privilege escalation by editing ids in forms and URLs: the administrator of one project puts
//! the ids and keys of another project's grants, links, rules, hooks, sprints, filters, files,
//! pages and issues into their own project's URLs and forms. Each is refused as if the thing
//! did not exist, nothing of the other project changes, and nothing is written at all.

use outpost::identity::roles::GlobalRole;
use serde_json::{json, Value};

use crate::access::{call, person, private_project};
use crate::support::{TestApp, PASSWORD, PNG};

#[test]
fn ids_of_a_project_one_cannot_see_do_nothing_in_a_project_one_administers() {
    let app = TestApp::start();
    let mut api = app.client();
    let root = person(&app, "root", GlobalRole::Admin);
    private_project(&mut api, &root);
    let mallory = person(&app, "mallory", GlobalRole::User);
    let vera = person(&app, "vera", GlobalRole::User);
    assert_eq!(
        call(&mut api, &root, "POST", "/api/v1/projects", Some(json!({ "key": "OPEN", "name": "Open" }))).0,
        201
    );
    for (project, user, role) in [("OPEN", "mallory", "project_admin"), ("SEC", "vera", "member")] {
        let grant = json!({ "role": role, "user": user });
        assert_eq!(call(&mut api, &root, "POST", &format!("/api/v1/projects/{project}/roles"), Some(grant)).0, 201);
    }
    for project in ["SEC", "SEC", "OPEN", "OPEN"] {
        let body = json!({ "title": format!("Work in {project}") });
        assert_eq!(call(&mut api, &root, "POST", &format!("/api/v1/projects/{project}/issues"), Some(body)).0, 201);
    }
    let link = json!({ "kind": "relates", "issue": "SEC-2" });
    assert_eq!(call(&mut api, &root, "POST", "/api/v1/issues/SEC-1/links", Some(link)).0, 201);
    // Root sees both projects and links across them: the SEC end stays hidden from OPEN's people.
    let across = json!({ "kind": "blocks", "issue": "SEC-2" });
    assert_eq!(call(&mut api, &root, "POST", "/api/v1/issues/OPEN-2/links", Some(across)).0, 201);
    assert_eq!(call(&mut api, &root, "POST", "/api/v1/projects/SEC/sprints", Some(json!({ "name": "Secret" }))).0, 201);
    let rule = json!({ "name": "Secret rule", "trigger": "issue_created", "actions": [{ "type": "add_label", "label": "x" }] });
    assert_eq!(call(&mut api, &root, "POST", "/api/v1/projects/SEC/automation-rules", Some(rule)).0, 201);
    let hook = json!({ "name": "CI", "url": "https://203.0.113.10/hook", "events": ["issue.created"] });
    assert_eq!(call(&mut api, &root, "POST", "/api/v1/projects/SEC/webhooks", Some(hook)).0, 201);
    let filter = json!({ "name": "Vera secret filter", "oql": "status = \"To do\"", "shared": true });
    assert_eq!(call(&mut api, &vera, "POST", "/api/v1/projects/SEC/filters", Some(filter)).0, 201);
    let mut root_browser = app.client();
    assert_eq!(root_browser.sign_in("root", PASSWORD).status, 303);
    let csrf = root_browser.session_csrf();
    let attached =
        root_browser.post_files("/issues/SEC-1/attachments", &[("csrf_token", &csrf)], &[("files", "p.png", PNG)]);
    assert_eq!(attached.status, 303);
    for (space, title) in [("SEC", "Secret runbook"), ("OPEN", "Open runbook")] {
        let made =
            root_browser.post_form(&format!("/spaces/{space}/pages"), &[("csrf_token", &csrf), ("title", title)]);
        assert_eq!(made.status, 303, "{}", made.body);
    }
    let hook = root_browser.post_form("/projects/SEC/deployments/hooks", &[("csrf_token", &csrf), ("name", "Deploys")]);
    assert_eq!(hook.status, 200);
    app.sql("INSERT INTO webhook_deliveries (webhook_id, event_id, topic, payload, state) SELECT id, 1, 'issue.created', '{}', 'failed' FROM webhooks");
    app.run_jobs();
    let id = |query: &str| app.value(query);
    let grant =
        id("SELECT g.id::text FROM project_role_grants g JOIN projects p ON p.id = g.project_id WHERE p.key = 'SEC'");
    let link = id("SELECT min(id)::text FROM issue_links");
    let rule = id("SELECT min(id)::text FROM automation_rules");
    let webhook = id("SELECT min(id)::text FROM webhooks");
    let delivery = id("SELECT min(id)::text FROM webhook_deliveries");
    let sprint = id("SELECT min(id)::text FROM sprints");
    let filter = id("SELECT min(id)::text FROM saved_filters");
    let attachment = id("SELECT min(id)::text FROM attachments");
    let incoming = id("SELECT min(id)::text FROM incoming_hooks");
    let secret_page = id("SELECT id::text FROM pages WHERE title = 'Secret runbook'");
    let open_page = id("SELECT id::text FROM pages WHERE title = 'Open runbook'");

    let mut browser = app.client();
    assert_eq!(browser.sign_in("mallory", PASSWORD).status, 303);
    let csrf = browser.session_csrf();
    let before = (app.count("audit_log"), app.count("outbox"));
    let pages: Vec<(String, Vec<(&str, String)>)> = vec![
        ("/projects/OPEN/access/revoke".into(), vec![("grant", grant.clone())]),
        (format!("/issues/OPEN-1/links/{link}/delete"), vec![]),
        (format!("/projects/OPEN/automation/{rule}/delete"), vec![]),
        (format!("/projects/OPEN/automation/{rule}/disable"), vec![]),
        (format!("/projects/OPEN/webhooks/{webhook}/delete"), vec![]),
        (format!("/projects/OPEN/webhooks/{webhook}/deliveries/{delivery}/redeliver"), vec![]),
        (format!("/projects/OPEN/sprints/{sprint}/start"), vec![]),
        (format!("/projects/OPEN/filters/{filter}/delete"), vec![]),
        (format!("/projects/OPEN/deployments/hooks/{incoming}/revoke"), vec![]),
        (format!("/attachments/{attachment}/delete"), vec![]),
        (format!("/pages/{secret_page}/delete"), vec![]),
        (format!("/pages/{open_page}/move"), vec![("parent_id", secret_page.clone()), ("position", String::new())]),
        ("/spaces/OPEN/pages".into(), vec![("title", "Smuggled".into()), ("parent_id", secret_page.clone())]),
        ("/issues/OPEN-1/links".into(), vec![("kind", "blocks".into()), ("issue", "SEC-1".into())]),
        ("/issues/OPEN-1/move".into(), vec![("sprint", sprint.clone())]),
        ("/projects/OPEN/bulk".into(), vec![("issues", "SEC-1".into()), ("labels", "pwned".into())]),
        ("/issues/OPEN-1/edit".into(), vec![("title", "Work in OPEN".into()), ("parent", "SEC-1".into())]),
        ("/projects/OPEN/access/scheme".into(), vec![("scheme", "999".into())]),
    ];
    let mut wrong = Vec::new();
    for (path, fields) in &pages {
        let mut form = vec![("csrf_token", csrf.as_str())];
        form.extend(fields.iter().map(|(name, value)| (*name, value.as_str())));
        let reply = browser.post_form(path, &form);
        // Refused as not found, or as input naming what does not exist (a form shown again);
        // never allowed, and never a word of the other project beyond what was typed.
        let refused = matches!(reply.status, 404 | 409 | 422);
        if !refused {
            wrong.push(format!("POST {path}: {}", reply.status));
        }
        for secret in ["Work in SEC", "Secret runbook", "Secret\"", "203.0.113.10"] {
            if reply.body.contains(secret) {
                wrong.push(format!("POST {path} told of {secret}"));
            }
        }
    }
    let across = id("SELECT max(id)::text FROM issue_links");
    for path in [
        "/issues/OPEN-2".to_owned(),
        format!("/projects/OPEN/automation/{rule}"),
        format!("/projects/OPEN/webhooks/{webhook}"),
        format!("/projects/OPEN/issues?filter={filter}"),
        format!("/projects/OPEN/board?filter={filter}"),
        format!("/pages/{secret_page}"),
        format!("/attachments/{attachment}/p.png"),
    ] {
        let reply = browser.get(&path);
        let told = ["Work in SEC", "Secret rule", "Vera secret filter", "Secret runbook", "203.0.113.10"]
            .into_iter()
            .any(|secret| reply.body.contains(secret));
        if told {
            wrong.push(format!("GET {path} showed the other project's object"));
        } else if reply.status != 404 && reply.status != 200 {
            wrong.push(format!("GET {path}: {}", reply.status));
        }
    }
    for (method, path, body) in [
        ("PATCH", "/api/v1/issues/OPEN-1".to_owned(), Some(json!({ "parent": "SEC-1" }))),
        ("POST", "/api/v1/issues/OPEN-1/links".to_owned(), Some(json!({ "kind": "blocks", "issue": "SEC-1" }))),
        ("DELETE", format!("/api/v1/issues/OPEN-1/links/{link}"), None),
        ("DELETE", format!("/api/v1/issues/OPEN-2/links/{across}"), None),
        ("DELETE", format!("/api/v1/projects/OPEN/filters/{filter}"), None),
        ("DELETE", format!("/api/v1/projects/OPEN/roles/{grant}"), None),
        ("POST", "/api/v1/issues/OPEN-1/move".to_owned(), Some(json!({ "sprint": sprint.parse::<i64>().unwrap() }))),
        ("POST", "/api/v1/issues/OPEN-1/move".to_owned(), Some(json!({ "before": "SEC-1" }))),
    ] {
        let (status, reply) = call(&mut api, &mallory, method, &path, body);
        if !matches!(status, 404 | 409 | 422) || reply.to_string().contains("Work in SEC") {
            wrong.push(format!("{method} {path}: {status} {reply}"));
        }
    }
    let (_, open_two) = call(&mut api, &mallory, "GET", "/api/v1/issues/OPEN-2", None);
    assert_eq!(open_two["links"], json!([]), "the link's other end is in SEC: {open_two}");
    let (_, history) = call(&mut api, &mallory, "GET", "/api/v1/issues/OPEN-2/history", None);
    assert!(!history.to_string().contains("SEC-2"), "{history}");
    let (_, whole) = call(&mut api, &root, "GET", "/api/v1/issues/OPEN-2/history", None);
    assert!(whole.to_string().contains("blocks SEC-2"), "who sees both sees the link: {whole}");
    let counted =
        |history: &Value| (history["total"].as_u64().unwrap(), history["history"].as_array().unwrap().len() as u64);
    let ((hers, shown_her), (roots, shown_root)) = (counted(&history), counted(&whole));
    assert_eq!((hers, roots), (shown_her, shown_root), "the total counts what the reader may see");
    assert!(hers < roots, "the record of the hidden link is not counted for mallory either");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!((app.count("audit_log"), app.count("outbox")), before, "nothing was written");
    assert_eq!(app.count("pages"), 2);
    assert_eq!(app.count("issue_links"), 2);
    assert_eq!(id("SELECT (parent_id IS NULL)::text FROM pages WHERE title = 'Open runbook'"), "true");
    assert_eq!(id("SELECT (parent_id IS NULL AND sprint_id IS NULL)::text FROM issues WHERE title = 'Work in OPEN' ORDER BY id LIMIT 1"), "true");
}
