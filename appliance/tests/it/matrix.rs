//! The whole permission matrix, end to end: every page route of the route table (read from
//! `web/mod.rs`, so a new route cannot be left out) called by each of seven kinds of caller,
//! allowed or refused as the default scheme says, with refused reads of a project answered 404
//! as for what does not exist, and every refusal writing nothing; the API's main calls for each
//! caller; and every project-scoped operation of the OpenAPI document called by an outsider.

use outpost::identity::roles::GlobalRole;
use serde_json::{json, Value};

use crate::access::{call, person, private_project, Caller};
use crate::support::{Client, TestApp, PASSWORD};

/// Who is asking, in the matrix below.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Outsider,
    Viewer,
    Reporter,
    Member,
    ProjectAdmin,
    Auditor,
    Admin,
}

const EVERYONE: [Who; 7] =
    [Who::Outsider, Who::Viewer, Who::Reporter, Who::Member, Who::ProjectAdmin, Who::Auditor, Who::Admin];

/// One person of each kind, with their API token and a signed-in browser: an outsider, a
/// viewer, reporter, member and project admin of SEC, an auditor, and `root` (administrator).
fn cast(app: &TestApp, api: &mut Client, root: &Caller) -> Vec<(Who, Caller, Client)> {
    use Who::*;
    let mut people = Vec::new();
    for who in EVERYONE {
        let name = who.username();
        let role = match who {
            Admin => GlobalRole::Admin,
            Auditor => GlobalRole::Auditor,
            _ => GlobalRole::User,
        };
        let caller = if who == Admin { Caller { token: root.token.clone() } } else { person(app, &name, role) };
        let grant = match who {
            Viewer => Some("viewer"),
            Reporter => Some("reporter"),
            Member => Some("member"),
            ProjectAdmin => Some("project_admin"),
            _ => None,
        };
        if let Some(role) = grant {
            let body = json!({ "role": role, "user": name });
            assert_eq!(call(api, root, "POST", "/api/v1/projects/SEC/roles", Some(body)).0, 201);
        }
        let mut browser = app.client();
        assert_eq!(browser.sign_in(&name, PASSWORD).status, 303);
        people.push((who, caller, browser));
    }
    people
}

impl Who {
    fn username(self) -> String {
        match self {
            Who::Admin => "root".to_owned(),
            other => format!("{other:?}").to_lowercase(),
        }
    }
}

#[test]
fn the_route_and_role_matrix_allows_exactly_what_the_scheme_says() {
    use Who::*;
    let app = TestApp::start();
    let mut api = app.client();
    let root = person(&app, "root", GlobalRole::Admin);
    private_project(&mut api, &root);
    assert_eq!(call(&mut api, &root, "POST", "/api/v1/projects/SEC/issues", Some(json!({ "title": "Keys" }))).0, 201);

    let mut people = cast(&app, &mut api, &root);

    let readers = [Viewer, Reporter, Member, ProjectAdmin, Auditor, Admin];
    let pages: [(&str, &[Who]); 10] = [
        ("/projects/SEC/issues", &readers),
        ("/issues/SEC-1", &readers),
        ("/projects/SEC/board", &readers),
        ("/projects/SEC/backlog", &readers),
        ("/spaces/SEC", &readers),
        ("/projects/SEC/settings", &[ProjectAdmin, Admin]),
        ("/projects/SEC/access", &[ProjectAdmin, Admin]),
        ("/projects/SEC/workflow", &[ProjectAdmin, Admin]),
        ("/admin/users", &[Admin]),
        ("/admin/audit", &[Auditor, Admin]),
    ];
    let calls: [(&str, &str, Option<Value>, &[Who]); 10] = [
        ("GET", "/api/v1/projects/SEC", None, &readers),
        ("GET", "/api/v1/issues/SEC-1", None, &readers),
        ("GET", "/api/v1/projects/SEC/issues", None, &readers),
        (
            "POST",
            "/api/v1/projects/SEC/issues",
            Some(json!({ "title": "More" })),
            &[Reporter, Member, ProjectAdmin, Admin],
        ),
        (
            "POST",
            "/api/v1/issues/SEC-1/comments",
            Some(json!({ "body": "Seen" })),
            &[Reporter, Member, ProjectAdmin, Admin],
        ),
        ("PATCH", "/api/v1/issues/SEC-1", Some(json!({ "title": "Keys rotated" })), &[Member, ProjectAdmin, Admin]),
        ("POST", "/api/v1/projects/SEC/sprints", Some(json!({ "name": "Sprint" })), &[Member, ProjectAdmin, Admin]),
        ("GET", "/api/v1/projects/SEC/roles", None, &[ProjectAdmin, Admin]),
        ("GET", "/api/v1/users", None, &[Admin]),
        ("GET", "/api/v1/audit", None, &[Auditor, Admin]),
    ];
    let project_route = |path: &str| path.contains("SEC");
    let expected_refusal = |who: Who, path: &str| if who == Outsider && project_route(path) { 404 } else { 403 };
    let mut wrong = Vec::new();
    for (path, allowed) in pages {
        for (who, _, browser) in people.iter_mut() {
            let status = browser.get(path).status;
            let expected = if allowed.contains(who) { 200 } else { expected_refusal(*who, path) };
            if status != expected {
                wrong.push(format!("{who:?} GET {path}: {status}, expected {expected}"));
            }
        }
    }
    for (method, path, body, allowed) in calls {
        for (who, caller, _) in people.iter() {
            let status = call(&mut api, caller, method, path, body.clone()).0;
            let ok = if allowed.contains(who) {
                (200..300).contains(&status)
            } else {
                status == expected_refusal(*who, path)
            };
            if !ok {
                wrong.push(format!("{who:?} {method} {path}: {status}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_project_operation_of_the_api_tells_an_outsider_the_project_is_not_there() {
    let app = TestApp::start();
    let mut api = app.client();
    let root = person(&app, "root", GlobalRole::Admin);
    let otto = person(&app, "otto", GlobalRole::User);
    private_project(&mut api, &root);
    assert_eq!(call(&mut api, &root, "POST", "/api/v1/projects/SEC/issues", Some(json!({ "title": "Keys" }))).0, 201);
    // Objects with id 1 under SEC, so the administrator's reads below find real things.
    let rule =
        json!({ "name": "Label", "trigger": "issue_created", "actions": [{ "type": "add_label", "label": "new" }] });
    assert_eq!(call(&mut api, &root, "POST", "/api/v1/projects/SEC/automation-rules", Some(rule)).0, 201);
    let hook = json!({ "name": "CI", "url": "https://203.0.113.10/hook", "events": ["issue.created"] });
    assert_eq!(call(&mut api, &root, "POST", "/api/v1/projects/SEC/webhooks", Some(hook)).0, 201);

    let document = api.api("GET", "/api/v1/openapi.json", None, None).json();
    let fill = |template: &str| {
        template
            .replace("{key}", "SEC")
            .replace("{issue}", "SEC-1")
            .replace("{id}", "1")
            .replace("{name}", "x")
            .replace("{delivery}", "1")
            .replace("{action}", "enable")
    };
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (template, item) in document["paths"].as_object().unwrap() {
        if !(template.contains("{key}") || template.contains("{issue}")) || template.starts_with("/hooks/") {
            continue;
        }
        let path = fill(template);
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let with_body = matches!(method, "post" | "put" | "patch");
            let body = with_body.then(|| json!({}));
            let (status, reply) = call(&mut api, &otto, &method.to_uppercase(), &path, body);
            // A body that cannot be read is refused before anything is looked up, the same
            // for every project: that tells nothing either.
            let fine = status == 404 || (with_body && (status == 400 || status == 422));
            if !fine {
                wrong.push(format!("{method} {path}: {status} {reply}"));
            }
            if method == "get" {
                let status = api.api("GET", &path, Some(&root.token), None).status;
                if status == 404 {
                    wrong.push(format!("{method} {path}: 404 for the administrator too, so the check proves nothing"));
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 40, "only {checked} operations were checked");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Who may use a page route.
#[derive(Clone, Copy, Debug)]
enum Rule {
    /// Anyone signed in: their own settings, and lists that show only what they may see.
    Everyone,
    /// Something of project SEC: its roles from `min` up, administrators, and auditors if
    /// `auditor` (reads). Outsiders are told it does not exist (404); the others why not (403).
    Project { min: Who, auditor: bool },
    /// Something of SEC that one person made and shared (a saved filter): its owner, and who
    /// administers the project; outsiders 404, others 403.
    SharedInProject(Who),
    /// Something that belongs to one person (an API token): only its owner; to anyone else it
    /// does not exist (404).
    Owned(Who),
    /// Installation-wide: only these global roles; others 403.
    Global(&'static [Who]),
}

impl Rule {
    fn allows(self, who: Who) -> bool {
        use Who::*;
        let rank = |who: Who| [Viewer, Reporter, Member, ProjectAdmin].iter().position(|w| *w == who);
        match self {
            Rule::Everyone => true,
            Rule::Project { min, auditor } => match who {
                Admin => true,
                Auditor => auditor,
                Outsider => false,
                role => rank(role) >= rank(min),
            },
            Rule::SharedInProject(owner) => who == owner || who == Admin || who == ProjectAdmin,
            Rule::Owned(owner) => who == owner,
            Rule::Global(roles) => roles.contains(&who),
        }
    }

    fn refusal(self, who: Who) -> u16 {
        match self {
            Rule::Project { .. } | Rule::SharedInProject(_) if who == Who::Outsider => 404,
            Rule::Owned(_) => 404,
            _ => 403,
        }
    }
}

/// One page route as the sweep calls it.
struct Case {
    method: &'static str,
    /// The path as the route table writes it, to check that the sweep covers the table.
    template: &'static str,
    path: String,
    /// Form fields; `{me}` is replaced by the caller's user name.
    fields: Vec<(&'static str, String)>,
    /// A file to send as multipart (field, file name, bytes) instead of a plain form.
    file: Option<(&'static str, &'static str, &'static [u8])>,
    rule: Rule,
    /// The call changes something it cannot change twice (a delete, a sprint start): only the
    /// lowest allowed caller makes it; the unit test of `authorize` covers the rest.
    once: bool,
    /// Being allowed may still end in a refusal of the input (409/422): the call changes the
    /// caller's own settings, which no one else is asked about.
    lenient: bool,
}

fn get(template: &'static str, path: impl Into<String>, rule: Rule) -> Case {
    Case {
        method: "GET",
        template,
        path: path.into(),
        fields: Vec::new(),
        file: None,
        rule,
        once: false,
        lenient: false,
    }
}

fn post(template: &'static str, path: impl Into<String>, fields: &[(&'static str, &str)], rule: Rule) -> Case {
    let fields = fields.iter().map(|(name, value)| (*name, (*value).to_owned())).collect();
    Case { method: "POST", template, path: path.into(), fields, file: None, rule, once: false, lenient: false }
}

impl Case {
    fn once(mut self) -> Case {
        self.once = true;
        self
    }

    fn lenient(mut self) -> Case {
        self.lenient = true;
        self
    }

    fn with_file(mut self, field: &'static str, name: &'static str, bytes: &'static [u8]) -> Case {
        self.file = Some((field, name, bytes));
        self
    }
}

/// Routes the sweep does not call, each with why: they come before signing in, or carry their
/// own secret, and their tests are elsewhere.
const NOT_SWEPT: [(&str, &str, &str); 17] = [
    ("GET", "/health/live", "public: the load balancer's probe"),
    ("GET", "/health/ready", "public: the load balancer's probe"),
    ("GET", "/static/{name}", "public: stylesheets and scripts"),
    ("GET", "/login", "before signing in (auth.rs)"),
    ("POST", "/login", "before signing in (auth.rs)"),
    ("POST", "/logout", "ends the caller's session (auth.rs)"),
    ("GET", "/login/reset", "before signing in (passwords.rs)"),
    ("POST", "/login/reset", "before signing in (passwords.rs)"),
    ("GET", "/login/reset/{token}", "the mailed link is the credential (passwords.rs)"),
    ("POST", "/login/reset/{token}", "the mailed link is the credential (passwords.rs)"),
    ("GET", "/login/sso", "before signing in (sso.rs)"),
    ("GET", "/login/sso/callback", "before signing in (sso.rs)"),
    ("GET", "/login/code", "the second step of signing in (mfa.rs)"),
    ("POST", "/login/code", "the second step of signing in (mfa.rs)"),
    ("GET", "/notifications/unsubscribe", "the mailed link's signature is the credential (notifications.rs)"),
    ("POST", "/notifications/unsubscribe", "the mailed link's signature is the credential (notifications.rs)"),
    ("GET", "/admin", "a redirect to /admin/users, which decides"),
];

/// The (method, path) pairs of the page routes in `web/mod.rs`, the route table itself.
fn route_table() -> Vec<(String, String)> {
    let source = include_str!("../../src/web/mod.rs");
    let pages = &source[..source.find("fn api_routes").expect("the API's routes follow the pages'")];
    let mut routes = Vec::new();
    for piece in pages.split(".route(").skip(1) {
        let piece = piece.trim_start();
        let Some(rest) = piece.strip_prefix('"') else { continue };
        let Some((path, rest)) = rest.split_once('"') else { continue };
        let rest = rest.trim_start().trim_start_matches(',').trim_start();
        let Some(method) = rest.strip_prefix("web::").and_then(|rest| rest.split_once('(')).map(|(m, _)| m) else {
            continue;
        };
        routes.push((method.to_uppercase(), path.to_owned()));
    }
    routes
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\0\x05\0\x01\xff\x89\x99=\x1d\0\0\0\0IEND\xaeB`\x82";

#[test]
fn every_page_route_allows_exactly_what_the_scheme_says_to_each_kind_of_caller() {
    use Who::*;
    let app = TestApp::start();
    let mut api = app.client();
    let root = person(&app, "root", GlobalRole::Admin);
    private_project(&mut api, &root);
    let mut people = cast(&app, &mut api, &root);

    // What the routes act on, made by root: issues, a link, files, pages, a sprint, hooks,
    // rules, a saved filter, teams, schemes, a service account, a dead job.
    for title in ["Rotate the keys", "Audit the vault", "Delete me"] {
        let made = call(&mut api, &root, "POST", "/api/v1/projects/SEC/issues", Some(json!({ "title": title })));
        assert_eq!(made.0, 201);
    }
    let link = json!({ "kind": "relates", "issue": "SEC-2" });
    assert_eq!(call(&mut api, &root, "POST", "/api/v1/issues/SEC-1/links", Some(link)).0, 201);
    assert_eq!(call(&mut api, &root, "POST", "/api/v1/projects/SEC/sprints", Some(json!({ "name": "S1" }))).0, 201);
    let rule =
        json!({ "name": "Label", "trigger": "issue_created", "actions": [{ "type": "add_label", "label": "new" }] });
    assert_eq!(call(&mut api, &root, "POST", "/api/v1/projects/SEC/automation-rules", Some(rule)).0, 201);
    let (_, root_browser) = people.iter_mut().find(|(who, ..)| *who == Admin).map(|(w, _, b)| (*w, b)).unwrap();
    let token = root_browser.session_csrf();
    let csrf = token.as_str();
    for (path, fields) in [
        ("/spaces/SEC/pages", vec![("title", "Runbook"), ("body", "Steps")]),
        ("/spaces/SEC/pages", vec![("title", "Old page"), ("body", "Gone soon")]),
        ("/projects/SEC/deployments/hooks", vec![("name", "CI")]),
        ("/admin/schemes", vec![("name", "Spare"), ("from", "1")]),
        ("/admin/schemes", vec![("name", "Doomed"), ("from", "1")]),
    ] {
        let mut form = vec![("csrf_token", csrf)];
        form.extend(fields);
        let reply = root_browser.post_form(path, &form);
        assert!(reply.status == 303 || reply.status == 200, "{path}: {} {}", reply.status, reply.body);
    }
    let attached =
        root_browser.post_files("/issues/SEC-1/attachments", &[("csrf_token", csrf)], &[("files", "p.png", PNG)]);
    assert_eq!(attached.status, 303);
    let page = app.value("SELECT id::text FROM pages WHERE title = 'Runbook'");
    let old_page = app.value("SELECT id::text FROM pages WHERE title = 'Old page'");
    let attached = root_browser.post_files(
        &format!("/pages/{page}/attachments"),
        &[("csrf_token", csrf)],
        &[("files", "n.txt", b"notes")],
    );
    assert_eq!(attached.status, 303);
    app.run_jobs();
    app.sql(
        "INSERT INTO webhooks (project_id, name, url, secret, events, created_by) SELECT p, n, 'https://203.0.113.9/h', \
         repeat('s', 32), '{*}', (SELECT id FROM users WHERE username = 'root') FROM (VALUES \
         ((SELECT id FROM projects WHERE key = 'SEC'), 'Project hook'), (NULL::bigint, 'Global hook')) AS h (p, n)",
    );
    app.sql("INSERT INTO webhook_deliveries (webhook_id, event_id, topic, payload, state) SELECT id, 1, 'issue.created', '{}', 'failed' FROM webhooks");
    app.sql("INSERT INTO teams (name) VALUES ('Scratch'), ('Nobody')");
    app.sql("INSERT INTO users (username, display_name, email, password_hash, is_service) VALUES ('bot', 'Bot', 'bot@example.test', '!', true)");
    app.sql("INSERT INTO jobs (kind, state) VALUES ('notify', 'dead')");
    person(&app, "target", GlobalRole::User);
    let id = |query: &str| app.value(query);
    let issue_attachment = id("SELECT id::text FROM attachments WHERE file_name = 'p.png'");
    let page_attachment = id("SELECT id::text FROM attachments WHERE file_name = 'n.txt'");
    let link = id("SELECT min(id)::text FROM issue_links");
    let sprint = id("SELECT id::text FROM sprints");
    let rule = id("SELECT id::text FROM automation_rules");
    let incoming = id("SELECT id::text FROM incoming_hooks");
    let project_hook = id("SELECT id::text FROM webhooks WHERE name = 'Project hook'");
    let global_hook = id("SELECT id::text FROM webhooks WHERE name = 'Global hook'");
    let delivery = |hook: &str| id(&format!("SELECT id::text FROM webhook_deliveries WHERE webhook_id = {hook}"));
    let (project_delivery, global_delivery) = (delivery(&project_hook), delivery(&global_hook));
    let scratch = id("SELECT id::text FROM teams WHERE name = 'Scratch'");
    let spare = id("SELECT id::text FROM permission_schemes WHERE name = 'Spare'");
    let doomed = id("SELECT id::text FROM permission_schemes WHERE name = 'Doomed'");
    let job = id("SELECT id::text FROM jobs WHERE state = 'dead'");
    let viewer_token =
        id("SELECT t.id::text FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE u.username = 'viewer'");
    let statuses: Vec<String> = id("SELECT string_agg(s.id::text, ',' ORDER BY s.position) FROM workflow_statuses s \
         JOIN projects p ON p.id = s.project_id WHERE p.key = 'SEC'")
    .split(',')
    .map(str::to_owned)
    .collect();
    let viewer_browser = &mut people.iter_mut().find(|(who, ..)| *who == Viewer).unwrap().2;
    let viewer_csrf = viewer_browser.session_csrf();
    let saved = viewer_browser.post_form(
        "/projects/SEC/filters",
        &[("csrf_token", &viewer_csrf), ("name", "Open"), ("oql", "status = \"To do\""), ("shared", "on")],
    );
    assert_eq!(saved.status, 303, "{}", saved.body);
    let filter = id("SELECT id::text FROM saved_filters");
    app.index();

    let read = Rule::Project { min: Viewer, auditor: true };
    let report = Rule::Project { min: Reporter, auditor: false };
    let work = Rule::Project { min: Member, auditor: false };
    let manage = Rule::Project { min: ProjectAdmin, auditor: false };
    let admin = Rule::Global(&[Admin]);
    let oversight = Rule::Global(&[Auditor, Admin]);
    let every = Rule::Everyone;
    let mut workflow: Vec<(&'static str, String)> = Vec::new();
    let names = ["To do", "In progress", "In review", "Done"];
    let categories = ["todo", "in_progress", "in_progress", "done"];
    const FIELDS: [[&str; 4]; 4] = [
        ["status_0_id", "status_0_name", "status_0_category", "status_0_order"],
        ["status_1_id", "status_1_name", "status_1_category", "status_1_order"],
        ["status_2_id", "status_2_name", "status_2_category", "status_2_order"],
        ["status_3_id", "status_3_name", "status_3_category", "status_3_order"],
    ];
    for (i, fields) in FIELDS.iter().enumerate() {
        let values = [statuses[i].clone(), names[i].to_owned(), categories[i].to_owned(), (i + 1).to_string()];
        workflow.extend(fields.iter().copied().zip(values));
    }
    for transition in ["t_0_1", "t_0_3", "t_1_0", "t_1_2", "t_1_3", "t_2_1", "t_2_3", "t_3_0"] {
        workflow.push((transition, "on".to_owned()));
    }
    let rule_form: &[(&str, &str)] = &[
        ("name", "Label new"),
        ("trigger", "issue_created"),
        ("trigger_value", ""),
        ("condition", ""),
        ("action_1_type", "add_label"),
        ("action_1_target", "auto"),
        ("action_1_text", ""),
    ];
    let hook_form: &[(&str, &str)] = &[("name", "Hook"), ("url", "https://203.0.113.9/other"), ("events", "*")];
    let mut workflow_case = post("/projects/{key}/workflow", "/projects/SEC/workflow", &[], manage);
    workflow_case.fields = workflow;

    let cases = vec![
        // Anyone signed in
        get("/", "/", every),
        get("/projects", "/projects", every),
        get("/projects/{key}", "/projects/SEC", every),
        get("/search", "/search?q=keys", every),
        get("/spaces", "/spaces", every),
        get("/help/oql", "/help/oql", every),
        get("/help/api", "/help/api", every),
        get("/notifications", "/notifications", every),
        post("/notifications/read", "/notifications/read", &[], every),
        get("/notifications/preferences", "/notifications/preferences", every),
        post("/notifications/preferences", "/notifications/preferences", &[("watching", "digest")], every),
        get("/settings/profile", "/settings/profile", every),
        post(
            "/settings/profile",
            "/settings/profile",
            &[("display_name", "{me}"), ("email", "{me}@example.test"), ("timezone", "Europe/Berlin")],
            every,
        ),
        get("/settings/tokens", "/settings/tokens", every),
        post("/settings/tokens", "/settings/tokens", &[("name", "ci"), ("scope", "read")], every),
        post(
            "/settings/tokens/{id}/revoke",
            format!("/settings/tokens/{viewer_token}/revoke"),
            &[],
            Rule::Owned(Viewer),
        ),
        get("/settings/mfa", "/settings/mfa", every),
        post("/settings/mfa/{action}", "/settings/mfa/disable", &[("code", "000000")], every).lenient(),
        get("/settings/password", "/settings/password", every),
        // A project's reads
        get("/projects/{key}/issues", "/projects/SEC/issues", read),
        get("/projects/{key}/issues.csv", "/projects/SEC/issues.csv", read),
        get("/projects/{key}/backlog", "/projects/SEC/backlog", read),
        get("/projects/{key}/board", "/projects/SEC/board", read),
        get("/projects/{key}/sprint-board", "/projects/SEC/sprint-board", read),
        get("/projects/{key}/deployments", "/projects/SEC/deployments", read),
        get("/projects/{key}/automation", "/projects/SEC/automation", read),
        get("/projects/{key}/automation/{id}", format!("/projects/SEC/automation/{rule}"), read),
        get("/issues/{key}", "/issues/SEC-1", read),
        get("/attachments/{id}/{name}", format!("/attachments/{issue_attachment}/p.png"), read),
        get("/thumbnails/{id}", format!("/thumbnails/{issue_attachment}"), read),
        get("/spaces/{key}", "/spaces/SEC", read),
        get("/pages/{id}", format!("/pages/{page}"), read),
        get("/pages/{id}/versions", format!("/pages/{page}/versions"), read),
        get("/pages/{id}/versions/{version}", format!("/pages/{page}/versions/1"), read),
        get("/pages/{id}/diff", format!("/pages/{page}/diff"), read),
        post("/issues/{key}/watch", "/issues/SEC-1/watch", &[("watching", "on")], read),
        post("/pages/{id}/watch", format!("/pages/{page}/watch"), &[("action", "watch")], read),
        post(
            "/projects/{key}/filters",
            "/projects/SEC/filters",
            &[("name", "Mine {me}"), ("oql", "assignee = currentUser()")],
            read,
        ),
        post(
            "/projects/{key}/filters/{id}/delete",
            format!("/projects/SEC/filters/{filter}/delete"),
            &[],
            Rule::SharedInProject(Viewer),
        )
        .once(),
        // Reporting
        get("/projects/{key}/issues/new", "/projects/SEC/issues/new", report),
        post("/projects/{key}/issues", "/projects/SEC/issues", &[("title", "Reported by {me}")], report),
        post("/issues/{key}/comments", "/issues/SEC-1/comments", &[("body", "Seen by {me}")], report),
        get("/projects/{key}/import", "/projects/SEC/import", report),
        post(
            "/projects/{key}/import",
            "/projects/SEC/import",
            &[("csv", "title\nImported\n"), ("map_0", "title"), ("action", "import")],
            report,
        ),
        post("/projects/{key}/import/upload", "/projects/SEC/import/upload", &[], report).with_file(
            "file",
            "i.csv",
            b"title\nUp\n",
        ),
        // Working on every issue
        get("/issues/{key}/edit", "/issues/SEC-1/edit", work),
        post("/issues/{key}/edit", "/issues/SEC-1/edit", &[("title", "Rotate the keys now")], work),
        post("/issues/{key}/transition", "/issues/SEC-1/transition", &[("status", "In progress")], work),
        post("/issues/{key}/move", "/issues/SEC-1/move", &[("direction", "top")], work),
        post("/issues/{key}/work-log", "/issues/SEC-1/work-log", &[("time_spent", "30m")], work),
        post("/issues/{key}/links", "/issues/SEC-2/links", &[("kind", "blocks"), ("issue", "SEC-1")], work).once(),
        post("/issues/{key}/links/{id}/delete", format!("/issues/SEC-1/links/{link}/delete"), &[], work).once(),
        post("/issues/{key}/attachments", "/issues/SEC-1/attachments", &[], work).with_file("files", "w.txt", b"work"),
        post("/attachments/{id}/delete", format!("/attachments/{issue_attachment}/delete"), &[], work).once(),
        post("/projects/{key}/bulk", "/projects/SEC/bulk", &[("issues", "SEC-2"), ("labels", "triaged")], work),
        post("/projects/{key}/sprints", "/projects/SEC/sprints", &[("name", "Sprint of {me}")], work),
        post("/projects/{key}/sprints/{id}/{action}", format!("/projects/SEC/sprints/{sprint}/start"), &[], work)
            .once(),
        post(
            "/projects/{key}/sprints/{id}/{action}",
            format!("/projects/SEC/sprints/{sprint}/complete"),
            &[("move_to", "")],
            work,
        )
        .once(),
        get("/spaces/{key}/pages/new", "/spaces/SEC/pages/new", work),
        post("/spaces/{key}/pages", "/spaces/SEC/pages", &[("title", "Page of {me}"), ("body", "text")], work),
        get("/pages/{id}/edit", format!("/pages/{page}/edit"), work),
        post(
            "/pages/{id}/versions/{version}/restore",
            format!("/pages/{page}/versions/1/restore"),
            &[("base_version", "1")],
            work,
        )
        .once(),
        post(
            "/pages/{id}/edit",
            format!("/pages/{page}/edit"),
            &[("title", "Runbook"), ("body", "Steps, revised"), ("base_version", "1")],
            work,
        )
        .once(),
        post("/pages/{id}/move", format!("/pages/{page}/move"), &[("parent_id", ""), ("position", "1")], work),
        post("/pages/{id}/attachments", format!("/pages/{page}/attachments"), &[], work)
            .with_file("files", "m.txt", b"more"),
        post("/attachments/{id}/delete", format!("/attachments/{page_attachment}/delete"), &[], work).once(),
        post("/pages/{id}/delete", format!("/pages/{old_page}/delete"), &[], work).once(),
        // Administering the project
        get("/projects/{key}/settings", "/projects/SEC/settings", manage),
        post("/projects/{key}/settings/{part}", "/projects/SEC/settings/versions", &[("name", "1.0")], manage).once(),
        post(
            "/projects/{key}/settings/{part}",
            "/projects/SEC/settings/release",
            &[("name", "1.0"), ("released", "on")],
            manage,
        ),
        get("/projects/{key}/workflow", "/projects/SEC/workflow", manage),
        workflow_case,
        get("/projects/{key}/access", "/projects/SEC/access", manage),
        post(
            "/projects/{key}/access/{action}",
            "/projects/SEC/access/grant",
            &[("role", "viewer"), ("kind", "team"), ("name", "Nobody")],
            manage,
        ),
        post("/projects/{key}/access/{action}", "/projects/SEC/access/scheme", &[("scheme", "1")], manage),
        get("/projects/{key}/audit", "/projects/SEC/audit", Rule::Project { min: ProjectAdmin, auditor: true }),
        get(
            "/projects/{key}/audit/export",
            "/projects/SEC/audit/export?format=json",
            Rule::Project { min: ProjectAdmin, auditor: true },
        ),
        post("/projects/{key}/automation", "/projects/SEC/automation", rule_form, manage),
        post("/projects/{key}/automation/{id}", format!("/projects/SEC/automation/{rule}"), rule_form, manage),
        post(
            "/projects/{key}/automation/{id}/{action:enable|disable|delete}",
            format!("/projects/SEC/automation/{rule}/disable"),
            &[],
            manage,
        ),
        post(
            "/projects/{key}/automation/{id}/{action:enable|disable|delete}",
            format!("/projects/SEC/automation/{rule}/delete"),
            &[],
            manage,
        )
        .once(),
        post("/projects/{key}/deployments/hooks", "/projects/SEC/deployments/hooks", &[("name", "Deploys")], manage),
        post(
            "/projects/{key}/deployments/hooks/{id}/revoke",
            format!("/projects/SEC/deployments/hooks/{incoming}/revoke"),
            &[],
            manage,
        )
        .once(),
        get("/projects/{key}/webhooks", "/projects/SEC/webhooks", manage),
        post("/projects/{key}/webhooks", "/projects/SEC/webhooks", hook_form, manage),
        get("/projects/{key}/webhooks/{id}", format!("/projects/SEC/webhooks/{project_hook}"), manage),
        post(
            "/projects/{key}/webhooks/{id}/deliveries/{delivery}/redeliver",
            format!("/projects/SEC/webhooks/{project_hook}/deliveries/{project_delivery}/redeliver"),
            &[],
            manage,
        ),
        post(
            "/projects/{key}/webhooks/{id}/{action:enable|disable|delete}",
            format!("/projects/SEC/webhooks/{project_hook}/disable"),
            &[],
            manage,
        ),
        post(
            "/projects/{key}/webhooks/{id}/{action:enable|disable|delete}",
            format!("/projects/SEC/webhooks/{project_hook}/delete"),
            &[],
            manage,
        )
        .once(),
        post("/issues/{key}/delete", "/issues/SEC-3/delete", &[("confirm", "SEC-3")], manage).once(),
        // The installation
        get("/projects/new", "/projects/new", admin),
        post("/projects", "/projects", &[("key", "NEW"), ("name", "New")], admin),
        post("/spaces", "/spaces", &[("key", "HANDBOOK"), ("name", "Handbook")], admin),
        get("/admin/users", "/admin/users", admin),
        post(
            "/admin/users",
            "/admin/users",
            &[("username", "newbie"), ("display_name", "Newbie"), ("email", "newbie@example.test"), ("role", "user")],
            admin,
        ),
        post("/admin/users/{username}/{action}", "/admin/users/target/role", &[("role", "auditor")], admin),
        post("/admin/users/{username}/{action}", "/admin/users/target/deactivate", &[], admin),
        post("/admin/users/{username}/{action}", "/admin/users/target/reactivate", &[], admin),
        post("/admin/users/{username}/{action}", "/admin/users/target/password", &[], admin),
        post("/admin/users/{username}/{action}", "/admin/users/bot/token", &[("name", "ci"), ("scope", "read")], admin),
        post("/admin/settings/mfa", "/admin/settings/mfa", &[("mfa_required", "none")], admin),
        get("/admin/teams", "/admin/teams", admin),
        post("/admin/teams", "/admin/teams", &[("name", "Fresh"), ("description", "")], admin),
        get("/admin/teams/{id}", format!("/admin/teams/{scratch}"), admin),
        post("/admin/teams/{id}/{action}", format!("/admin/teams/{scratch}/add"), &[("username", "target")], admin),
        post("/admin/teams/{id}/{action}", format!("/admin/teams/{scratch}/remove"), &[("username", "target")], admin),
        post(
            "/admin/teams/{id}/{action}",
            format!("/admin/teams/{scratch}/rename"),
            &[("name", "Scratched"), ("description", "")],
            admin,
        ),
        post("/admin/teams/{id}/{action}", format!("/admin/teams/{scratch}/delete"), &[], admin),
        get("/admin/schemes", "/admin/schemes", admin),
        post("/admin/schemes", "/admin/schemes", &[("name", "Another"), ("from", "1")], admin),
        get("/admin/schemes/{id}", format!("/admin/schemes/{spare}"), admin),
        post(
            "/admin/schemes/{id}/{action}",
            format!("/admin/schemes/{spare}/save"),
            &[
                ("name", "Spare"),
                ("description", ""),
                ("grant", "browse:project_admin"),
                ("grant", "administer_project:project_admin"),
            ],
            admin,
        ),
        post("/admin/schemes/{id}/{action}", format!("/admin/schemes/{doomed}/delete"), &[], admin),
        get("/admin/jobs", "/admin/jobs", admin),
        post("/admin/jobs/{id}/{action}", format!("/admin/jobs/{job}/discard"), &[], admin),
        get("/admin/webhooks", "/admin/webhooks", admin),
        post("/admin/webhooks", "/admin/webhooks", hook_form, admin),
        get("/admin/webhooks/{id}", format!("/admin/webhooks/{global_hook}"), admin),
        post(
            "/admin/webhooks/{id}/deliveries/{delivery}/redeliver",
            format!("/admin/webhooks/{global_hook}/deliveries/{global_delivery}/redeliver"),
            &[],
            admin,
        ),
        post(
            "/admin/webhooks/{id}/{action:enable|disable|delete}",
            format!("/admin/webhooks/{global_hook}/disable"),
            &[],
            admin,
        ),
        post(
            "/admin/webhooks/{id}/{action:enable|disable|delete}",
            format!("/admin/webhooks/{global_hook}/delete"),
            &[],
            admin,
        ),
        get("/admin/audit", "/admin/audit", oversight),
        get("/admin/audit/export", "/admin/audit/export?format=json", oversight),
        // Last: a new password ends every session of the caller's.
        post(
            "/settings/password",
            "/settings/password",
            &[("current", PASSWORD), ("password", "Quartz meadow lantern 42"), ("again", "Quartz meadow lantern 42")],
            every,
        ),
    ];

    // The sweep covers the whole route table, and nothing that is not in it.
    let table = route_table();
    assert!(table.len() > 100, "only {} routes were read from web/mod.rs", table.len());
    let covered = |method: &str, path: &str| {
        cases.iter().any(|c| c.method == method && c.template == path)
            || NOT_SWEPT.iter().any(|(m, p, _)| *m == method && *p == path)
    };
    let missing: Vec<String> = table.iter().filter(|(m, p)| !covered(m, p)).map(|(m, p)| format!("{m} {p}")).collect();
    assert!(missing.is_empty(), "page routes the matrix does not cover:\n{}", missing.join("\n"));
    for case in &cases {
        assert!(
            table.iter().any(|(m, p)| m == case.method && p == case.template),
            "{} {} is not a route",
            case.method,
            case.template
        );
    }

    let tokens: Vec<String> = people.iter_mut().map(|(_, _, browser)| browser.session_csrf()).collect();
    let writes = || (app.count("audit_log"), app.count("outbox"));
    let mut wrong = Vec::new();
    for case in &cases {
        let (refused, allowed): (Vec<usize>, Vec<usize>) =
            (0..people.len()).partition(|i| !case.rule.allows(people[*i].0));
        let before = writes();
        let attempts = refused.iter().chain(allowed.iter().take(if case.once { 1 } else { usize::MAX }));
        for &i in attempts {
            let (who, _, browser) = &mut people[i];
            let me = who.username();
            let reply = match (case.method, case.file) {
                ("GET", _) => browser.get(&case.path),
                (_, None) => {
                    let mut form: Vec<(&str, String)> = vec![("csrf_token", tokens[i].clone())];
                    form.extend(case.fields.iter().map(|(name, value)| (*name, value.replace("{me}", &me))));
                    let form: Vec<(&str, &str)> = form.iter().map(|(n, v)| (*n, v.as_str())).collect();
                    browser.post_form(&case.path, &form)
                }
                (_, Some(file)) => browser.post_files(&case.path, &[("csrf_token", &tokens[i])], &[file]),
            };
            let status = reply.status;
            let outcome = if case.rule.allows(*who) {
                let fine = (200..400).contains(&status) || (case.lenient && (status == 409 || status == 422));
                (!fine).then(|| format!("allowed, but answered {status}: {}", excerpt(&reply.body)))
            } else {
                let expected = case.rule.refusal(*who);
                (status != expected)
                    .then(|| format!("answered {status}, expected {expected}: {}", excerpt(&reply.body)))
            };
            if let Some(problem) = outcome {
                wrong.push(format!("{who:?} {} {}: {problem}", case.method, case.path));
            }
            if !case.rule.allows(*who) && writes() != before {
                wrong.push(format!("{who:?} {} {}: refused, but something was written", case.method, case.path));
            }
        }
    }
    assert!(wrong.is_empty(), "{} wrong answers:\n{}", wrong.len(), wrong.join("\n"));
}

/// The readable sentence of an error page, or the start of the body.
fn excerpt(body: &str) -> String {
    let text = body.find("<main").map_or(body, |at| &body[at..]);
    text.chars().take(300).collect::<String>().replace('\n', " ")
}
